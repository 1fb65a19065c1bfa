//! The one public error type of the engine.
//!
//! Policy: every `pub fn` returns [`Result<T>`]; the [`ErrorKind`] is what callers branch on
//! (wrong password, corruption, not found, transient storage trouble, bad input). Messages name
//! the object or file involved so an operator can act on them. This module must not depend on
//! any other module of the crate.

use std::fmt;

/// What went wrong, coarse enough to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An object, snapshot or path does not exist.
    NotFound,
    /// A create-only write found the object already there.
    AlreadyExists,
    /// Stored bytes failed authentication, a checksum or a structural check.
    Corrupt,
    /// No key object could be unlocked with the given password.
    WrongPassword,
    /// Caller input is invalid (profile JSON, options, arguments).
    InvalidInput,
    /// The repository format or an algorithm id is not supported by this build.
    Unsupported,
    /// A storage operation failed in a way that may succeed when retried.
    Transient,
    /// A storage operation was refused (credentials, permissions, missing bucket).
    PermissionDenied,
    /// Local I/O error (input stream, output stream, local disk).
    Io,
    /// The producer of a stream failed (non-zero exit, read error).
    Producer,
    /// The operation was cancelled because another part of the pipeline failed.
    Cancelled,
    /// Another process holds what this operation needs (a gc already running).
    Busy,
}

/// The engine's error: a kind, a message saying what was being done, and an optional source.
pub struct Error {
    kind: ErrorKind,
    msg: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Error { kind, msg: msg.into(), source: None }
    }

    /// A new error wrapping `source`.
    pub fn with_source(
        kind: ErrorKind,
        msg: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error { kind, msg: msg.into(), source: Some(Box::new(source)) }
    }

    /// Shorthand for a [`ErrorKind::Corrupt`] error.
    pub fn corrupt(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, msg)
    }

    /// Shorthand for an [`ErrorKind::InvalidInput`] error.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, msg)
    }

    /// The kind to branch on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Prefix the message with more context (what was being done), keeping kind and source.
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.msg = format!("{ctx}: {}", self.msg);
        self
    }

    /// Wrap an I/O error, keeping `NotFound`/`AlreadyExists` distinguishable.
    pub fn io(msg: impl Into<String>, e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            _ => ErrorKind::Io,
        };
        Self::with_source(kind, msg, e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}, {self})", self.kind)
    }
}

// `Display` already includes the source, so it is not exposed again through `source()`
// (anyhow's `{:#}` would print it twice).
impl std::error::Error for Error {}

impl Error {
    /// The underlying error, if any.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

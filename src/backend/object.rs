//! Object-store backend: S3 and S3-compatible servers, GCS and Azure through `object_store`.
//!
//! Every key lives under a root prefix inside one bucket, so `<bucket>/<prefix>/config`,
//! `<bucket>/<prefix>/packs/ab/ab12…`. Puts are conditional creates (`If-None-Match: *` on S3
//! and Azure, `x-goog-if-generation-match: 0` on GCS); content-addressed puts of large objects
//! go up as parallel multipart uploads (see [`Backend::put_content_addressed`]). Transient
//! failures (connection errors, 5xx, 429, timeouts) are retried by `object_store` with
//! exponential backoff and jitter, bounded by [`Transfer`]; 4xx answers fail at once.
//!
//! This module only moves opaque bytes: it must not import `crypto`, `format` or `repo`,
//! and it never puts a credential in a message (it never sees one: the builders in
//! [`super::cloud`] hold them).

use super::{Backend, ObjectInfo};
use crate::error::{Error, ErrorKind, Result};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::sync::Arc;
use std::time::Duration;

/// Transfer tuning shared by every object-store backend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transfer {
    /// Objects at least this large use a multipart upload (when content-addressed).
    pub multipart_threshold: usize,
    /// Part size of multipart uploads (at least 5 MiB for S3).
    pub part_size: usize,
    /// Parts of one object uploaded at once.
    pub part_concurrency: usize,
    /// Retries of one request on a transient failure (0 = none).
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
    /// Time allowed for one request (connect + transfer).
    pub request_timeout: Duration,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
}

impl Default for Transfer {
    fn default() -> Self {
        Transfer {
            multipart_threshold: 12 << 20,
            part_size: 8 << 20,
            part_concurrency: 2,
            max_retries: 8,
            retry_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl Transfer {
    /// Defaults, overridden by `KANDO_MAX_RETRIES`, `KANDO_RETRY_TIMEOUT` (seconds),
    /// `KANDO_REQUEST_TIMEOUT` (seconds) and `KANDO_PART_SIZE` (MiB) when set.
    pub fn from_env() -> Result<Transfer> {
        let mut t = Transfer::default();
        let num = |name: &str| -> Result<Option<u64>> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| Error::invalid(format!("{name}={v:?} is not a whole number"))),
                Err(_) => Ok(None),
            }
        };
        if let Some(n) = num("KANDO_MAX_RETRIES")? {
            t.max_retries = n as usize;
        }
        if let Some(n) = num("KANDO_RETRY_TIMEOUT")? {
            t.retry_timeout = Duration::from_secs(n);
        }
        if let Some(n) = num("KANDO_REQUEST_TIMEOUT")? {
            t.request_timeout = Duration::from_secs(n.max(1));
        }
        if let Some(n) = num("KANDO_PART_SIZE")? {
            if !(5..=512).contains(&n) {
                return Err(Error::invalid("KANDO_PART_SIZE must be between 5 and 512 (MiB)"));
            }
            t.part_size = (n as usize) << 20;
            t.multipart_threshold = t.part_size + t.part_size / 2;
        }
        Ok(t)
    }

    /// `object_store` retry settings for these values.
    pub fn retry_config(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(8),
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }
}

/// A bucket (and prefix) of an object store.
#[derive(Debug)]
pub struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    /// Root prefix inside the bucket, without leading or trailing '/', maybe empty.
    root: String,
    location: String,
    transfer: Transfer,
}

impl ObjectBackend {
    /// Wrap `store`; `root` is the prefix inside the bucket; `location` names the bucket
    /// and endpoint in messages and must hold no secret.
    pub fn new(store: Arc<dyn ObjectStore>, root: &str, location: String, transfer: Transfer) -> ObjectBackend {
        let root = root.split('/').filter(|s| !s.is_empty() && *s != ".").collect::<Vec<_>>().join("/");
        ObjectBackend { store, root, location, transfer }
    }

    fn path(&self, key: &str) -> Result<Path> {
        if key.is_empty() || key.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
            return Err(Error::invalid(format!("invalid object key '{key}'")));
        }
        let full = if self.root.is_empty() { key.to_string() } else { format!("{}/{key}", self.root) };
        Path::parse(&full).map_err(|e| Error::invalid(format!("invalid object key '{key}': {e}")))
    }

    /// The key of a listed path, or `None` for anything not strictly under the root (such
    /// as a "folder" marker object named like the prefix itself).
    fn key_of(&self, p: &Path) -> Option<String> {
        let s = p.as_ref();
        let key = if self.root.is_empty() { s } else { s.strip_prefix(self.root.as_str())?.strip_prefix('/')? };
        (!key.is_empty()).then(|| key.to_string())
    }

    /// Translate an `object_store` error into ours, naming the operation, key and location.
    fn err(&self, op: &str, key: &str, e: object_store::Error) -> Error {
        let (kind, reason) = classify(&e);
        Error::new(kind, format!("{op} '{key}' on {}: {reason}", self.location))
    }

    async fn multipart(&self, p: &Path, key: &str, data: Bytes) -> Result<()> {
        let mut up = self.store.put_multipart(p).await.map_err(|e| self.err("starting upload of", key, e))?;
        let part = self.transfer.part_size.max(5 << 20);
        let mut parts = Vec::new();
        let mut off = 0;
        while off < data.len() {
            let end = (off + part).min(data.len());
            // Bytes slices share the pack buffer: no copy per part.
            parts.push(up.put_part(PutPayload::from(data.slice(off..end))));
            off = end;
        }
        let res = futures::stream::iter(parts)
            .buffer_unordered(self.transfer.part_concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await;
        match res {
            Ok(_) => match up.complete().await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let _ = up.abort().await;
                    Err(self.err("completing upload of", key, e))
                }
            },
            Err(e) => {
                let _ = up.abort().await;
                Err(self.err("uploading", key, e))
            }
        }
    }
}

/// What went wrong, in a few words, and what kind of error it is. Server answers are
/// reduced to their error code and message; connection failures to their root cause.
fn classify(e: &object_store::Error) -> (ErrorKind, String) {
    let text = e.to_string();
    let status: Option<u16> =
        text.split_once("status code: ").and_then(|(_, r)| r.get(..3)).and_then(|c| c.parse().ok());
    let code = xml_tag(&text, "Code").unwrap_or_default();
    let message = xml_tag(&text, "Message").unwrap_or_default();
    // Azure appends RequestId/Time lines to its messages.
    let message = message.lines().next().unwrap_or("").trim().to_string();
    let answer = match (code.is_empty(), status) {
        (false, _) => format!("{code}: {message}"),
        (true, Some(s)) => format!("HTTP {s}"),
        (true, None) => String::new(),
    };
    let lower = text.to_ascii_lowercase();
    use object_store::Error as E;
    if matches!(code.as_str(), "NoSuchBucket" | "ContainerNotFound")
        || lower.contains("bucket does not exist")
        || (matches!(e, E::NotFound { .. }) && lower.contains("nosuchbucket"))
    {
        return (ErrorKind::InvalidInput, format!("the bucket does not exist ({answer})"));
    }
    if matches!(code.as_str(), "PermanentRedirect" | "IllegalLocationConstraintException")
        || (code == "AuthorizationHeaderMalformed" && lower.contains("region"))
        || lower.contains("incorrectly configured region")
    {
        let why = if answer.is_empty() { "redirected".to_string() } else { answer };
        return (ErrorKind::InvalidInput, format!("wrong region for this bucket ({why})"));
    }
    match e {
        E::NotFound { .. } => return (ErrorKind::NotFound, "not found".into()),
        // 412 (S3, GCS) or Azure's 409 BlobAlreadyExists: the conditional create lost.
        E::Precondition { .. } | E::NotModified { .. } => return (ErrorKind::AlreadyExists, "already exists".into()),
        E::AlreadyExists { .. } if matches!(code.as_str(), "BlobAlreadyExists" | "PreconditionFailed" | "") => {
            return (ErrorKind::AlreadyExists, "already exists".into());
        }
        // Other 409s mean nothing was written: a conflicting operation is in progress
        // (retry later), or the container cannot take writes.
        E::AlreadyExists { .. } if matches!(code.as_str(), "ConditionalRequestConflict" | "OperationAborted") => {
            return (ErrorKind::Transient, format!("a conflicting operation is in progress ({answer})"));
        }
        E::AlreadyExists { .. } => return (ErrorKind::InvalidInput, format!("the write was refused ({answer})")),
        E::NotSupported { .. } | E::NotImplemented { .. } => return (ErrorKind::Unsupported, short(&text)),
        _ => {}
    }
    let rejected = matches!(
        code.as_str(),
        "SignatureDoesNotMatch"
            | "InvalidAccessKeyId"
            | "AuthenticationFailed"
            | "AuthorizationFailure"
            | "InvalidAuthenticationInfo"
    ) || matches!(e, E::Unauthenticated { .. });
    if rejected {
        return (ErrorKind::PermissionDenied, format!("the credentials were rejected ({answer})"));
    }
    if matches!(e, E::PermissionDenied { .. }) {
        return (ErrorKind::PermissionDenied, format!("access denied; check the credentials' permissions ({answer})"));
    }
    if code == "RequestTimeout" || code == "SlowDown" || code == "ServerBusy" {
        return (ErrorKind::Transient, format!("the server asked to retry and retries ran out ({answer})"));
    }
    if let Some(s) = status.filter(|s| (300..400).contains(s)) {
        let why = if answer.is_empty() { format!("HTTP {s}") } else { answer };
        return (ErrorKind::InvalidInput, format!("redirected: wrong region or endpoint for this bucket ({why})"));
    }
    let mut root = String::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        root = s.to_string();
        src = s.source();
    }
    let tls = format!("{lower} {}", root.to_ascii_lowercase());
    if tls.contains("certificate") && (tls.contains("invalid") || tls.contains("unknown") || tls.contains("verif")) {
        return (
            ErrorKind::InvalidInput,
            format!("TLS certificate not trusted (set SkipSSLVerify or KANDO_CA_FILE): {}", short(&root)),
        );
    }
    if let Some(s) = status.filter(|s| (400..500).contains(s) && *s != 408 && *s != 429) {
        let why = if answer.is_empty() { format!("HTTP {s}") } else { answer };
        return (ErrorKind::InvalidInput, format!("request refused ({why}): {}", short(&text)));
    }
    if lower.contains("url scheme is not allowed") {
        return (ErrorKind::InvalidInput, "the endpoint is plain http://, which is not allowed here".into());
    }
    // Transient failures whose retries ran out: say why at the root, and how hard we tried.
    let retries = text.split_once(", after ").and_then(|(_, r)| r.split_once(" retries")).map(|(n, _)| n.to_string());
    let what = if !answer.is_empty() { answer } else { short(&root) };
    let tries = retries.map(|n| format!(" after {n} retries")).unwrap_or_default();
    (ErrorKind::Transient, format!("the server could not be reached or failed{tries}: {what}"))
}

/// The text of `<tag>…</tag>` in an XML error body, with the common entities decoded.
fn xml_tag(text: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let (_, rest) = text.split_once(&open)?;
    let (inner, _) = rest.split_once(&format!("</{tag}>"))?;
    Some(
        inner
            .replace("&#39;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// Keep messages readable: object_store errors can embed long XML bodies.
fn short(text: &str) -> String {
    const MAX: usize = 400;
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.len() <= MAX {
        t
    } else {
        let mut end = MAX;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &t[..end])
    }
}

#[async_trait]
impl Backend for ObjectBackend {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let p = self.path(key)?;
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store.put_opts(&p, PutPayload::from(data), opts).await {
            Ok(_) => Ok(()),
            // A write cannot miss its object: only the bucket can be missing.
            Err(object_store::Error::NotFound { .. }) => Err(Error::new(
                ErrorKind::InvalidInput,
                format!("writing '{key}' on {}: the bucket does not exist (HTTP 404)", self.location),
            )),
            Err(e) => Err(self.err("writing", key, e)),
        }
    }

    async fn put_content_addressed(&self, key: &str, data: Bytes) -> Result<()> {
        if data.len() < self.transfer.multipart_threshold {
            return self.put(key, data).await;
        }
        let p = self.path(key)?;
        // Multipart completion cannot be conditional everywhere; the key names the content,
        // so a racing writer can only store the same bytes. Report an existing object.
        match self.store.head(&p).await {
            Ok(meta) if meta.size == data.len() as u64 => {
                return Err(Error::new(ErrorKind::AlreadyExists, format!("{key} already exists on {}", self.location)));
            }
            Ok(meta) => {
                return Err(Error::corrupt(format!(
                    "{key} on {} holds {} bytes where its name says {} (damaged object)",
                    self.location,
                    meta.size,
                    data.len()
                )));
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.err("checking", key, e)),
        }
        self.multipart(&p, key, data).await
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let p = self.path(key)?;
        let r = self.store.get(&p).await.map_err(|e| self.err("reading", key, e))?;
        r.bytes().await.map_err(|e| self.err("reading", key, e))
    }

    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes> {
        let p = self.path(key)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let end = offset
            .checked_add(len)
            .ok_or_else(|| Error::invalid(format!("range {offset}+{len} of '{key}' overflows")))?;
        let b = self.store.get_range(&p, offset..end).await.map_err(|e| self.err("reading", key, e))?;
        if b.len() as u64 != len {
            return Err(Error::corrupt(format!(
                "reading '{key}' on {}: asked for {len} bytes at {offset}, got {} (object shorter than expected)",
                self.location,
                b.len()
            )));
        }
        Ok(b)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        // object_store lists by whole path segments: list the directory part, filter the rest.
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let full = match (self.root.is_empty(), dir.is_empty()) {
            (true, true) => None,
            (true, false) => Some(dir.to_string()),
            (false, true) => Some(self.root.clone()),
            (false, false) => Some(format!("{}/{dir}", self.root)),
        };
        let base = match full {
            Some(f) => Some(Path::parse(&f).map_err(|e| Error::invalid(format!("invalid prefix '{prefix}': {e}")))?),
            None => None,
        };
        let mut out = Vec::new();
        let mut stream = self.store.list(base.as_ref());
        while let Some(m) = stream.next().await {
            let m = m.map_err(|e| self.err("listing", prefix, e))?;
            let Some(key) = self.key_of(&m.location) else { continue };
            if key.starts_with(prefix) {
                out.push(ObjectInfo {
                    key,
                    size: m.size,
                    modified: Some(std::time::SystemTime::from(m.last_modified)),
                });
            }
        }
        Ok(out)
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        let p = self.path(key)?;
        match self.store.head(&p).await {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("checking", key, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let p = self.path(key)?;
        match self.store.delete(&p).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("deleting", key, e)),
        }
    }

    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        let paths = keys.iter().map(|k| self.path(k)).collect::<Result<Vec<_>>>()?;
        let input = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        let mut results = self.store.delete_stream(input);
        while let Some(r) = results.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err("deleting", "(bulk)", e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::classify;
    use crate::error::ErrorKind;
    use object_store::Error as E;

    fn body(status: &str, code: &str) -> Box<dyn std::error::Error + Send + Sync> {
        format!("Server returned non-2xx status code: {status}: <Error><Code>{code}</Code><Message>m</Message></Error>")
            .into()
    }

    #[test]
    fn classification() {
        let p = || "k".to_string();
        let cases: Vec<(E, ErrorKind)> = vec![
            (
                E::Precondition { path: p(), source: body("412 Precondition Failed", "PreconditionFailed") },
                ErrorKind::AlreadyExists,
            ),
            (
                E::AlreadyExists { path: p(), source: body("409 Conflict", "BlobAlreadyExists") },
                ErrorKind::AlreadyExists,
            ),
            (
                E::AlreadyExists { path: p(), source: body("409 Conflict", "ConditionalRequestConflict") },
                ErrorKind::Transient,
            ),
            (
                E::AlreadyExists { path: p(), source: body("409 Conflict", "ContainerBeingDeleted") },
                ErrorKind::InvalidInput,
            ),
            (E::Generic { store: "S3", source: body("400 Bad Request", "RequestTimeout") }, ErrorKind::Transient),
            (E::Generic { store: "S3", source: body("400 Bad Request", "InvalidArgument") }, ErrorKind::InvalidInput),
            (
                E::Generic { store: "S3", source: body("307 Temporary Redirect", "TemporaryRedirect") },
                ErrorKind::InvalidInput,
            ),
            (
                E::PermissionDenied { path: p(), source: body("403 Forbidden", "SignatureDoesNotMatch") },
                ErrorKind::PermissionDenied,
            ),
            (
                E::PermissionDenied { path: p(), source: body("403 Forbidden", "AccessDenied") },
                ErrorKind::PermissionDenied,
            ),
            (E::NotFound { path: p(), source: body("404 Not Found", "NoSuchBucket") }, ErrorKind::InvalidInput),
            (E::NotFound { path: p(), source: body("404 Not Found", "NoSuchKey") }, ErrorKind::NotFound),
            (E::Generic { store: "S3", source: "HTTP error: error sending request".into() }, ErrorKind::Transient),
            (E::Generic { store: "S3", source: body("503 Service Unavailable", "SlowDown") }, ErrorKind::Transient),
        ];
        for (e, want) in cases {
            let text = e.to_string();
            let (kind, msg) = classify(&e);
            assert_eq!(kind, want, "{text} -> {msg}");
        }
        let (_, msg) =
            classify(&E::AlreadyExists { path: "k".into(), source: body("409 Conflict", "ContainerBeingDeleted") });
        assert!(msg.contains("ContainerBeingDeleted"), "{msg}");
    }
}

//! Storage backends: opaque bytes under string keys.
//!
//! Keys look like `packs/ab/ab12…`, `index/…`, `snapshots/…`, `keys/…`, `config`. The backend
//! layer never sees keys or plaintext and knows nothing of packs or snapshots; it must not
//! import `crypto`, `format` or `repo`.
//!
//! # Guarantees every backend must give (checked by [`testsuite`])
//! * **Create-only puts**: `put` of an existing key fails with
//!   [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) and leaves the stored
//!   object untouched; no reader ever sees a partially written object.
//! * **Read-after-write**: once `put` returns, `get`, `get_range` and `list` see the object.
//! * **Ranged reads** return exactly the requested bytes or an error.
//! * **Listing by prefix** returns every complete object under the prefix, with its size.
//! * `delete` of a missing key fails with `NotFound`.

pub mod local;
pub mod memory;
pub mod testsuite;

use crate::error::Result;
use async_trait::async_trait;
use bytes::Bytes;

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// A place that stores objects.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Human-readable location for messages (never includes secrets).
    fn location(&self) -> String;
    /// Store `data` under `key`, failing if `key` exists.
    async fn put(&self, key: &str, data: Bytes) -> Result<()>;
    /// Read a whole object.
    async fn get(&self, key: &str) -> Result<Bytes>;
    /// Read `len` bytes at `offset`.
    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes>;
    /// All objects whose key starts with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;
    /// Remove an object.
    async fn delete(&self, key: &str) -> Result<()>;
}

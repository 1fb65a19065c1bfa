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
//! * **Listing by prefix** returns every complete object under the prefix, with its size and
//!   the store's modification time (its clock, not ours: garbage collection measures ages
//!   with it, so that clock skew between writers cannot shorten a safety margin).
//! * **Delete is idempotent**: deleting a missing key succeeds (S3 cannot tell the two
//!   apart without an extra request, and maintenance must be safe to repeat);
//!   `delete_many` removes a batch in as few requests as the store allows.
//! * **Content-addressed puts** ([`Backend::put_content_addressed`]) of large objects may
//!   use a multipart upload whose completion is not conditional; the key names the bytes,
//!   so a racing writer can only store the same content.
//! * **Staged objects** ([`Backend::stage`], optional) keep these guarantees: nothing is
//!   visible before the commit, and a commit to an existing key fails with `AlreadyExists`.

pub mod cloud;
pub mod local;
pub mod memory;
pub mod object;
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
    /// When the store last wrote it, by the store's own clock (S3/GCS/Azure `Last-Modified`, a
    /// file's mtime). Maintenance compares these with each other, never with this machine's
    /// clock; some stores have one-second granularity. `None` if the store did not say.
    pub modified: Option<std::time::SystemTime>,
}

impl ObjectInfo {
    /// An entry without a modification time.
    pub fn new(key: impl Into<String>, size: u64) -> ObjectInfo {
        ObjectInfo { key: key.into(), size, modified: None }
    }
}

/// A content-addressed object written in pieces before its key is known (packs on local
/// disk: the bytes reach the file system while the pack is still being built, so the end of a
/// push does not wait for a whole pack to be copied and flushed). Its methods block: they are
/// called from pipeline threads, or through `spawn_blocking`, never directly in async code.
pub trait StagedObject: Send {
    /// Append bytes.
    fn write(&mut self, data: &[u8]) -> Result<()>;
    /// Store everything written under `key`, durably and create-only, with the guarantees of
    /// [`Backend::put_content_addressed`]. An object dropped without a commit leaves nothing
    /// that listing or reading can see.
    fn commit(self: Box<Self>, key: &str) -> Result<()>;
}

/// A place that stores objects.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Human-readable location for messages (never includes secrets).
    fn location(&self) -> String;
    /// Store `data` under `key`, failing if `key` exists. `data` may be a pooled buffer of a
    /// push: an implementation must not keep it (or a slice of it) after returning, or the
    /// push waits for the buffer forever; copy what must stay in memory.
    async fn put(&self, key: &str, data: Bytes) -> Result<()>;
    /// Read a whole object.
    async fn get(&self, key: &str) -> Result<Bytes>;
    /// Read `len` bytes at `offset`.
    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes>;
    /// All objects whose key starts with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;
    /// Remove an object; a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Store `data` under `key`, where `key` is derived from a hash of `data` (packs). An
    /// existing object of the same size fails with `AlreadyExists`, as [`Backend::put`]
    /// does; but backends may split large objects into a parallel multipart upload whose
    /// completion is not conditional, which is safe only because equal keys mean equal bytes.
    async fn put_content_addressed(&self, key: &str, data: Bytes) -> Result<()> {
        self.put(key, data).await
    }

    /// Start a [`StagedObject`] whose key will begin with `prefix` (e.g. `packs/`), if this
    /// backend can take pieces without holding them in memory. `None` (the default): the
    /// caller builds the object in memory and uses [`Backend::put_content_addressed`].
    /// Blocking, like the object's methods.
    fn stage(&self, prefix: &str) -> Result<Option<Box<dyn StagedObject>>> {
        let _ = prefix;
        Ok(None)
    }

    /// Whether reads are served by a local file system, with no network round trip: callers
    /// may then skip a read-ahead that only hides latency and costs memory. `false` by default.
    fn is_local(&self) -> bool {
        false
    }

    /// The object `key`, or `None` if there is no such object (one deleted by a concurrent
    /// gc or merge, for readers that list first and read after).
    async fn get_if_exists(&self, key: &str) -> Result<Option<Bytes>> {
        match self.get(key).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == crate::error::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The size of `key`, or `None` if there is no such object.
    async fn size(&self, key: &str) -> Result<Option<u64>> {
        Ok(self.list(key).await?.into_iter().find(|o| o.key == key).map(|o| o.size))
    }

    /// Remove many objects; missing keys are not an error.
    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        for k in keys {
            self.delete(k).await?;
        }
        Ok(())
    }
}

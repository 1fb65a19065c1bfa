//! Objects written by upstream kando, read and deleted in place.
//!
//! Upstream `kando location push` stores the stream verbatim at `<prefix>/<path>` in the
//! bucket (`filepath.Join(prefix, path)`). After switching, restores of those backups must
//! keep working: when a repository has no snapshot of a path (or there is no repository),
//! `kando location pull` streams the plain object instead, and `kando location delete`
//! removes the objects under that key prefix, as upstream does.
//!
//! These objects are neither encrypted nor checksummed (upstream wrote none), so a pull can
//! check only their length. This module never touches repository objects: a path whose key
//! falls inside the repository's own names (`config`, `keys/`, `packs/`, `index/`,
//! `snapshots/`) is refused.

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::repo::Progress;
use std::io::Write;
use std::sync::Arc;

/// Bytes fetched per ranged read while streaming a plain object.
const PIECE: u64 = 8 << 20;

/// The object key upstream kando used for `path`, relative to the repository root, or
/// `None` when the path is empty or would name a repository object.
pub fn object_key(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.is_empty() || parts.contains(&"..") {
        return None;
    }
    let key = parts.join("/");
    let top = parts[0];
    if key == "config" || (parts.len() > 1 && matches!(top, "keys" | "packs" | "index" | "snapshots")) {
        return None;
    }
    Some(key)
}

/// The size of the plain object at `key`, if there is one.
pub async fn find(backend: &dyn Backend, key: &str) -> Result<Option<u64>> {
    backend.size(key).await
}

/// Stream the plain object `key` of `size` bytes into `out`, two ranged reads in flight.
pub async fn copy_to(
    backend: Arc<dyn Backend>,
    key: &str,
    size: u64,
    out: &mut (dyn Write + Send),
    progress: &Progress,
) -> Result<()> {
    let fetch = |off: u64| {
        let (b, k) = (backend.clone(), key.to_string());
        tokio::spawn(async move { b.get_range(&k, off, PIECE.min(size - off)).await })
    };
    let mut next = if size > 0 { Some(fetch(0)) } else { None };
    let mut off = 0u64;
    while let Some(h) = next.take() {
        let piece_off = off;
        off += PIECE.min(size - off);
        if off < size {
            next = Some(fetch(off));
        }
        let bytes = h
            .await
            .map_err(|e| Error::new(crate::ErrorKind::Io, format!("read task: {e}")))?
            .map_err(|e| e.context(format!("reading plain object '{key}' at {piece_off}")))?;
        out.write_all(&bytes).map_err(|e| Error::io("writing the output", e))?;
        Progress::add(&progress.transferred_bytes, bytes.len() as u64);
        Progress::add(&progress.bytes_out, bytes.len() as u64);
    }
    out.flush().map_err(|e| Error::io("writing the output", e))
}

/// Delete every plain object whose key starts with `object_key(path)`, as upstream's
/// delete does; returns how many. Repository objects are never matched.
pub async fn delete(backend: &dyn Backend, path: &str) -> Result<usize> {
    let Some(key) = object_key(path) else { return Ok(0) };
    let keys: Vec<String> = backend
        .list(&key)
        .await?
        .into_iter()
        .map(|o| o.key)
        .filter(|k| object_key(k).as_deref() == Some(k.as_str()))
        .collect();
    backend.delete_many(&keys).await?;
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::memory::MemoryBackend;
    use bytes::Bytes;

    #[test]
    fn keys_as_upstream_joins_them() {
        assert_eq!(
            object_key("/mysql-backups/ns/db/2026-11-23T10:00:00Z/dump.sql.gz").unwrap(),
            "mysql-backups/ns/db/2026-11-23T10:00:00Z/dump.sql.gz"
        );
        assert_eq!(object_key("a//b/./c").unwrap(), "a/b/c");
        for bad in ["", "/", "config", "packs/ab/x", "snapshots/1", "a/../b"] {
            assert_eq!(object_key(bad), None, "{bad}");
        }
        assert_eq!(object_key("packs").unwrap(), "packs", "a top-level object named like a directory is not ours");
    }

    #[tokio::test]
    async fn stream_and_delete() {
        let b: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let data: Vec<u8> = (0..(PIECE * 2 + 123)).map(|i| (i % 253) as u8).collect();
        b.put("old/db/dump.sql", Bytes::from(data.clone())).await.unwrap();
        b.put("old/db/dump.sql.meta", Bytes::from_static(b"m")).await.unwrap();
        b.put("config", Bytes::from_static(b"c")).await.unwrap();
        let size = find(b.as_ref(), "old/db/dump.sql").await.unwrap().unwrap();
        assert_eq!(find(b.as_ref(), "old/db/dump").await.unwrap(), None, "exact key only");
        let mut out = Vec::new();
        copy_to(b.clone(), "old/db/dump.sql", size, &mut out, &Progress::default()).await.unwrap();
        assert!(out == data);
        assert_eq!(delete(b.as_ref(), "/old/db/dump.sql").await.unwrap(), 2);
        assert_eq!(delete(b.as_ref(), "config").await.unwrap(), 0);
        assert_eq!(b.list("").await.unwrap().len(), 1);
        // Prefix deletes (as upstream's) never reach repository objects.
        for k in ["keys/k", "packs/ab/x", "index/i", "snapshots/s", "packsX/y"] {
            b.put(k, Bytes::from_static(b"r")).await.unwrap();
        }
        for p in ["p", "packs", "index", "k", "s", "c"] {
            delete(b.as_ref(), p).await.unwrap();
        }
        let left: Vec<String> = b.list("").await.unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(left, ["config", "index/i", "keys/k", "packs/ab/x", "snapshots/s"]);
    }
}

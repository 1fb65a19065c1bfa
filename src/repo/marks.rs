//! Deletion marks: the first phase of garbage collection. A mark object `gc/marks/<id>`
//! (docs/format.md §11) lists packs that no snapshot needed when it was written; a later gc run
//! deletes them if they are still unneeded and no push or pull that could have relied on them
//! is still running (docs/maintenance.md). Pushes never deduplicate against a marked pack, and
//! pulls read a marked pack only when a chunk has no other copy.
//!
//! This module reads and writes mark objects; the decisions are gc's.

use super::{Repository, open_meta};
use crate::error::{Error, Result};
use crate::id::{Id, IdSet};
use std::time::SystemTime;

/// Magic of a mark object.
pub const MARK_MAGIC: &[u8; 8] = b"KRMARK01";
/// Prefix of mark objects.
pub const MARK_PREFIX: &str = "gc/marks/";

#[derive(serde::Serialize, serde::Deserialize)]
struct MarkBody {
    version: u32,
    /// Hex pack ids.
    packs: Vec<String>,
}

/// A mark object as listed.
#[derive(Debug, Clone)]
pub struct Mark {
    /// Object key.
    pub key: String,
    /// When the store wrote it.
    pub time: SystemTime,
    /// The packs it marks.
    pub packs: Vec<Id>,
}

impl Repository {
    /// Every mark object (oldest first).
    pub async fn marks(&self) -> Result<Vec<Mark>> {
        let mut out = Vec::new();
        for o in self.backend.list(MARK_PREFIX).await? {
            let time = o.modified.ok_or_else(|| Error::invalid(format!("no modification time for {}", o.key)))?;
            let bytes = match self.backend.get(&o.key).await {
                Ok(b) => b,
                // Swept by a gc between the listing and the read.
                Err(e) if e.kind() == crate::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let plain = open_meta(&self.keys, MARK_MAGIC, &bytes, &o.key)?;
            let body: MarkBody =
                serde_json::from_slice(&plain).map_err(|e| Error::corrupt(format!("{}: {e}", o.key)))?;
            let packs = body.packs.iter().map(|h| Id::from_hex(h)).collect::<Result<Vec<_>>>()?;
            out.push(Mark { key: o.key, time, packs });
        }
        out.sort_by_key(|m| m.time);
        Ok(out)
    }

    /// Packs some mark lists.
    pub async fn marked_packs(&self) -> Result<IdSet> {
        let mut s = IdSet::default();
        for m in self.marks().await? {
            s.extend(m.packs);
        }
        Ok(s)
    }

    /// Write a mark for `packs`; returns it as listed (with the store's time).
    pub(crate) async fn write_mark(&self, packs: &[Id]) -> Result<Mark> {
        let body = MarkBody { version: 1, packs: packs.iter().map(|p| p.to_hex()).collect() };
        let plain = serde_json::to_vec(&body).map_err(|e| Error::invalid(e.to_string()))?;
        let obj = self.seal_meta(MARK_MAGIC, &plain);
        let id = self.put_named(MARK_PREFIX.trim_end_matches('/'), obj).await?;
        let key = format!("{MARK_PREFIX}{id}");
        let time = self
            .backend
            .list(&key)
            .await?
            .into_iter()
            .find(|o| o.key == key)
            .and_then(|o| o.modified)
            .ok_or_else(|| Error::invalid(format!("no modification time for {key}")))?;
        Ok(Mark { key, time, packs: packs.to_vec() })
    }
}

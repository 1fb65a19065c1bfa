//! Reusing packs that no index lists.
//!
//! A push stores packs first and index objects after them, so a push that dies (killed,
//! network lost, server down) can leave packs that no index names. Before pushing, the
//! repository lists `packs/`, reads the sealed header at the end of each unindexed pack
//! (two ranged reads, never the whole pack), and writes one index object for them, so the
//! retried push stores only what is still missing. A pack whose header does not open is
//! skipped with a warning, never deleted: this module only adds index entries.
//!
//! Packs of a push running concurrently look the same and get indexed too, which is
//! harmless: index entries are facts about immutable, content-named packs.

use super::{Repository, for_each_bounded, pack_key};
use crate::error::{Error, ErrorKind, Result};
use crate::format::index::IndexFile;
use crate::format::pack::{TRAILER_LEN, read_header_from_tail, tail_len};
use crate::id::{Id, IdSet};

/// First read at the end of a pack: enough for the header of a full 16 MiB pack of small
/// chunks in one request.
const TAIL_GUESS: u64 = 256 << 10;

impl Repository {
    /// Index packs that `indexed` does not contain; returns the new index (already written)
    /// or an empty one when there was nothing to recover.
    pub(crate) async fn index_orphan_packs(&self, indexed: &IdSet) -> Result<IndexFile> {
        Ok(self.index_orphan_packs_keyed(indexed).await?.0)
    }

    /// [`Self::index_orphan_packs`], also returning the key of the index object written.
    pub(crate) async fn index_orphan_packs_keyed(&self, indexed: &IdSet) -> Result<(IndexFile, Option<String>)> {
        let mut orphans = Vec::new();
        for o in self.backend.list("packs/").await? {
            let Some(name) = o.key.rsplit('/').next() else { continue };
            let Ok(id) = Id::from_hex(name) else { continue };
            if o.key == pack_key(&id) && !indexed.contains(&id) {
                if o.size < TRAILER_LEN as u64 {
                    tracing::warn!("not reusing {}: {} bytes is too short to be a pack", o.key, o.size);
                    continue;
                }
                orphans.push((id, o.size));
            }
        }
        let mut found = IndexFile::default();
        if orphans.is_empty() {
            return Ok((found, None));
        }
        let task = |(id, size): (Id, u64)| {
            let (backend, keys) = (self.backend.clone(), self.keys.clone());
            async move {
                let key = pack_key(&id);
                let guess = size.min(TAIL_GUESS);
                let mut tail = backend.get_range(&key, size - guess, guess).await?;
                let need = tail_len(size, &tail, &key)?;
                if need > guess {
                    tail = backend.get_range(&key, size - need, need).await?;
                }
                let blobs = tokio::task::spawn_blocking(move || read_header_from_tail(&keys, size, &tail, &key))
                    .await
                    .map_err(|e| Error::new(ErrorKind::Io, format!("pack header task: {e}")))??;
                Ok((id, blobs))
            }
        };
        for_each_bounded(orphans, 8, task, |r| match r {
            Ok((id, blobs)) => {
                found.add_pack(id, blobs);
                Ok(())
            }
            // Transient read errors fail the push (it can be retried); a pack that is not ours
            // or is damaged is left for `verify` to report.
            Err(e) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::WrongPassword) => {
                tracing::warn!("not reusing an unindexed pack: {e}");
                Ok(())
            }
            Err(e) => Err(e.context("reading the header of an unindexed pack")),
        })
        .await?;
        let mut key = None;
        if !found.packs.is_empty() {
            let id = self.write_index(&found).await.map_err(|e| e.context("indexing recovered packs"))?;
            tracing::info!(
                "indexed {} pack(s) left by an interrupted push (index {}); their data will be reused",
                found.packs.len(),
                id.short()
            );
            key = Some(format!("index/{id}"));
        }
        Ok((found, key))
    }
}

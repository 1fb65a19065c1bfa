//! `repair index`: rebuild the index from the pack headers (see the parent module).
//!
//! Must not: delete a pack, or an old index object before the new ones are written.
//! Removes the locator tables when a pack is missing or unreadable (they may name it).

use super::{RepairIndexOptions, RepairIndexReport, UnreadablePack};
use crate::backend::ObjectInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::format::index::IndexFile;
use crate::format::pack::BlobHeader;
use crate::id::{Id, IdMap, IdSet};
use crate::repo::walk::{decode_index, is_damage, pack_id_of_key, read_pack_header};
use crate::repo::{Repository, for_each_bounded, pack_key};

/// Pack headers read at once.
const HEADER_READS: usize = 8;
/// Packs per round of header reads (the index being built is flushed between rounds).
const HEADER_BATCH: usize = 64;
/// Chunk records per rebuilt index object.
const INDEX_CHUNKS: usize = 1 << 16;

impl Repository {
    /// Rebuild the index from the pack headers (see the module docs).
    pub async fn repair_index(&self, opts: &RepairIndexOptions) -> Result<RepairIndexReport> {
        if opts.dry_run {
            return self.repair_index_locked(opts).await;
        }
        let (lease, _) = self.acquire_gc_lease("repair index").await?;
        let r = self.repair_index_locked(opts).await;
        if let Err(e) = lease.release().await {
            tracing::warn!("removing the repair's gc lease (it expires by itself): {e}");
        }
        r
    }

    async fn repair_index_locked(&self, opts: &RepairIndexOptions) -> Result<RepairIndexReport> {
        let mut report = RepairIndexReport { dry_run: opts.dry_run, ..Default::default() };
        // Old objects first, packs second: an index object a push writes after this listing
        // is not deleted, and its packs were written before it.
        let old: Vec<ObjectInfo> = self.backend.list("index/").await.map_err(|e| e.context("listing index objects"))?;
        let mut packs = Vec::new();
        for o in self.backend.list("packs/").await.map_err(|e| e.context("listing packs"))? {
            match pack_id_of_key(&o.key) {
                Some(id) => packs.push((id, o.size)),
                None => report.ignored.push(o.key),
            }
        }
        packs.sort();
        report.packs = packs.len() as u64;
        let existing: IdSet = packs.iter().map(|p| p.0).collect();
        let mut unreadable: IdMap<String> = IdMap::default();
        let mut pending = IndexFile::default();
        for batch in packs.chunks(HEADER_BATCH) {
            let mut found = Vec::new();
            let task = |(id, size): (Id, u64)| {
                let (b, k) = (self.backend.clone(), self.keys.clone());
                async move { Ok((id, read_pack_header(&b, &k, &pack_key(&id), size).await)) }
            };
            for_each_bounded(batch.to_vec(), HEADER_READS, task, |r| {
                let (id, r) = r?;
                match r {
                    Ok((blobs, _)) => found.push((id, blobs)),
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        tracing::warn!("{} was deleted while the index was being rebuilt", pack_key(&id));
                    }
                    Err(e) if is_damage(&e) => {
                        unreadable.insert(id, e.to_string());
                    }
                    Err(e) => {
                        return Err(e.context(format!(
                            "reading the header of {} (nothing was deleted; index objects already written only \
                             duplicate entries, which is harmless: run the repair again)",
                            pack_key(&id)
                        )));
                    }
                }
                Ok(())
            })
            .await?;
            found.sort_by_key(|f| f.0);
            for (id, blobs) in found {
                report.packs_indexed += 1;
                pending.add_pack(id, blobs);
            }
            if pending.chunk_count() >= INDEX_CHUNKS {
                self.flush_repaired(&mut pending, &mut report).await?;
            }
        }

        // The old index: what it says about unreadable packs is kept; entries of packs that do
        // not exist are dropped; damaged objects are reported.
        let mut salvage: IdMap<Vec<BlobHeader>> = IdMap::default();
        let mut dropped = IdSet::default();
        {
            let task = |o: ObjectInfo| {
                let (b, k) = (self.backend.clone(), self.keys.clone());
                async move {
                    match b.get(&o.key).await {
                        Ok(bytes) => {
                            let key = o.key.clone();
                            let r = tokio::task::spawn_blocking(move || decode_index(&k, &key, &bytes))
                                .await
                                .map_err(|e| Error::new(ErrorKind::Io, format!("index decode task: {e}")))?;
                            Ok((o.key, Some(r)))
                        }
                        Err(e) if e.kind() == ErrorKind::NotFound => Ok((o.key, None)),
                        Err(e) => Err(e.context(format!("reading {} (nothing was deleted)", o.key))),
                    }
                }
            };
            for_each_bounded(old.clone(), HEADER_READS, task, |r| {
                let (key, r) = r?;
                match r {
                    None => {}
                    Some(Err(_)) => report.damaged_index_objects.push(key),
                    Some(Ok(f)) => {
                        for (p, b) in f.blobs {
                            let pack = f.packs[p as usize];
                            if unreadable.contains_key(&pack) {
                                let v = salvage.entry(pack).or_default();
                                if !v.iter().any(|x| x.offset == b.offset) {
                                    v.push(b);
                                }
                            }
                        }
                        dropped.extend(f.packs.iter().filter(|p| !existing.contains(*p)).copied());
                    }
                }
                Ok(())
            })
            .await?;
        }
        let mut dropped: Vec<Id> = dropped.into_iter().collect();
        dropped.sort();
        report.dropped_missing_packs = dropped.iter().map(pack_key).collect();
        let mut bad: Vec<(Id, String)> = unreadable.into_iter().collect();
        bad.sort();
        for (id, error) in bad {
            let kept = match salvage.remove(&id) {
                Some(mut blobs) => {
                    blobs.sort_by_key(|b| b.offset);
                    pending.add_pack(id, blobs);
                    true
                }
                None => false,
            };
            report.unreadable_packs.push(UnreadablePack { pack: pack_key(&id), error, kept_from_old_index: kept });
        }
        self.flush_repaired(&mut pending, &mut report).await?;

        // Only now the old objects go.
        let stale: Vec<String> = old.into_iter().map(|o| o.key).filter(|k| !report.written.contains(k)).collect();
        if !opts.dry_run {
            self.backend.delete_many(&stale).await.map_err(|e| {
                e.context("deleting the old index objects (the new ones are written: run the repair again to finish)")
            })?;
        }
        report.deleted = stale;
        report.damaged_index_objects.sort();
        // Locator records may name a pack that is gone or does not open: a pull would fail on
        // it instead of finding what remains through the index (and `repair snapshots` plans
        // from the index). They are hints; the next gc writes them again.
        if !report.dropped_missing_packs.is_empty() || !report.unreadable_packs.is_empty() {
            let tables: Vec<String> = self
                .backend
                .list(crate::repo::locators::LOC_PREFIX)
                .await
                .map_err(|e| e.context("listing the locator tables (the index is rebuilt)"))?
                .into_iter()
                .map(|o| o.key)
                .collect();
            if !opts.dry_run {
                self.backend.delete_many(&tables).await.map_err(|e| {
                    e.context("removing the locator tables (the index is rebuilt: run the repair again to finish)")
                })?;
            }
            report.locator_tables_removed = tables;
        }
        Ok(report)
    }

    async fn flush_repaired(&self, pending: &mut IndexFile, report: &mut RepairIndexReport) -> Result<()> {
        if pending.packs.is_empty() {
            return Ok(());
        }
        let f = std::mem::take(pending);
        report.chunks += f.chunk_count() as u64;
        if report.dry_run {
            report.written.push(format!("index/(new object {})", report.written.len() + 1));
            return Ok(());
        }
        let id = self
            .write_index(&f)
            .await
            .map_err(|e| e.context("writing a rebuilt index object (nothing was deleted; run the repair again)"))?;
        report.written.push(format!("index/{id}"));
        Ok(())
    }
}

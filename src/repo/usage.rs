//! What the repository's space is used for: live vs dead bytes, deduplication and compression
//! ratios, and totals per snapshot path (`kando repository stats`).
//!
//! Walks every snapshot's tree (as gc does) and reads the index; reads no pack data. Memory:
//! the live set and the read index (docs/architecture.md). This module only reads.

use super::live::{PackUse, pack_uses};
use super::read_index::ReadIndex;
use super::{Repository, StageProgress};
use crate::error::Result;
use crate::id::{IdMap, IdSet};
use std::collections::BTreeMap;
use std::collections::hash_map::Entry;

/// Totals for one snapshot path.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PathUsage {
    /// Snapshots of the path.
    pub snapshots: u64,
    /// Sum of their stream sizes.
    pub logical_bytes: u64,
    /// Size of the newest one.
    pub latest_bytes: u64,
    /// Time of the newest one.
    pub latest_time: String,
    /// Raw bytes of the chunks only this path's snapshots use (what forgetting all of them
    /// would free, before compression).
    pub exclusive_raw_bytes: u64,
}

/// See the module docs.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    /// Object counts and sizes ([`super::RepoStats`]).
    pub objects: super::RepoStats,
    /// Blobs indexed (compressed frames and tree nodes).
    pub blobs: u64,
    /// Distinct chunks and tree nodes indexed.
    pub chunks: u64,
    /// Raw bytes of the distinct chunks (before compression).
    pub unique_raw_bytes: u64,
    /// Raw bytes of the distinct chunks some snapshot still needs.
    pub live_raw_bytes: u64,
    /// Raw bytes of the extra copies of live chunks: a chunk stored in more than one pack
    /// (a dedup source missed it, or concurrent pushes stored it both) counts here once per
    /// copy after the first. Compaction drops such a copy only when it re-frames its blob.
    pub duplicate_raw_bytes: u64,
    /// Sealed bytes of blobs holding something a snapshot needs.
    pub live_bytes: u64,
    /// Sealed bytes of blobs nothing needs (gc and compact reclaim them).
    pub dead_bytes: u64,
    /// Packs holding nothing live.
    pub dead_packs: u64,
    /// Packs with some dead blobs.
    pub partly_dead_packs: u64,
    /// Sum of stream sizes / raw bytes of the distinct live chunks.
    pub dedup_ratio: f64,
    /// Raw bytes of the distinct live chunks / sealed bytes of the blobs holding them.
    pub compression_ratio: f64,
    /// Per snapshot path.
    pub paths: BTreeMap<String, PathUsage>,
}

impl Repository {
    /// Compute [`Usage`].
    pub async fn usage(&self, progress: &StageProgress) -> Result<Usage> {
        let objects = self.stats().await?;
        // Snapshots before the index (a push writes its index object first), as gc does.
        let snaps = self.snapshots().await?;
        let mut files = Vec::new();
        self.for_each_index(|f| files.push(f)).await?;
        let ri = ReadIndex::of_trees(&files);
        let live = self.live_set(&ri, &snaps, progress).await?;
        let mut u = Usage { objects, ..Usage::default() };
        let mut uses: IdMap<PackUse> = IdMap::default();
        let mut seen_packs = IdSet::default();
        let mut raw_of: IdMap<u32> = IdMap::default();
        for f in &files {
            // A pack listed by several index objects is counted once (by the first).
            let fresh: Vec<bool> = f.packs.iter().map(|p| !seen_packs.contains(p)).collect();
            pack_uses(f, &live, &mut seen_packs, &mut uses);
            for (p, b) in &f.blobs {
                for (id, len) in &b.chunks {
                    match raw_of.entry(*id) {
                        Entry::Vacant(v) => {
                            v.insert(*len);
                        }
                        Entry::Occupied(_) if fresh[*p as usize] && live.contains(id) => {
                            u.duplicate_raw_bytes += *len as u64;
                        }
                        Entry::Occupied(_) => {}
                    }
                }
            }
        }
        for p in uses.values() {
            u.blobs += p.blobs as u64;
            u.live_bytes += p.live_blob_bytes;
            u.dead_bytes += p.bytes - p.live_blob_bytes;
            if p.live_blobs == 0 {
                u.dead_packs += 1;
            } else if p.live_blobs < p.blobs {
                u.partly_dead_packs += 1;
            }
        }
        u.chunks = raw_of.len() as u64;
        u.unique_raw_bytes = raw_of.values().map(|l| *l as u64).sum();
        u.live_raw_bytes = raw_of.iter().filter(|(id, _)| live.contains(*id)).map(|(_, l)| *l as u64).sum();
        u.dedup_ratio = ratio(u.objects.logical_bytes, u.live_raw_bytes);
        u.compression_ratio = ratio(u.live_raw_bytes, u.live_bytes);
        // Per path: which chunks each path's snapshots reach; a chunk reached from one path
        // only is that path's exclusively.
        let mut owner: IdMap<u32> = IdMap::default();
        let paths: Vec<String> = {
            let mut v: Vec<String> = snaps.iter().map(|s| s.snapshot.path.clone()).collect();
            v.sort();
            v.dedup();
            v
        };
        const SHARED: u32 = u32::MAX;
        for (i, p) in paths.iter().enumerate() {
            let mut reach = IdSet::default();
            for s in snaps.iter().filter(|s| &s.snapshot.path == p) {
                let root = crate::id::Id::from_hex(&s.snapshot.root)?;
                self.mark_tree(&ri, &root, &mut reach, None).await?;
                let e = u.paths.entry(p.clone()).or_default();
                e.snapshots += 1;
                e.logical_bytes += s.snapshot.size;
                if s.snapshot.time >= e.latest_time {
                    e.latest_time = s.snapshot.time.clone();
                    e.latest_bytes = s.snapshot.size;
                }
            }
            for id in reach {
                owner.entry(id).and_modify(|o| *o = SHARED).or_insert(i as u32);
            }
        }
        for (id, o) in owner {
            if o != SHARED {
                u.paths.get_mut(&paths[o as usize]).expect("path").exclusive_raw_bytes +=
                    raw_of.get(&id).copied().unwrap_or(0) as u64;
            }
        }
        Ok(u)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

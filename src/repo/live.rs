//! What the snapshots need: the ids of every tree node and chunk reachable from every snapshot
//! (the "live set"), and per pack how much of it is live. Garbage collection, compaction and
//! statistics start from here.
//!
//! Trees are walked node by node; a node already seen (snapshots of one database share most of
//! their tree) is not read again. Memory: the live set holds ~40–75 B per live id; the walk holds
//! one path from the root (≤ 8 levels of ≤ 4096 entries). Node reads are ranged reads of one
//! tree blob each, a few in flight.
//!
//! This module reads; it writes and deletes nothing.

use super::progress::{Progress, StageProgress};
use super::read_index::ReadIndex;
use super::{Repository, SnapshotEntry, pack_key};
use crate::backend::Backend;
use crate::compress;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::index::IndexFile;
use crate::format::pack::{BlobKind, open_blob};
use crate::format::tree::Node;
use crate::id::{Id, IdMap, IdSet};

/// Liveness of one indexed pack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackUse {
    /// Blobs in the pack (per its index records).
    pub blobs: u32,
    /// Blobs holding at least one live chunk or node.
    pub live_blobs: u32,
    /// Sealed bytes of all blobs.
    pub bytes: u64,
    /// Sealed bytes of live blobs.
    pub live_blob_bytes: u64,
    /// Raw bytes of live chunks (what a repack would keep).
    pub live_raw: u64,
    /// Raw bytes of all chunks.
    pub raw: u64,
}

impl Repository {
    /// Read one tree node by id.
    pub(crate) async fn read_node(&self, index: &ReadIndex, id: &Id) -> Result<Node> {
        read_tree_node(self.backend.as_ref(), &self.keys, index, id).await
    }

    /// Add every node and chunk id reachable from `root` to `live` (skipping subtrees whose
    /// node is already there), and the ids of the nodes it adds to `nodes` if given.
    pub(crate) async fn mark_tree(
        &self,
        index: &ReadIndex,
        root: &Id,
        live: &mut IdSet,
        mut nodes: Option<&mut Vec<Id>>,
    ) -> Result<()> {
        let mut stack = vec![*root];
        while let Some(id) = stack.pop() {
            if !live.insert(id) {
                continue;
            }
            if let Some(n) = nodes.as_deref_mut() {
                n.push(id);
            }
            let node = self.read_node(index, &id).await?;
            if node.level == 0 {
                live.extend(node.entries.iter().map(|e| e.0));
            } else {
                stack.extend(node.entries.iter().map(|e| e.0));
            }
        }
        Ok(())
    }

    /// The live set of `snaps` (trees located through the tree nodes of `files`), what it
    /// makes of each pack `files` lists, and the ids of the live tree nodes (~1 per 500 chunks).
    pub(crate) async fn liveness(
        &self,
        files: &[IndexFile],
        snaps: &[SnapshotEntry],
        progress: &StageProgress,
    ) -> Result<(IdSet, IdMap<PackUse>, Vec<Id>)> {
        let mut nodes = Vec::new();
        let live = self.live_set_nodes(&ReadIndex::of_trees(files), snaps, progress, Some(&mut nodes)).await?;
        let mut uses: IdMap<PackUse> = IdMap::default();
        let mut seen = IdSet::default();
        for f in files {
            pack_uses(f, &live, &mut seen, &mut uses);
        }
        Ok((live, uses, nodes))
    }

    /// The live set of `snaps`.
    pub(crate) async fn live_set(
        &self,
        index: &ReadIndex,
        snaps: &[SnapshotEntry],
        progress: &StageProgress,
    ) -> Result<IdSet> {
        self.live_set_nodes(index, snaps, progress, None).await
    }

    async fn live_set_nodes(
        &self,
        index: &ReadIndex,
        snaps: &[SnapshotEntry],
        progress: &StageProgress,
        mut nodes: Option<&mut Vec<Id>>,
    ) -> Result<IdSet> {
        let mut live = IdSet::default();
        progress.enter("trees", snaps.len() as u64);
        for s in snaps {
            let root = Id::from_hex(&s.snapshot.root)?;
            self.mark_tree(index, &root, &mut live, nodes.as_deref_mut())
                .await
                .map_err(|e| e.context(format!("snapshot {} ({})", s.id.short(), s.snapshot.path)))?;
            Progress::add(&progress.done, 1);
        }
        Ok(live)
    }
}

/// Add the liveness of an index object's packs to `uses` (a pack listed by several index
/// objects is counted once: by the first object that lists it, `seen`).
pub(crate) fn pack_uses(f: &IndexFile, live: &IdSet, seen: &mut IdSet, uses: &mut IdMap<PackUse>) {
    let fresh: Vec<bool> = f.packs.iter().map(|p| !seen.contains(p)).collect();
    for (i, p) in f.packs.iter().enumerate() {
        if fresh[i] {
            seen.insert(*p);
            uses.entry(*p).or_default();
        }
    }
    for (p, b) in &f.blobs {
        if !fresh[*p as usize] {
            continue;
        }
        let u = uses.get_mut(&f.packs[*p as usize]).expect("inserted above");
        u.blobs += 1;
        u.bytes += b.sealed_len as u64;
        let mut any = false;
        for (id, len) in &b.chunks {
            u.raw += *len as u64;
            if live.contains(id) {
                any = true;
                u.live_raw += *len as u64;
            }
        }
        if any {
            u.live_blobs += 1;
            u.live_blob_bytes += b.sealed_len as u64;
        }
    }
}

/// Of the `candidates` (packs that marks ask to delete), those that may go: a candidate that
/// holds a live chunk or node may go only if every such id also has a copy in an indexed pack
/// that is not a candidate (compaction leaves exactly that: the old pack marked, the live data
/// copied into a new one). Returns (deletable, kept).
pub(crate) fn deletable(files: &[IndexFile], live: &IdSet, candidates: &IdSet) -> (IdSet, IdSet) {
    // Live ids held by candidates, with the candidates holding them.
    let mut needed: IdMap<Vec<Id>> = IdMap::default();
    for f in files {
        for (p, b) in &f.blobs {
            let pack = f.packs[*p as usize];
            if !candidates.contains(&pack) {
                continue;
            }
            for (id, _) in &b.chunks {
                if live.contains(id) {
                    let v = needed.entry(*id).or_default();
                    if !v.contains(&pack) {
                        v.push(pack);
                    }
                }
            }
        }
    }
    // Which of them have a copy outside the candidates.
    for f in files {
        if needed.is_empty() {
            break;
        }
        for (p, b) in &f.blobs {
            if candidates.contains(&f.packs[*p as usize]) {
                continue;
            }
            for (id, _) in &b.chunks {
                needed.remove(id);
            }
        }
    }
    let kept: IdSet = needed.into_values().flatten().collect();
    let del = candidates.iter().filter(|p| !kept.contains(*p)).copied().collect();
    (del, kept)
}

/// Read tree node `id` located through `index`, checking its kind, its id and its encoding.
pub(crate) async fn read_tree_node(backend: &dyn Backend, keys: &Keys, index: &ReadIndex, id: &Id) -> Result<Node> {
    let loc = index.get(id).ok_or_else(|| Error::corrupt(format!("tree node {} is in no index object", id.short())))?;
    let b = index.blobs[loc.blob as usize];
    if b.kind != BlobKind::Tree {
        return Err(Error::corrupt(format!("tree node {} is stored as data", id.short())));
    }
    let key = pack_key(&index.packs[b.pack as usize]);
    let sealed = backend.get_range(&key, b.offset as u64, b.sealed_len as u64).await?;
    let what = format!("tree node {} in {key}", id.short());
    let frame = open_blob(keys, &sealed, &what)?;
    let raw = compress::decode(&frame).map_err(|e| e.context(&what))?;
    let (s, e) = (loc.inner as usize, loc.inner as usize + loc.len as usize);
    let bytes = raw.get(s..e).ok_or_else(|| Error::corrupt(format!("{what}: outside its blob")))?;
    if keys.chunk_id(bytes) != *id {
        return Err(Error::corrupt(format!("{what}: content does not match its id")));
    }
    Node::decode(bytes).map_err(|e| e.context(&what))
}

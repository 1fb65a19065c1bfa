//! The in-memory index used to read: chunk id → blob → pack.
//!
//! Memory: about 44 bytes per chunk plus hash-table slack, and 17 bytes per blob. Built from
//! index objects; duplicates (the same chunk in two packs) keep the first location seen, except
//! that a copy in a pack marked for deletion gives way to one in an unmarked pack
//! ([`ReadIndex::add_preferring`]).

use crate::format::index::IndexFile;
use crate::format::pack::BlobKind;
use crate::id::{Id, IdMap};

/// Where a blob is.
#[derive(Debug, Clone, Copy)]
pub struct BlobLoc {
    /// Index into [`ReadIndex::packs`].
    pub pack: u32,
    /// Offset in the pack.
    pub offset: u32,
    /// Sealed length.
    pub sealed_len: u32,
    /// Decoded frame length.
    pub raw_len: u32,
    /// Kind.
    pub kind: BlobKind,
}

/// Where a chunk is.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLoc {
    /// Index into [`ReadIndex::blobs`].
    pub blob: u32,
    /// Offset in the decoded frame.
    pub inner: u32,
    /// Length.
    pub len: u32,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct ReadIndex {
    /// Pack ids.
    pub packs: Vec<Id>,
    pack_pos: IdMap<u32>,
    /// Blobs.
    pub blobs: Vec<BlobLoc>,
    chunks: IdMap<ChunkLoc>,
    /// After [`ReadIndex::freeze`]: the entries sorted by id, and `chunks` empty.
    frozen: Vec<(Id, ChunkLoc)>,
}

impl ReadIndex {
    /// The tree nodes of `files` only: what walking snapshot trees needs (gc, compact and
    /// stats mark chunk ids as live without reading them), at a few bytes per chunk instead of
    /// ~60 (tree nodes are about one per 500 chunks).
    pub fn of_trees(files: &[IndexFile]) -> ReadIndex {
        let mut ri = ReadIndex::default();
        for f in files {
            let blobs = f.blobs.iter().filter(|(_, b)| b.kind == BlobKind::Tree).cloned().collect();
            ri.add(IndexFile { packs: f.packs.clone(), blobs });
        }
        ri
    }

    /// Merge one index object.
    pub fn add(&mut self, f: IndexFile) {
        self.add_preferring(f, &crate::id::IdSet::default())
    }

    /// Merge one index object; a chunk located in a `marked` pack moves to a copy in an
    /// unmarked pack when one appears.
    pub fn add_preferring(&mut self, f: IndexFile, marked: &crate::id::IdSet) {
        let local: Vec<u32> = f
            .packs
            .iter()
            .map(|p| {
                *self.pack_pos.entry(*p).or_insert_with(|| {
                    self.packs.push(*p);
                    (self.packs.len() - 1) as u32
                })
            })
            .collect();
        self.chunks.reserve(f.chunk_count());
        for (p, b) in f.blobs {
            let blob = self.blobs.len() as u32;
            self.blobs.push(BlobLoc {
                pack: local[p as usize],
                offset: b.offset,
                sealed_len: b.sealed_len,
                raw_len: b.raw_len,
                kind: b.kind,
            });
            let here_marked = marked.contains(&self.packs[local[p as usize] as usize]);
            let mut inner = 0u32;
            for (id, len) in b.chunks {
                self.insert(id, ChunkLoc { blob, inner, len }, here_marked, marked);
                inner += len;
            }
        }
    }

    /// An empty index with room for `chunks` chunk entries.
    pub fn with_capacity(chunks: usize) -> ReadIndex {
        let mut ri = ReadIndex::default();
        ri.chunks.reserve(chunks);
        ri
    }

    /// Merge one blob of which only some chunks are wanted: `chunks` holds their ids, offsets
    /// in the decoded frame and lengths. Duplicates are resolved as in [`Self::add_preferring`].
    pub fn add_blob(&mut self, pack: Id, head: BlobLoc, chunks: &[(Id, u32, u32)], marked: &crate::id::IdSet) {
        let p = *self.pack_pos.entry(pack).or_insert_with(|| {
            self.packs.push(pack);
            (self.packs.len() - 1) as u32
        });
        let blob = self.blobs.len() as u32;
        self.blobs.push(BlobLoc { pack: p, ..head });
        let here_marked = marked.contains(&pack);
        for &(id, inner, len) in chunks {
            self.insert(id, ChunkLoc { blob, inner, len }, here_marked, marked);
        }
    }

    fn insert(&mut self, id: Id, loc: ChunkLoc, here_marked: bool, marked: &crate::id::IdSet) {
        debug_assert!(self.frozen.is_empty(), "adding to a frozen ReadIndex");
        match self.chunks.entry(id) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(loc);
            }
            std::collections::hash_map::Entry::Occupied(mut o) if !here_marked && !marked.is_empty() => {
                let old_pack = self.packs[self.blobs[o.get().blob as usize].pack as usize];
                if marked.contains(&old_pack) {
                    o.insert(loc);
                }
            }
            std::collections::hash_map::Entry::Occupied(_) => {}
        }
    }

    /// Look a chunk up.
    pub fn get(&self, id: &Id) -> Option<ChunkLoc> {
        if self.frozen.is_empty() {
            return self.chunks.get(id).copied();
        }
        self.frozen.binary_search_by(|e| e.0.cmp(id)).ok().map(|i| self.frozen[i].1)
    }

    /// Done adding: keep the entries in a sorted vector (44 B each, looked up by binary
    /// search) instead of the hash table (~70 B each with its slack), and drop what only
    /// adding needs. For indexes that live long and are looked up rarely: the tree-node
    /// locations a push or pull holds for its whole run (~40,000 at 20 M stored chunks).
    pub fn freeze(&mut self) {
        let mut v: Vec<(Id, ChunkLoc)> = Vec::with_capacity(self.chunks.len());
        v.extend(std::mem::take(&mut self.chunks));
        v.sort_unstable_by_key(|e| e.0);
        self.frozen = v;
        self.pack_pos = IdMap::default();
        self.blobs.shrink_to_fit();
        self.packs.shrink_to_fit();
    }

    /// Number of chunk entries.
    pub fn len(&self) -> usize {
        self.chunks.len() + self.frozen.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::IdSet;

    #[test]
    fn a_frozen_index_finds_what_the_hash_table_found() {
        let mut ri = ReadIndex::default();
        let marked: IdSet = [Id::of_bytes(b"old pack")].into_iter().collect();
        let head = BlobLoc { pack: 0, offset: 0, sealed_len: 10, raw_len: 100, kind: BlobKind::Tree };
        let ids: Vec<Id> = (0..1000u32).map(|i| Id::of_bytes(&i.to_le_bytes())).collect();
        // Every id in a marked pack first, then the even ones again in an unmarked pack.
        let all: Vec<_> = ids.iter().enumerate().map(|(i, id)| (*id, i as u32, 1)).collect();
        ri.add_blob(Id::of_bytes(b"old pack"), head, &all, &marked);
        let even: Vec<_> = all.iter().step_by(2).map(|&(id, i, l)| (id, i + 5000, l)).collect();
        ri.add_blob(Id::of_bytes(b"new pack"), head, &even, &marked);
        let before: Vec<_> = ids.iter().map(|id| ri.get(id).map(|l| (l.blob, l.inner))).collect();
        ri.freeze();
        let after: Vec<_> = ids.iter().map(|id| ri.get(id).map(|l| (l.blob, l.inner))).collect();
        assert_eq!(before, after);
        assert_eq!(after[2], Some((1, 5002)), "the copy outside the marked pack wins");
        assert_eq!(after[3], Some((0, 3)));
        assert_eq!(ri.len(), 1000);
        assert!(ri.get(&Id::of_bytes(b"absent")).is_none());
    }
}

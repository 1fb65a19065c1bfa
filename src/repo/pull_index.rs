//! The index a pull reads through: where the repository's tree nodes are, and where the chunks
//! of one *window* of the stream are — never the locations of every chunk in the repository
//! (issue 12: pull memory independent of the repository's size; docs/architecture.md).
//!
//! The pull walks the snapshot's tree twice. A collector, one window ahead of the planner,
//! gathers the ids of the next [`super::PullOptions::index_window`] positions; one scan of the
//! index objects ([`build_window`]: two objects at once, each read one blob record at a time)
//! then keeps the locations of those ids only. That scan runs in the background while the
//! planner works in the window before. The planner resolves the positions of window `k` in
//! window `k` alone.
//!
//! Blob numbers are global and never reused: the tree nodes take the first, each window the
//! next ones from a multiple of the pull's route group. Caches keyed by blob number (the frame
//! cache, a fetch thread's read-ahead) therefore never confuse two windows, and a job of
//! window `k` still in flight while the planner works in window `k + 1` still finds its blob.
//! A window is dropped once the writer has written every position of it.
//!
//! Memory: the tree nodes of the repository (one per ~500 chunks: ≈ 0.2 B per stored chunk),
//! and per window its wanted-id set while it is built (≈ 35 B per position) and its locations
//! (≈ 50 B per distinct chunk, plus 20 B per blob holding one); at most about three windows
//! exist at once (the one being written, the one being planned, the next being built). Time: one scan of the index for the tree nodes and one per window; a scan's time
//! grows with the repository (a sorted blob map would remove it; docs/architecture.md).
//!
//! Must not: hold chunk entries outside the windows, or decide anything about the stream's
//! order (that is pull_plan's).

use super::read_index::{BlobLoc, ChunkLoc, ReadIndex};
use super::{IndexDecoder, scan_index};
use crate::backend::Backend;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::index::IndexFile;
use crate::format::pack::BlobKind;
use crate::id::{Id, IdSet};
use std::sync::{Arc, Mutex, RwLock};

/// Index objects decoded at once by a scan.
const SCAN_OBJECTS: usize = 2;

/// Part of a pull's index: the tree nodes, or the chunks of one window.
pub(super) struct Segment {
    /// Global number of the segment's first blob.
    base: u32,
    /// Positions of the stream up to which this window serves (`u64::MAX` for the trees).
    end: u64,
    ri: ReadIndex,
}

impl Segment {
    /// Where chunk `id` is, with its global blob number.
    pub(super) fn get(&self, id: &Id) -> Option<ChunkLoc> {
        self.ri.get(id).map(|l| ChunkLoc { blob: self.base + l.blob, ..l })
    }

    /// Blobs (by global number) in this segment.
    fn blob_range(&self) -> std::ops::Range<u32> {
        self.base..self.base + self.ri.blobs.len() as u32
    }
}

/// A blob found by global number: its segment, and its position there.
pub(super) struct BlobRef {
    seg: Arc<Segment>,
    local: usize,
}

impl BlobRef {
    /// The blob's location.
    pub(super) fn loc(&self) -> BlobLoc {
        self.seg.ri.blobs[self.local]
    }

    /// Its pack.
    pub(super) fn pack(&self) -> &Id {
        &self.seg.ri.packs[self.loc().pack as usize]
    }

    /// The blob `global` of the same segment, if it has it.
    pub(super) fn sibling(&self, global: u32) -> Option<BlobLoc> {
        self.seg.blob_range().contains(&global).then(|| self.seg.ri.blobs[(global - self.seg.base) as usize])
    }
}

/// The tree nodes and the live windows; see the module docs.
pub(super) struct PullIndex {
    /// The repository's tree nodes, once a node had to be found by scanning (no usable
    /// locator record); also listed in `segments`.
    trees: Mutex<Option<Arc<Segment>>>,
    /// Live segments (windows, and the trees once scanned) in order of their blob numbers.
    segments: RwLock<Vec<Arc<Segment>>>,
    route_group: u32,
}

impl PullIndex {
    /// An index with no segment yet; segments are numbered from multiples of `route_group`.
    pub(super) fn new(route_group: u32) -> PullIndex {
        PullIndex { trees: Mutex::default(), segments: RwLock::default(), route_group }
    }

    /// The tree-node segment, scanned by `scan` the first time it is needed.
    pub(super) fn trees_or(&self, scan: impl FnOnce() -> Result<ReadIndex>) -> Result<Arc<Segment>> {
        let mut t = self.trees.lock().unwrap();
        if let Some(t) = t.as_ref() {
            return Ok(t.clone());
        }
        let seg = self.push(scan()?, u64::MAX, 0);
        *t = Some(seg.clone());
        Ok(seg)
    }

    /// Add the next window, serving positions up to `end`; first drop the windows whose
    /// positions are all below `written` (the writer is past them).
    pub(super) fn add_window(&self, ri: ReadIndex, end: u64, written: u64) -> Arc<Segment> {
        self.push(ri, end, written)
    }

    fn push(&self, ri: ReadIndex, end: u64, written: u64) -> Arc<Segment> {
        let mut w = self.segments.write().unwrap();
        w.retain(|s| s.end > written);
        let last = w.last().map_or(0, |s| s.blob_range().end);
        let base = last.div_ceil(self.route_group) * self.route_group;
        let seg = Arc::new(Segment { base, end, ri });
        w.push(seg.clone());
        seg
    }

    /// Blob `global`.
    pub(super) fn blob(&self, global: u32) -> Result<BlobRef> {
        let w = self.segments.read().unwrap();
        let i = w.partition_point(|s| s.base <= global);
        match i.checked_sub(1).map(|i| &w[i]) {
            Some(s) if s.blob_range().contains(&global) => {
                Ok(BlobRef { seg: s.clone(), local: (global - s.base) as usize })
            }
            _ => Err(Error::new(
                crate::error::ErrorKind::Io,
                format!("internal: blob {global} belongs to no live window of this pull"),
            )),
        }
    }
}

/// Locations of the repository's tree nodes (a copy in a `marked` pack gives way to one in an
/// unmarked pack).
pub(super) async fn build_trees(backend: &Arc<dyn Backend>, keys: &Arc<Keys>, marked: &IdSet) -> Result<ReadIndex> {
    let decode: IndexDecoder<IndexFile> =
        Arc::new(|frame: &[u8]| IndexFile::decode_frame_where(frame, |_, kind| kind == BlobKind::Tree));
    let mut ri = ReadIndex::default();
    scan_index(backend, keys, SCAN_OBJECTS, decode, |f| ri.add_preferring(f, marked)).await?;
    ri.freeze();
    Ok(ri)
}

/// One blob's record and the wanted chunks in it (id, offset in the frame, length).
type Hit = (Id, BlobLoc, Vec<(Id, u32, u32)>);

/// Add the locations of the chunks in `want` to `ri`, from one scan of the index; ids absent
/// from the index stay absent (the planner reports them).
pub(super) async fn build_window(
    backend: &Arc<dyn Backend>,
    keys: &Arc<Keys>,
    mut ri: ReadIndex,
    want: IdSet,
    marked: &IdSet,
) -> Result<ReadIndex> {
    let want = Arc::new(want);
    let decode: IndexDecoder<Vec<Hit>> = Arc::new(move |frame: &[u8]| {
        let mut hits = Vec::new();
        IndexFile::visit_frame(frame, |packs, p, b| {
            let mut inner = 0u32;
            let mut found = Vec::new();
            for (id, len) in &b.chunks {
                if want.contains(id) {
                    found.push((*id, inner, *len));
                }
                inner += len;
            }
            if !found.is_empty() {
                let loc =
                    BlobLoc { pack: 0, offset: b.offset, sealed_len: b.sealed_len, raw_len: b.raw_len, kind: b.kind };
                hits.push((packs[p as usize], loc, found));
            }
        })?;
        Ok(hits)
    });
    scan_index(backend, keys, SCAN_OBJECTS, decode, |hits| {
        for (pack, loc, chunks) in hits {
            ri.add_blob(pack, loc, &chunks, marked);
        }
    })
    .await?;
    Ok(ri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg_index(blobs: usize) -> ReadIndex {
        let mut ri = ReadIndex::default();
        for i in 0..blobs {
            let loc = BlobLoc { pack: 0, offset: i as u32 * 10, sealed_len: 10, raw_len: 5, kind: BlobKind::Data };
            ri.add_blob(Id::of_bytes(b"pack"), loc, &[(Id::of_bytes(&i.to_le_bytes()), 0, 5)], &IdSet::default());
        }
        ri
    }

    #[test]
    fn windows_are_numbered_apart_and_dropped_once_written() {
        let pi = PullIndex::new(8);
        let w0 = pi.add_window(seg_index(10), 100, 0);
        assert_eq!(w0.base, 0);
        // The trees, scanned once when first needed, take the next numbers and stay.
        let trees = pi.trees_or(|| Ok(seg_index(3))).unwrap();
        assert_eq!(trees.base, 16);
        assert!(pi.trees_or(|| panic!("scanned twice")).is_ok());
        assert_eq!(trees.get(&Id::of_bytes(&2usize.to_le_bytes())).unwrap().blob, 18);
        let w1 = pi.add_window(seg_index(2), 200, 0);
        assert_eq!(w1.base, 24);
        assert_eq!(w1.get(&Id::of_bytes(&1usize.to_le_bytes())).unwrap().blob, 25);
        assert_eq!(pi.blob(2).unwrap().loc().offset, 20);
        assert_eq!(pi.blob(9).unwrap().loc().offset, 90);
        assert_eq!(pi.blob(17).unwrap().loc().offset, 10);
        assert!(pi.blob(10).is_err() && pi.blob(19).is_err() && pi.blob(26).is_err());
        assert_eq!(pi.blob(9).unwrap().sibling(8).unwrap().offset, 80);
        assert!(pi.blob(9).unwrap().sibling(16).is_none());
        // The writer is at 100: window 0 goes, the trees and window 1 stay.
        pi.add_window(seg_index(1), 300, 100);
        assert!(pi.blob(9).is_err());
        assert_eq!(pi.blob(16).unwrap().loc().offset, 0);
        assert_eq!(pi.blob(24).unwrap().loc().offset, 0);
        assert_eq!(pi.blob(32).unwrap().loc().offset, 0);
    }
}

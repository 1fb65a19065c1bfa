//! The pull's blob reads: one sealed blob fetched (with the read-ahead of its route group),
//! opened, decoded and its chunks checked and cut out; a small shared cache of decoded frames.
//!
//! Must not: decide what to read next (the planner in the parent module and pull_plan does) or
//! write the output.

use super::{Job, Out};
use crate::backend::Backend;
use crate::compress;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::locator::Locator;
use crate::format::pack::{BlobKind, open_blob_into};
use crate::id::{Id, IdSet};
use crate::pool::BufPool;
use crate::repo::locators::Locators;
use crate::repo::pull_index::{PullIndex, Segment, build_trees};
use crate::repo::pull_plan::Hold;
use crate::repo::read_index::ChunkLoc;
use crate::repo::{Progress, pack_key};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

type Slot = Arc<OnceLock<std::result::Result<Bytes, Error>>>;

/// Decoded frames recently used, shared by the fetch threads. Single-flight: when two
/// threads need the same frame, one decodes it and the other waits for that result.
pub(super) struct FrameCache {
    pub(super) slots: Mutex<VecDeque<(u32, Slot)>>,
    pub(super) cap: usize,
}

impl FrameCache {
    /// The slot of `blob`; a new one only if `insert` (else `None` when it is not cached).
    pub(super) fn slot(&self, blob: u32, insert: bool) -> Option<Slot> {
        let mut s = self.slots.lock().unwrap();
        if let Some(pos) = s.iter().position(|(b, _)| *b == blob) {
            // Least recently used goes first: frames that serve many scattered chunks stay.
            let hit = s.remove(pos).unwrap();
            let slot = hit.1.clone();
            s.push_back(hit);
            return Some(slot);
        }
        if !insert {
            return None;
        }
        if s.len() >= self.cap {
            s.pop_front();
        }
        let slot: Slot = Arc::new(OnceLock::new());
        s.push_back((blob, slot.clone()));
        Some(slot)
    }
}

/// Decoded frames kept for reuse: tree nodes, and data frames that a later position in the
/// lookahead still needs (the extras budget left it out); other frames are not kept, their
/// later positions being beyond the lookahead. (Before the lookahead this was 16 frames.)
pub(super) const FRAME_CACHE: usize = 4;
/// Idle decoded-frame buffers kept for reuse.
pub(super) const FRAME_POOL_KEEP: usize = 4;
/// Consecutive blobs (in index order) that go to one fetch thread, so that it can read
/// them with one request.
pub(super) const ROUTE_GROUP: u32 = 8;
/// The most one read-ahead request fetches.
pub(super) const READ_AHEAD_BYTES: u64 = 4 << 20;
/// The largest unwanted blob that a read-ahead request reads through.
pub(super) const READ_THROUGH_BYTES: u64 = 64 << 10;

thread_local! {
    /// This thread's buffer for opened (decrypted, still compressed) frames.
    static OPENED: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    /// This thread's read-ahead: sealed blobs of one route group fetched with its requests but
    /// not used yet (at most the group's 8 blobs, ≤ 4 MiB).
    static AHEAD: std::cell::RefCell<BTreeMap<u32, Bytes>> = const { std::cell::RefCell::new(BTreeMap::new()) };
}

/// Everything a thread needs to read one blob.
pub(super) struct BlobReader {
    pub(super) backend: Arc<dyn Backend>,
    pub(super) keys: Arc<Keys>,
    pub(super) index: Arc<PullIndex>,
    /// Packs marked for deletion when the pull started (a window prefers copies elsewhere).
    pub(super) marked: Arc<IdSet>,
    /// Positions the writer has written (windows below it are dropped).
    pub(super) written: Arc<AtomicU64>,
    pub(super) rt: tokio::runtime::Handle,
    pub(super) cache: FrameCache,
    /// Recycled buffers for decoded data frames.
    pub(super) frames: Arc<BufPool>,
    pub(super) progress: Arc<Progress>,
    pub(super) stats: Stats,
    /// The repository's locator tables (`None` without any).
    pub(super) locators: Option<Locators>,
}

/// What a pull did, reported at debug level.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) requests: AtomicU64,
    pub(super) frames: AtomicU64,
    pub(super) frame_bytes: AtomicU64,
    /// The most bytes the extras held at once.
    pub(super) extras_peak: AtomicU64,
}

impl BlobReader {
    /// The decoded frame of `blob`, from the cache or the backend; kept in the cache if
    /// `keep`.
    pub(super) fn frame(&self, blob: u32, keep: bool, ahead: u8) -> Result<Bytes> {
        match self.cache.slot(blob, keep) {
            Some(slot) => match slot.get_or_init(|| self.load_frame(blob, ahead)) {
                Ok(b) => Ok(b.clone()),
                Err(e) => Err(Error::new(e.kind(), e.to_string())),
            },
            None => self.load_frame(blob, ahead),
        }
    }

    /// The sealed bytes of `blob`: left over from this thread's last read-ahead, or read now.
    /// The read also fetches the blobs of its route group that `ahead` says this thread loads
    /// before its next other read (bit j: the group's j-th blob, see
    /// [`Lookahead::read_ahead`]), before or after `blob` in the pack, while they are
    /// contiguous, up to [`READ_AHEAD_BYTES`]: object stores charge per request far more than
    /// per byte. (Push seals frames in parallel, so a pack's frames are not always in stream
    /// order.)
    pub(super) fn sealed(&self, blob: u32, ahead: u8) -> Result<Bytes> {
        if let Some(s) = AHEAD.with(|a| a.borrow_mut().remove(&blob)) {
            return Ok(s);
        }
        let here = self.index.blob(blob)?;
        let at = |i: usize| here.sibling(i as u32);
        let b0 = blob as usize;
        let group = b0 - b0 % ROUTE_GROUP as usize..b0 - b0 % ROUTE_GROUP as usize + ROUTE_GROUP as usize;
        let wanted = |i: usize| i != b0 && group.contains(&i) && ahead & (1 << (i - group.start)) != 0;
        // Whether the request may grow from `at` to its neighbour `next`: same pack, adjacent,
        // within the byte limit, and wanted, or a small blob read through (typically a tree
        // node: push stores them between data frames as it goes). Blobs of another segment
        // of the pull's index (pull_index) are never neighbours.
        let mut len = here.loc().sealed_len as u64;
        let mut grow = |from: usize, next: usize| {
            let (Some(a), Some(n)) = (at(from), at(next)) else { return false };
            let adjacent = if next > from {
                n.offset as u64 == a.offset as u64 + a.sealed_len as u64
            } else {
                a.offset as u64 == n.offset as u64 + n.sealed_len as u64
            };
            let ok = group.contains(&next)
                && n.pack == a.pack
                && adjacent
                && len + n.sealed_len as u64 <= READ_AHEAD_BYTES
                && (wanted(next) || n.sealed_len as u64 <= READ_THROUGH_BYTES);
            if ok {
                len += n.sealed_len as u64;
            }
            ok
        };
        // The wanted blobs furthest after and before `blob` that one request reaches.
        let (mut last, mut end) = (b0, b0);
        while grow(end, end + 1) {
            end += 1;
            if wanted(end) {
                last = end;
            }
        }
        let (mut first, mut start) = (b0, b0);
        while start > 0 && grow(start, start - 1) {
            start -= 1;
            if wanted(start) {
                first = start;
            }
        }
        let (lo, hi) = (at(first).unwrap(), at(last).unwrap());
        let len = (hi.offset + hi.sealed_len - lo.offset) as u64;
        let key = pack_key(here.pack());
        let data = self
            .rt
            .block_on(self.backend.get_range(&key, lo.offset as u64, len))
            .map_err(|e| e.context(format!("reading pack {key} at offset {} ({len} bytes)", lo.offset)))?;
        Progress::add(&self.progress.transferred_bytes, data.len() as u64);
        self.stats.requests.fetch_add(1, Relaxed);
        let cut = |i: usize| {
            let b = at(i).unwrap();
            let at = (b.offset - lo.offset) as usize;
            data.slice(at..at + b.sealed_len as usize)
        };
        // What this thread read ahead for its group stays until used (a blob of the group that
        // a read could not include does not make the others useless); another group's is
        // dropped, its loads being over.
        AHEAD.with(|a| {
            let mut a = a.borrow_mut();
            a.retain(|b, _| group.contains(&(*b as usize)));
            a.extend((first..=last).filter(|&i| wanted(i)).map(|i| (i as u32, cut(i))));
        });
        Ok(cut(b0))
    }

    pub(super) fn load_frame(&self, blob: u32, ahead: u8) -> Result<Bytes> {
        let here = self.index.blob(blob)?;
        let (b, key) = (here.loc(), pack_key(here.pack()));
        drop(here);
        let what = format!("pack {key}, blob at offset {}", b.offset);
        let sealed = self.sealed(blob, ahead)?;
        // The opened (still compressed) frame goes to this thread's reused buffer.
        let mut frame = OPENED.take();
        let opened = open_blob_into(&self.keys, &sealed, &what, &mut frame);
        drop(sealed);
        let r = opened.and_then(|()| self.decode(&frame, b, &what));
        OPENED.set(frame);
        r
    }

    /// Decode an opened frame of the blob at `b`.
    pub(super) fn decode(&self, frame: &[u8], b: crate::repo::read_index::BlobLoc, what: &str) -> Result<Bytes> {
        // Data frames decode into recycled buffers: a megabyte allocated and freed per frame
        // stays in the allocator's per-thread arenas (the 30-generation restore peaked ~6 MB
        // higher without the pool).
        let mut raw = if b.kind == BlobKind::Data { self.frames.take() } else { Vec::new() };
        let r = compress::decode_into(frame, &mut raw).map_err(|e| e.context(what)).and_then(|()| {
            if raw.len() != b.raw_len as usize {
                return Err(Error::corrupt(format!("{what}: frame is {} bytes, index says {}", raw.len(), b.raw_len)));
            }
            Ok(())
        });
        self.stats.frames.fetch_add(1, Relaxed);
        self.stats.frame_bytes.fetch_add(raw.len() as u64, Relaxed);
        match (r, b.kind) {
            (Ok(()), BlobKind::Data) => Ok(self.frames.bytes(raw)),
            (Ok(()), _) => Ok(Bytes::from(raw)),
            (Err(e), kind) => {
                if kind == BlobKind::Data {
                    self.frames.give(raw);
                }
                Err(e)
            }
        }
    }

    /// Check `pieces` of `frame` (of `blob`) against their keyed ids; returns their ranges,
    /// pieces adjacent in the frame as one range.
    pub(super) fn check(&self, frame: &[u8], blob: u32, pieces: &[(Id, u32, u32)]) -> Result<Vec<(usize, usize)>> {
        let mut out: Vec<(usize, usize)> = Vec::new();
        for (id, inner, len) in pieces {
            let (s, e) = (*inner as usize, *inner as usize + *len as usize);
            if e > frame.len() {
                return Err(Error::corrupt(format!("chunk {} lies outside its frame", id.short())));
            }
            if self.keys.chunk_id(&frame[s..e]) != *id {
                let pack = self.index.blob(blob).map(|b| pack_key(b.pack())).unwrap_or_default();
                return Err(Error::corrupt(format!("chunk {} in pack {pack} does not match its id", id.short())));
            }
            match out.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => out.push((s, e)),
            }
        }
        Ok(out)
    }

    /// Decode a job's frame once and cut out every segment, each piece checked against its
    /// chunk id; slices of the frame or copies, as planned.
    pub(super) fn cut(&self, job: &Job) -> Result<Vec<Out>> {
        let plan = &job.plan;
        let frame = self.frame(plan.blob, plan.needed_again, job.ahead)?;
        let mut outs = Vec::with_capacity(plan.segs.len());
        for (k, seg) in plan.segs.iter().enumerate() {
            let ranges = self.check(&frame, plan.blob, &seg.pieces)?;
            let pieces = ranges
                .into_iter()
                .map(|(s, e)| match plan.hold {
                    Hold::Slices => frame.slice(s..e),
                    Hold::Copies => Bytes::copy_from_slice(&frame[s..e]),
                })
                .collect();
            outs.push(Out {
                pos: seg.pos,
                chunks: seg.pieces.len() as u64,
                pieces,
                window: (k == 0).then_some(job.charge),
                extras: seg.release,
            });
        }
        Ok(outs)
    }

    /// A tree node's bytes by id: through its locator record if one is usable, else through
    /// the tree nodes of the index (scanned the first time one is needed).
    pub(super) fn node(&self, id: &Id) -> Result<Vec<u8>> {
        if let Some(bytes) = self.node_by_record(id) {
            return Ok(bytes);
        }
        let trees = self.index.trees_or(|| {
            Progress::add(&self.progress.index_scans, 1);
            self.rt
                .block_on(build_trees(&self.backend, &self.keys, &self.marked))
                .map_err(|e| e.context("loading the index (tree nodes)"))
        })?;
        let loc = trees.get(id).ok_or_else(|| {
            Error::corrupt(format!("tree node {} is in no index object (repository damaged)", id.short()))
        })?;
        if self.index.blob(loc.blob)?.loc().kind != BlobKind::Tree {
            return Err(Error::corrupt(format!("tree node {} is stored as data", id.short())));
        }
        let frame = self.frame(loc.blob, true, 0)?;
        let (s, e) = self.check(&frame, loc.blob, &[(*id, loc.inner, loc.len)])?[0];
        Ok(frame[s..e].to_vec())
    }

    /// Node `id` read where its locator record says, checked against its id; `None` (and a
    /// warning if the record was wrong) sends the caller to the index.
    fn node_by_record(&self, id: &Id) -> Option<Vec<u8>> {
        let l = self.locators.as_ref()?.get(&self.rt, id, &self.marked)?;
        let read = self.rt.block_on(crate::repo::locators::read_node_at(self.backend.as_ref(), &self.keys, &l, id));
        self.stats.requests.fetch_add(1, Relaxed);
        match read {
            Ok((raw, sealed)) => {
                Progress::add(&self.progress.transferred_bytes, sealed);
                Some(raw)
            }
            Err(e) => {
                tracing::warn!("{e} (from a locator record); locating it through the index");
                None
            }
        }
    }

    /// The usable locator record of the leaf `id` with `entries`, if any.
    pub(super) fn leaf_record(&self, id: &Id, entries: &[(Id, u64)]) -> Option<Arc<Locator>> {
        let l = self.locators.as_ref()?.get(&self.rt, id, &self.marked)?;
        (l.entries.len() == entries.len()).then_some(l)
    }

    /// Where chunk `id` of the stream (`len` bytes, says the tree) is, in the window `w` that
    /// serves its position.
    pub(super) fn locate(&self, w: &Segment, id: &Id, len: u32) -> Result<ChunkLoc> {
        let loc = w.get(id).ok_or_else(|| {
            Error::corrupt(format!("chunk {} is in no index object (repository damaged; run verify)", id.short()))
        })?;
        if loc.len != len {
            return Err(Error::corrupt(format!(
                "chunk {}: index length {} differs from the snapshot's {len}",
                id.short(),
                loc.len
            )));
        }
        Ok(loc)
    }
}

//! A push that follows its parent's cuts: where the stream repeats the parent snapshot (the
//! common case of nightly dumps), the chunks are found by hashing the parent's next chunk
//! lengths instead of scanning for cut points with FastCDC (docs/architecture.md, "Following
//! the parent's cuts").
//!
//! The cuts are exactly FastCDC's, so the chunking, the ids and the tree of a push do not
//! depend on whether or how well it followed, given a parent whose chunks FastCDC cut with this
//! repository's parameters: every pushed snapshot (a repository has one chunker; a snapshot
//! that `repair` rewrote with zero-filled ranges is not followed, repo::push). FastCDC's cut
//! after a chunk of length `L` that starts at `p` depends only on the bytes `p..=p + L` (the
//! byte after the chunk decides a cut found by the gear hash) and on how many bytes the cut
//! could look at (`remaining`, which is `max_size` whenever at least that many bytes follow
//! `p`). So when the parent's chunk `k` (length `L`) and the chunk `k + 1` after it (not empty)
//! both have the keyed ids of the next bytes here, and at least `max_size` bytes follow here,
//! FastCDC would cut here at `L` as it did in the parent (where `k + 1` existing means the cut
//! was not the stream's end; the parent having had `max_size` bytes from `k`'s start is checked
//! too, though implied): the chunk is taken without a scan. Otherwise FastCDC cuts (a chunk
//! whose id matched but whose next chunk could not be checked is still taken when FastCDC
//! agrees). A parent whose tree lies (lengths not FastCDC's) can change the cuts, never an id.
//!
//! After a chunk that does not follow, the next one is guessed to be the parent's next (an edit
//! inside one chunk leaves the cut after it in place); when that does not follow either, or
//! first, the parent position is found again by looking the next chunks' ids up among the
//! parent's next [`WINDOW`] entries (the stream inserted data: the parent resumes where it
//! stopped; or it dropped some: the parent resumes further on). While searching, entries that
//! start more than `WINDOW / 4` average chunks before the stream position are dropped, so the
//! window keeps up with a stream that got ahead of the parent's leaves (they arrived late, or
//! the stream dropped more than the window holds); an insertion longer than that is not
//! followed past. While it searches, this hashes the chunks it cuts, for their ids; after
//! [`SEARCH_HASHED`] chunks without finding its place it hashes one in [`SEARCH_SAMPLE`] and
//! leaves the others to the push's hashing workers, so a stream unlike its parent costs what a
//! push without a parent costs. Every chunk id this returns is the keyed hash of the chunk's
//! bytes, computed here.
//!
//! The parent's chunks come from a task reading its tree leaves ([`Feed`]; the dedup cursor
//! reads the same leaves on its own); this never waits for it: a chunk whose parent entry has
//! not arrived is cut with FastCDC.
//!
//! Memory: the window, ≤ [`WINDOW`] parent entries (~100 B each with the lookup map: ≤ 1.7 MB).
//! Must not: decide whether a chunk is stored (the dedup thread does), or read storage itself.

use super::cursor::Leaf;
use crate::chunker::{CutPlan, Cutter};
use crate::crypto::Keys;
use crate::error::Result;
use crate::id::{Id, IdMap};
use std::collections::VecDeque;
use std::sync::Arc;

/// Parent entries kept ahead of the parent position (for finding it again).
pub(crate) const WINDOW: usize = 16_384;
/// Chunks a search hashes one by one before it samples.
pub(crate) const SEARCH_HASHED: u64 = 256;
/// While sampling, one chunk in this many is hashed here to look for the parent position.
pub(crate) const SEARCH_SAMPLE: u64 = 16;

/// Where the parent's leaves come from.
pub(crate) trait Feed: Send {
    /// The next leaf if it is ready; `Ok(None)` if it is not (yet); `Err(())` when there are no
    /// more (the tree ended, or could not be read).
    fn poll(&mut self) -> std::result::Result<Option<Leaf>, ()>;
}

impl Feed for tokio::sync::mpsc::Receiver<Result<Leaf>> {
    fn poll(&mut self) -> std::result::Result<Option<Leaf>, ()> {
        match self.try_recv() {
            Ok(Ok(l)) => Ok(Some(l)),
            Ok(Err(e)) => {
                tracing::debug!("reading the parent's tree to follow its cuts: {e} (the rest is cut with FastCDC)");
                Err(())
            }
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => Err(()),
        }
    }
}

/// Counters, for the push's log line and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FollowStats {
    /// Chunks taken at the parent's cut without a FastCDC scan.
    pub followed: u64,
    /// Chunks cut with FastCDC.
    pub scanned: u64,
    /// Times the parent position was found again after a chunk that did not follow.
    pub resyncs: u64,
    /// Bytes hashed here (more than the stream where a guess failed).
    pub hashed_bytes: u64,
}

/// One parent chunk.
#[derive(Clone, Copy)]
struct Entry {
    id: Id,
    len: u32,
    /// Stream offset in the parent.
    start: u64,
}

/// See the module docs.
pub(crate) struct ParentCuts {
    cutter: Cutter,
    keys: Arc<Keys>,
    max: usize,
    feed: Box<dyn Feed>,
    fed: bool,
    /// Parent entries from index `base` on.
    entries: VecDeque<Entry>,
    base: u64,
    /// Parent offset after the last entry received.
    loaded_end: u64,
    /// Id → the first index (≥ `base`) holding it.
    at: IdMap<u64>,
    /// The parent index expected here; `None` while searching.
    next: Option<u64>,
    /// `next` is a guess made after a chunk that did not follow.
    guess: bool,
    /// The id of the chunk of this length at the next call's start, if hashed already.
    memo: Option<(usize, Id)>,
    /// Chunks cut since the parent position was lost.
    searched: u64,
    /// Stream offset of the next call's data.
    offset: u64,
    /// While searching, entries starting more than this many bytes before `offset` are dropped
    /// (module docs).
    slack: u64,
    pub stats: FollowStats,
}

impl ParentCuts {
    pub(crate) fn new(cutter: Cutter, keys: Arc<Keys>, feed: Box<dyn Feed>) -> ParentCuts {
        let max = cutter.params().max_size as usize;
        let slack = (WINDOW / 4) as u64 * cutter.params().avg_size as u64;
        ParentCuts {
            cutter,
            keys,
            max,
            feed,
            fed: true,
            entries: VecDeque::new(),
            base: 0,
            loaded_end: 0,
            at: IdMap::default(),
            next: Some(0),
            guess: false,
            memo: None,
            searched: 0,
            offset: 0,
            slack,
            stats: FollowStats::default(),
        }
    }

    /// Take the leaves that arrived, up to [`WINDOW`] entries.
    fn pull(&mut self) {
        while self.fed && self.entries.len() < WINDOW {
            match self.feed.poll() {
                Ok(Some(leaf)) => {
                    let mut start = leaf.start;
                    if start != self.loaded_end {
                        // Not the next leaf of one tree: stop following rather than guess.
                        self.fed = false;
                        return;
                    }
                    for (id, len) in leaf.ids.iter().skip(1).zip(&leaf.lens) {
                        let i = self.base + self.entries.len() as u64;
                        self.at.entry(*id).or_insert(i);
                        self.entries.push_back(Entry { id: *id, len: *len, start });
                        start += *len as u64;
                    }
                    self.loaded_end = start;
                }
                Ok(None) => return,
                Err(()) => self.fed = false,
            }
        }
    }

    fn get(&self, i: u64) -> Option<Entry> {
        i.checked_sub(self.base).and_then(|d| self.entries.get(d as usize)).copied()
    }

    /// Drop the entries before index `i` (the parent position moved past them; `i` is at most
    /// one past the last entry received).
    fn advance(&mut self, i: u64) {
        while self.base < i && self.pop() {}
    }

    fn pop(&mut self) -> bool {
        let Some(e) = self.entries.pop_front() else { return false };
        if self.at.get(&e.id) == Some(&self.base) {
            self.at.remove(&e.id);
        }
        self.base += 1;
        true
    }

    /// While searching: drop the entries that start more than `slack` bytes before this
    /// position, so that the window keeps up with a stream that got ahead of the parent's
    /// leaves (they arrived late) or dropped more than the window holds.
    fn slide(&mut self) {
        while self.entries.front().is_some_and(|e| e.start + self.slack < self.offset) && self.pop() {}
    }

    fn id_of(&mut self, bytes: &[u8]) -> Id {
        self.stats.hashed_bytes += bytes.len() as u64;
        self.keys.chunk_id(bytes)
    }

    fn hash(&mut self, data: &[u8], len: usize, memo: Option<(usize, Id)>) -> Id {
        match memo {
            Some((n, id)) if n == len => id,
            _ => self.id_of(&data[..len]),
        }
    }

    /// The chunk `id` was cut here: if the window holds it, the parent resumes after it. If not
    /// and this was to be the parent's chunk `k` (not itself a guess), the next is guessed to be
    /// `k + 1` (an edit inside one chunk usually leaves the cut after it in place); otherwise the
    /// parent position is lost.
    fn resync(&mut self, id: &Id) {
        match self.at.get(id).copied() {
            Some(j) => {
                if self.next != Some(j) {
                    self.stats.resyncs += 1;
                }
                self.searched = 0;
                self.guess = false;
                self.next = Some(j + 1);
                self.advance(j + 1);
            }
            None => match self.next {
                Some(k) if !self.guess => {
                    self.guess = true;
                    self.next = Some(k + 1);
                }
                _ => {
                    self.guess = false;
                    self.next = None;
                    self.searched += 1;
                }
            },
        }
    }

    /// The parent chunk `k` and the one after it, when `k` may be followed here (module docs).
    fn followable(&self, k: u64, data: &[u8]) -> Option<(Entry, Entry)> {
        let (e, after) = (self.get(k)?, self.get(k + 1)?);
        let len = e.len as usize;
        // Lengths a tree could lie about are refused: the byte after the chunk must be hashed.
        (data.len() >= self.max
            && (1..=self.max).contains(&len)
            && after.len >= 1
            && e.start + self.max as u64 <= self.loaded_end)
            .then_some((e, after))
    }

    fn cdc(&mut self, data: &[u8]) -> usize {
        self.stats.scanned += 1;
        self.cutter.next_len(data)
    }

    /// [`CutPlan::cut`] but for counting the stream offset.
    fn cut_here(&mut self, data: &[u8]) -> (usize, Option<Id>) {
        if self.next.is_none() {
            self.slide();
        }
        self.pull();
        let memo = self.memo.take();
        if let Some(k) = self.next
            && let Some((e, after)) = self.followable(k, data)
        {
            let len = e.len as usize;
            let id = self.hash(data, len, memo);
            if id != e.id {
                let n = self.cdc(data);
                let id = if n == len { id } else { self.id_of(&data[..n]) };
                self.resync(&id);
                return (n, Some(id));
            }
            let mut next_memo = None;
            let after_len = after.len as usize;
            if len + after_len <= data.len() {
                let next_id = self.id_of(&data[len..len + after_len]);
                if next_id == after.id {
                    // The bytes up to and including the first after the chunk are the parent's.
                    self.stats.followed += 1;
                    self.guess = false;
                    self.memo = Some((after_len, next_id));
                    self.next = Some(k + 1);
                    self.advance(k + 1);
                    return (len, Some(id));
                }
                next_memo = Some((after_len, next_id));
            }
            // The chunk is the parent's, the byte after it unchecked: FastCDC decides.
            let n = self.cdc(data);
            if n == len {
                self.guess = false;
                self.memo = next_memo;
                self.next = Some(k + 1);
                self.advance(k + 1);
                return (len, Some(id));
            }
            let id = self.id_of(&data[..n]);
            self.resync(&id);
            return (n, Some(id));
        }
        let n = self.cdc(data);
        if self.next.is_some() || self.searched < SEARCH_HASHED || self.searched.is_multiple_of(SEARCH_SAMPLE) {
            let id = self.hash(data, n, memo);
            self.resync(&id);
            (n, Some(id))
        } else {
            self.searched += 1;
            (n, None)
        }
    }
}

impl CutPlan for ParentCuts {
    fn cut(&mut self, data: &[u8]) -> (usize, Option<Id>) {
        let (n, id) = self.cut_here(data);
        self.offset += n as u64;
        (n, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunker::{ChunkerParams, StreamChunker};
    use crate::crypto::MasterKey;
    use crate::testdata::pseudo_random;

    /// Leaves of a parent stream's chunks, handed out as the test says.
    struct VecFeed {
        leaves: VecDeque<Leaf>,
        /// Leaves handed out per poll before reporting "not yet" once.
        burst: usize,
        given: usize,
        /// Polls answered "not yet" before the first leaf.
        delay: usize,
    }

    impl VecFeed {
        fn new(leaves: VecDeque<Leaf>, burst: usize) -> Box<VecFeed> {
            Box::new(VecFeed { leaves, burst, given: 0, delay: 0 })
        }
    }

    impl Feed for VecFeed {
        fn poll(&mut self) -> std::result::Result<Option<Leaf>, ()> {
            if self.delay > 0 {
                self.delay -= 1;
                return Ok(None);
            }
            if self.burst > 0 && self.given == self.burst {
                self.given = 0;
                return Ok(None);
            }
            self.given += 1;
            self.leaves.pop_front().map(Some).ok_or(())
        }
    }

    fn leaves_of(chunks: &[(Id, u32)], per_leaf: usize) -> VecDeque<Leaf> {
        let mut out = VecDeque::new();
        let mut start = 0u64;
        for piece in chunks.chunks(per_leaf) {
            let len: u64 = piece.iter().map(|c| c.1 as u64).sum();
            let mut ids = vec![Id([0; 32])];
            ids.extend(piece.iter().map(|c| c.0));
            let lens = piece.iter().map(|c| c.1).collect();
            out.push_back(Leaf { start, len, ids, lens, inner: Vec::new(), node_unmarked: false, loc: None });
            start += len;
        }
        out
    }

    fn small() -> ChunkerParams {
        ChunkerParams { min_size: 256, avg_size: 1024, max_size: 8192, normalization: 1 }
    }

    /// Chunk `data` with plain FastCDC: (id, len) of each chunk.
    fn cdc(keys: &Keys, cutter: &Cutter, data: &[u8]) -> Vec<(Id, u32)> {
        cutter.split(data).iter().map(|c| (keys.chunk_id(c), c.len() as u32)).collect()
    }

    /// Chunk `data` following `parent`'s chunks; every id returned is checked.
    fn follow(
        keys: &Arc<Keys>,
        cutter: &Cutter,
        parent: &[(Id, u32)],
        data: &[u8],
        block: usize,
        burst: usize,
    ) -> (Vec<(Id, u32)>, FollowStats) {
        follow_feed(keys, cutter, VecFeed::new(leaves_of(parent, 37), burst), data, block)
    }

    fn follow_feed(
        keys: &Arc<Keys>,
        cutter: &Cutter,
        feed: Box<VecFeed>,
        data: &[u8],
        block: usize,
    ) -> (Vec<(Id, u32)>, FollowStats) {
        let mut plan = ParentCuts::new(cutter.clone(), keys.clone(), feed);
        let mut sc = StreamChunker::new(data, cutter.clone(), block);
        let mut out = Vec::new();
        while let Some(batch) = sc.next_batch_with(&mut plan).unwrap() {
            for (id, c) in batch {
                let real = keys.chunk_id(&c);
                if let Some(id) = id {
                    assert_eq!(id, real, "an id returned is the hash of its chunk");
                }
                out.push((real, c.len() as u32));
            }
        }
        (out, plan.stats)
    }

    fn setup() -> (Arc<Keys>, Cutter) {
        let keys = Arc::new(MasterKey::generate().derive());
        let cutter = Cutter::new(small(), 7).unwrap();
        (keys, cutter)
    }

    /// Parameters where two chunks often exceed the bytes left before a block's end, so the
    /// follower of a chunk often cannot be checked (the chunk is taken only if FastCDC agrees).
    fn tight() -> Cutter {
        Cutter::new(ChunkerParams { min_size: 256, avg_size: 1024, max_size: 2048, normalization: 1 }, 7).unwrap()
    }

    #[test]
    fn the_same_stream_follows_every_chunk_but_the_last_few() {
        let (keys, cutter) = setup();
        let d = pseudo_random(2_000_000, 1);
        let parent = cdc(&keys, &cutter, &d);
        let (got, stats) = follow(&keys, &cutter, &parent, &d, 1 << 16, 0);
        assert_eq!(got, parent);
        // Not followed: the chunks within max_size of the end, and one per block whose next
        // chunk crosses the block's end.
        let blocks = d.len() as u64 / (1 << 16) + 1;
        assert!(stats.scanned <= blocks + 16, "{stats:?}");
        assert_eq!(stats.followed + stats.scanned, parent.len() as u64);
    }

    #[test]
    fn a_parent_arriving_late_is_found_and_followed() {
        let (keys, cutter) = setup();
        let d = pseudo_random(1_000_000, 2);
        let parent = cdc(&keys, &cutter, &d);
        // One leaf per poll, a "not yet" between them.
        let (got, stats) = follow(&keys, &cutter, &parent, &d, 1 << 15, 1);
        assert_eq!(got, parent);
        assert!(stats.followed > parent.len() as u64 / 2, "{stats:?}");
    }

    /// Edits of every kind, at chunk boundaries (where the byte after a chunk changes: a cut
    /// taken from the parent there would be wrong), near the ends and at block edges.
    #[test]
    fn edits_never_change_the_cuts() {
        let (keys, cutter) = setup();
        edits(&keys, &cutter);
        edits(&keys, &tight());
    }

    fn edits(keys: &Arc<Keys>, cutter: &Cutter) {
        let base = pseudo_random(600_000, 3);
        let parent = cdc(keys, cutter, &base);
        let bounds: Vec<usize> = parent
            .iter()
            .scan(0usize, |o, c| {
                *o += c.1 as usize;
                Some(*o)
            })
            .collect();
        let mut rng = 0x9e3779b97f4a7c15u64;
        let mut rand = move |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        let mut followed = 0;
        for case in 0..120 {
            let mut d = base.clone();
            for _ in 0..1 + rand(4) {
                let at = match rand(4) {
                    0 => bounds[rand(bounds.len())].min(d.len()),
                    1 => d.len().saturating_sub(rand(9000)),
                    2 => rand(9000).min(d.len()),
                    _ => rand(d.len()),
                };
                match rand(3) {
                    0 => {
                        let big = rand(2) == 0;
                        let ins = pseudo_random(1 + rand(if big { 70_000 } else { 4 }), case);
                        d.splice(at..at, ins);
                    }
                    1 => {
                        let big = rand(2) == 0;
                        let end = (at + 1 + rand(if big { 90_000 } else { 3 })).min(d.len());
                        d.drain(at..end);
                    }
                    _ => {
                        if at < d.len() {
                            d[at] ^= 1 + rand(255) as u8;
                        }
                    }
                }
            }
            let want = cdc(keys, cutter, &d);
            let block = [1 << 15, 40_000, 1 << 17][case as usize % 3];
            let (got, stats) = follow(keys, cutter, &parent, &d, block, (case % 4) as usize);
            assert_eq!(got, want, "case {case}");
            followed += stats.followed;
        }
        assert!(followed > 0);
    }

    #[test]
    fn an_insertion_at_a_chunk_boundary_is_not_cut_at_the_parents_cut() {
        let (keys, cutter) = setup();
        for cutter in [cutter, tight()] {
            let base = pseudo_random(400_000, 4);
            let parent = cdc(&keys, &cutter, &base);
            let mut mismatches = 0;
            // At each of many boundaries: one byte inserted right after a parent chunk; with
            // small blocks, some of them within a chunk of a block's end.
            let mut off = 0usize;
            for (i, c) in parent.iter().enumerate().take(150) {
                off += c.1 as usize;
                let mut d = base.clone();
                d.insert(off, 0x5a);
                let want = cdc(&keys, &cutter, &d);
                for block in [1 << 13, 9000, 1 << 16] {
                    let (got, _) = follow(&keys, &cutter, &parent, &d, block, 0);
                    assert_eq!(got, want, "boundary {i}, block {block}");
                }
                mismatches += usize::from(want[i].1 != c.1);
            }
            // The case matters: FastCDC's cut there usually moves when the byte after it changes.
            assert!(mismatches > 0);
        }
    }

    /// A tree that lies (an empty entry, lengths over the maximum) cannot change the cuts
    /// through the checks it controls: the follower must hold at least the byte after a chunk.
    #[test]
    fn entries_a_tree_could_lie_with_are_not_followed() {
        let (keys, cutter) = setup();
        let base = pseudo_random(300_000, 11);
        let parent = cdc(&keys, &cutter, &base);
        let empty = (keys.chunk_id(b""), 0u32);
        let mut off = 0usize;
        for (i, c) in parent.iter().enumerate().take(40) {
            off += c.1 as usize;
            // The stream has a byte inserted after chunk i; the lying parent an empty chunk
            // there (its id is that of the empty bytes at any position) and a chunk of more
            // than the maximum length with the id of the next bytes.
            let mut d = base.clone();
            d.insert(off, 0xa5);
            let mut lying = parent.clone();
            lying.insert(i + 1, empty);
            let big = 8192 + 2;
            lying.insert(i + 3, (keys.chunk_id(&d[off + 1..off + 1 + big]), big as u32));
            let want = cdc(&keys, &cutter, &d);
            let (got, _) = follow(&keys, &cutter, &lying, &d, 1 << 16, 0);
            assert_eq!(got, want, "boundary {i}");
        }
    }

    /// Leaves that arrive after the stream got further than the window reaches: the window
    /// slides to the stream while it searches, and following resumes.
    #[test]
    fn the_window_catches_up_with_a_stream_ahead_of_late_leaves() {
        let (keys, cutter) = setup();
        let d = pseudo_random(30 << 20, 8);
        let parent = cdc(&keys, &cutter, &d);
        let mut feed = VecFeed::new(leaves_of(&parent, 50), 0);
        // Nothing for the first ~20 MB (one poll per chunk while nothing arrives).
        feed.delay = 20_000;
        let (got, stats) = follow_feed(&keys, &cutter, feed, &d, 1 << 16);
        assert_eq!(got, parent);
        let after = parent.len() as u64 - 20_000;
        assert!(stats.followed > after / 2, "{stats:?} of {} chunks", parent.len());
    }

    #[test]
    fn a_stream_unlike_its_parent_samples_its_search() {
        let (keys, cutter) = setup();
        let parent = cdc(&keys, &cutter, &pseudo_random(500_000, 5));
        let d = pseudo_random(2_000_000, 6);
        let mut plan = ParentCuts::new(cutter.clone(), keys.clone(), VecFeed::new(leaves_of(&parent, 50), 0));
        let mut sc = StreamChunker::new(&d[..], cutter.clone(), 1 << 16);
        let (mut with_id, mut all) = (0u64, 0u64);
        while let Some(batch) = sc.next_batch_with(&mut plan).unwrap() {
            all += batch.len() as u64;
            with_id += batch.iter().filter(|c| c.0.is_some()).count() as u64;
        }
        assert_eq!(plan.stats.followed, 0);
        assert!(with_id <= SEARCH_HASHED + 1 + all / SEARCH_SAMPLE, "{with_id} of {all}");
    }
}

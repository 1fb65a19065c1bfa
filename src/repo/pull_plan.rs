//! The pull planner's lookahead: which chunks each fetch job cuts out of its frame.
//!
//! A data frame (~1 MiB, ~128 chunks of 8 KiB) written by an incremental push holds the chunks
//! that were new that night, and a later snapshot needs them at positions scattered over
//! megabytes of its stream. One job per run of consecutive chunks made the fetch threads decode
//! such a frame once per run: zstd decoded ~1 MiB to deliver 8 KiB, and the 30th nightly
//! generation of a dump restored ~10× slower than the first. So the planner reads the chunk
//! list up to [`Lookahead`]'s capacity ahead of the next position to plan (the cursor), and
//! when the cursor reaches a position that no job covers yet it makes one job for that chunk's
//! frame ([`JobPlan`]), holding
//! * the *head*: the run of consecutive positions needing the frame, starting at the cursor;
//! * *extras*: the later positions in the lookahead that need a chunk of the same frame,
//!   nearest first, as long as what they would hold fits the free extras budget.
//!
//! The fetch thread decodes the frame once and cuts out every piece; the writer writes each
//! one when the stream reaches its position. A position left out (budget, or beyond the
//! lookahead) gets a job of its own when the cursor reaches it and decodes the frame again.
//!
//! How a job holds its pieces ([`Hold`]): slices of the decoded frame when they cover at least
//! half of it (the frame stays in memory until its last piece is written), copies otherwise
//! (only the pieces' bytes stay). Extras are charged to the budget for what they hold: the
//! frame's length for slices (on the last extra, written last), their own bytes for copies.
//!
//! The lookahead also knows the order in which frames will be loaded (by the position where
//! each frame's next job starts), so it tells a fetch thread which neighbouring blobs of a
//! pack to read with the one it loads ([`Lookahead::read_ahead`]): those it will load before
//! its next read, and no others.
//!
//! Must not: do I/O, decode or check any bytes (ids and locations only: the fetch threads check
//! every piece against its chunk id); wait for anything (the caller applies the window to the
//! head; the extras budget is only read, so a full budget stops pre-extraction, never
//! planning, and the writer can always reach the cursor); or hold more than the lookahead's
//! entries (52 B each) and a few map entries per distinct frame among them.

use crate::id::Id;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Most positions in one head (as before the lookahead).
const MAX_HEAD: usize = 4096;
/// Most blobs [`Lookahead::read_ahead`] looks at to find the thread's next other load.
const READ_AHEAD_SCAN: usize = 256;

/// A position of the stream, located.
#[derive(Clone, Copy)]
struct Entry {
    id: Id,
    blob: u32,
    inner: u32,
    len: u32,
    /// Positions to the next entry of the same blob in the lookahead; 0 = none so far.
    next: u32,
    /// Already planned as an extra of an earlier job.
    claimed: bool,
}

/// One piece to cut: chunk id, offset in the decoded frame, length.
pub(super) type Piece = (Id, u32, u32);

/// Consecutive stream positions served by one job.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Seg {
    /// Stream position (chunk index) of the first piece.
    pub pos: u64,
    pub pieces: Vec<Piece>,
    /// Extras-budget bytes given back once this segment is written (0 for the head).
    pub release: u64,
}

/// How a job's pieces stay in memory until written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hold {
    /// Slices of the decoded frame: the whole frame stays.
    Slices,
    /// Copies of the pieces: only their bytes stay.
    Copies,
}

/// One fetch job: one frame decoded, the head and extras cut out of it.
#[derive(Debug)]
pub(super) struct JobPlan {
    pub blob: u32,
    /// The head first, then the extras, in stream order.
    pub segs: Vec<Seg>,
    pub hold: Hold,
    /// Bytes of the head.
    pub head_bytes: u64,
    /// Extras-budget bytes this job takes (the sum of the segments' `release`).
    pub extras_charge: u64,
    /// A later position in the lookahead still needs this frame (the budget left it out), so
    /// the decoded frame is worth keeping in the frame cache.
    pub needed_again: bool,
}

/// The chunk list from the cursor on, up to a fixed number of positions. See the module docs.
pub(super) struct Lookahead {
    q: VecDeque<Entry>,
    /// Stream position of `q[0]`.
    base: u64,
    /// Last position of each blob in `q`.
    last: HashMap<u32, u64>,
    /// First position of each blob in `q` that no job covers yet, and the same ordered by
    /// position: the order in which jobs will load the blobs.
    first_open: HashMap<u32, u64>,
    open: BTreeSet<(u64, u32)>,
    cap: usize,
}

impl Lookahead {
    /// A lookahead of `cap` positions (at least 1, at most `u32::MAX`).
    pub fn new(cap: usize) -> Lookahead {
        Lookahead {
            q: VecDeque::new(),
            base: 0,
            last: HashMap::new(),
            first_open: HashMap::new(),
            open: BTreeSet::new(),
            cap: cap.clamp(1, u32::MAX as usize),
        }
    }

    /// No room for another position.
    pub fn is_full(&self) -> bool {
        self.q.len() >= self.cap
    }

    /// Positions read so far (after the last job: the stream's chunk count).
    pub fn end(&self) -> u64 {
        self.base + self.q.len() as u64
    }

    /// Append the next position of the stream: chunk `id`, `len` bytes at `inner` in `blob`.
    pub fn push(&mut self, id: Id, blob: u32, inner: u32, len: u32) {
        let pos = self.end();
        if let Some(prev) = self.last.insert(blob, pos) {
            self.q[(prev - self.base) as usize].next = (pos - prev) as u32;
        }
        if let std::collections::hash_map::Entry::Vacant(v) = self.first_open.entry(blob) {
            v.insert(pos);
            self.open.insert((pos, blob));
        }
        self.q.push_back(Entry { id, blob, inner, len, next: 0, claimed: false });
    }

    /// Which other blobs of `group` (at most 8 blobs, all loaded by the same fetch thread)
    /// that thread may read with `blob` in one request (bit j: `group.start + j`): those whose
    /// next job comes before the thread's next job for a blob outside the group, which
    /// replaces its read-ahead. `same_thread(b)`: jobs of `b` go to that thread. Jobs go out
    /// in the order of the positions where they start, so `open` is the order of the loads;
    /// only its first [`READ_AHEAD_SCAN`] blobs are looked at.
    pub fn read_ahead(&self, blob: u32, group: std::ops::Range<u32>, same_thread: impl Fn(u32) -> bool) -> u8 {
        let mut bound = u64::MAX;
        for (k, &(pos, b)) in self.open.iter().enumerate() {
            if k == READ_AHEAD_SCAN || (!group.contains(&b) && same_thread(b)) {
                bound = pos;
                break;
            }
        }
        let mut ahead = 0u8;
        for (j, other) in group.clone().take(8).enumerate() {
            if other != blob && self.first_open.get(&other).is_some_and(|p| *p < bound) {
                ahead |= 1 << j;
            }
        }
        ahead
    }

    fn pop_front(&mut self) {
        if let Some(e) = self.q.pop_front() {
            if self.last.get(&e.blob) == Some(&self.base) {
                self.last.remove(&e.blob);
            }
            self.base += 1;
        }
    }

    /// The job for the next position that no job covers yet, or `None` at the end of what was
    /// pushed. `frame_len(blob)` is a frame's decoded length; `extras_free` the budget left for
    /// extras.
    pub fn next_job(&mut self, frame_len: impl Fn(u32) -> u32, extras_free: u64) -> Option<JobPlan> {
        while self.q.front().is_some_and(|e| e.claimed) {
            self.pop_front();
        }
        let blob = self.q.front()?.blob;
        let head_pos = self.base;
        let mut head = Vec::new();
        let mut n = 0;
        while n < self.q.len().min(MAX_HEAD) && self.q[n].blob == blob && !self.q[n].claimed {
            let e = self.q[n];
            head.push((e.id, e.inner, e.len));
            n += 1;
        }
        let head_bytes: u64 = head.iter().map(|p| p.2 as u64).sum();
        // Later positions of the frame, nearest first, following the links from the head's end.
        let link = |q: &VecDeque<Entry>, i: usize| (q[i].next != 0).then(|| i + q[i].next as usize);
        let flen = frame_len(blob) as u64;
        // Slices cost the whole frame whatever the positions; copies cost their bytes.
        let slices_affordable = flen <= extras_free;
        let mut extras = Vec::new();
        let mut extras_bytes = 0u64;
        let mut at = link(&self.q, n - 1);
        while let Some(i) = at {
            let e = self.q[i];
            if !e.claimed {
                if !slices_affordable && extras_bytes + e.len as u64 > extras_free {
                    break;
                }
                extras.push(i);
                extras_bytes += e.len as u64;
            }
            at = link(&self.q, i);
        }
        let needed_again = at.is_some();
        // The positions of a blob that no job covers yet are those after the last one planned.
        if let Some(p) = self.first_open.remove(&blob) {
            self.open.remove(&(p, blob));
        }
        if let Some(i) = at {
            let p = self.base + i as u64;
            self.first_open.insert(blob, p);
            self.open.insert((p, blob));
        }
        let hold = if 2 * (head_bytes + extras_bytes) >= flen && (extras.is_empty() || slices_affordable) {
            Hold::Slices
        } else {
            Hold::Copies
        };
        let mut segs = vec![Seg { pos: head_pos, pieces: head, release: 0 }];
        for &i in &extras {
            let e = &mut self.q[i];
            e.claimed = true;
            let pos = self.base + i as u64;
            let piece = (e.id, e.inner, e.len);
            let extends = segs.len() > 1 && segs.last().is_some_and(|s| s.pos + s.pieces.len() as u64 == pos);
            match segs.last_mut() {
                Some(s) if extends => s.pieces.push(piece),
                _ => segs.push(Seg { pos, pieces: vec![piece], release: 0 }),
            }
        }
        let mut extras_charge = 0;
        if segs.len() > 1 {
            match hold {
                Hold::Slices => segs.last_mut().unwrap().release = flen,
                Hold::Copies => {
                    for s in &mut segs[1..] {
                        s.release = s.pieces.iter().map(|p| p.2 as u64).sum();
                    }
                }
            }
            extras_charge = segs.iter().map(|s| s.release).sum();
        }
        for _ in 0..n {
            self.pop_front();
        }
        // Positions already planned as extras are passed over now, so that the caller refills
        // the lookahead to its full depth before the next job.
        while self.q.front().is_some_and(|e| e.claimed) {
            self.pop_front();
        }
        Some(JobPlan { blob, segs, hold, head_bytes, extras_charge, needed_again })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: u32 = 1000;

    fn id(blob: u32, inner: u32) -> Id {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&blob.to_le_bytes());
        b[4..8].copy_from_slice(&inner.to_le_bytes());
        Id(b)
    }

    /// Plans a whole stream of (blob, inner, len) with the extras budget held by the jobs so far
    /// never given back (a writer that writes nothing), checking the invariants the pipeline
    /// relies on. Returns the jobs.
    fn plan_all(stream: &[(u32, u32, u32)], cap: usize, budget: u64) -> Vec<JobPlan> {
        let mut la = Lookahead::new(cap);
        let mut fed = 0;
        let mut jobs: Vec<JobPlan> = Vec::new();
        let mut covered = vec![false; stream.len()];
        let mut held = 0u64;
        loop {
            while fed < stream.len() && !la.is_full() {
                let (b, i, l) = stream[fed];
                la.push(id(b, i), b, i, l);
                fed += 1;
            }
            let Some(job) = la.next_job(|_| FRAME, budget - held) else { break };
            assert!(job.extras_charge <= budget - held, "a job took more than the free budget");
            held += job.extras_charge;
            // The head starts at the first position not covered yet: the writer can always
            // reach the cursor with what was planned.
            let first_open = covered.iter().position(|c| !c).unwrap();
            assert_eq!(job.segs[0].pos, first_open as u64);
            assert_eq!(job.head_bytes, job.segs[0].pieces.iter().map(|p| p.2 as u64).sum::<u64>());
            let mut prev_end = 0;
            for s in &job.segs {
                assert!(s.pos >= prev_end, "segments overlap or go backwards");
                assert!(!s.pieces.is_empty());
                prev_end = s.pos + s.pieces.len() as u64;
                for (k, p) in s.pieces.iter().enumerate() {
                    let at = s.pos as usize + k;
                    assert!(at < fed, "a piece beyond what was read");
                    assert!(at < first_open + cap, "a piece beyond the lookahead");
                    assert!(!covered[at], "position {at} planned twice");
                    covered[at] = true;
                    let (b, i, l) = stream[at];
                    assert_eq!((job.blob, *p), (b, (id(b, i), i, l)), "wrong piece at {at}");
                }
            }
            assert_eq!(job.segs[0].release, 0);
            // What no job covers yet, per blob, from the lookahead's entries.
            let mut open = HashMap::new();
            for (k, e) in la.q.iter().enumerate() {
                if !e.claimed {
                    open.entry(e.blob).or_insert(la.base + k as u64);
                }
            }
            assert_eq!(open, la.first_open, "first open position per blob");
            let mut by_pos: Vec<_> = open.iter().map(|(&b, &p)| (p, b)).collect();
            by_pos.sort();
            assert_eq!(la.open.iter().copied().collect::<Vec<_>>(), by_pos);
            assert_eq!(job.extras_charge, job.segs.iter().map(|s| s.release).sum::<u64>());
            jobs.push(job);
        }
        assert!(covered.iter().all(|c| *c), "a position was never planned");
        assert_eq!(la.end(), stream.len() as u64);
        assert!(
            la.q.is_empty() && la.last.is_empty() && la.first_open.is_empty() && la.open.is_empty(),
            "the lookahead keeps entries after the end"
        );
        jobs
    }

    fn jobs_of(jobs: &[JobPlan], blob: u32) -> usize {
        jobs.iter().filter(|j| j.blob == blob).count()
    }

    #[test]
    fn an_entry_is_as_small_as_the_memory_ceiling_says() {
        assert_eq!(std::mem::size_of::<Entry>(), 52);
    }

    #[test]
    fn a_scattered_frame_is_one_job_with_its_later_positions_as_extras() {
        // Frame 0 holds a run; frame 9 holds single chunks spread between its runs.
        let s = [(0, 0, 150), (0, 150, 150), (9, 0, 10), (0, 300, 150), (9, 10, 10), (9, 20, 10), (0, 450, 150)];
        let jobs = plan_all(&s, 100, 1 << 20);
        assert_eq!(jobs.len(), 2, "each frame decoded once");
        let (a, b) = (&jobs[0], &jobs[1]);
        assert_eq!(a.blob, 0);
        assert_eq!(a.segs.iter().map(|s| (s.pos, s.pieces.len())).collect::<Vec<_>>(), [(0, 2), (3, 1), (6, 1)]);
        assert_eq!(a.hold, Hold::Slices, "600 of 1000 bytes: slices");
        assert_eq!(a.segs.iter().map(|s| s.release).collect::<Vec<_>>(), [0, 0, FRAME as u64]);
        assert_eq!(b.blob, 9);
        // Adjacent later positions form one segment.
        assert_eq!(b.segs.iter().map(|s| (s.pos, s.pieces.len())).collect::<Vec<_>>(), [(2, 1), (4, 2)]);
        assert_eq!(b.hold, Hold::Copies, "30 of 1000 bytes: copies");
        assert_eq!(b.segs.iter().map(|s| s.release).collect::<Vec<_>>(), [0, 20]);
        assert!(!a.needed_again && !b.needed_again);
    }

    #[test]
    fn without_budget_or_beyond_the_lookahead_a_frame_is_decoded_again() {
        let s: Vec<_> = (0..20).map(|i| if i % 2 == 0 { (1, i * 10, 10) } else { (2 + i, 0, 10) }).collect();
        // Budget for three extras of 10 bytes.
        let jobs = plan_all(&s, 100, 35);
        assert_eq!(jobs[0].segs.len(), 4);
        assert!(jobs[0].needed_again, "positions left out for budget: keep the frame cached");
        assert_eq!(jobs[0].extras_charge, 30);
        assert_eq!(
            jobs_of(&jobs, 1),
            7,
            "ten positions: one head + three extras, then six heads on an exhausted budget"
        );
        // Ample budget, but a lookahead of 5 positions sees only two more of frame 1.
        let jobs = plan_all(&s, 5, 1 << 20);
        assert_eq!(jobs[0].segs.iter().map(|s| s.pos).collect::<Vec<_>>(), [0, 2, 4]);
        assert!(!jobs[0].needed_again, "what lies beyond the lookahead is not known");
        assert_eq!(jobs_of(&jobs, 1), 4);
        // No budget at all: one job per run, as without a lookahead.
        let jobs = plan_all(&s, 100, 0);
        assert_eq!(jobs_of(&jobs, 1), 10);
        assert!(jobs.iter().all(|j| j.segs.len() == 1 && j.extras_charge == 0));
    }

    #[test]
    fn slices_only_when_they_cover_half_the_frame_and_the_budget_affords_the_frame() {
        // Head 300 + extras 300 of a 1000-byte frame.
        let s = [(0, 0, 300), (5, 0, 10), (0, 300, 300)];
        let j = &plan_all(&s, 10, 1000)[0];
        assert_eq!((j.hold, j.extras_charge), (Hold::Slices, 1000));
        // The same when the budget cannot hold the frame: copies, charged their bytes.
        let j = &plan_all(&s, 10, 999)[0];
        assert_eq!((j.hold, j.extras_charge), (Hold::Copies, 300));
        // A head covering half the frame and no extras: slices, nothing charged to extras.
        let j = &plan_all(&[(0, 0, 500)], 10, 0)[0];
        assert_eq!((j.hold, j.extras_charge), (Hold::Slices, 0));
        let j = &plan_all(&[(0, 0, 499)], 10, 0)[0];
        assert_eq!(j.hold, Hold::Copies);
    }

    #[test]
    fn a_repeated_chunk_is_cut_for_every_position_and_held_as_one_frame() {
        // The same 600-byte chunk 50 times in a row, then elsewhere, then again.
        let mut s = vec![(3, 0, 600); 50];
        s.push((4, 0, 10));
        s.extend(vec![(3, 0, 600); 10]);
        let jobs = plan_all(&s, 1000, 1000);
        assert_eq!(jobs_of(&jobs, 3), 1);
        let j = &jobs[0];
        assert_eq!(j.segs.iter().map(|s| (s.pos, s.pieces.len())).collect::<Vec<_>>(), [(0, 50), (51, 10)]);
        assert_eq!((j.hold, j.extras_charge), (Hold::Slices, 1000), "36 KB of pieces held as one 1000-byte frame");
    }

    #[test]
    fn a_head_longer_than_the_limit_continues_as_extras() {
        let s: Vec<_> = (0..MAX_HEAD as u32 + 10).map(|i| (0, i % 100, 1)).collect();
        let jobs = plan_all(&s, 10_000, 1 << 20);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].segs.iter().map(|s| s.pieces.len()).collect::<Vec<_>>(), [MAX_HEAD, 10]);
    }

    #[test]
    fn read_ahead_takes_the_group_blobs_loaded_before_the_threads_next_other_load() {
        // Groups of 8 blobs; groups 0 and 2 go to one thread, group 1 to another.
        let same_thread = |b: u32| (b / 8) % 2 == 0;
        let s = [(0, 0, 10), (1, 0, 10), (9, 0, 10), (2, 0, 10), (17, 0, 10), (3, 0, 10), (1, 10, 10), (5, 0, 10)];
        let mut la = Lookahead::new(100);
        for &(b, i, l) in &s {
            la.push(id(b, i), b, i, l);
        }
        let job = la.next_job(|_| FRAME, 1 << 20).unwrap();
        assert_eq!(job.blob, 0);
        // Blobs 1 and 2 are loaded before blob 17 (same thread, other group); 3 and 5 after it;
        // blob 9 is another thread's and does not matter; 4, 6 and 7 are not needed.
        assert_eq!(la.read_ahead(0, 0..8, same_thread), 0b110);
        // Without another load on the thread, every needed blob of the group.
        assert_eq!(la.read_ahead(0, 0..8, |b| b < 8), 0b101110);
        // Blobs before the one loaded too (a pack's frames are not always in stream order).
        assert_eq!(la.read_ahead(2, 0..8, |b| b < 8), 0b101010);
        assert_eq!(la.read_ahead(13, 8..16, |b| b < 8), 0, "nothing of group 1 is needed");
        // A blob whose positions are all planned is not read again: blob 1's job takes both.
        let job = la.next_job(|_| FRAME, 1 << 20).unwrap();
        assert_eq!((job.blob, job.segs.len()), (1, 2));
        assert_eq!(la.read_ahead(0, 0..8, |b| b < 8), 0b101100);
    }

    #[test]
    fn random_streams_keep_the_invariants_and_decode_each_frame_once_given_room() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..200 {
            let len = 1 + rnd(400) as usize;
            let frames = 1 + rnd(30) as u32;
            let s: Vec<_> = (0..len)
                .map(|_| {
                    let b = rnd(frames as u64) as u32;
                    (b, rnd(9) as u32 * 100, 1 + rnd(100) as u32)
                })
                .collect();
            let cap = 1 + rnd(2 * len as u64) as usize;
            let budget = [0, rnd(3000), 1 << 40][round % 3];
            let jobs = plan_all(&s, cap, budget);
            if cap >= len && budget == 1 << 40 {
                for b in 0..frames {
                    assert!(jobs_of(&jobs, b) <= 1, "round {round}: frame {b} planned twice with room for all");
                }
            }
        }
    }
}

//! The pull pipeline: snapshot tree → blob reads → open + decode + verify → ordered output.
//!
//! ```text
//! planner thread (walks the tree a bounded lookahead ahead of the output; one job per frame:
//!                 the run at the cursor plus the frame's later positions, see pull_plan)
//!   ──jobs──▶ N fetch threads (ranged read, AES-GCM open, zstd decode, keyed-BLAKE3 check
//!             of every chunk cut out; small shared cache of decoded frames)
//!   ──segments──▶ writer thread (restores stream order, writes; optionally BLAKE3 of the
//!                 whole stream)
//! ```
//! Every byte written has passed AEAD authentication and its chunk-id check, and the chunk
//! list comes from tree nodes checked the same way from the snapshot's (sealed) root id: a
//! Merkle proof that the stream is the one pushed. At the end the stream length must equal
//! the snapshot's. With [`PullOptions::verify_stream`] the writer also recomputes the
//! whole-stream BLAKE3 and compares it with the snapshot's — an end-to-end check independent
//! of the chunking, at ~15% more CPU.
//!
//! Memory ceiling, each buffer with its default bound (frames of ~1 MiB, 4 fetch threads):
//! * [`PullOptions::window`], 12 MiB: what jobs in flight hold for the run at the planner's
//!   cursor (a decoded frame counted once however many jobs slice it; copied pieces at their
//!   size, rounded up to 64 KiB);
//! * [`PullOptions::extras`], 24 MiB: pieces cut ahead of need for later positions, counted
//!   as what they keep alive (the whole frame for slices, their bytes for copies);
//! * the frame cache, [`FRAME_CACHE`] (4) decoded frames, and the frame pool's idle buffers,
//!   [`FRAME_POOL_KEEP`] (4) frames;
//! * per fetch thread: the frame it is cutting, its opened (compressed) frame buffer, and the
//!   read-ahead of its current route group (other blobs of the group read with one it loads,
//!   ≤ [`blobs::READ_AHEAD_BYTES`], 4 MiB, per request; the group's 8 blobs at most): ≈ 6 MiB;
//! * the lookahead: [`PullOptions::lookahead`] positions of 52 B (32,768: 1.7 MB) and a few
//!   map entries per distinct frame among them;
//! * the pull's index (pull_index): the repository's tree-node locations (≈ 0.2 B per stored
//!   chunk) and the chunk locations of at most about three windows of
//!   [`PullOptions::index_window`] positions (114,000: ≈ 6 MB each, ≈ 4 MB more while one is
//!   built) — nothing per chunk of the repository.
//!
//! That is ≈ 80 MiB. Peak RSS is higher by what the allocator keeps in its
//! per-thread arenas (measured: 30–40 MB on the 30-generation benchmark).

use super::pull_index::{PullIndex, Segment, build_window};
use super::pull_plan::{Hold, JobPlan, Lookahead};
use super::read_index::{BlobLoc, ReadIndex};
use super::stage::{FirstError, cancelled, spawn_stage};
use super::{Progress, Repository};
use crate::error::{Error, ErrorKind, Result};
use crate::format::locator::Locator;
use crate::format::pack::BlobKind;
use crate::format::snapshot::Snapshot;
use crate::format::tree::TreeWalker;
use crate::id::{Id, IdSet};
use crate::pool::BufPool;
use bytes::Bytes;
use crossbeam_channel as cb;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Options of one pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Fetch/decode threads (0 = 2 × cores, at least 4).
    pub threads: usize,
    /// Bytes that the jobs in flight may hold for the run of chunks at the planner's cursor
    /// (a decoded frame counted once, however many jobs slice it; copied pieces at their
    /// size): sets how far ahead of the writer the fetch threads may work.
    pub window: usize,
    /// Positions of the stream (chunks) that the planner reads ahead of the next one it
    /// plans, to give a frame's job every later position that needs the frame (~52 B each).
    pub lookahead: usize,
    /// Bytes that pieces cut ahead of need (for those later positions) may hold until
    /// written; past it a frame is decoded again when a position left out is reached.
    pub extras: usize,
    /// Also recompute the BLAKE3 of the whole stream and compare it with the snapshot's.
    pub verify_stream: bool,
    /// Positions of the stream whose chunk locations one scan of the index finds (a window;
    /// see pull_index): ~50 B each while live, and one scan of the index per window.
    pub index_window: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            threads: 0,
            window: 12 << 20,
            lookahead: 1 << 15,
            extras: 24 << 20,
            verify_stream: false,
            index_window: INDEX_WINDOW,
        }
    }
}

/// A planned job and what its head holds against the [`Window`].
struct Job {
    plan: JobPlan,
    charge: Charge,
    /// Bit j: this job's fetch thread loads the j-th blob of `plan.blob`'s route group before
    /// its next read of another group, so it may read that blob with this one.
    ahead: u8,
}

/// What a job's head holds against the [`Window`] until the writer has written it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Charge {
    /// Slices of the decoded frame of `blob` (`len` bytes): charged once while any job
    /// slicing it is in flight.
    Frame { blob: u32, len: u32 },
    /// Copied pieces of this many bytes.
    Bytes(u64),
}

/// Consecutive positions of the stream, cut and checked, on their way to the writer.
struct Out {
    /// Stream position (chunk index) of the first piece.
    pos: u64,
    /// Positions covered.
    chunks: u64,
    pieces: Vec<Bytes>,
    /// The job's window charge, carried by its head.
    window: Option<Charge>,
    /// Extras-budget bytes to give back once written.
    extras: u64,
}

/// Default [`PullOptions::index_window`]: just below 7/8 of 2^17, the most entries a hash
/// table of 2^17 slots holds (≈ 0.9 GB of stream per window).
const INDEX_WINDOW: usize = 114_000;

/// Units of [`Window`] budget.
const WINDOW_UNIT: usize = 64 << 10;

/// The pull's read-ahead budget: what the jobs in flight hold for the run at the cursor. A
/// job that slices its frame keeps the whole frame in memory until the writer has written
/// the slices, and the frame is charged once while any such job of it is in flight; a job
/// that copies its pieces is charged their size. Counting frames rather than jobs keeps the
/// window as deep with many small jobs as with whole-frame jobs.
struct Window {
    /// One message per unit in use; the writer holds the receiver, so the planner's wait
    /// ends with an error once the writer has gone.
    units: cb::Sender<()>,
    capacity: usize,
    pinned: Mutex<std::collections::HashMap<u32, u32>>,
}

impl Window {
    /// The window, and the receiver through which the writer releases units.
    fn new(bytes: usize) -> (Window, cb::Receiver<()>) {
        let capacity = bytes.div_ceil(WINDOW_UNIT).max(2);
        let (tx, rx) = cb::bounded(capacity);
        (Window { units: tx, capacity, pinned: Mutex::default() }, rx)
    }

    fn units(&self, bytes: u64) -> usize {
        (bytes.div_ceil(WINDOW_UNIT as u64) as usize).clamp(1, self.capacity / 2)
    }

    /// Planner side: a job is about to go out; waits for budget unless its frame is already
    /// charged.
    fn enter(&self, c: Charge) -> Result<()> {
        let n = match c {
            Charge::Frame { blob, len } => {
                let mut m = self.pinned.lock().unwrap();
                let n = m.entry(blob).or_insert(0);
                *n += 1;
                if *n == 1 { self.units(len as u64) } else { 0 }
            }
            Charge::Bytes(b) => self.units(b),
        };
        for _ in 0..n {
            self.units.send(()).map_err(|_| cancelled())?;
        }
        Ok(())
    }

    /// Writer side: a job's head has been written; returns the units to take back.
    fn leave(&self, c: Charge) -> usize {
        match c {
            Charge::Frame { blob, len } => {
                let mut m = self.pinned.lock().unwrap();
                match m.get_mut(&blob) {
                    Some(n) if *n > 1 => {
                        *n -= 1;
                        0
                    }
                    Some(_) => {
                        m.remove(&blob);
                        self.units(len as u64)
                    }
                    None => 0,
                }
            }
            Charge::Bytes(b) => self.units(b),
        }
    }
}

mod blobs;

use blobs::{BlobReader, FRAME_CACHE, FRAME_POOL_KEEP, FrameCache, ROUTE_GROUP, Stats};

impl Repository {
    /// Write the stream of `snap` to `out`, verifying every chunk and the whole-stream hash.
    pub async fn pull(
        &self,
        snap: &Snapshot,
        out: Box<dyn Write + Send>,
        opts: &PullOptions,
        progress: Arc<Progress>,
    ) -> Result<()> {
        // A reader's lease: garbage collection waits for this pull before deleting packs it may
        // read (compaction leaves copies of live chunks in packs marked for deletion).
        let lease = self.acquire_lease(super::lease::LeaseKind::Pull, &snap.path).await?;
        let res = self.pull_leased(snap, out, opts, progress).await;
        if let Err(e) = lease.release().await {
            tracing::warn!("removing this pull's lease (it expires by itself): {e}");
        }
        res
    }

    async fn pull_leased(
        &self,
        snap: &Snapshot,
        out: Box<dyn Write + Send>,
        opts: &PullOptions,
        progress: Arc<Progress>,
    ) -> Result<()> {
        let marked = self.marked_packs().await.map_err(|e| e.context("reading deletion marks"))?;
        // Locator tables first (gc's and compaction's): what they cover needs no index scan.
        let locators = match self.locators().await {
            Ok(l) if l.is_empty() => None,
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!("reading the locator tables: {e} (locating chunks by scanning the index)");
                None
            }
        };
        let index = Arc::new(PullIndex::new(ROUTE_GROUP));
        let c = &self.config;
        let frame_size = c.compression.frame_target as usize + c.chunker.params.max_size as usize;
        let threads = if opts.threads == 0 {
            (2 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)).max(4)
        } else {
            opts.threads
        };
        let reader = Arc::new(BlobReader {
            backend: self.backend.clone(),
            keys: self.keys.clone(),
            index,
            marked: Arc::new(marked),
            written: Arc::new(AtomicU64::new(0)),
            rt: tokio::runtime::Handle::current(),
            cache: FrameCache { slots: Mutex::new(VecDeque::new()), cap: FRAME_CACHE },
            frames: BufPool::new(frame_size, FRAME_POOL_KEEP),
            progress: progress.clone(),
            stats: Stats::default(),
            locators,
        });
        let fail = Arc::new(FirstError::default());
        let (window, units_rx) = Window::new(opts.window);
        let window = Arc::new(window);
        // Bytes held by extras (cut ahead of need): the planner adds, the writer gives back.
        let extras = Arc::new(AtomicU64::new(0));
        // One queue per fetch thread; the planner routes every job of a blob (and of the next
        // few blobs, see ROUTE_GROUP) to the same thread, so neighbours are read with one
        // request and groups decode in parallel. Jobs in flight are bounded overall by what
        // their heads hold (`window`), pieces cut ahead of need by `extras`.
        let (job_txs, job_rxs): (Vec<_>, Vec<_>) = (0..threads).map(|_| cb::unbounded::<Job>()).unzip();
        let (out_tx, out_rx) = cb::unbounded::<Out>();
        let (end_tx, end_rx) = cb::bounded::<u64>(1);

        // Planner.
        {
            let (reader, window, extras) = (reader.clone(), window.clone(), extras.clone());
            let root = snap.root_id();
            let limits = (opts.lookahead, opts.extras as u64, opts.index_window.max(1));
            spawn_stage("planner", &fail, move || plan(&reader, root, limits, &window, &extras, &job_txs, &end_tx))?;
        }
        // Fetchers.
        for (i, job_rx) in job_rxs.into_iter().enumerate() {
            let (reader, fail, out_tx) = (reader.clone(), fail.clone(), out_tx.clone());
            std::thread::Builder::new()
                .name(format!("kando-fetch-{i}"))
                .spawn(move || {
                    for job in job_rx {
                        match reader.cut(&job) {
                            Ok(outs) => {
                                for o in outs {
                                    if out_tx.send(o).is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(e) => {
                                fail.set(e);
                                return;
                            }
                        }
                    }
                })
                .map_err(|e| Error::new(ErrorKind::Io, format!("starting a fetch thread: {e}")))?;
        }
        drop(out_tx);
        // Writer.
        let res_rx = {
            let progress = progress.clone();
            let (size, hash) = (snap.size, opts.verify_stream.then(|| snap.blake3.clone()));
            let at = reader.written.clone();
            let written = move |o: &Out| {
                at.fetch_max(o.pos + o.chunks.max(1), Relaxed);
                if let Some(c) = o.window {
                    for _ in 0..window.leave(c) {
                        let _ = units_rx.try_recv();
                    }
                }
                extras.fetch_sub(o.extras, Relaxed);
            };
            spawn_stage("writer", &fail, move || write_stage(out, out_rx, written, end_rx, &progress, size, hash))?
        };
        let r = res_rx.await.unwrap_or_else(|_| Err(cancelled()));
        let st = &reader.stats;
        tracing::debug!(
            "pull: {} MiB of stream from {} MiB read in {} requests; {} frames decoded ({} MiB); \
             extras held at most {} KiB; {} index scan(s) (0 when locator tables cover the snapshot)",
            snap.size >> 20,
            progress.transferred_bytes.load(Relaxed) >> 20,
            st.requests.load(Relaxed),
            st.frames.load(Relaxed),
            st.frame_bytes.load(Relaxed) >> 20,
            st.extras_peak.load(Relaxed) >> 10,
            progress.index_scans.load(Relaxed),
        );
        if let Some(e) = fail.take() {
            return Err(e);
        }
        r
    }
}

/// Walk the tree `lookahead` positions ahead of the cursor, plan jobs ([`Lookahead`]) and send
/// each to its fetch thread once the window has room for its head; then the chunk count.
/// Chunk locations come one index window at a time: a second walker (the collector) gathers
/// the ids of the next `index_window` positions when the planner's walker reaches them, and
/// one scan of the index locates them (pull_index).
fn plan(
    r: &BlobReader,
    root: Id,
    (lookahead, extras_cap, index_window): (usize, u64, usize),
    window: &Window,
    extras: &AtomicU64,
    jobs: &[cb::Sender<Job>],
    end: &cb::Sender<u64>,
) -> Result<()> {
    let mut walker = TreeWalker::new(root, |id: &Id| r.node(id))?;
    let mut collector = TreeWalker::new(root, |id: &Id| r.node(id))?;
    let mut la = Lookahead::new(lookahead);
    let mut more = true;
    // The window serving positions below `window_end`, and the walker's position.
    let (mut cur, mut window_end, mut pos) = (None::<Arc<Segment>>, 0u64, 0u64);
    // The next window: its positions, and its scan running in the background while the
    // planner works in the current one (pull_index).
    let mut next = next_window(r, &mut collector, index_window)?;
    loop {
        while more && !la.is_full() {
            if pos == window_end
                && let Some((n, scan)) = next.take()
            {
                let found = r.rt.block_on(scan.wait()).map_err(|e| e.context("loading the index"))?;
                window_end += n;
                cur = Some(r.index.add_window(found, window_end, r.written.load(Relaxed)));
                next = next_window(r, &mut collector, index_window)?;
            }
            match walker.next_chunk()? {
                Some((id, len)) => {
                    let w = cur.as_deref().filter(|_| pos < window_end).ok_or_else(|| {
                        Error::corrupt("the snapshot's tree changed between two walks (repository damaged)")
                    })?;
                    let loc = r.locate(w, &id, len)?;
                    la.push(id, loc.blob, loc.inner, len);
                    pos += 1;
                }
                None => more = false,
            }
        }
        let free = extras_cap.saturating_sub(extras.load(Relaxed));
        let Some(plan) = la.next_job(|b| r.index.blob(b).map_or(0, |b| b.loc().raw_len), free) else { break };
        let held = extras.fetch_add(plan.extras_charge, Relaxed) + plan.extras_charge;
        r.stats.extras_peak.fetch_max(held, Relaxed);
        let charge = match plan.hold {
            Hold::Slices => Charge::Frame { blob: plan.blob, len: r.index.blob(plan.blob)?.loc().raw_len },
            Hold::Copies => Charge::Bytes(plan.head_bytes),
        };
        window.enter(charge)?;
        let route = |blob: u32| (blob / ROUTE_GROUP) as usize % jobs.len();
        let group = plan.blob / ROUTE_GROUP * ROUTE_GROUP..(plan.blob / ROUTE_GROUP + 1) * ROUTE_GROUP;
        let ahead = la.read_ahead(plan.blob, group, |b| route(b) == route(plan.blob));
        jobs[route(plan.blob)].send(Job { plan, charge, ahead }).map_err(|_| cancelled())?;
    }
    if pos != window_end {
        return Err(Error::corrupt("the snapshot's tree changed between two walks (repository damaged)"));
    }
    end.send(la.end()).map_err(|_| cancelled())
}

/// A window's scan of the index, running on the runtime; aborted if the pull ends first.
struct WindowScan(tokio::task::JoinHandle<Result<super::read_index::ReadIndex>>);

impl WindowScan {
    async fn wait(mut self) -> Result<super::read_index::ReadIndex> {
        (&mut self.0).await.map_err(|e| Error::new(ErrorKind::Io, format!("index scan task: {e}")))?
    }
}

impl Drop for WindowScan {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Collect the next whole leaves, at least `size` positions, and start locating their chunks:
/// from the leaves' locator records, and with one scan of the index for the leaves that have no
/// usable record (none when every leaf has one); `None` at the end of the stream.
fn next_window(
    r: &BlobReader,
    collector: &mut TreeWalker<impl FnMut(&Id) -> Result<Vec<u8>>>,
    size: usize,
) -> Result<Option<(u64, WindowScan)>> {
    let mut want = IdSet::default();
    let mut located = Located::default();
    let mut n = 0u64;
    while n < size as u64 {
        let Some((leaf, entries)) = collector.next_leaf()? else { break };
        n += entries.len() as u64;
        match r.leaf_record(&leaf, &entries) {
            Some(l) => add_record(&mut located, &l, &entries),
            None => want.extend(entries.iter().map(|e| e.0)),
        }
    }
    if n == 0 {
        return Ok(None);
    }
    // Each frame once, numbered in pack order as a scan numbers them (the read-ahead joins
    // neighbours by number): one decode per frame however many leaves use it.
    let mut found = ReadIndex::with_capacity(size);
    let mut blobs: Vec<_> = located.into_iter().collect();
    blobs.sort_unstable_by_key(|(at, _)| *at);
    for ((pack, _), (head, chunks)) in blobs {
        found.add_blob(pack, head, &chunks, &r.marked);
    }
    let scan = if want.is_empty() {
        r.rt.spawn(async move { Ok(found) })
    } else {
        Progress::add(&r.progress.index_scans, 1);
        let (backend, keys, marked) = (r.backend.clone(), r.keys.clone(), r.marked.clone());
        r.rt.spawn(async move { build_window(&backend, &keys, found, want, &marked).await })
    };
    Ok(Some((n, WindowScan(scan))))
}

/// Frames located through records, by (pack, offset): their location and the chunks wanted.
type Located = HashMap<(Id, u32), (BlobLoc, Vec<(Id, u32, u32)>)>;

/// Add the chunk locations of a leaf's locator record (`entries` are the leaf's).
fn add_record(located: &mut Located, l: &Locator, entries: &[(Id, u64)]) {
    for ((id, len), (b, inner)) in entries.iter().zip(&l.entries) {
        let b = &l.blobs[*b as usize];
        let head =
            BlobLoc { pack: 0, offset: b.offset, sealed_len: b.sealed_len, raw_len: b.raw_len, kind: BlobKind::Data };
        located.entry((l.packs[b.pack as usize], b.offset)).or_insert_with(|| (head, Vec::new())).1.push((
            *id,
            *inner,
            *len as u32,
        ));
    }
}

/// Write segments in stream order (each keyed by its first position) until `end_rx` says how
/// many positions the stream has; then check the length and, if asked, the stream's BLAKE3.
fn write_stage(
    mut out: Box<dyn Write + Send>,
    rx: cb::Receiver<Out>,
    mut written: impl FnMut(&Out),
    end_rx: cb::Receiver<u64>,
    progress: &Progress,
    want_size: u64,
    want_hash: Option<String>,
) -> Result<()> {
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    let mut end: Option<u64> = None;
    let mut hasher = want_hash.as_ref().map(|_| blake3::Hasher::new());
    let mut size = 0u64;
    loop {
        if end.is_none()
            && let Ok(n) = end_rx.try_recv()
        {
            end = Some(n);
        }
        if end == Some(next) {
            break;
        }
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(o) => {
                pending.insert(o.pos, o);
            }
            Err(cb::RecvTimeoutError::Timeout) => continue,
            Err(cb::RecvTimeoutError::Disconnected) => {
                if end.is_none() {
                    end = end_rx.try_recv().ok();
                }
                if end != Some(next) && !pending.contains_key(&next) {
                    return Err(cancelled());
                }
            }
        }
        while let Some(o) = pending.remove(&next) {
            for p in &o.pieces {
                if let Some(h) = hasher.as_mut() {
                    h.update(p);
                }
                size += p.len() as u64;
                out.write_all(p).map_err(|e| Error::io("writing the output", e))?;
                Progress::add(&progress.bytes_out, p.len() as u64);
            }
            written(&o);
            next += o.chunks.max(1);
        }
    }
    out.flush().map_err(|e| Error::io("writing the output", e))?;
    if size != want_size {
        return Err(Error::corrupt(format!("restored {size} bytes, the snapshot says {want_size}")));
    }
    if let (Some(h), Some(want)) = (hasher, want_hash)
        && h.finalize().to_hex().as_str() != want
    {
        return Err(Error::corrupt("the restored stream's BLAKE3 differs from the snapshot's"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the writer on segments (first position, positions, pieces) sent out of order and
    /// returns what it wrote.
    fn run_writer(segs: Vec<(u64, u64, Vec<&'static [u8]>)>, size: u64, hash: Option<String>) -> (Result<()>, Vec<u8>) {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let (tx, rx) = cb::unbounded();
        let (end_tx, end_rx) = cb::bounded(1);
        let n: u64 = segs.iter().map(|s| s.1).sum();
        let mut starts: Vec<u64> = segs.iter().map(|s| s.0).collect();
        starts.sort();
        for (pos, chunks, p) in segs {
            let pieces = p.into_iter().map(Bytes::from_static).collect();
            // `extras` carries the position, to see the order in which segments are released.
            tx.send(Out { pos, chunks, pieces, window: None, extras: pos }).unwrap();
        }
        drop(tx);
        end_tx.send(n).unwrap();
        let mut order = Vec::new();
        let r =
            write_stage(Box::new(sink.clone()), rx, |o| order.push(o.extras), end_rx, &Progress::default(), size, hash);
        if r.is_ok() {
            assert_eq!(order, starts, "segments are released in stream order");
        }
        let out = sink.0.lock().unwrap().clone();
        (r, out)
    }

    #[test]
    fn window_charges_each_frame_once_and_waits_for_budget() {
        let (w, rx) = Window::new(4 * WINDOW_UNIT);
        let w = Arc::new(w);
        let f = |blob| Charge::Frame { blob, len: 2 * WINDOW_UNIT as u32 };
        w.enter(f(1)).unwrap();
        w.enter(f(1)).unwrap(); // same frame: no new charge
        w.enter(f(2)).unwrap();
        assert_eq!(rx.len(), 4, "two frames of two units each");
        // A third frame must wait until a frame is released.
        let (w3, done) = (w.clone(), Arc::new(std::sync::atomic::AtomicBool::new(false)));
        let d3 = done.clone();
        let t = std::thread::spawn(move || {
            w3.enter(f(3)).unwrap();
            d3.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!done.load(std::sync::atomic::Ordering::SeqCst), "frame 3 went out over budget");
        assert_eq!(w.leave(f(1)), 0, "frame 1 still has a job in flight");
        assert_eq!(w.leave(f(1)), 2);
        for _ in 0..2 {
            rx.try_recv().unwrap();
        }
        t.join().unwrap();
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
        // Copied pieces are charged their size, at least one unit, every time.
        assert_eq!(w.leave(f(2)), 2);
        for _ in 0..2 {
            rx.try_recv().unwrap();
        }
        w.enter(Charge::Bytes(10)).unwrap();
        w.enter(Charge::Bytes(10)).unwrap();
        assert_eq!(rx.len(), 2 + 2, "frame 3 and two copies of one unit");
        assert_eq!(w.leave(Charge::Bytes(WINDOW_UNIT as u64 + 1)), 2);
        // Once the writer (the receiver) is gone, a waiting planner is told so.
        drop(rx);
        assert!(w.enter(f(4)).is_err());
    }

    #[test]
    fn writer_restores_order_and_checks_size_and_optional_stream_hash() {
        // Positions 0–1 in one segment, then 2 and 3–4.
        let segs =
            || vec![(3, 2, vec![&b"e"[..], &b"f"[..]]), (0, 2, vec![&b"a"[..], &b"b"[..]]), (2, 1, vec![&b"cd"[..]])];
        let good = blake3::hash(b"abcdef").to_hex().to_string();
        let (r, out) = run_writer(segs(), 6, None);
        assert!(r.is_ok());
        assert_eq!(out, b"abcdef");
        assert!(run_writer(segs(), 6, Some(good)).0.is_ok());
        let e = run_writer(segs(), 6, Some(blake3::hash(b"abcdeF").to_hex().to_string())).0.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(e.to_string().contains("BLAKE3"), "{e}");
        let e = run_writer(segs(), 7, None).0.unwrap_err();
        assert!(e.to_string().contains("restored 6 bytes, the snapshot says 7"), "{e}");
        // A missing segment (position 2) is never skipped: the writer stops when the senders go.
        let (r, out) = run_writer(vec![(0, 2, vec![&b"ab"[..]]), (3, 2, vec![&b"ef"[..]])], 4, None);
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
        assert_eq!(out, b"ab");
    }
}

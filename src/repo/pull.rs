//! The pull pipeline: snapshot tree → blob reads → open + decode + verify → ordered output.
//!
//! ```text
//! planner thread (walks the tree; groups consecutive chunks of one blob into a job)
//!   ──jobs──▶ N fetch threads (ranged read, AES-GCM open, zstd decode, keyed-BLAKE3 check
//!             of every chunk; small shared cache of decoded frames)
//!   ──pieces──▶ writer thread (restores order, writes; optionally BLAKE3 of the whole stream)
//! ```
//! Every byte written has passed AEAD authentication and its chunk-id check, and the chunk
//! list comes from tree nodes checked the same way from the snapshot's (sealed) root id: a
//! Merkle proof that the stream is the one pushed. At the end the stream length must equal
//! the snapshot's. With [`PullOptions::verify_stream`] the writer also recomputes the
//! whole-stream BLAKE3 and compares it with the snapshot's — an end-to-end check independent
//! of the chunking, at ~15% more CPU. Memory ceiling:
//! [`PullOptions::window`] (the decoded frames that jobs in flight refer to, 32 MiB by
//! default) + the frame cache (16 frames) + one
//! read-ahead per fetch thread (≤ 4 MiB each) + the read index (≈ 60–90 B per chunk in the
//! repository).

use super::read_index::ReadIndex;
use super::stage::{FirstError, cancelled, spawn_stage};
use super::{Progress, Repository, pack_key};
use crate::backend::Backend;
use crate::compress;
use crate::crypto::Keys;
use crate::error::{Error, ErrorKind, Result};
use crate::format::pack::{BlobKind, open_blob};
use crate::format::snapshot::Snapshot;
use crate::format::tree::TreeWalker;
use crate::id::Id;
use bytes::Bytes;
use crossbeam_channel as cb;
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Options of one pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Fetch/decode threads (0 = 2 × cores, at least 4).
    pub threads: usize,
    /// Bytes of decoded frames that the jobs in flight may refer to (each distinct frame
    /// counted once, however many jobs use it): bounds the output waiting for the writer, and
    /// sets how far ahead of the writer the fetch threads may work.
    pub window: usize,
    /// Also recompute the BLAKE3 of the whole stream and compare it with the snapshot's.
    pub verify_stream: bool,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions { threads: 0, window: 32 << 20, verify_stream: false }
    }
}

struct Job {
    seq: u64,
    blob: u32,
    pieces: Vec<(Id, u32, u32)>,
}

/// Units of [`Window`] budget.
const WINDOW_UNIT: usize = 64 << 10;

/// The pull's read-ahead budget: the decoded frames that jobs in flight refer to. A job's
/// pieces are slices of its frame, so the frame stays in memory until the writer has written
/// them; a frame is charged once while any job of it is in flight. Counting frames rather
/// than jobs keeps the window as deep with many small jobs (an incremental snapshot
/// interleaves old frames with a few new chunks) as with whole-frame jobs.
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

    fn units(&self, frame_len: u32) -> usize {
        (frame_len as usize).div_ceil(WINDOW_UNIT).clamp(1, self.capacity / 2)
    }

    /// Planner side: a job of `blob` is about to go out; waits for budget if its frame is not
    /// already charged.
    fn enter(&self, blob: u32, frame_len: u32) -> Result<()> {
        let first = {
            let mut m = self.pinned.lock().unwrap();
            let n = m.entry(blob).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            for _ in 0..self.units(frame_len) {
                self.units.send(()).map_err(|_| cancelled())?;
            }
        }
        Ok(())
    }

    /// Writer side: a job of `blob` has been written; returns the units to take back.
    fn leave(&self, blob: u32, frame_len: u32) -> usize {
        let last = {
            let mut m = self.pinned.lock().unwrap();
            match m.get_mut(&blob) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    m.remove(&blob);
                    true
                }
                None => false,
            }
        };
        if last { self.units(frame_len) } else { 0 }
    }
}

type Slot = Arc<OnceLock<std::result::Result<Bytes, Error>>>;

/// Decoded frames recently used, shared by the fetch threads. Single-flight: when two
/// threads need the same frame, one decodes it and the other waits for that result.
struct FrameCache {
    slots: Mutex<VecDeque<(u32, Slot)>>,
    cap: usize,
}

impl FrameCache {
    fn slot(&self, blob: u32) -> Slot {
        let mut s = self.slots.lock().unwrap();
        if let Some(pos) = s.iter().position(|(b, _)| *b == blob) {
            // Least recently used goes first: frames that serve many scattered chunks stay.
            let hit = s.remove(pos).unwrap();
            let slot = hit.1.clone();
            s.push_back(hit);
            return slot;
        }
        if s.len() >= self.cap {
            s.pop_front();
        }
        let slot: Slot = Arc::new(OnceLock::new());
        s.push_back((blob, slot.clone()));
        slot
    }
}

/// Decoded frames kept for reuse. 16 restores the incremental benchmark snapshot as fast as 32
/// (0.53 s) with ~12 MB less peak RSS (~105 vs ~117 MB).
const FRAME_CACHE: usize = 16;
/// Consecutive blobs (in index order) that go to one fetch thread, so that it can read
/// them with one request.
const ROUTE_GROUP: u32 = 8;
/// The most one read-ahead request fetches; per fetch thread this much may wait in memory.
const READ_AHEAD_BYTES: u64 = 4 << 20;

thread_local! {
    /// This thread's read-ahead: sealed blobs fetched with the last request but not used
    /// yet, and the last blob it loaded (to detect sequential reading).
    static AHEAD: std::cell::RefCell<(BTreeMap<u32, Bytes>, Option<u32>)> =
        const { std::cell::RefCell::new((BTreeMap::new(), None)) };
}

/// Everything a thread needs to read one blob.
struct BlobReader {
    backend: Arc<dyn Backend>,
    keys: Arc<Keys>,
    index: Arc<ReadIndex>,
    rt: tokio::runtime::Handle,
    cache: FrameCache,
    progress: Arc<Progress>,
}

impl BlobReader {
    /// The decoded frame of `blob`, from the cache or the backend.
    fn frame(&self, blob: u32) -> Result<Bytes> {
        let slot = self.cache.slot(blob);
        match slot.get_or_init(|| self.load_frame(blob)) {
            Ok(b) => Ok(b.clone()),
            Err(e) => Err(Error::new(e.kind(), e.to_string())),
        }
    }

    /// The sealed bytes of `blob`: left over from this thread's last read-ahead, or read now.
    /// A read that starts a route group, or continues the blob this thread read last, also
    /// fetches the following contiguous blobs of the group (up to [`READ_AHEAD_BYTES`]) in the
    /// same request: object stores charge per request far more than per byte.
    fn sealed(&self, blob: u32) -> Result<Bytes> {
        let (ahead, sequential) = AHEAD.with(|a| {
            let mut a = a.borrow_mut();
            let sequential = blob % ROUTE_GROUP == 0 || (blob > 0 && a.1 == Some(blob - 1));
            a.1 = Some(blob);
            (a.0.remove(&blob), sequential)
        });
        if let Some(s) = ahead {
            return Ok(s);
        }
        let blobs = &self.index.blobs;
        let first = blobs[blob as usize];
        let mut last = blob as usize;
        let mut len = first.sealed_len as u64;
        while sequential && last + 1 < blobs.len() && (last as u32 + 1) / ROUTE_GROUP == blob / ROUTE_GROUP {
            let (prev, next) = (blobs[last], blobs[last + 1]);
            if next.pack != first.pack
                || next.offset as u64 != prev.offset as u64 + prev.sealed_len as u64
                || len + next.sealed_len as u64 > READ_AHEAD_BYTES
            {
                break;
            }
            last += 1;
            len += next.sealed_len as u64;
        }
        let key = pack_key(&self.index.packs[first.pack as usize]);
        let data = self
            .rt
            .block_on(self.backend.get_range(&key, first.offset as u64, len))
            .map_err(|e| e.context(format!("reading pack {key} at offset {} ({len} bytes)", first.offset)))?;
        Progress::add(&self.progress.transferred_bytes, data.len() as u64);
        let cut = |i: usize| {
            let b = blobs[i];
            let at = (b.offset - first.offset) as usize;
            data.slice(at..at + b.sealed_len as usize)
        };
        AHEAD.with(|a| {
            let mut a = a.borrow_mut();
            a.0.clear();
            for i in blob as usize + 1..=last {
                a.0.insert(i as u32, cut(i));
            }
        });
        Ok(cut(blob as usize))
    }

    fn load_frame(&self, blob: u32) -> Result<Bytes> {
        let b = self.index.blobs[blob as usize];
        let key = pack_key(&self.index.packs[b.pack as usize]);
        let what = format!("pack {key}, blob at offset {}", b.offset);
        let sealed = self.sealed(blob)?;
        let frame = open_blob(&self.keys, &sealed, &what)?;
        let raw = compress::decode(&frame).map_err(|e| e.context(&what))?;
        if raw.len() != b.raw_len as usize {
            return Err(Error::corrupt(format!("{what}: frame is {} bytes, index says {}", raw.len(), b.raw_len)));
        }
        Ok(Bytes::from(raw))
    }

    /// Cut pieces out of a frame, checking each chunk's keyed id; pieces that are adjacent
    /// in the frame come back as one slice.
    fn pieces(&self, job: &Job) -> Result<Vec<Bytes>> {
        let frame = self.frame(job.blob)?;
        let mut out: Vec<(usize, usize)> = Vec::new();
        for (id, inner, len) in &job.pieces {
            let (s, e) = (*inner as usize, *inner as usize + *len as usize);
            if e > frame.len() {
                return Err(Error::corrupt(format!("chunk {} lies outside its frame", id.short())));
            }
            if self.keys.chunk_id(&frame[s..e]) != *id {
                let b = self.index.blobs[job.blob as usize];
                return Err(Error::corrupt(format!(
                    "chunk {} in pack {} does not match its id",
                    id.short(),
                    pack_key(&self.index.packs[b.pack as usize])
                )));
            }
            match out.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => out.push((s, e)),
            }
        }
        Ok(out.into_iter().map(|(s, e)| frame.slice(s..e)).collect())
    }

    /// A tree node's bytes by id.
    fn node(&self, id: &Id) -> Result<Vec<u8>> {
        let loc = self.index.get(id).ok_or_else(|| {
            Error::corrupt(format!("tree node {} is in no index object (repository damaged)", id.short()))
        })?;
        if self.index.blobs[loc.blob as usize].kind != BlobKind::Tree {
            return Err(Error::corrupt(format!("tree node {} is stored as data", id.short())));
        }
        let job = Job { seq: 0, blob: loc.blob, pieces: vec![(*id, loc.inner, loc.len)] };
        Ok(self.pieces(&job)?.pop().unwrap().to_vec())
    }
}

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
        let mut ri = ReadIndex::default();
        self.for_each_index(|f| ri.add_preferring(f, &marked)).await.map_err(|e| e.context("loading the index"))?;
        let index = Arc::new(ri);
        let threads = if opts.threads == 0 {
            (2 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)).max(4)
        } else {
            opts.threads
        };
        let reader = Arc::new(BlobReader {
            backend: self.backend.clone(),
            keys: self.keys.clone(),
            index,
            rt: tokio::runtime::Handle::current(),
            cache: FrameCache { slots: Mutex::new(VecDeque::new()), cap: FRAME_CACHE },
            progress: progress.clone(),
        });
        let fail = Arc::new(FirstError::default());
        let (window, units_rx) = Window::new(opts.window);
        let window = Arc::new(window);
        // One queue per fetch thread; the planner routes every job of a blob (and of the next
        // few blobs, see ROUTE_GROUP) to the same thread, so a frame shared by many runs is
        // decoded once, neighbours are read with one request, and groups decode in parallel. Jobs in
        // flight are bounded overall by the frames they refer to (`window`).
        let (job_txs, job_rxs): (Vec<_>, Vec<_>) = (0..threads).map(|_| cb::unbounded::<Job>()).unzip();
        let (piece_tx, piece_rx) = cb::unbounded::<(u64, u32, Vec<Bytes>)>();
        let (end_tx, end_rx) = cb::bounded::<u64>(1);

        // Planner.
        {
            let (reader, window) = (reader.clone(), window.clone());
            let root = snap.root_id();
            spawn_stage("planner", &fail, move || plan(&reader, root, &window, &job_txs, &end_tx))?;
        }
        // Fetchers.
        for (i, job_rx) in job_rxs.into_iter().enumerate() {
            let (reader, fail, piece_tx) = (reader.clone(), fail.clone(), piece_tx.clone());
            std::thread::Builder::new()
                .name(format!("kando-fetch-{i}"))
                .spawn(move || {
                    for job in job_rx {
                        match reader.pieces(&job) {
                            Ok(p) => {
                                if piece_tx.send((job.seq, job.blob, p)).is_err() {
                                    return;
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
        drop(piece_tx);
        // Writer.
        let res_rx = {
            let (progress, reader) = (progress.clone(), reader.clone());
            let (size, hash) = (snap.size, opts.verify_stream.then(|| snap.blake3.clone()));
            let written = move |blob: u32| {
                for _ in 0..window.leave(blob, reader.index.blobs[blob as usize].raw_len) {
                    let _ = units_rx.try_recv();
                }
            };
            spawn_stage("writer", &fail, move || write_stage(out, piece_rx, written, end_rx, &progress, size, hash))?
        };
        let r = res_rx.await.unwrap_or_else(|_| Err(cancelled()));
        if let Some(e) = fail.take() {
            return Err(e);
        }
        r
    }
}

fn plan(r: &BlobReader, root: Id, window: &Window, jobs: &[cb::Sender<Job>], end: &cb::Sender<u64>) -> Result<()> {
    let mut walker = TreeWalker::new(root, |id: &Id| r.node(id))?;
    let mut seq = 0u64;
    let mut cur: Option<Job> = None;
    let send = |job: Job| -> Result<()> {
        window.enter(job.blob, r.index.blobs[job.blob as usize].raw_len)?;
        jobs[(job.blob / ROUTE_GROUP) as usize % jobs.len()].send(job).map_err(|_| cancelled())
    };
    while let Some((id, len)) = walker.next_chunk()? {
        let loc = r.index.get(&id).ok_or_else(|| {
            Error::corrupt(format!("chunk {} is in no index object (repository damaged; run verify)", id.short()))
        })?;
        if loc.len != len {
            return Err(Error::corrupt(format!(
                "chunk {}: index length {} differs from the snapshot's {len}",
                id.short(),
                loc.len
            )));
        }
        match &mut cur {
            Some(j) if j.blob == loc.blob && j.pieces.len() < 4096 => j.pieces.push((id, loc.inner, len)),
            _ => {
                if let Some(j) = cur.take() {
                    send(j)?;
                }
                cur = Some(Job { seq, blob: loc.blob, pieces: vec![(id, loc.inner, len)] });
                seq += 1;
            }
        }
    }
    if let Some(j) = cur.take() {
        send(j)?;
    }
    end.send(seq).map_err(|_| cancelled())
}

fn write_stage(
    mut out: Box<dyn Write + Send>,
    rx: cb::Receiver<(u64, u32, Vec<Bytes>)>,
    mut written: impl FnMut(u32),
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
            Ok((seq, blob, p)) => {
                pending.insert(seq, (blob, p));
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
        while let Some((blob, pieces)) = pending.remove(&next) {
            for p in pieces {
                if let Some(h) = hasher.as_mut() {
                    h.update(&p);
                }
                size += p.len() as u64;
                out.write_all(&p).map_err(|e| Error::io("writing the output", e))?;
                Progress::add(&progress.bytes_out, p.len() as u64);
            }
            written(blob);
            next += 1;
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

    /// Runs the writer on pieces sent out of order and returns what it wrote.
    fn run_writer(pieces: Vec<(u64, Vec<&'static [u8]>)>, size: u64, hash: Option<String>) -> (Result<()>, Vec<u8>) {
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
        let n = pieces.len() as u64;
        for (seq, p) in pieces {
            tx.send((seq, seq as u32, p.into_iter().map(Bytes::from_static).collect())).unwrap();
        }
        end_tx.send(n).unwrap();
        let mut order = Vec::new();
        let r = write_stage(Box::new(sink.clone()), rx, |b| order.push(b), end_rx, &Progress::default(), size, hash);
        if r.is_ok() {
            assert_eq!(order, (0..n as u32).collect::<Vec<_>>(), "jobs are released in stream order");
        }
        let out = sink.0.lock().unwrap().clone();
        (r, out)
    }

    #[test]
    fn window_charges_each_frame_once_and_waits_for_budget() {
        let (w, rx) = Window::new(4 * WINDOW_UNIT);
        let w = Arc::new(w);
        let frame = 2 * WINDOW_UNIT as u32;
        w.enter(1, frame).unwrap();
        w.enter(1, frame).unwrap(); // same frame: no new charge
        w.enter(2, frame).unwrap();
        assert_eq!(rx.len(), 4, "two frames of two units each");
        // A third frame must wait until a frame is released.
        let (w3, done) = (w.clone(), Arc::new(std::sync::atomic::AtomicBool::new(false)));
        let d3 = done.clone();
        let t = std::thread::spawn(move || {
            w3.enter(3, frame).unwrap();
            d3.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!done.load(std::sync::atomic::Ordering::SeqCst), "frame 3 went out over budget");
        assert_eq!(w.leave(1, frame), 0, "frame 1 still has a job in flight");
        assert_eq!(w.leave(1, frame), 2);
        for _ in 0..2 {
            rx.try_recv().unwrap();
        }
        t.join().unwrap();
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
        // Once the writer (the receiver) is gone, a waiting planner is told so.
        drop(rx);
        assert!(w.enter(4, frame).is_err());
    }

    #[test]
    fn writer_restores_order_and_checks_size_and_optional_stream_hash() {
        let pieces = || vec![(2, vec![&b"ef"[..]]), (0, vec![&b"a"[..], &b"b"[..]]), (1, vec![&b"cd"[..]])];
        let good = blake3::hash(b"abcdef").to_hex().to_string();
        let (r, out) = run_writer(pieces(), 6, None);
        assert!(r.is_ok());
        assert_eq!(out, b"abcdef");
        assert!(run_writer(pieces(), 6, Some(good)).0.is_ok());
        let e = run_writer(pieces(), 6, Some(blake3::hash(b"abcdeF").to_hex().to_string())).0.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(e.to_string().contains("BLAKE3"), "{e}");
        let e = run_writer(pieces(), 7, None).0.unwrap_err();
        assert!(e.to_string().contains("restored 6 bytes, the snapshot says 7"), "{e}");
    }
}

//! The push pipeline: stream → chunks → ids → dedup → frames → sealed blobs → packs → backend.
//!
//! ```text
//! reader thread ──batches──▶ rayon: keyed BLAKE3 ──▶ dedup thread (orders batches; stream hash;
//!   (FastCDC)                                         tree builder; the ONE dedup decision;
//!                                                     groups new chunks into ~1 MiB frames)
//!        ──frames──▶ rayon: zstd + seal ──▶ packer thread ──packs──▶ uploader (tokio task:
//!                                                                   puts, then index objects)
//! ```
//! Back-pressure: the reader holds one token per batch in flight (`hash_slots`), the dedup
//! thread one per frame in flight (`frame_slots`), the packer takes pack buffers from a
//! bounded pool (one filling + `uploads` being stored), so at most `uploads` puts hold a pack
//! at once; on local disk packs are staged (written to their files while they fill) and up to
//! 4 × `uploads` commits may wait for the disk. Large buffers are recycled (crate::pool), so
//! steady state allocates none. Memory ceiling (defaults, 2 cores): read blocks 7 × 1.06 MiB,
//! frames 4 × 2.1 MiB, dedup window 16 MiB, packs 3 × 18 MiB (local disk: ~2 MiB, as packs are
//! staged), the dedup sources (repo::cursor: ~0.5 MB of leaves, the hook-table block cache ≤ 1
//! MiB) and the tree-node locations of the index scan (~60 B per node, ~0.12 B per stored chunk:
//! 2.3 MB at 20 M chunks).
//! See docs/architecture.md.
//!
//! Failure: the first error is kept; every stage stops when a channel it uses closes; no
//! snapshot is written. Packs already stored stay (unreferenced until a later index/gc).

use super::cursor::{Sources, TreeCtx};
use super::dedup::DedupSet;
use super::hooks::HookCollector;
use super::push_locators::{EntryAt, RecordBuilder, RecordResolver};
use super::read_index::ReadIndex;
use super::stage::{FirstError, cancelled, spawn_stage};
use super::{Progress, Repository, pack_key};
use crate::backend::{Backend, StagedObject};
use crate::chunker::{Cutter, StreamChunker};
use crate::compress;
use crate::crypto::Keys;
use crate::error::{Error, ErrorKind, Result};
use crate::format::index::IndexFile;
use crate::format::pack::{BlobHeader, BlobKind, PackBuilder, seal_blob_into};
use crate::format::snapshot::{SNAPSHOT_MAGIC, Snapshot, SnapshotStats};
use crate::format::tree::TreeBuilder;
use crate::id::{Id, IdSet};
use crate::pool::BufPool;
use bytes::Bytes;
use crossbeam_channel as cb;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

/// Options of one push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Snapshot path (the `--path` of kando).
    pub path: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Hostname recorded (default: this host).
    pub hostname: Option<String>,
    /// CPU worker threads (0 = number of cores).
    pub threads: usize,
    /// Parallel pack uploads.
    pub uploads: usize,
    /// Slots of the dedup table for ids added by this push (32 B each).
    pub dedup_window: usize,
    /// Write an index object after this many chunk entries (bounds index memory and
    /// what a crash loses).
    pub index_flush_chunks: usize,
    /// Bytes read from the input at a time.
    pub block: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            path: String::new(),
            tags: Vec::new(),
            hostname: None,
            threads: 0,
            uploads: 2,
            dedup_window: 1 << 19,
            index_flush_chunks: 1 << 14,
            block: 1 << 20,
        }
    }
}

enum Hashed {
    /// Sequence number, chunks with their ids, and the block they were cut from.
    Batch(u64, Vec<(Id, Bytes)>, Bytes),
    End(u64),
}

struct Sealed {
    kind: BlobKind,
    sealed: Vec<u8>,
    raw_len: u32,
    chunks: Vec<(Id, u32)>,
    /// The frame's number in this push (repo::push_locators).
    frame: u64,
}

struct PackOut {
    id: Id,
    body: PackBody,
    len: u64,
    blobs: Vec<BlobHeader>,
    /// The frame numbers of `blobs`, in the same order.
    frames: Vec<u64>,
}

/// A finished pack: whole in memory, or already written to a staged object.
enum PackBody {
    Bytes(Bytes),
    Staged(Box<dyn StagedObject>),
}

/// On a staging backend the packer writes a pack in pieces of at least this many bytes.
const STAGE_PIECE: usize = 1 << 20;

struct DedupOut {
    root: Id,
    hash: blake3::Hash,
    size: u64,
    stats: SnapshotStats,
    hooks: HookCollector,
    /// New nodes that get no locator record (an entry not located).
    records_skipped: u64,
}

/// Most chunk ids of an interrupted push's packs that a push keeps to resume it (32 B each
/// plus hash-set slack: ≤ ~24 MB, the data of ~4 GB of 8 KiB chunks; beyond it, the rest is
/// stored again and gc reclaims the unreferenced copies).
const RESUME_IDS: usize = 1 << 19;
/// Interrupted pushes of the same path (the latest ones) whose indexed data a push follows.
const RESUMED_PUSHES: usize = 2;

/// Batches (1 MiB each) whose hooks a push sees before deciding a batch (module docs).
const LOOKAHEAD: u64 = 3;

/// Decoded locator records a push keeps beside those its cursors hold (each source leaf's is
/// looked up once, when the leaf is read).
const LOOKED_UP_RECORDS: usize = 16;

/// Index objects a push decodes at once while scanning (each up to ~10 MB decoded: a merged
/// object lists up to 2^18 chunks).
const SCAN_OBJECTS: usize = 2;

/// What [`Repository::dedup_scan`] finds.
#[derive(Default)]
struct DedupScan {
    nodes: ReadIndex,
    packs: IdSet,
    exclude: IdSet,
}

/// Hands frames to the compress+seal workers, holding a slot per frame in flight.
struct FrameSink {
    pool: Arc<rayon::ThreadPool>,
    keys: Arc<Keys>,
    slots: cb::Sender<()>,
    out: cb::Sender<Sealed>,
    /// Raw frames (filled by the dedup thread, returned after compression).
    raw_bufs: Arc<BufPool>,
    /// Sealed blobs (filled by a worker, returned by the packer once copied into a pack).
    sealed_bufs: Arc<BufPool>,
}

thread_local! {
    /// Per-worker zstd output buffer, reused for every frame.
    static ZSTD_OUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl FrameSink {
    fn submit(
        &self,
        kind: BlobKind,
        raw: Vec<u8>,
        chunks: Vec<(Id, u32)>,
        zstd: compress::Params,
        frame: u64,
    ) -> Result<()> {
        self.slots.send(()).map_err(|_| cancelled())?;
        let (keys, out) = (self.keys.clone(), self.out.clone());
        let (raw_bufs, sealed_bufs) = (self.raw_bufs.clone(), self.sealed_bufs.clone());
        self.pool.spawn(move || {
            let mut sealed = sealed_bufs.take();
            ZSTD_OUT.with(|z| {
                let mut z = z.borrow_mut();
                let h = compress::encode_into(&raw, zstd, &mut z);
                let payload: &[u8] = if z.is_empty() { &raw } else { &z };
                seal_blob_into(&keys, &h, payload, &mut sealed);
            });
            let raw_len = raw.len() as u32;
            raw_bufs.give(raw);
            let _ = out.send(Sealed { kind, sealed, raw_len, chunks, frame });
        });
        Ok(())
    }
}

impl Repository {
    /// Push a stream as a new snapshot. The snapshot is written only if the whole stream was
    /// read without error and every pack and index object was stored.
    ///
    /// The push holds a lease for its whole run (garbage collection then never deletes what it
    /// deduplicates against), does not deduplicate against packs marked for deletion, and
    /// checks before committing that its lease never lapsed (docs/maintenance.md).
    pub async fn push(
        &self,
        reader: Box<dyn Read + Send>,
        opts: &PushOptions,
        progress: Arc<Progress>,
    ) -> Result<(Id, Snapshot)> {
        if opts.path.is_empty() {
            return Err(Error::invalid("a snapshot path is required"));
        }
        let lease = self.acquire_lease(super::lease::LeaseKind::Push, &opts.path).await?;
        let res = self.push_leased(reader, opts, progress, &lease).await;
        if res.is_err() && lease.has_records().await {
            // Its indexed data stays findable: the next push of this path resumes from it.
            tracing::info!(
                "this push failed after storing data; its lease keeps the list of what it stored, so the next push of {} does not store it again",
                opts.path
            );
            if let Err(e) = lease.end().await {
                tracing::warn!("ending this push's lease (it expires by itself): {e}");
            }
        } else if let Err(e) = lease.release().await {
            tracing::warn!("removing this push's lease (it expires by itself): {e}");
        }
        res
    }

    async fn push_leased(
        &self,
        reader: Box<dyn Read + Send>,
        opts: &PushOptions,
        progress: Arc<Progress>,
        lease: &super::lease::Lease,
    ) -> Result<(Id, Snapshot)> {
        // Marks are read after the lease is visible: a gc that marks later waits for this push.
        let marked = self.marked_packs().await.map_err(|e| e.context("reading deletion marks"))?;
        let scan = self.dedup_scan(&marked).await.map_err(|e| e.context("loading the index"))?;
        // Packs an interrupted push stored without an index: index them and reuse their data
        // (this is how a push resumes one that failed). No snapshot refers to them, so their
        // ids are kept apart, up to RESUME_IDS of them. Not marked ones: a gc that deletes
        // them may have dropped them from the index already (or was killed between the two).
        let mut not_orphans = scan.packs;
        not_orphans.extend(marked.iter().copied());
        let mut resume = IdSet::default();
        for (_, b) in self.index_orphan_packs(&not_orphans).await?.blobs {
            resume.extend(b.chunks.into_iter().map(|c| c.0).take(RESUME_IDS.saturating_sub(resume.len())));
        }
        // What pushes of this path that died had indexed (their leases record it).
        let interrupted = match self.interrupted_index(&opts.path, lease.id()).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("reading the records of interrupted pushes (their data is stored again): {e}");
                Vec::new()
            }
        };
        let mut sources = self.dedup_sources(scan.nodes, scan.exclude, resume, &opts.path, &marked).await?;
        let (records, mut resolver) = super::push_locators::records();
        for index in interrupted.into_iter().take(RESUMED_PUSHES) {
            tracing::info!(
                "resuming an interrupted push of {}: following its {} index objects",
                opts.path,
                index.len()
            );
            sources.open_indexed(index);
        }
        let threads = if opts.threads == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        } else {
            opts.threads
        };
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("kando-cpu-{i}"))
                .build()
                .map_err(|e| Error::new(ErrorKind::Io, format!("starting worker threads: {e}")))?,
        );
        let fail = Arc::new(FirstError::default());
        let slots = 2 * threads + 2;
        let (hash_slot_tx, hash_slot_rx) = cb::bounded::<()>(slots);
        let (hashed_tx, hashed_rx) = cb::unbounded::<Hashed>();
        let (frame_slot_tx, frame_slot_rx) = cb::bounded::<()>(threads + 2);
        let (sealed_tx, sealed_rx) = cb::unbounded::<Sealed>();
        let (pack_tx, mut pack_rx) = tokio::sync::mpsc::channel::<PackOut>(1);

        let cfg = self.config.clone();
        let cutter = Cutter::new(cfg.chunker.params, self.keys.chunker_seed)?;
        // Recycled buffers: steady state allocates no large buffer (see crate::pool).
        let frame_bytes = cfg.compression.frame_target as usize + cfg.chunker.params.max_size as usize;
        let raw_bufs = BufPool::new(frame_bytes, slots + 2);
        let sealed_bufs = BufPool::new(frame_bytes + 1024, slots + 2);
        // One pack filling and `uploads` being stored: the packer waits for a buffer otherwise.
        let pack_bufs = BufPool::bounded(cfg.pack_target as usize + frame_bytes + (1 << 20), 1 + opts.uploads.max(1));

        // Reader: chunk the stream and hand batches to the hashers. A read error ends the stream
        // like its end would, so that everything read before it is stored (and indexed, and
        // recorded in the lease: a retry resumes from it), then fails the push before any
        // snapshot is written.
        let input_error: Arc<std::sync::Mutex<Option<Error>>> = Arc::default();
        let reader_thread = {
            let (pool, keys, fail, progress) = (pool.clone(), self.keys.clone(), fail.clone(), progress.clone());
            let input_error = input_error.clone();
            let block = opts.block;
            std::thread::Builder::new().name("kando-reader".into()).spawn(move || {
                let mut ch = StreamChunker::with_pool_size(reader, cutter, block, slots + 2);
                let mut seq = 0u64;
                loop {
                    if fail.is_set() {
                        return;
                    }
                    match ch.next_block() {
                        Ok(Some((block, batch))) => {
                            progress.bytes_in.store(ch.bytes_read(), std::sync::atomic::Ordering::Relaxed);
                            if batch.is_empty() {
                                continue;
                            }
                            if hash_slot_tx.send(()).is_err() {
                                return;
                            }
                            let (keys, tx) = (keys.clone(), hashed_tx.clone());
                            pool.spawn(move || {
                                let v = batch.into_iter().map(|b| (keys.chunk_id(&b), b)).collect();
                                let _ = tx.send(Hashed::Batch(seq, v, block));
                            });
                            seq += 1;
                        }
                        Ok(None) => {
                            let _ = hashed_tx.send(Hashed::End(seq));
                            return;
                        }
                        Err(e) => {
                            let kind =
                                if e.kind() == std::io::ErrorKind::Other { ErrorKind::Producer } else { ErrorKind::Io };
                            *input_error.lock().unwrap_or_else(|e| e.into_inner()) =
                                Some(Error::with_source(kind, "reading the input stream", e));
                            let _ = hashed_tx.send(Hashed::End(seq));
                            return;
                        }
                    }
                }
            })
        }
        .map_err(|e| Error::new(ErrorKind::Io, format!("starting the reader thread: {e}")))?;

        // Dedup: the single owner of "is this chunk new?".
        let dedup_res_rx = {
            let sink = FrameSink {
                pool: pool.clone(),
                keys: self.keys.clone(),
                slots: frame_slot_tx,
                out: sealed_tx,
                raw_bufs: raw_bufs.clone(),
                sealed_bufs: sealed_bufs.clone(),
            };
            let progress = progress.clone();
            let window = opts.dedup_window;
            spawn_stage("dedup", &fail, move || {
                dedup_stage(
                    DedupSet::new(Some(sources), window),
                    hashed_rx,
                    hash_slot_rx,
                    &sink,
                    records,
                    &cfg,
                    &progress,
                )
            })?
        };

        // Packer: sealed blobs into packs.
        {
            let packer = Packer {
                keys: self.keys.clone(),
                backend: self.backend.clone(),
                pack_target: self.config.pack_target as usize,
                progress: progress.clone(),
                pack_bufs: pack_bufs.clone(),
                sealed_bufs: sealed_bufs.clone(),
            };
            spawn_stage("packer", &fail, move || packer.run(sealed_rx, frame_slot_rx, pack_tx))?;
        }

        // Uploader: runs here, on the caller's runtime.
        let mut index = IndexFile::default();
        if let Err(e) = self.upload_packs(&mut index, &mut resolver, &mut pack_rx, opts, &progress, lease).await {
            fail.set(e);
        }
        drop(pack_rx);
        let dedup = dedup_res_rx.await.unwrap_or_else(|_| Err(cancelled()));
        let dedup = match (fail.take(), dedup) {
            (None, Ok(d)) => d,
            (Some(e), _) | (None, Err(e)) => {
                // The reader may be blocked on a producer that never ends; do not wait for it.
                self.index_failed_push(&index, lease).await;
                return Err(e);
            }
        };
        let _ = reader_thread.join();
        let input_error = input_error.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(e) = input_error {
            // Never a snapshot of a stream that did not end well.
            self.index_failed_push(&index, lease).await;
            return Err(e);
        }
        // Every record is sent (the dedup thread ended) and every pack stored. The table is
        // written beside the commit, before the lease ends (repo::push_locators); one that
        // names a snapshot that never commits is dropped by the next gc.
        resolver.resolve();
        let skipped = dedup.records_skipped;
        let (res, ()) = tokio::join!(
            self.commit(&index, dedup, opts, &progress, lease),
            self.write_push_locators(resolver, skipped)
        );
        res
    }

    /// The end of a push whose data is stored: its last index object, the snapshot (only if
    /// its lease held throughout), its hook table.
    async fn commit(
        &self,
        index: &IndexFile,
        mut dedup: DedupOut,
        opts: &PushOptions,
        progress: &Arc<Progress>,
        lease: &super::lease::Lease,
    ) -> Result<(Id, Snapshot)> {
        let hooks = std::mem::take(&mut dedup.hooks);
        if !index.blobs.is_empty() {
            self.write_index(index).await.map_err(|e| e.context("writing the index"))?;
        }
        let mut stats = dedup.stats;
        stats.stored_bytes = Progress::get(&progress.stored_bytes);

        let snap = Snapshot {
            version: 1,
            path: opts.path.clone(),
            tags: opts.tags.clone(),
            time: crate::time::now_rfc3339(),
            hostname: opts.hostname.clone().unwrap_or_else(hostname),
            size: dedup.size,
            blake3: dedup.hash.to_hex().to_string(),
            root: dedup.root.to_hex(),
            stats,
            program: format!("kando {}", env!("CARGO_PKG_VERSION")),
        };
        // The data is stored; commit only if this push was never taken for dead.
        lease.check_continuous().await?;
        let obj = self.seal_meta(SNAPSHOT_MAGIC, &snap.to_json());
        let id = self.put_named("snapshots", obj).await.map_err(|e| e.context("writing the snapshot"))?;
        // A stall of more than the lease TTL exactly between that check and this write would
        // let a gc take the push for dead and sweep data the snapshot references: check again
        // and take the snapshot back if so (docs/maintenance.md, "Stalled writers").
        if let Err(e) = lease.check_continuous().await {
            let key = format!("snapshots/{id}");
            if let Err(d) = self.backend.delete(&key).await {
                tracing::error!("removing snapshot {key} written after this push's lease lapsed: {d}");
            }
            return Err(e);
        }
        self.write_hooks(hooks, &dedup.root).await;
        Ok((id, snap))
    }

    /// One pass over the index for a push: tree-node locations (copies in unmarked packs
    /// preferred), every indexed pack, and the ids whose only copies are in `marked` packs
    /// (a second pass, only while marks are pending, drops the ids that also have a copy in an
    /// unmarked pack: compaction leaves every moved chunk in a marked pack too).
    async fn dedup_scan(&self, marked: &IdSet) -> Result<DedupScan> {
        let mut scan = DedupScan::default();
        let m = Arc::new(marked.clone());
        let keep: super::IndexFilter = Arc::new(move |p, k| k == BlobKind::Tree || m.contains(p));
        self.for_each_index_where(SCAN_OBJECTS, Some(keep), |f| {
            scan.packs.extend(f.packs.iter().copied());
            for (p, b) in &f.blobs {
                if marked.contains(&f.packs[*p as usize]) {
                    scan.exclude.extend(b.chunks.iter().map(|c| c.0));
                }
            }
            let trees = f.blobs.into_iter().filter(|(_, b)| b.kind == BlobKind::Tree).collect();
            scan.nodes.add_preferring(IndexFile { packs: f.packs, blobs: trees }, marked);
        })
        .await?;
        if !scan.exclude.is_empty() {
            let (m, exclude) = (Arc::new(marked.clone()), &mut scan.exclude);
            let keep: super::IndexFilter = Arc::new(move |p, _| !m.contains(p));
            self.for_each_index_where(SCAN_OBJECTS, Some(keep), |f| {
                for (_, b) in &f.blobs {
                    for (id, _) in &b.chunks {
                        exclude.remove(id);
                    }
                }
            })
            .await?;
        }
        scan.nodes.freeze();
        Ok(scan)
    }

    /// The dedup sources of a push to `path`: the latest snapshot of `path` (the parent) and
    /// the hook tables (repo::cursor).
    async fn dedup_sources(
        &self,
        nodes: ReadIndex,
        exclude: IdSet,
        resume: IdSet,
        path: &str,
        marked: &IdSet,
    ) -> Result<Sources> {
        let snaps = self.snapshots().await.map_err(|e| e.context("listing snapshots"))?;
        let live_roots: IdSet = snaps.iter().map(|s| s.snapshot.root_id()).collect();
        let parent = snaps.iter().rev().find(|s| s.snapshot.path == path).map(|s| s.snapshot.root_id());
        let hooks = match self.hook_index().await {
            Ok(h) if h.tables() > 0 => Some(h),
            Ok(_) => None,
            Err(e) => return Err(e.context("reading the hook tables")),
        };
        // Where source leaves' chunks are: this push's own new leaves get records from them.
        let locators = match self.locators().await {
            Ok(l) if !l.is_empty() => Some(Arc::new(l.cache_records(LOOKED_UP_RECORDS))),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("reading the locator tables (this push's records cover only its new chunks): {e}");
                None
            }
        };
        let ctx = Arc::new(TreeCtx {
            backend: self.backend.clone(),
            keys: self.keys.clone(),
            nodes,
            locators,
            marked: Arc::new(marked.clone()),
        });
        let mut sources = Sources::new(tokio::runtime::Handle::current(), ctx, hooks, live_roots, exclude, resume);
        if let Some(root) = parent {
            sources.open(root, 0);
        }
        Ok(sources)
    }

    /// A failed push indexes the packs it stored whose index object was not written yet, and
    /// records that object in its lease: the next push of its path resumes from it. Best effort:
    /// without it those packs are found as unindexed packs (fewer of their chunks are reused).
    async fn index_failed_push(&self, index: &IndexFile, lease: &super::lease::Lease) {
        if index.blobs.is_empty() {
            return;
        }
        match self.write_index(index).await {
            Ok(id) => lease.record_index(format!("index/{id}")).await,
            Err(e) => tracing::warn!("indexing the packs this failed push stored: {e}"),
        }
    }

    /// Store packs as they come through `rx`, at most `opts.uploads` at once, adding each stored
    /// one to `index` (written out and recorded in the lease every `index_flush_chunks` chunks).
    /// On an error `index` holds the stored packs not yet written out.
    async fn upload_packs(
        &self,
        index: &mut IndexFile,
        resolver: &mut RecordResolver,
        rx: &mut tokio::sync::mpsc::Receiver<PackOut>,
        opts: &PushOptions,
        progress: &Arc<Progress>,
        lease: &super::lease::Lease,
    ) -> Result<()> {
        let mut inflight = tokio::task::JoinSet::new();
        let mut open = true;
        // Pack memory is bounded by the packer's buffer pool (1 filling + `uploads`), so at
        // most `uploads` tasks hold a pack. More tasks than that can only be waiting for
        // durability after their buffer went back (local disk: fsync), which costs no memory
        // and keeps the pipeline from stalling behind the disk.
        let max_tasks = 4 * opts.uploads.max(1);
        loop {
            let can_take = open && inflight.len() < max_tasks;
            let done = tokio::select! {
                p = rx.recv(), if can_take => match p {
                    Some(p) => {
                        let backend = self.backend.clone();
                        let progress = progress.clone();
                        inflight.spawn(async move {
                            let key = pack_key(&p.id);
                            let stored = match p.body {
                                PackBody::Bytes(b) => backend.put_content_addressed(&key, b).await,
                                PackBody::Staged(st) => {
                                    let key = key.clone();
                                    tokio::task::spawn_blocking(move || st.commit(&key)).await.unwrap_or_else(|e| {
                                        Err(Error::new(ErrorKind::Io, format!("pack commit task: {e}")))
                                    })
                                }
                            };
                            match stored {
                                Ok(()) => {}
                                // Same name, same bytes: a pack this repository already holds.
                                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                                Err(e) => return Err(e.context(format!("storing pack {}", p.id.short()))),
                            }
                            Progress::add(&progress.transferred_bytes, p.len);
                            Ok((p.id, p.blobs, p.frames))
                        });
                        None
                    }
                    None => {
                        open = false;
                        None
                    }
                },
                r = inflight.join_next(), if !inflight.is_empty() => r,
                else => break,
            };
            if let Some(r) = done {
                let (id, blobs, frames) = r.map_err(|e| Error::new(ErrorKind::Io, format!("upload task: {e}")))??;
                resolver.stored(id, &frames, &blobs);
                index.add_pack(id, blobs);
                if index.chunk_count() >= opts.index_flush_chunks {
                    let id = self.write_index(index).await.map_err(|e| e.context("writing the index"))?;
                    *index = IndexFile::default();
                    // For a push that resumes this one should it die (repo::cursor).
                    lease.record_index(format!("index/{id}")).await;
                }
            }
        }
        Ok(())
    }
}

/// The packer thread: sealed blobs into packs, in arrival order.
struct Packer {
    keys: Arc<Keys>,
    backend: Arc<dyn Backend>,
    pack_target: usize,
    progress: Arc<Progress>,
    /// Pack buffers: a whole pack each, or on a staging backend one piece at a time.
    pack_bufs: Arc<BufPool>,
    sealed_bufs: Arc<BufPool>,
}

impl Packer {
    /// Packs go out through `tx`. On a backend that stages (local disk), each pack is written
    /// to its staged object while it fills, so the end of a push only writes the last piece
    /// and the header; otherwise a pack is built in a pooled buffer and stored whole.
    fn run(
        self,
        rx: cb::Receiver<Sealed>,
        frame_slots: cb::Receiver<()>,
        tx: tokio::sync::mpsc::Sender<PackOut>,
    ) -> Result<()> {
        let mut pb = PackBuilder::with_buffer(self.pack_bufs.take());
        let mut frames: Vec<u64> = Vec::new();
        let mut staged: Option<Box<dyn StagedObject>> = None;
        let mut stages = true;
        for Sealed { kind, sealed, raw_len, chunks, frame } in rx {
            let _ = frame_slots.try_recv();
            Progress::add(&self.progress.stored_bytes, sealed.len() as u64);
            if pb.is_empty() && stages {
                staged = self.backend.stage("packs/").map_err(|e| e.context("starting a pack"))?;
                stages = staged.is_some();
            }
            pb.add_sealed(kind, &sealed, raw_len, chunks);
            frames.push(frame);
            self.sealed_bufs.give(sealed);
            if let Some(st) = staged.as_mut()
                && pb.buffered() >= STAGE_PIECE
            {
                pb.drain_with(|piece| st.write(piece))?;
            }
            if pb.len() >= self.pack_target {
                let out = self.finish(&mut pb, staged.take(), std::mem::take(&mut frames))?;
                if tx.blocking_send(out).is_err() {
                    return Ok(()); // the uploader stopped; it reports why
                }
            }
        }
        if !pb.is_empty() {
            let out = self.finish(&mut pb, staged.take(), frames)?;
            let _ = tx.blocking_send(out);
        }
        Ok(())
    }

    /// Seal `pb`'s header and leave an empty builder in its place.
    fn finish(&self, pb: &mut PackBuilder, staged: Option<Box<dyn StagedObject>>, frames: Vec<u64>) -> Result<PackOut> {
        let drained = pb.len() - pb.buffered();
        let full = std::mem::replace(pb, PackBuilder::with_buffer(self.pack_bufs.take()));
        let (id, tail, blobs) = full.finish(&self.keys);
        let len = (drained + tail.len()) as u64;
        let body = match staged {
            Some(mut st) => {
                st.write(&tail)?;
                self.pack_bufs.give(tail);
                PackBody::Staged(st)
            }
            None => PackBody::Bytes(self.pack_bufs.bytes(tail)),
        };
        Ok(PackOut { id, body, len, blobs, frames })
    }
}

fn dedup_stage(
    mut dedup: DedupSet,
    rx: cb::Receiver<Hashed>,
    hash_slots: cb::Receiver<()>,
    sink: &FrameSink,
    mut records: RecordBuilder,
    cfg: &crate::format::config::Config,
    progress: &Progress,
) -> Result<DedupOut> {
    let keys = &sink.keys;
    let frame_target = cfg.compression.frame_target as usize;
    let zstd = cfg.compression.params();
    // Batches decided only once this many later ones have arrived; fewer than the batches the
    // reader may have in flight (one slot each), or the reader would wait for this stage.
    let lookahead = (hash_slots.capacity().unwrap_or(4) as u64).saturating_sub(2).min(LOOKAHEAD);
    let mut pending: BTreeMap<u64, (Vec<(Id, Bytes)>, Bytes)> = BTreeMap::new();
    // The whole-stream hash, over each block in one update (wide SIMD path of BLAKE3).
    let mut hasher = blake3::Hasher::new();
    let (mut next, mut end) = (0u64, None);
    let mut tree = TreeBuilder::new();
    let mut size = 0u64;
    let mut stats = SnapshotStats::default();
    let mut raw: Vec<u8> = sink.raw_bufs.take();
    let mut chunks: Vec<(Id, u32)> = Vec::new();
    let mut tree_err: Option<Error> = None;
    let mut hooks = HookCollector::default();
    // Frames are numbered as they are made (data frames when their first chunk comes), so that
    // locator records can name them before they are packed (repo::push_locators).
    let mut next_frame = 0u64;
    let mut data_frame: Option<u64> = None;

    let mut emit_tree = |dedup: &mut DedupSet,
                         hooks: &mut HookCollector,
                         records: &mut RecordBuilder,
                         next_frame: &mut u64,
                         end: u64,
                         node: Vec<u8>|
     -> Id {
        let leaf = node.first() == Some(&0);
        if leaf {
            hooks.leaf_ended(end);
        }
        let id = keys.chunk_id(&node);
        let mut stored_in = None;
        if dedup.insert_if_new(&id) {
            let (len, frame) = (node.len() as u32, *next_frame);
            *next_frame += 1;
            match sink.submit(BlobKind::Tree, node, vec![(id, len)], compress::Params::level(0), frame) {
                Ok(()) => stored_in = Some(frame),
                Err(e) => {
                    tree_err.get_or_insert(e);
                }
            }
        }
        records.node(id, leaf, stored_in);
        id
    };

    loop {
        if end == Some(next) {
            break;
        }
        match rx.recv().map_err(|_| cancelled())? {
            Hashed::Batch(seq, v, block) => {
                pending.insert(seq, (v, block));
            }
            Hashed::End(n) => end = Some(n),
        }
        // A batch is decided once the next `lookahead` ones are here too (or the stream ends
        // first): the sources then see their hooks, so a cursor opened by a hook a little
        // further on already covers this batch (one chunk in 64 is a hook: ~400 chunks hold one
        // with 99.8% odds).
        let ready = |next: u64, pending: &BTreeMap<u64, _>| {
            (next..=next + lookahead).all(|k| pending.contains_key(&k) || end.is_some_and(|e| k >= e))
        };
        while pending.contains_key(&next) && ready(next, &pending) {
            let (v, block) = pending.remove(&next).expect("checked above");
            hasher.update(&block);
            drop(block);
            let _ = hash_slots.try_recv();
            let mut ids: Vec<Id> = v.iter().map(|c| c.0).collect();
            for k in next + 1..=next + lookahead {
                if let Some((after, _)) = pending.get(&k) {
                    ids.extend(after.iter().map(|c| c.0));
                }
            }
            dedup.prepare(&ids)?;
            for (id, data) in v {
                let len = data.len() as u32;
                size += len as u64;
                stats.chunks += 1;
                hooks.chunk(&id);
                // Decided before the tree sees it: a leaf it ends takes its place with it.
                match dedup.decide(&id) {
                    Some(at) => records.stored(at),
                    None => {
                        let frame = *data_frame.get_or_insert_with(|| {
                            next_frame += 1;
                            next_frame - 1
                        });
                        records.entry(Some(EntryAt::New { frame, inner: raw.len() as u32 }));
                        stats.new_chunks += 1;
                        stats.new_bytes += len as u64;
                        raw.extend_from_slice(&data);
                        chunks.push((id, len));
                        if raw.len() >= frame_target {
                            let full = std::mem::replace(&mut raw, sink.raw_bufs.take());
                            data_frame = None;
                            sink.submit(BlobKind::Data, full, std::mem::take(&mut chunks), zstd, frame)?;
                        }
                    }
                }
                tree.add(id, len, &mut |n| emit_tree(&mut dedup, &mut hooks, &mut records, &mut next_frame, size, n));
            }
            progress.chunks.store(stats.chunks, std::sync::atomic::Ordering::Relaxed);
            progress.new_chunks.store(stats.new_chunks, std::sync::atomic::Ordering::Relaxed);
            progress.new_bytes.store(stats.new_bytes, std::sync::atomic::Ordering::Relaxed);
            next += 1;
        }
    }
    if let Some(frame) = data_frame {
        sink.submit(BlobKind::Data, raw, chunks, zstd, frame)?;
    }
    let root = tree.finish(&mut |n| emit_tree(&mut dedup, &mut hooks, &mut records, &mut next_frame, size, n));
    if let Some(e) = tree_err {
        return Err(e);
    }
    if let Some(s) = dedup.sources() {
        tracing::debug!(
            "dedup sources: {} cursor(s) opened, {} hook lookup(s), {} leaves read",
            s.stats.cursors_opened,
            s.stats.hook_lookups,
            s.stats.leaves_loaded
        );
    }
    Ok(DedupOut { root, hash: hasher.finalize(), size, stats, hooks, records_skipped: records.skipped })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

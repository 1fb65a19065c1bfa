//! The push pipeline: stream → chunks → ids → dedup → frames → sealed blobs → packs → backend.
//!
//! ```text
//! input thread ──blocks──▶ reader thread ──batches──▶ rayon: keyed BLAKE3 ──▶ dedup thread
//!   (read(2); the           (cut points: FastCDC,       (chunks the reader    (orders batches;
//!    whole-stream            or following the parent:    did not hash)         tree builder;
//!    BLAKE3 of the           repo::follow, hashing                             the ONE dedup
//!    bytes as read)          the chunks it takes)                              decision;
//!                                                                              ~1 MiB frames)
//!        ──frames──▶ rayon: zstd + seal ──▶ packer thread ──packs──▶ uploader (tokio task:
//!                                                                   puts, then index objects)
//! ```
//! Back-pressure: the reader holds one token per batch in flight (`hash_slots`), the dedup
//! thread one per frame in flight (`frame_slots`), the packer takes pack buffers from a
//! bounded pool (one filling + `uploads` being stored), so at most `uploads` puts hold a pack
//! at once; on local disk packs are staged (written to their files while they fill) and up to
//! 4 × `uploads` commits may wait for the disk. Large buffers are recycled (crate::pool), so
//! steady state allocates none. Memory ceiling (defaults, 2 cores): read blocks 10 × 1.06 MiB
//! (7 in flight, 3 read ahead), the parent entries the reader follows (repo::follow: ≤ 1.7 MB),
//! frames 4 × 2.1 MiB, dedup window 16 MiB, packs 3 × 18 MiB (local disk: ~2 MiB, as packs are
//! staged), the dedup sources (repo::cursor: ~0.5 MB of leaves, the hook-table block cache ≤ 1
//! MiB), and the push's locator records (repo::push_locators: ≤ 32 MiB, ~6.5 B per entry of a
//! new leaf). Start-up reads no index object: source tree nodes are read through their locator
//! records. Only what no record covers costs a scan of the index, and its memory: the
//! tree-node locations (~60 B per node, ~0.12 B per stored chunk: 2.3 MB at 20 M chunks) when
//! a source node has no usable record; the ids whose only copies are in marked packs (32 B
//! each) when, while packs are marked, a source chunk has none; the pack list when another
//! push of the path was interrupted (repo::cursor, [`Repository::push`]). The stages that run
//! on their own threads are in repo::push_stages. See docs/architecture.md.
//!
//! Failure: the first error is kept; every stage stops when a channel it uses closes; no
//! snapshot is written. Packs already stored stay (unreferenced until a later index/gc).

use super::cursor::{Sources, TreeCtx};
use super::dedup::DedupSet;
use super::follow::ParentCuts;
use super::push_locators::RecordResolver;
use super::push_stages::{DedupOut, FrameSink, Hashed, PackBody, PackOut, Packer, Sealed, dedup_stage};
use super::stage::{FirstError, cancelled, spawn_stage};
use super::{Progress, Repository, pack_key};
use crate::chunker::{CutPlan, Cutter, StreamChunker};
use crate::error::{Error, ErrorKind, Result};
use crate::format::index::IndexFile;
use crate::format::snapshot::{SNAPSHOT_MAGIC, Snapshot};
use crate::id::{Id, IdSet};
use crate::pool::BufPool;
use crossbeam_channel as cb;
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

/// Most chunk ids of an interrupted push's packs that a push keeps to resume it (32 B each
/// plus hash-set slack: ≤ ~24 MB, the data of ~4 GB of 8 KiB chunks; beyond it, the rest is
/// stored again and gc reclaims the unreferenced copies).
const RESUME_IDS: usize = 1 << 19;
/// Interrupted pushes of the same path (the latest ones) whose indexed data a push follows.
const RESUMED_PUSHES: usize = 2;

/// Decoded locator records a push keeps beside those its cursors hold (each source leaf's is
/// looked up once, when the leaf is read).
const LOOKED_UP_RECORDS: usize = 16;

/// Index objects a push decodes at once while scanning (each up to ~10 MB decoded: a merged
/// object lists up to 2^18 chunks).
const SCAN_OBJECTS: usize = 2;

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
        let before = Progress::get(&progress.transferred_bytes);
        let res = self.push_leased(reader, opts, progress.clone(), &lease).await;
        if res.is_err() && Progress::get(&progress.transferred_bytes) > before {
            // It stored packs: the next push of this path resumes from what its lease recorded,
            // and looks for the packs it stored but could not index.
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
        // What pushes of this path that died had indexed (their leases record it).
        let interrupted = match self.interrupted_index(&opts.path, lease.id()).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("reading the records of interrupted pushes (their data is stored again): {e}");
                Default::default()
            }
        };
        // Packs an interrupted push of this path stored without an index: index them and reuse
        // their data (this is how a push resumes one that failed). No snapshot refers to them,
        // so their ids are kept apart, up to RESUME_IDS of them. Not marked ones: a gc that
        // deletes them may have dropped them from the index already (or was killed between the
        // two). Only when such a push left its lease: finding unindexed packs takes a scan of
        // the whole index, which a push otherwise never makes (gc indexes the rest).
        let mut resume = IdSet::default();
        if interrupted.seen {
            let mut not_orphans = self.indexed_packs(&progress).await.map_err(|e| e.context("loading the index"))?;
            not_orphans.extend(marked.iter().copied());
            for (_, b) in self.index_orphan_packs(&not_orphans).await?.blobs {
                resume.extend(b.chunks.into_iter().map(|c| c.0).take(RESUME_IDS.saturating_sub(resume.len())));
            }
        }
        let (mut sources, follow) = self.dedup_sources(resume, &opts.path, &marked, progress.clone()).await?;
        // The reader follows the parent's cuts where the stream repeats it (repo::follow).
        let parent_leaves = follow.map(|root| sources.leaves(root));
        let (records, mut resolver) = super::push_locators::records();
        for index in interrupted.index.into_iter().take(RESUMED_PUSHES) {
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
        // The whole-stream BLAKE3 the snapshot records, of the bytes exactly as read: computed on
        // the input thread, before the chunker sees them (so `pull --verify-stream` checks the
        // chunking too), over each block in one update (the wide SIMD path of BLAKE3); with the
        // number of bytes read, which the tree must hold. Set once the stream ended well.
        let digest: Arc<std::sync::OnceLock<(blake3::Hash, u64)>> = Arc::default();
        let reader_thread = {
            let tee: crate::chunker::Tee = {
                let (digest, mut hasher, mut read) = (digest.clone(), blake3::Hasher::new(), 0u64);
                Box::new(move |bytes: &[u8], end: bool| {
                    hasher.update(bytes);
                    read += bytes.len() as u64;
                    if end {
                        let _ = digest.set((hasher.finalize(), read));
                    }
                })
            };
            let (pool, keys, fail, progress) = (pool.clone(), self.keys.clone(), fail.clone(), progress.clone());
            let input_error = input_error.clone();
            let block = opts.block;
            std::thread::Builder::new().name("kando-reader".into()).spawn(move || {
                // The input is read on a thread of its own, beside the cutting and hashing here.
                let mut ch = match StreamChunker::read_ahead_tee(reader, cutter.clone(), block, slots + 2, tee) {
                    Ok(ch) => ch,
                    Err(e) => {
                        *input_error.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(Error::with_source(ErrorKind::Io, "starting the input thread", e));
                        let _ = hashed_tx.send(Hashed::End(0));
                        return;
                    }
                };
                let mut follow = parent_leaves.map(|rx| ParentCuts::new(cutter.clone(), keys.clone(), Box::new(rx)));
                let mut cdc = cutter;
                let mut seq = 0u64;
                loop {
                    if fail.is_set() {
                        return;
                    }
                    let plan: &mut dyn CutPlan = match follow.as_mut() {
                        Some(f) => f,
                        None => &mut cdc,
                    };
                    match ch.next_batch_with(plan) {
                        Ok(Some(batch)) => {
                            progress.bytes_in.store(ch.bytes_read(), std::sync::atomic::Ordering::Relaxed);
                            if let Some(f) = &follow {
                                progress.followed_chunks.store(f.stats.followed, std::sync::atomic::Ordering::Relaxed);
                            }
                            if batch.is_empty() {
                                continue;
                            }
                            if hash_slot_tx.send(()).is_err() {
                                return;
                            }
                            // A batch whose ids the plan computed (it followed the parent) needs no
                            // worker.
                            let hashed = batch.iter().all(|c| c.0.is_some());
                            let (keys, tx) = (keys.clone(), hashed_tx.clone());
                            let hash = move || {
                                let v = batch
                                    .into_iter()
                                    .map(|(id, b)| (id.unwrap_or_else(|| keys.chunk_id(&b)), b))
                                    .collect();
                                let _ = tx.send(Hashed::Batch(seq, v));
                            };
                            if hashed { hash() } else { pool.spawn(hash) }
                            seq += 1;
                        }
                        Ok(None) => {
                            if let Some(f) = &follow {
                                tracing::debug!(
                                    "followed the parent's cuts for {} chunks, scanned {} with FastCDC, found the parent again {} times, hashed {} of {} bytes here",
                                    f.stats.followed,
                                    f.stats.scanned,
                                    f.stats.resyncs,
                                    f.stats.hashed_bytes,
                                    ch.bytes_read()
                                );
                            }
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
        let Some(&(hash, read)) = digest.get() else {
            self.index_failed_push(&index, lease).await;
            return Err(Error::new(
                ErrorKind::Io,
                "the input stream ended without its digest (the input thread stopped)",
            ));
        };
        if read != dedup.size {
            // A bug between the input and the tree (never seen): no snapshot of other bytes.
            self.index_failed_push(&index, lease).await;
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("the push read {read} bytes but its tree holds {}: no snapshot written", dedup.size),
            ));
        }
        // Every record is sent (the dedup thread ended) and every pack stored. The table is
        // stored with the snapshot, under the same lease checks (repo::push_locators); one that
        // names a snapshot that never commits is dropped by the next gc.
        resolver.resolve();
        self.commit(&index, (dedup, hash), resolver, opts, &progress, lease).await
    }

    /// The end of a push whose data is stored (what the dedup thread made, and the digest of the
    /// stream as read): its last index object, the snapshot and its locator table (only if its
    /// lease held throughout), its hook table.
    async fn commit(
        &self,
        index: &IndexFile,
        (mut dedup, hash): (DedupOut, blake3::Hash),
        resolver: RecordResolver,
        opts: &PushOptions,
        progress: &Arc<Progress>,
        lease: &super::lease::Lease,
    ) -> Result<(Id, Snapshot)> {
        let hooks = std::mem::take(&mut dedup.hooks);
        let write_index = async {
            if index.blobs.is_empty() {
                return Ok(());
            }
            // If the push fails after this, its lease keeps the object (or says that packs are
            // unindexed) for the next push of its path.
            match self.write_index(index).await {
                Ok(id) => {
                    lease.pend_index(format!("index/{id}")).await;
                    Ok(())
                }
                Err(e) => Err(e.context("writing the index")),
            }
        };
        let (written, table) = tokio::join!(write_index, self.seal_push_locators(resolver, dedup.records_skipped));
        written?;
        let mut stats = dedup.stats;
        stats.stored_bytes = Progress::get(&progress.stored_bytes);

        let snap = Snapshot {
            version: 1,
            path: opts.path.clone(),
            tags: opts.tags.clone(),
            time: crate::time::now_rfc3339(),
            hostname: opts.hostname.clone().unwrap_or_else(hostname),
            size: dedup.size,
            blake3: hash.to_hex().to_string(),
            root: dedup.root.to_hex(),
            stats,
            program: format!("kando {}", env!("CARGO_PKG_VERSION")),
        };
        // The data is stored; commit only if this push was never taken for dead. The locator
        // table goes with the snapshot: its records may name packs of other snapshots, which a
        // gc may sweep once this push is taken for dead, and a later push trusts a record's
        // packs to hold its chunks (repo::cursor), so no table may outlive a pack it names.
        lease.check_continuous().await?;
        let obj = self.seal_meta(SNAPSHOT_MAGIC, &snap.to_json());
        let table_key = table.as_ref().map(|t| t.key());
        let (id, ()) = tokio::join!(self.put_named("snapshots", obj), self.put_push_locators(table));
        // A stall of more than the lease TTL exactly between that check and these writes would
        // let a gc take the push for dead and sweep data the snapshot references: check again
        // and take the snapshot and table back if so (docs/maintenance.md, "Commit check"); the
        // table also if the snapshot could not be written (it may name packs of a gc that
        // took this push for dead; nothing would remove it before the next gc).
        let (id, failed) = match id {
            Ok(id) => (Some(id), lease.check_continuous().await.err()),
            Err(e) => (None, Some(e.context("writing the snapshot"))),
        };
        if let Some(e) = failed {
            let mut keys: Vec<String> = table_key.into_iter().collect();
            keys.extend(id.map(|id| format!("snapshots/{id}")));
            for key in keys {
                if let Err(d) = self.backend.delete(&key).await
                    && d.kind() != ErrorKind::NotFound
                {
                    tracing::error!("removing {key} written by a push that commits nothing: {d}");
                }
            }
            return Err(e);
        }
        let id = id.expect("checked above");
        self.write_hooks(hooks, &dedup.root).await;
        Ok((id, snap))
    }

    /// Every indexed pack (one scan of the index, reading pack lists only).
    async fn indexed_packs(&self, progress: &Progress) -> Result<IdSet> {
        Progress::add(&progress.index_scans, 1);
        let mut packs = IdSet::default();
        let none: super::IndexFilter = Arc::new(|_, _| false);
        self.for_each_index_where(SCAN_OBJECTS, Some(none), |f| packs.extend(f.packs.iter().copied())).await?;
        Ok(packs)
    }

    /// The dedup sources of a push to `path`: the latest snapshot of `path` (the parent) and
    /// the hook tables (repo::cursor).
    async fn dedup_sources(
        &self,
        resume: IdSet,
        path: &str,
        marked: &IdSet,
        progress: Arc<Progress>,
    ) -> Result<(Sources, Option<Id>)> {
        // Returns the sources and the root of the parent to follow, if any.
        let snaps = self.snapshots().await.map_err(|e| e.context("listing snapshots"))?;
        let live_roots: IdSet = snaps.iter().map(|s| s.snapshot.root_id()).collect();
        let parent = snaps.iter().rev().find(|s| s.snapshot.path == path);
        // A repaired snapshot's zero-filled ranges were not cut by FastCDC: not followed
        // (repo::follow takes the parent's cuts as FastCDC's).
        let follow = parent.filter(|s| !s.snapshot.tags.iter().any(|t| t == "repaired")).map(|s| s.snapshot.root_id());
        let parent = parent.map(|s| s.snapshot.root_id());
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
            nodes: Default::default(),
            locators,
            marked: Arc::new(marked.clone()),
            progress,
            pack_sizes: Default::default(),
        });
        let mut sources = Sources::new(tokio::runtime::Handle::current(), ctx, hooks, live_roots, resume);
        if let Some(root) = parent {
            sources.open(root, 0);
        }
        Ok((sources, follow))
    }

    /// A failed push indexes the packs it stored whose index object was not written yet, and
    /// records that object in its lease: the next push of its path resumes from it. Best effort:
    /// if it cannot be written, the next push of the path finds those packs as unindexed packs
    /// while this push's (ended) lease exists (fewer of their chunks are reused).
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

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

//! Compaction: repack packs that are mostly dead (or small) so their space can be reclaimed,
//! and merge index objects so that their number stays small.
//!
//! A pack whose live fraction (raw bytes of live chunks / raw bytes of all chunks) is below
//! `min_live_fraction`, or whose size is below `small_pack_bytes` when there are several such,
//! is rewritten, within `max_repack_bytes` read per run: blobs whose chunks are all live are
//! copied as they are (still sealed: no decryption); blobs with dead chunks are opened and
//! their live chunks re-framed with their neighbours and recompressed; tree blobs that are
//! live are copied. The new packs and one index object for them are written first; then the
//! old packs are **marked** for deletion (the same two-phase protocol as gc, so a push that
//! deduplicated against them, or a pull reading them, is safe: docs/maintenance.md) and a
//! later gc deletes them. Finally the index objects are merged.
//!
//! Runs under the gc lease (never beside a gc or another compaction). Uses every core: the
//! blobs to re-frame are decoded, and the new frames compressed and sealed, on the blocking
//! pool (`cores + 1` of each in flight); on an object store the next old pack is read
//! meanwhile (not on local disk, where that costs memory and saves nothing). Which chunks move is
//! decided in pack order on the async task, so the result does not depend on timing.
//! Memory: one old pack (two on an object store, with the one read ahead; ≤ 16 MiB each),
//! the new pack being built (≤ 16 MiB + 2 frames), `cores + 1` blobs being decoded (sealed copy
//! and raw frame, ~1.4 MiB each) and as many frames being sealed, plus the live set.

use super::gc::INDEX_OBJECT_CHUNKS;
use super::live::PackUse;
use super::progress::{Progress, StageProgress};
use super::{Repository, pack_key};
use crate::backend::Backend;
use crate::compress;
use crate::crypto::Keys;
use crate::error::{Error, ErrorKind, Result};
use crate::format::index::IndexFile;
use crate::format::pack::{BlobHeader, BlobKind, PackBuilder, open_blob_into, seal_blob_into};
use crate::id::{Id, IdMap, IdSet};
use crate::pool::BufPool;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Options of a compaction.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Read at most this many bytes of old packs per run.
    pub max_repack_bytes: u64,
    /// Repack packs whose live fraction is below this.
    pub min_live_fraction: f64,
    /// Packs smaller than this are merged (when there are at least two).
    pub small_pack_bytes: u64,
    /// Report only.
    pub dry_run: bool,
    /// Start no new pack after this instant (the rest is deferred to the next run).
    pub deadline: Option<std::time::Instant>,
    /// Updated as the run goes.
    pub progress: Arc<StageProgress>,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            max_repack_bytes: 4 << 30,
            min_live_fraction: 0.5,
            small_pack_bytes: 4 << 20,
            dry_run: false,
            deadline: None,
            progress: Arc::default(),
        }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompactReport {
    /// Packs chosen for repacking.
    pub repacked_packs: usize,
    /// Bytes of those packs (read).
    pub repacked_bytes: u64,
    /// New packs written.
    pub new_packs: usize,
    /// Bytes of the new packs.
    pub new_bytes: u64,
    /// Blobs copied still sealed.
    pub blobs_copied: usize,
    /// Blobs opened and re-framed.
    pub blobs_reframed: usize,
    /// Index objects before the merge.
    pub index_objects_before: usize,
    /// After.
    pub index_objects_after: usize,
    /// Candidates left for a later run (budget).
    pub deferred_packs: usize,
    /// Locator tables written (0 when nothing moved: gc's stay valid).
    pub locator_tables: usize,
}

/// Builds new packs and frames out of live chunks and whole blobs.
///
/// Frames are compressed and sealed on the blocking pool, up to `depth` at once, and join the
/// pack in the order they were cut, so a compaction uses every core (zstd is most of its CPU).
struct Repacker<'a> {
    repo: &'a Repository,
    pack: PackBuilder,
    frame: Vec<u8>,
    frame_chunks: Vec<(Id, u32)>,
    /// Frames being compressed and sealed, oldest first.
    sealing: VecDeque<JoinHandle<SealedFrame>>,
    /// Frame-sized buffers for every job of the compaction.
    bufs: Arc<BufPool>,
    depth: usize,
    index: IndexFile,
    report: CompactReport,
    progress: Arc<StageProgress>,
}

/// A frame compressed and sealed off the async thread.
struct SealedFrame {
    /// Pooled: back to the pool once copied into the pack.
    sealed: Bytes,
    raw_len: u32,
    chunks: Vec<(Id, u32)>,
}

impl<'a> Repacker<'a> {
    fn new(repo: &'a Repository, progress: Arc<StageProgress>, depth: usize, bufs: Arc<BufPool>) -> Self {
        Repacker {
            repo,
            pack: Self::builder(repo),
            frame: bufs.take(),
            frame_chunks: Vec::new(),
            sealing: VecDeque::new(),
            bufs,
            depth,
            index: IndexFile::default(),
            report: CompactReport::default(),
            progress,
        }
    }

    /// A pack builder whose buffer holds a whole pack from the start: grown by doubling, a
    /// 16 MiB pack's buffer would reach 32 MiB.
    fn builder(repo: &Repository) -> PackBuilder {
        let frame = repo.config.compression.frame_target as usize;
        PackBuilder::with_buffer(Vec::with_capacity(repo.config.pack_target as usize + 2 * frame + (64 << 10)))
    }

    async fn add_sealed(&mut self, kind: BlobKind, sealed: &[u8], raw_len: u32, chunks: Vec<(Id, u32)>) -> Result<()> {
        self.pack.add_sealed(kind, sealed, raw_len, chunks);
        if self.pack.len() as u64 >= self.repo.config.pack_target as u64 {
            self.flush_pack().await?;
        }
        Ok(())
    }

    async fn add_chunk(&mut self, id: Id, bytes: &[u8]) -> Result<()> {
        self.frame.extend_from_slice(bytes);
        self.frame_chunks.push((id, bytes.len() as u32));
        if self.frame.len() as u64 >= self.repo.config.compression.frame_target as u64 {
            self.flush_frame().await?;
        }
        Ok(())
    }

    /// A tree node goes in a blob of its own, as push writes it.
    async fn add_node(&mut self, id: Id, bytes: &[u8]) -> Result<()> {
        let mut z = Vec::new();
        let h = compress::encode_into(bytes, compress::Params::level(0), &mut z);
        let payload: &[u8] = if z.is_empty() { bytes } else { &z };
        let mut sealed = Vec::new();
        seal_blob_into(&self.repo.keys, &h, payload, &mut sealed);
        self.add_sealed(BlobKind::Tree, &sealed, bytes.len() as u32, vec![(id, bytes.len() as u32)]).await
    }

    /// Hand the frame being filled to the blocking pool; take the oldest sealed frames into the
    /// pack while more than `depth` are in flight.
    async fn flush_frame(&mut self) -> Result<()> {
        if self.frame_chunks.is_empty() {
            return Ok(());
        }
        let raw = std::mem::replace(&mut self.frame, self.bufs.take());
        let chunks = std::mem::take(&mut self.frame_chunks);
        let (keys, params, bufs) = (self.repo.keys.clone(), self.repo.config.compression.params(), self.bufs.clone());
        self.sealing.push_back(tokio::task::spawn_blocking(move || {
            let (mut z, mut sealed) = (bufs.take(), bufs.take());
            let h = compress::encode_into(&raw, params, &mut z);
            let payload: &[u8] = if z.is_empty() { &raw } else { &z };
            seal_blob_into(&keys, &h, payload, &mut sealed);
            let raw_len = raw.len() as u32;
            bufs.give(raw);
            bufs.give(z);
            SealedFrame { sealed: bufs.bytes(sealed), raw_len, chunks }
        }));
        while self.sealing.len() > self.depth {
            self.take_sealed().await?;
        }
        Ok(())
    }

    /// Wait for the oldest frame in flight and add it to the pack.
    async fn take_sealed(&mut self) -> Result<()> {
        let Some(job) = self.sealing.pop_front() else { return Ok(()) };
        let f = join(job, "sealing a frame").await?;
        self.add_sealed(BlobKind::Data, &f.sealed, f.raw_len, f.chunks).await
    }

    async fn flush_pack(&mut self) -> Result<()> {
        if self.pack.is_empty() {
            return Ok(());
        }
        let pack = std::mem::replace(&mut self.pack, Self::builder(self.repo));
        let (id, bytes, blobs): (Id, Vec<u8>, Vec<BlobHeader>) = pack.finish(&self.repo.keys);
        self.report.new_packs += 1;
        self.report.new_bytes += bytes.len() as u64;
        Progress::add(&self.progress.bytes_written, bytes.len() as u64);
        self.repo
            .backend
            .put_content_addressed(&pack_key(&id), Bytes::from(bytes))
            .await
            .or_else(|e| if e.kind() == crate::ErrorKind::AlreadyExists { Ok(()) } else { Err(e) })?;
        self.index.add_pack(id, blobs);
        Ok(())
    }

    async fn finish(mut self) -> Result<(IndexFile, CompactReport)> {
        self.flush_frame().await?;
        while !self.sealing.is_empty() {
            self.take_sealed().await?;
        }
        self.flush_pack().await?;
        Ok((self.index, self.report))
    }
}

/// The live chunks of one blob being re-framed, decoded off the async thread.
struct Reframed {
    kind: BlobKind,
    /// Chunk ids and their bytes (slices of the decoded frame, a pooled buffer), in frame order.
    chunks: Vec<(Id, Bytes)>,
}

/// Open and decode one sealed blob and cut out the chunks `keep` selects, each checked against
/// its id (pure CPU; runs on the blocking pool).
fn reframe_blob(
    keys: &Keys,
    bufs: &Arc<BufPool>,
    sealed: &[u8],
    b: &BlobHeader,
    keep: &[bool],
    what: &str,
) -> Result<Reframed> {
    let mut frame = bufs.take();
    let opened = open_blob_into(keys, sealed, &what, &mut frame);
    let mut raw = bufs.take();
    let decoded = opened.and_then(|()| compress::decode_into(&frame, &mut raw).map_err(|e| e.context(what)));
    bufs.give(frame);
    if let Err(e) = decoded {
        bufs.give(raw);
        return Err(e);
    }
    let raw = bufs.bytes(raw);
    let mut chunks = Vec::with_capacity(keep.iter().filter(|k| **k).count());
    let mut at = 0usize;
    for ((id, len), keep) in b.chunks.iter().zip(keep) {
        let end = at + *len as usize;
        if end > raw.len() {
            return Err(Error::corrupt(format!("{what}: chunk outside its frame")));
        }
        if *keep {
            let bytes = raw.slice(at..end);
            if keys.chunk_id(&bytes) != *id {
                return Err(Error::corrupt(format!("{what}: chunk {} does not match its id", id.short())));
            }
            chunks.push((*id, bytes));
        }
        at = end;
    }
    Ok(Reframed { kind: b.kind, chunks })
}

/// Read one old pack and check that its content matches its name (the hash off the async
/// thread).
async fn read_old_pack(backend: Arc<dyn Backend>, p: Id) -> Result<Bytes> {
    let key = pack_key(&p);
    let data = backend.get(&key).await.map_err(|e| e.context(format!("reading {key} to repack it")))?;
    let check = data.clone();
    let ok = join(tokio::task::spawn_blocking(move || Id::of_bytes(&check) == p), "hashing a pack").await?;
    if !ok {
        return Err(Error::corrupt(format!("{key}: content does not match its name; not repacking it (run verify)")));
    }
    Ok(data)
}

/// The live chunks of a re-framed blob into the new frames (data) or blobs (tree nodes).
async fn add_reframed(rp: &mut Repacker<'_>, r: Reframed) -> Result<()> {
    for (id, bytes) in r.chunks {
        match r.kind {
            BlobKind::Data => rp.add_chunk(id, &bytes).await?,
            BlobKind::Tree => rp.add_node(id, &bytes).await?,
        }
    }
    Ok(())
}

/// Await a task of this compaction; a task that panicked or was cancelled is an error.
async fn join<T>(h: JoinHandle<T>, what: &str) -> Result<T> {
    h.await.map_err(|e| Error::new(ErrorKind::Io, format!("compaction: {what}: {e}")))
}

impl Repository {
    /// Compact (see the module docs).
    pub async fn compact(&self, opts: &CompactOptions) -> Result<CompactReport> {
        let (lease, _now) = self.acquire_gc_lease("compact").await?;
        let res = self.compact_locked(opts).await;
        if let Err(e) = lease.release().await {
            tracing::warn!("releasing the gc lease: {e}");
        }
        res
    }

    async fn compact_locked(&self, opts: &CompactOptions) -> Result<CompactReport> {
        let marked = self.marked_packs().await?;
        // Snapshots before the index, so that the index covers every snapshot listed (see gc).
        let snaps = self.snapshots().await?;
        let (files, old_index) = self.index_files().await?;
        let (live, uses, nodes) = self.liveness(&files, &snaps, &opts.progress).await?;
        // Candidates: unmarked packs with something live, sparse first.
        let fraction = |u: &PackUse| if u.raw == 0 { 1.0 } else { u.live_raw as f64 / u.raw as f64 };
        let mut sparse: Vec<(Id, PackUse)> = Vec::new();
        let mut small: Vec<(Id, PackUse)> = Vec::new();
        for (p, u) in &uses {
            if marked.contains(p) || u.live_blobs == 0 {
                continue;
            }
            if fraction(u) < opts.min_live_fraction {
                sparse.push((*p, *u));
            } else if u.bytes < opts.small_pack_bytes {
                small.push((*p, *u));
            }
        }
        sparse.sort_by(|a, b| fraction(&a.1).total_cmp(&fraction(&b.1)).then(a.0.cmp(&b.0)));
        small.sort_by_key(|(p, u)| (u.bytes, *p));
        let mut chosen: Vec<(Id, PackUse)> = sparse;
        if small.len() >= 2 {
            chosen.extend(small);
        }
        let mut budget = opts.max_repack_bytes;
        let mut take = Vec::new();
        let mut report_deferred = 0;
        for (p, u) in chosen {
            if u.bytes <= budget {
                budget -= u.bytes;
                take.push(p);
            } else {
                report_deferred += 1;
            }
        }
        let mut rep = CompactReport {
            index_objects_before: old_index.len(),
            deferred_packs: report_deferred,
            ..Default::default()
        };
        if opts.dry_run {
            rep.repacked_packs = take.len();
            rep.repacked_bytes = take.iter().map(|p| uses[p].bytes).sum();
            rep.index_objects_after = old_index.len();
            return Ok(rep);
        }
        // The blobs of each chosen pack, from the index.
        let chosen_set: IdSet = take.iter().copied().collect();
        let mut blobs_of: IdMap<Vec<BlobHeader>> = IdMap::default();
        let mut seen = IdSet::default();
        for f in &files {
            let fresh: Vec<bool> = f.packs.iter().map(|p| chosen_set.contains(p) && !seen.contains(p)).collect();
            for (i, p) in f.packs.iter().enumerate() {
                if fresh[i] {
                    seen.insert(*p);
                }
            }
            for (p, b) in &f.blobs {
                if fresh[*p as usize] {
                    blobs_of.entry(f.packs[*p as usize]).or_default().push(b.clone());
                }
            }
        }
        // Up to `depth` blobs are decoded and `depth` frames compressed at once, on the blocking
        // pool, while this task reads the packs and writes the new ones.
        let depth = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) + 1;
        // On an object store the next pack is read while this one is repacked; on local disk a
        // read costs no round trip, and the read-ahead would only cost a pack of memory.
        let read_ahead = !self.backend.is_local();
        // Every frame-sized buffer comes from one pool: decode and seal jobs in flight need
        // about 3 each, and recycled, the steady state allocates none (crate::pool says why;
        // measured here: the same peak RSS as fresh buffers, fewer page faults).
        let frame = self.config.compression.frame_target as usize + 2 * self.config.chunker.params.max_size as usize;
        let bufs = BufPool::new(frame, 8 * depth);
        let mut rp = Repacker::new(self, opts.progress.clone(), depth, bufs.clone());
        opts.progress.enter("repacking", take.len() as u64);
        let mut moved = IdSet::default();
        let mut done_packs = Vec::with_capacity(take.len());
        let mut decoding: VecDeque<JoinHandle<Result<Reframed>>> = VecDeque::new();
        let read = |p: Id| tokio::spawn(read_old_pack(self.backend.clone(), p));
        let mut ahead: Option<JoinHandle<Result<Bytes>>> = None;
        for (i, p) in take.iter().enumerate() {
            if opts.deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                if let Some(h) = ahead.take() {
                    h.abort();
                }
                rep.deferred_packs += take.len() - done_packs.len();
                tracing::info!(
                    "compaction stops at its time limit; {} pack(s) wait for the next run",
                    take.len() - done_packs.len()
                );
                break;
            }
            done_packs.push(*p);
            let key = pack_key(p);
            let data = join(ahead.take().unwrap_or_else(|| read(*p)), "reading a pack").await??;
            if read_ahead {
                ahead = take.get(i + 1).map(|q| read(*q));
            }
            Progress::add(&opts.progress.bytes_read, data.len() as u64);
            rp.report.repacked_packs += 1;
            rp.report.repacked_bytes += data.len() as u64;
            for b in blobs_of.remove(p).unwrap_or_default() {
                let (s, e) = (b.offset as usize, b.offset as usize + b.sealed_len as usize);
                let sealed = data.get(s..e).ok_or_else(|| Error::corrupt(format!("{key}: blob outside the pack")))?;
                let live_n = b.chunks.iter().filter(|(id, _)| live.contains(id) && !moved.contains(id)).count();
                if live_n == 0 {
                    continue;
                }
                if live_n == b.chunks.len() {
                    moved.extend(b.chunks.iter().map(|c| c.0));
                    rp.report.blobs_copied += 1;
                    rp.add_sealed(b.kind, sealed, b.raw_len, b.chunks.clone()).await?;
                    continue;
                }
                // Re-frame: keep the live chunks of this frame, in order. Which ones is decided
                // here, in pack order; the decoding runs beside this task.
                let keep: Vec<bool> = b.chunks.iter().map(|(id, _)| live.contains(id) && moved.insert(*id)).collect();
                rp.report.blobs_reframed += 1;
                let what = format!("{key}, blob at offset {}", b.offset);
                // A copy of the sealed blob, so that jobs in flight do not hold whole old packs.
                let mut copy = bufs.take();
                copy.extend_from_slice(sealed);
                let (keys, sealed, bufs) = (self.keys.clone(), bufs.bytes(copy), bufs.clone());
                decoding.push_back(tokio::task::spawn_blocking(move || {
                    reframe_blob(&keys, &bufs, &sealed, &b, &keep, &what)
                }));
                while decoding.len() > depth {
                    let r = join(decoding.pop_front().expect("not empty"), "decoding a blob").await??;
                    add_reframed(&mut rp, r).await?;
                }
            }
            Progress::add(&opts.progress.done, 1);
        }
        while let Some(job) = decoding.pop_front() {
            let r = join(job, "decoding a blob").await??;
            add_reframed(&mut rp, r).await?;
        }
        let (new_index, mut done) = rp.finish().await?;
        opts.progress.enter("index", 0);
        done.index_objects_before = rep.index_objects_before;
        done.deferred_packs = rep.deferred_packs;
        let mut all = files;
        let mut old_keys = old_index;
        if !new_index.packs.is_empty() {
            let id = self.write_index(&new_index).await.map_err(|e| e.context("indexing repacked packs"))?;
            old_keys.push(format!("index/{id}"));
            all.push(new_index);
        }
        // The old packs are marked: a later gc deletes them once nothing can still use them.
        if !done_packs.is_empty() {
            let m = self.write_mark(&done_packs).await?;
            tracing::info!(
                "repacked {} pack(s) into {}; marked the old ones ({})",
                done_packs.len(),
                done.new_packs,
                m.key
            );
        }
        // Locator tables that send pulls to the new packs (the old ones now being marked).
        // Hints: a failure costs pulls a scan of the index, nothing else.
        if !done_packs.is_empty() {
            opts.progress.enter("locators", 0);
            let marked_now: IdSet = marked.iter().chain(&done_packs).copied().collect();
            match self.write_locators(&all, &live, nodes, &IdSet::default(), &marked_now).await {
                Ok((_, n, _)) => done.locator_tables = n,
                Err(e) => tracing::warn!("writing locator tables (pulls scan the index instead): {e}"),
            }
        }
        // Merge the index objects (keeping every pack; gc drops swept ones) when fewer would do.
        let chunks: usize = all.iter().map(|f| f.chunk_count()).sum();
        let needed = chunks.div_ceil(INDEX_OBJECT_CHUNKS).max(1);
        done.index_objects_after = if old_keys.len() > needed {
            self.rewrite_index(all, &old_keys, &IdSet::default()).await?
        } else {
            old_keys.len()
        };
        Ok(done)
    }
}

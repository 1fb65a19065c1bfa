//! The thread stages of the push pipeline (push.rs has the pipeline and its wiring): the dedup
//! thread, which alone decides whether a chunk is new, builds the tree, numbers frames and hands
//! locator records on (repo::push_locators); the compress+seal workers fed through
//! [`FrameSink`]; and the packer, which turns sealed blobs into packs in arrival order.
//!
//! Must not: store anything but the packer's staged pack pieces (the uploader in push.rs stores
//! packs and index objects), or decide anything outside the dedup thread.

use super::Progress;
use super::dedup::DedupSet;
use super::hooks::HookCollector;
use super::push_locators::{EntryAt, RecordBuilder};
use super::stage::cancelled;
use crate::backend::{Backend, StagedObject};
use crate::compress;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::pack::{BlobHeader, BlobKind, PackBuilder, seal_blob_into};
use crate::format::snapshot::SnapshotStats;
use crate::format::tree::TreeBuilder;
use crate::id::Id;
use crate::pool::BufPool;
use bytes::Bytes;
use crossbeam_channel as cb;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) enum Hashed {
    /// Sequence number, and chunks with their ids.
    Batch(u64, Vec<(Id, Bytes)>),
    End(u64),
}

pub(super) struct Sealed {
    kind: BlobKind,
    sealed: Vec<u8>,
    raw_len: u32,
    chunks: Vec<(Id, u32)>,
    /// The frame's number in this push (repo::push_locators).
    frame: u64,
}

pub(super) struct PackOut {
    pub(super) id: Id,
    pub(super) body: PackBody,
    pub(super) len: u64,
    pub(super) blobs: Vec<BlobHeader>,
    /// The frame numbers of `blobs`, in the same order.
    pub(super) frames: Vec<u64>,
}

/// A finished pack: whole in memory, or already written to a staged object.
pub(super) enum PackBody {
    Bytes(Bytes),
    Staged(Box<dyn StagedObject>),
}

/// On a staging backend the packer writes a pack in pieces of at least this many bytes.
const STAGE_PIECE: usize = 1 << 20;

pub(super) struct DedupOut {
    pub(super) root: Id,
    pub(super) size: u64,
    pub(super) stats: SnapshotStats,
    pub(super) hooks: HookCollector,
    /// New nodes that get no locator record (an entry not located).
    pub(super) records_skipped: u64,
}

/// Batches (1 MiB each) whose hooks a push sees before deciding a batch (module docs).
const LOOKAHEAD: u64 = 3;

/// Hands frames to the compress+seal workers, holding a slot per frame in flight.
pub(super) struct FrameSink {
    pub(super) pool: Arc<rayon::ThreadPool>,
    pub(super) keys: Arc<Keys>,
    pub(super) slots: cb::Sender<()>,
    pub(super) out: cb::Sender<Sealed>,
    /// Raw frames (filled by the dedup thread, returned after compression).
    pub(super) raw_bufs: Arc<BufPool>,
    /// Sealed blobs (filled by a worker, returned by the packer once copied into a pack).
    pub(super) sealed_bufs: Arc<BufPool>,
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

/// The packer thread: sealed blobs into packs, in arrival order.
pub(super) struct Packer {
    pub(super) keys: Arc<Keys>,
    pub(super) backend: Arc<dyn Backend>,
    pub(super) pack_target: usize,
    pub(super) progress: Arc<Progress>,
    /// Pack buffers: a whole pack each, or on a staging backend one piece at a time.
    pub(super) pack_bufs: Arc<BufPool>,
    pub(super) sealed_bufs: Arc<BufPool>,
}

impl Packer {
    /// Packs go out through `tx`. On a backend that stages (local disk), each pack is written
    /// to its staged object while it fills, so the end of a push only writes the last piece
    /// and the header; otherwise a pack is built in a pooled buffer and stored whole.
    pub(super) fn run(
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

pub(super) fn dedup_stage(
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
    let mut pending: BTreeMap<u64, Vec<(Id, Bytes)>> = BTreeMap::new();
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
        let new = dedup.insert_if_new(&id).unwrap_or_else(|e| {
            tree_err.get_or_insert(e);
            true
        });
        if new {
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
            Hashed::Batch(seq, v) => {
                pending.insert(seq, v);
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
            let v = pending.remove(&next).expect("checked above");
            let _ = hash_slots.try_recv();
            let mut ids: Vec<Id> = v.iter().map(|c| c.0).collect();
            for k in next + 1..=next + lookahead {
                if let Some(after) = pending.get(&k) {
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
                match dedup.decide(&id)? {
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
    Ok(DedupOut { root, size, stats, hooks, records_skipped: records.skipped })
}

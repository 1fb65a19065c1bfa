//! Repair: rebuild the index from the packs, and rewrite snapshots that lost data.
//!
//! * [`Repository::repair_index`] reads the sealed header of every pack (ranged reads), writes
//!   new index objects covering every pack whose header opens, and only then deletes the old
//!   index objects it listed at the start: an interruption leaves duplicates, never a gap. A
//!   pack whose header does not open is reported and left alone (never deleted); its records
//!   from the old index, if any decode, are carried over so that its data stays readable.
//!   Index entries for packs that do not exist are dropped. It holds the gc lease, so it never
//!   runs beside a garbage collection or compaction (which rewrite the index too); pushes may
//!   run meanwhile (their index objects are written after the listing, and kept).
//! * [`Repository::repair_snapshots`] finds the snapshots whose trees reference chunks or tree
//!   nodes that the repository no longer has (not indexed in a pack that exists, or indexed
//!   with the wrong kind or length) — with `read_data` also those whose chunks are stored but
//!   fail authentication (it then reads every snapshot through, as a pull would) — and
//!   reports the byte ranges lost. With `rewrite`, it
//!   writes for each such snapshot a new one whose stream is the original with every lost
//!   range replaced by zero bytes of the same length (so offsets stay right): it reads the
//!   surviving data (a chunk that fails authentication then counts as lost too), stores the
//!   zero chunks and new tree nodes, and records the loss in the new snapshot's tags —
//!   `repaired`, `repaired-from:<original id>` and one `lost:<offset>+<length>` per range
//!   (docs/format.md §8 has no field for it and readers refuse unknown fields). The new
//!   snapshot's `time` is the original's minus one nanosecond, so it never becomes the latest
//!   of its path while the original exists. With `delete_originals` the damaged originals are
//!   then deleted; never otherwise. Rewriting holds a writer's lease (as a push does) and
//!   refuses to run on an index that lists missing packs or has damaged objects: run
//!   `repair index` first.
//!
//! Memory: `repair_index` holds the index objects being built (≤ 2^16 chunk records, ≈ 3 MiB)
//! and 8 pack headers in flight, plus 32 B per pack the old index lists that does not exist.
//! `repair_snapshots` holds the checked index (≈ 60–90 B per chunk, as a pull), the lost ranges
//! (merged when adjacent), and when rewriting one pack being built (≤ the pack target), 8
//! decoded frames (≤ 1 MiB each) and the tree builder's open nodes.

use super::lease::{Lease, LeaseKind};
use super::read_index::ChunkLoc;
use super::walk::{
    CheckedIndex, Event, NodeSource, Walk, blob_name, cut_piece, decode_index, is_damage, open_frame, pack_id_of_key,
    read_pack_header, read_piece,
};
use super::{Repository, SnapshotEntry, for_each_bounded, pack_key};
use crate::backend::{Backend, ObjectInfo};
use crate::compress;
use crate::crypto::Keys;
use crate::error::{Error, ErrorKind, Result};
use crate::format::index::IndexFile;
use crate::format::pack::{BlobHeader, BlobKind, PackBuilder, seal_blob_into};
use crate::format::snapshot::{SNAPSHOT_MAGIC, Snapshot, SnapshotStats};
use crate::format::tree::TreeBuilder;
use crate::id::{Id, IdMap, IdSet};
use bytes::Bytes;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Pack headers read at once.
const HEADER_READS: usize = 8;
/// Packs per round of header reads (the index being built is flushed between rounds).
const HEADER_BATCH: usize = 64;
/// Chunk records per rebuilt index object.
const INDEX_CHUNKS: usize = 1 << 16;
/// Decoded frames kept while rewriting a snapshot.
const FRAME_CACHE: usize = 8;
/// Longest zero chunk a rewrite stores (longer lost ranges are cut in pieces).
const ZERO_PIECE: u32 = 64 << 10;

/// Options of [`Repository::repair_index`].
#[derive(Debug, Clone, Default)]
pub struct RepairIndexOptions {
    /// Read and report, write and delete nothing.
    pub dry_run: bool,
}

/// A pack whose header does not open.
#[derive(Debug, Clone, Serialize)]
pub struct UnreadablePack {
    /// Its key.
    pub pack: String,
    /// Why.
    pub error: String,
    /// Whether its records were carried over from the old index (its data stays readable).
    pub kept_from_old_index: bool,
}

/// What [`Repository::repair_index`] did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairIndexReport {
    /// Nothing was written or deleted.
    pub dry_run: bool,
    /// Packs listed.
    pub packs: u64,
    /// Packs indexed from their own header.
    pub packs_indexed: u64,
    /// Chunk and tree-node records in the new index.
    pub chunks: u64,
    /// Packs whose header does not open (left alone).
    pub unreadable_packs: Vec<UnreadablePack>,
    /// Packs the old index listed that do not exist (dropped).
    pub dropped_missing_packs: Vec<String>,
    /// Old index objects that were damaged (replaced like the others).
    pub damaged_index_objects: Vec<String>,
    /// New index objects (written, or that would be written).
    pub written: Vec<String>,
    /// Old index objects deleted (or that would be).
    pub deleted: Vec<String>,
    /// Objects under `packs/` that are not named like packs (left alone).
    pub ignored: Vec<String>,
}

/// Options of [`Repository::repair_snapshots`].
#[derive(Debug, Clone, Default)]
pub struct RepairSnapshotsOptions {
    /// Also read every chunk of every snapshot (as a pull would): chunks that are indexed but
    /// fail authentication or their id check count as lost too. Without it, only what the
    /// index and the trees show is found (missing chunks and tree nodes).
    pub read_data: bool,
    /// Write a repaired copy of every damaged snapshot (else only report).
    pub rewrite: bool,
    /// After writing a repaired copy, delete the damaged original.
    pub delete_originals: bool,
}

/// A range of a stream that is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostRange {
    /// Offset in the stream.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Why (of the first chunk or node of the range).
    pub reason: String,
    /// Chunks or subtrees the range merges.
    pub pieces: u64,
}

/// One snapshot that lost data.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotRepair {
    /// Original snapshot id.
    pub id: String,
    /// Its path.
    pub path: String,
    /// Its time.
    pub time: String,
    /// Stream size.
    pub size: u64,
    /// Lost ranges, in stream order (after a rewrite: every range replaced by zeros).
    pub lost: Vec<LostRange>,
    /// Sum of the lost lengths.
    pub lost_bytes: u64,
    /// The repaired snapshot, when one was written.
    pub new_snapshot: Option<String>,
    /// True when the original was deleted.
    pub original_deleted: bool,
    /// Why it was not rewritten, when it was not.
    pub not_rewritten: Option<String>,
}

/// What [`Repository::repair_snapshots`] found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairSnapshotsReport {
    /// Snapshots checked.
    pub snapshots: u64,
    /// Snapshots that lost data.
    pub damaged: Vec<SnapshotRepair>,
    /// Things to know (damaged snapshot objects, a stale index).
    pub notes: Vec<String>,
}

/// Adjacent-merging list of lost ranges.
#[derive(Default)]
struct Lost(Vec<LostRange>);

impl Lost {
    fn push(&mut self, offset: u64, len: u64, reason: impl FnOnce() -> String) {
        if len == 0 {
            return;
        }
        if let Some(last) = self.0.last_mut()
            && last.offset + last.len == offset
        {
            last.len += len;
            last.pieces += 1;
            return;
        }
        self.0.push(LostRange { offset, len, reason: reason(), pieces: 1 });
    }
    fn bytes(&self) -> u64 {
        self.0.iter().map(|r| r.len).sum()
    }
}

/// Why chunk `id` (`len` bytes per the tree) cannot be read, judging by the index.
fn chunk_missing(ci: &CheckedIndex, id: &Id, len: u32) -> Option<String> {
    let Some(loc) = ci.get(id) else {
        return Some(match ci.missing.get(id) {
            Some(m) => format!(
                "chunk {} was in pack {}, which is missing",
                id.short(),
                pack_key(&ci.missing_packs[*m as usize])
            ),
            None => format!("chunk {} is in no index object", id.short()),
        });
    };
    let b = ci.ri.blobs[loc.blob as usize];
    if b.kind != BlobKind::Data {
        return Some(format!(
            "chunk {} is indexed as a tree node ({})",
            id.short(),
            blob_name(&ci.pack_of(&loc), b.offset)
        ));
    }
    if loc.len != len {
        return Some(format!("chunk {} is indexed with {} bytes, the tree says {len}", id.short(), loc.len));
    }
    None
}

/// Tree nodes through the checked index.
struct Nodes<'a> {
    rt: &'a tokio::runtime::Handle,
    backend: &'a Arc<dyn Backend>,
    keys: &'a Keys,
    ci: &'a CheckedIndex,
}

impl NodeSource for Nodes<'_> {
    fn node(&mut self, id: &Id) -> Result<Vec<u8>> {
        let loc = self.ci.get(id).ok_or_else(|| match self.ci.missing.get(id) {
            Some(m) => Error::new(
                ErrorKind::NotFound,
                format!("it was in pack {}, which is missing", pack_key(&self.ci.missing_packs[*m as usize])),
            ),
            None => Error::corrupt("it is in no index object"),
        })?;
        Ok(read_piece(self.rt, self.backend, self.keys, self.ci, id, loc, BlobKind::Tree)?.0)
    }
}

/// The lost ranges of `snap`, judging by the index and the tree (blocking).
fn scan(
    rt: &tokio::runtime::Handle,
    backend: &Arc<dyn Backend>,
    keys: &Keys,
    ci: &CheckedIndex,
    snap: &Snapshot,
) -> Result<Lost> {
    let mut src = Nodes { rt, backend, keys, ci };
    let mut walk = Walk::new(snap.root_id(), snap.size);
    let mut lost = Lost::default();
    while let Some(ev) = walk.next(&mut src)? {
        match ev {
            Event::Chunk { id, len, offset } => {
                if let Some(r) = chunk_missing(ci, &id, len) {
                    lost.push(offset, len as u64, || r);
                }
            }
            Event::Lost { node, offset, len, error } => {
                lost.push(offset, len, || format!("tree node {} is unreadable: {error}", node.short()))
            }
            Event::Enter | Event::Exit { .. } | Event::Skipped => {}
        }
    }
    Ok(lost)
}

/// The new content of a rewritten snapshot.
struct Rewritten {
    root: Id,
    hash: blake3::Hash,
    lost: Lost,
    index: IndexFile,
    stats: SnapshotStats,
}

type Frame = std::result::Result<Arc<Vec<u8>>, String>;

/// Writes one repaired stream: surviving chunks are read and kept, lost ones replaced by
/// zeros; new blobs go to packs (blocking: runs on a thread of its own).
struct Rewriter<'a> {
    rt: &'a tokio::runtime::Handle,
    backend: &'a Arc<dyn Backend>,
    keys: &'a Keys,
    ci: &'a CheckedIndex,
    marked: &'a IdSet,
    pack_target: usize,
    /// False for a dry pass that only finds what is lost.
    write: bool,
    written: IdSet,
    pack: PackBuilder,
    index: IndexFile,
    sealed: Vec<u8>,
    stats: SnapshotStats,
    zero_ids: HashMap<u32, Id>,
    zeros: Vec<u8>,
    frames: Vec<(u32, Frame)>,
}

impl Rewriter<'_> {
    /// Already stored in a pack that is not marked for deletion (or by this rewrite)?
    fn known(&self, id: &Id) -> bool {
        self.written.contains(id) || self.ci.get(id).is_some_and(|loc| !self.marked.contains(&self.ci.pack_of(&loc)))
    }

    fn store(&mut self, kind: BlobKind, raw: &[u8], id: Id) -> Result<()> {
        if !self.write || self.known(&id) {
            return Ok(());
        }
        // Tree nodes are stored raw, as a push stores them; zero runs compress to nothing.
        let frame = compress::encode_vec(raw, if kind == BlobKind::Tree { 0 } else { 3 });
        seal_blob_into(self.keys, &frame[..compress::FRAME_HEADER], &frame[compress::FRAME_HEADER..], &mut self.sealed);
        self.pack.add_sealed(kind, &self.sealed, raw.len() as u32, vec![(id, raw.len() as u32)]);
        self.written.insert(id);
        self.stats.new_chunks += 1;
        self.stats.new_bytes += raw.len() as u64;
        self.stats.stored_bytes += self.sealed.len() as u64;
        if self.pack.len() >= self.pack_target {
            self.flush_pack()?;
        }
        Ok(())
    }

    fn flush_pack(&mut self) -> Result<()> {
        if self.pack.is_empty() {
            return Ok(());
        }
        let (id, bytes, blobs) = std::mem::take(&mut self.pack).finish(self.keys);
        let key = pack_key(&id);
        match self.rt.block_on(self.backend.put_content_addressed(&key, Bytes::from(bytes))) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.context(format!("writing {key}"))),
        }
        self.index.add_pack(id, blobs);
        Ok(())
    }

    /// The decoded frame of blob `blob` (cached; a damaged one is remembered as such).
    fn frame(&mut self, blob: u32) -> Result<Arc<Vec<u8>>> {
        if let Some((_, f)) = self.frames.iter().find(|(b, _)| *b == blob) {
            return f.clone().map_err(Error::corrupt);
        }
        let b = self.ci.ri.blobs[blob as usize];
        let pack = self.ci.ri.packs[b.pack as usize];
        let what = blob_name(&pack, b.offset);
        let r = self
            .rt
            .block_on(self.backend.get_range(&pack_key(&pack), b.offset as u64, b.sealed_len as u64))
            .map_err(|e| e.context(format!("reading {what}")))
            .and_then(|sealed| open_frame(self.keys, &sealed, b.raw_len, &what));
        let f: Frame = match r {
            Ok(raw) => Ok(Arc::new(raw)),
            Err(e) if is_damage(&e) => Err(e.to_string()),
            Err(e) => return Err(e),
        };
        if self.frames.len() >= FRAME_CACHE {
            drop(self.frames.remove(0));
        }
        self.frames.push((blob, f.clone()));
        f.map_err(Error::corrupt)
    }

    fn read_chunk(&mut self, id: &Id, loc: ChunkLoc) -> Result<Vec<u8>> {
        let frame = self.frame(loc.blob)?;
        let b = self.ci.ri.blobs[loc.blob as usize];
        let what = blob_name(&self.ci.pack_of(&loc), b.offset);
        Ok(cut_piece(self.keys, &frame, id, loc, "chunk", &what)?.to_vec())
    }

    fn zero_id(&mut self, len: u32) -> Id {
        let keys = self.keys;
        let zeros = &self.zeros;
        *self.zero_ids.entry(len).or_insert_with(|| keys.chunk_id(&zeros[..len as usize]))
    }

    fn rewrite(&mut self, snap: &Snapshot) -> Result<Rewritten> {
        let (rt, backend, keys, ci) = (self.rt, self.backend, self.keys, self.ci);
        let mut src = Nodes { rt, backend, keys, ci };
        let mut walk = Walk::new(snap.root_id(), snap.size);
        let mut tb = TreeBuilder::new();
        let mut hasher = blake3::Hasher::new();
        let mut lost = Lost::default();
        let mut failed: Option<Error> = None;
        let mut leaves = 0u64;
        // Tree nodes are stored as they are finished; the first storage error stops the rewrite.
        macro_rules! emit {
            () => {
                &mut |node: Vec<u8>| {
                    let id = keys.chunk_id(&node);
                    if failed.is_none()
                        && let Err(e) = self.store(BlobKind::Tree, &node, id)
                    {
                        failed = Some(e);
                    }
                    id
                }
            };
        }
        while let Some(ev) = walk.next(&mut src)? {
            let (offset, len, reason) = match ev {
                Event::Chunk { id, len, offset } => {
                    let why = match chunk_missing(ci, &id, len) {
                        Some(why) => why,
                        None => {
                            let loc = ci.get(&id).expect("checked by chunk_missing");
                            match self.read_chunk(&id, loc) {
                                Ok(bytes) => {
                                    hasher.update(&bytes);
                                    if self.marked.contains(&ci.pack_of(&loc)) {
                                        // Its only copy is marked for deletion: keep one of our own.
                                        self.store(BlobKind::Data, &bytes, id)?;
                                    }
                                    tb.add(id, len, emit!());
                                    leaves += 1;
                                    if let Some(e) = failed.take() {
                                        return Err(e);
                                    }
                                    continue;
                                }
                                Err(e) if is_damage(&e) => e.to_string(),
                                Err(e) => return Err(e),
                            }
                        }
                    };
                    (offset, len as u64, why)
                }
                Event::Lost { node, offset, len, error } => {
                    (offset, len, format!("tree node {} is unreadable: {error}", node.short()))
                }
                Event::Enter | Event::Exit { .. } | Event::Skipped => continue,
            };
            lost.push(offset, len, || reason);
            let mut left = len;
            while left > 0 {
                let piece = left.min(ZERO_PIECE as u64) as u32;
                let zid = self.zero_id(piece);
                hasher.update(&self.zeros[..piece as usize]);
                let zeros = std::mem::take(&mut self.zeros);
                let r = self.store(BlobKind::Data, &zeros[..piece as usize], zid);
                self.zeros = zeros;
                r?;
                tb.add(zid, piece, emit!());
                leaves += 1;
                if let Some(e) = failed.take() {
                    return Err(e);
                }
                left -= piece as u64;
            }
        }
        let root = tb.finish(emit!());
        if let Some(e) = failed.take() {
            return Err(e);
        }
        self.flush_pack()?;
        let mut stats = std::mem::take(&mut self.stats);
        stats.chunks = leaves;
        Ok(Rewritten { root, hash: hasher.finalize(), lost, index: std::mem::take(&mut self.index), stats })
    }
}

/// `time` minus one nanosecond, in RFC 3339.
fn just_before(time: &str) -> String {
    let (s, ns) = crate::time::parse_rfc3339(time).unwrap_or((0, 0));
    let (s, ns) = if ns == 0 { (s - 1, 999_999_999) } else { (s, ns - 1) };
    crate::time::format_unix(s, ns)
}

impl Repository {
    /// Rebuild the index from the pack headers (see the module docs).
    pub async fn repair_index(&self, opts: &RepairIndexOptions) -> Result<RepairIndexReport> {
        if opts.dry_run {
            return self.repair_index_locked(opts).await;
        }
        let (lease, _) = self.acquire_gc_lease("repair index").await?;
        let r = self.repair_index_locked(opts).await;
        if let Err(e) = lease.release().await {
            tracing::warn!("removing the repair's gc lease (it expires by itself): {e}");
        }
        r
    }

    async fn repair_index_locked(&self, opts: &RepairIndexOptions) -> Result<RepairIndexReport> {
        let mut report = RepairIndexReport { dry_run: opts.dry_run, ..Default::default() };
        // Old objects first, packs second: an index object a push writes after this listing
        // is not deleted, and its packs were written before it.
        let old: Vec<ObjectInfo> = self.backend.list("index/").await.map_err(|e| e.context("listing index objects"))?;
        let mut packs = Vec::new();
        for o in self.backend.list("packs/").await.map_err(|e| e.context("listing packs"))? {
            match pack_id_of_key(&o.key) {
                Some(id) => packs.push((id, o.size)),
                None => report.ignored.push(o.key),
            }
        }
        packs.sort();
        report.packs = packs.len() as u64;
        let existing: IdSet = packs.iter().map(|p| p.0).collect();
        let mut unreadable: IdMap<String> = IdMap::default();
        let mut pending = IndexFile::default();
        for batch in packs.chunks(HEADER_BATCH) {
            let mut found = Vec::new();
            let task = |(id, size): (Id, u64)| {
                let (b, k) = (self.backend.clone(), self.keys.clone());
                async move { Ok((id, read_pack_header(&b, &k, &pack_key(&id), size).await)) }
            };
            for_each_bounded(batch.to_vec(), HEADER_READS, task, |r| {
                let (id, r) = r?;
                match r {
                    Ok((blobs, _)) => found.push((id, blobs)),
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        tracing::warn!("{} was deleted while the index was being rebuilt", pack_key(&id));
                    }
                    Err(e) if is_damage(&e) => {
                        unreadable.insert(id, e.to_string());
                    }
                    Err(e) => {
                        return Err(e.context(format!(
                            "reading the header of {} (nothing was deleted; index objects already written only \
                             duplicate entries, which is harmless: run the repair again)",
                            pack_key(&id)
                        )));
                    }
                }
                Ok(())
            })
            .await?;
            found.sort_by_key(|f| f.0);
            for (id, blobs) in found {
                report.packs_indexed += 1;
                pending.add_pack(id, blobs);
            }
            if pending.chunk_count() >= INDEX_CHUNKS {
                self.flush_repaired(&mut pending, &mut report).await?;
            }
        }

        // The old index: what it says about unreadable packs is kept; entries of packs that do
        // not exist are dropped; damaged objects are reported.
        let mut salvage: IdMap<Vec<BlobHeader>> = IdMap::default();
        let mut dropped = IdSet::default();
        {
            let task = |o: ObjectInfo| {
                let (b, k) = (self.backend.clone(), self.keys.clone());
                async move {
                    match b.get(&o.key).await {
                        Ok(bytes) => {
                            let key = o.key.clone();
                            let r = tokio::task::spawn_blocking(move || decode_index(&k, &key, &bytes))
                                .await
                                .map_err(|e| Error::new(ErrorKind::Io, format!("index decode task: {e}")))?;
                            Ok((o.key, Some(r)))
                        }
                        Err(e) if e.kind() == ErrorKind::NotFound => Ok((o.key, None)),
                        Err(e) => Err(e.context(format!("reading {} (nothing was deleted)", o.key))),
                    }
                }
            };
            for_each_bounded(old.clone(), HEADER_READS, task, |r| {
                let (key, r) = r?;
                match r {
                    None => {}
                    Some(Err(_)) => report.damaged_index_objects.push(key),
                    Some(Ok(f)) => {
                        for (p, b) in f.blobs {
                            let pack = f.packs[p as usize];
                            if unreadable.contains_key(&pack) {
                                let v = salvage.entry(pack).or_default();
                                if !v.iter().any(|x| x.offset == b.offset) {
                                    v.push(b);
                                }
                            }
                        }
                        dropped.extend(f.packs.iter().filter(|p| !existing.contains(*p)).copied());
                    }
                }
                Ok(())
            })
            .await?;
        }
        let mut dropped: Vec<Id> = dropped.into_iter().collect();
        dropped.sort();
        report.dropped_missing_packs = dropped.iter().map(pack_key).collect();
        let mut bad: Vec<(Id, String)> = unreadable.into_iter().collect();
        bad.sort();
        for (id, error) in bad {
            let kept = match salvage.remove(&id) {
                Some(mut blobs) => {
                    blobs.sort_by_key(|b| b.offset);
                    pending.add_pack(id, blobs);
                    true
                }
                None => false,
            };
            report.unreadable_packs.push(UnreadablePack { pack: pack_key(&id), error, kept_from_old_index: kept });
        }
        self.flush_repaired(&mut pending, &mut report).await?;

        // Only now the old objects go.
        let stale: Vec<String> = old.into_iter().map(|o| o.key).filter(|k| !report.written.contains(k)).collect();
        if !opts.dry_run {
            self.backend.delete_many(&stale).await.map_err(|e| {
                e.context("deleting the old index objects (the new ones are written: run the repair again to finish)")
            })?;
        }
        report.deleted = stale;
        report.damaged_index_objects.sort();
        Ok(report)
    }

    async fn flush_repaired(&self, pending: &mut IndexFile, report: &mut RepairIndexReport) -> Result<()> {
        if pending.packs.is_empty() {
            return Ok(());
        }
        let f = std::mem::take(pending);
        report.chunks += f.chunk_count() as u64;
        if report.dry_run {
            report.written.push(format!("index/(new object {})", report.written.len() + 1));
            return Ok(());
        }
        let id = self
            .write_index(&f)
            .await
            .map_err(|e| e.context("writing a rebuilt index object (nothing was deleted; run the repair again)"))?;
        report.written.push(format!("index/{id}"));
        Ok(())
    }

    /// Find snapshots that lost data and, with `rewrite`, write repaired copies (see the
    /// module docs).
    pub async fn repair_snapshots(&self, opts: &RepairSnapshotsOptions) -> Result<RepairSnapshotsReport> {
        if opts.delete_originals && !opts.rewrite {
            return Err(Error::invalid("deleting originals needs rewriting them first (--rewrite-damaged)"));
        }
        if !opts.rewrite {
            return self.repair_snapshots_leased(opts, None).await;
        }
        let lease = self.acquire_lease(LeaseKind::Push, "(repair snapshots)").await?;
        let r = self.repair_snapshots_leased(opts, Some(&lease)).await;
        if let Err(e) = lease.release().await {
            tracing::warn!("removing the repair's lease (it expires by itself): {e}");
        }
        r
    }

    async fn repair_snapshots_leased(
        &self,
        opts: &RepairSnapshotsOptions,
        lease: Option<&Lease>,
    ) -> Result<RepairSnapshotsReport> {
        let mut report = RepairSnapshotsReport::default();
        let marked = self.marked_packs().await.map_err(|e| e.context("reading deletion marks"))?;
        // Listed in the reverse of the order writers store them (packs, index, snapshot), so
        // that whatever a listed snapshot needs is in the later listings: a snapshot committed
        // meanwhile must never look damaged.
        let snap_objs = self.backend.list("snapshots/").await?;
        let index_objs = self.backend.list("index/").await?;
        let existing: IdSet =
            self.backend.list("packs/").await?.iter().filter_map(|o| pack_id_of_key(&o.key)).collect();
        let ci = self.load_index_checked(index_objs, &existing, &marked, |_, _| {}).await?;
        if !ci.damaged.is_empty() || !ci.missing_packs.is_empty() {
            let mut what = Vec::new();
            if !ci.damaged.is_empty() {
                what.push(format!("{} damaged index object(s) ({})", ci.damaged.len(), ci.damaged[0].0));
            }
            if !ci.missing_packs.is_empty() {
                what.push(format!(
                    "entries for {} pack(s) that do not exist ({})",
                    ci.missing_packs.len(),
                    pack_key(&ci.missing_packs[0])
                ));
            }
            let msg = format!(
                "the index has {}: run `kando repository repair index` first, so that pulls of repaired snapshots do \
                 not look for them",
                what.join(" and ")
            );
            if opts.rewrite {
                return Err(Error::corrupt(msg));
            }
            report.notes.push(msg);
        }

        let mut snaps: Vec<SnapshotEntry> = Vec::new();
        for o in snap_objs {
            let Ok(id) = Id::from_hex(o.key.trim_start_matches("snapshots/")) else { continue };
            match self.load_snapshot(&id).await {
                Ok(snapshot) => snaps.push(SnapshotEntry { id, snapshot }),
                Err(e) if is_damage(&e) => {
                    report.notes.push(format!("{} cannot be repaired: its own object is damaged or gone ({e})", o.key))
                }
                Err(e) => return Err(e),
            }
        }
        snaps.sort_by(|a, b| a.snapshot.time_key().cmp(&b.snapshot.time_key()).then(a.id.cmp(&b.id)));
        report.snapshots = snaps.len() as u64;
        // Originals already repaired by an earlier run → their repaired copy.
        let repaired_from: HashMap<String, String> = snaps
            .iter()
            .flat_map(|s| {
                s.snapshot
                    .tags
                    .iter()
                    .filter_map(|t| t.strip_prefix("repaired-from:"))
                    .map(|o| (o.to_string(), s.id.to_hex()))
            })
            .collect();

        let ci = Arc::new(ci);
        let rt = tokio::runtime::Handle::current();
        for s in snaps {
            let earlier = repaired_from.get(&s.id.to_hex()).cloned();
            // With data reading, one pass finds the loss and (when asked to) writes the copy.
            let write_now = opts.rewrite && earlier.is_none();
            let (lost, mut pass) = if opts.read_data {
                let p = self.rewrite_pass(&s, &ci, &marked, write_now).await?;
                (Lost(p.lost.0.clone()), Some(p))
            } else {
                let (rt2, backend, keys, ci2, snap) =
                    (rt.clone(), self.backend.clone(), self.keys.clone(), ci.clone(), s.snapshot.clone());
                let lost = tokio::task::spawn_blocking(move || scan(&rt2, &backend, &keys, &ci2, &snap))
                    .await
                    .map_err(|e| Error::new(ErrorKind::Io, format!("snapshot scan task: {e}")))??;
                (lost, None)
            };
            if lost.0.is_empty() {
                continue;
            }
            let mut entry = SnapshotRepair {
                id: s.id.to_hex(),
                path: s.snapshot.path.clone(),
                time: s.snapshot.time.clone(),
                size: s.snapshot.size,
                lost_bytes: lost.bytes(),
                lost: lost.0,
                new_snapshot: None,
                original_deleted: false,
                not_rewritten: None,
            };
            if let (true, Some(copy)) = (opts.rewrite, earlier) {
                // Repaired by an earlier run: do not write a second copy.
                entry.not_rewritten = Some(format!("already repaired as snapshot {}", &copy[..8]));
                entry.new_snapshot = Some(copy);
                if opts.delete_originals {
                    self.delete_snapshot(&s.id).await?;
                    entry.original_deleted = true;
                }
            } else if opts.rewrite {
                if entry.lost_bytes >= s.snapshot.size {
                    entry.not_rewritten = Some("every byte of it is lost: there is nothing left to keep".into());
                } else {
                    let new = match pass.take() {
                        Some(p) => p,
                        None => self.rewrite_pass(&s, &ci, &marked, true).await?,
                    };
                    self.commit_repaired(&s, new, lease, opts, &mut entry).await?;
                }
            }
            report.damaged.push(entry);
        }
        Ok(report)
    }

    /// Read snapshot `s` through, finding what is lost; with `write`, store the zero chunks and
    /// tree nodes of its repaired copy (blocking work on a thread of its own).
    async fn rewrite_pass(
        &self,
        s: &SnapshotEntry,
        ci: &Arc<CheckedIndex>,
        marked: &IdSet,
        write: bool,
    ) -> Result<Rewritten> {
        let (rt, backend, keys, ci2, snap, marked2) = (
            tokio::runtime::Handle::current(),
            self.backend.clone(),
            self.keys.clone(),
            ci.clone(),
            s.snapshot.clone(),
            marked.clone(),
        );
        let pack_target = self.config.pack_target as usize;
        tokio::task::spawn_blocking(move || {
            let mut w = Rewriter {
                rt: &rt,
                backend: &backend,
                keys: &keys,
                ci: &ci2,
                marked: &marked2,
                pack_target,
                write,
                written: IdSet::default(),
                pack: PackBuilder::default(),
                index: IndexFile::default(),
                sealed: Vec::new(),
                stats: SnapshotStats::default(),
                zero_ids: HashMap::new(),
                zeros: vec![0u8; ZERO_PIECE as usize],
                frames: Vec::new(),
            };
            w.rewrite(&snap)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("snapshot rewrite task: {e}")))?
        .map_err(|e| e.context(format!("reading snapshot {}", s.id.short())))
    }

    /// Write the index and the snapshot object of a repaired copy.
    async fn commit_repaired(
        &self,
        s: &SnapshotEntry,
        new: Rewritten,
        lease: Option<&Lease>,
        opts: &RepairSnapshotsOptions,
        entry: &mut SnapshotRepair,
    ) -> Result<()> {
        if !new.index.packs.is_empty() {
            self.write_index(&new.index).await.map_err(|e| e.context("writing the index of a repaired snapshot"))?;
        }
        let mut tags = s.snapshot.tags.clone();
        let mut tag = |t: String| {
            if !tags.contains(&t) {
                tags.push(t);
            }
        };
        tag("repaired".into());
        tag(format!("repaired-from:{}", s.id));
        for r in &new.lost.0 {
            tag(format!("lost:{}+{}", r.offset, r.len));
        }
        let snap = Snapshot {
            version: 1,
            path: s.snapshot.path.clone(),
            tags,
            time: just_before(&s.snapshot.time),
            hostname: s.snapshot.hostname.clone(),
            size: s.snapshot.size,
            blake3: new.hash.to_hex().to_string(),
            root: new.root.to_hex(),
            stats: new.stats,
            program: format!("kando {} (repair snapshots)", env!("CARGO_PKG_VERSION")),
        };
        if let Some(l) = lease {
            l.check_continuous().await?;
        }
        let obj = self.seal_meta(SNAPSHOT_MAGIC, &snap.to_json());
        let id = self.put_named("snapshots", obj).await.map_err(|e| e.context("writing a repaired snapshot"))?;
        tracing::info!(
            "snapshot {} repaired as {} ({} bytes replaced by zeros)",
            s.id.short(),
            id.short(),
            new.lost.bytes()
        );
        entry.lost_bytes = new.lost.bytes();
        entry.lost = new.lost.0;
        entry.new_snapshot = Some(id.to_hex());
        if opts.delete_originals {
            self.delete_snapshot(&s.id).await.map_err(|e| {
                e.context(format!(
                    "deleting the original of repaired snapshot {} (the repaired copy is written)",
                    id.short()
                ))
            })?;
            entry.original_deleted = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_ranges_merge_when_adjacent() {
        let mut l = Lost::default();
        l.push(0, 10, || "a".into());
        l.push(10, 5, || "b".into());
        l.push(20, 5, || "c".into());
        l.push(25, 0, || "empty".into());
        assert_eq!(l.0.len(), 2);
        assert_eq!((l.0[0].offset, l.0[0].len, l.0[0].pieces, l.0[0].reason.as_str()), (0, 15, 2, "a"));
        assert_eq!(l.bytes(), 20);
    }

    #[test]
    fn a_repaired_snapshot_sorts_just_before_its_original() {
        let t = "2026-11-23T02:00:00.000000000Z";
        let b = just_before(t);
        assert_eq!(b, "2026-11-23T01:59:59.999999999Z");
        assert!(crate::time::parse_rfc3339(&b).unwrap() < crate::time::parse_rfc3339(t).unwrap());
        assert_eq!(just_before("2026-11-23T02:00:00.5Z"), "2026-11-23T02:00:00.499999999Z");
    }
}

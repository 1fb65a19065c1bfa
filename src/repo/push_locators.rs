//! Locator records written by a push (docs/format.md §15): the tree nodes a push stores are
//! covered as soon as its snapshot is, so a pull of the newest snapshot needs no index scan
//! before the next gc rewrites the tables.
//!
//! The dedup thread knows, for every entry of a leaf it builds, either the frame of this push
//! that holds it (it numbers frames as it makes them) and the chunk's offset in that frame, or,
//! for a chunk a source already stored, the source leaf's record ([`StoredAt`]). For every new
//! tree node it sends one [`Pending`] record; the uploader resolves frame numbers to pack
//! locations as packs are stored ([`RecordResolver::stored`]) and keeps the records encoded.
//! They are written as one locator table together with the snapshot, between the two checks
//! that the push's lease never lapsed, and deleted with it if the second check fails: a gc that
//! deletes packs waits for that lease (or finds it dead only after the push stalled, which the
//! checks catch), then replaces every table it lists (gc.rs), so the rule "no table outlives a
//! pack it names" holds as for gc's own tables. That rule is a safety rule, not only a hint's
//! freshness: a later push counts a chunk that a usable record locates as having a copy outside
//! the packs marked for deletion (repo::cursor).
//!
//! A leaf with an entry located neither way gets no record, and pulls locate its chunks by
//! scanning, as before, until the next gc: a copy this push stored itself (its dedup window
//! keeps ids, not places), a source leaf without a usable record, a resumed push's chunk. So
//! do the records beyond [`MAX_RECORD_BYTES`] and those that wait too long for their packs.
//!
//! Memory: the encoded records (~6.5 B per entry of a new leaf, ~100 B per node), at most
//! [`MAX_RECORD_BYTES`]; the pack locations of the frames a record still to come may name
//! (~50 B each; frames older than the data frame still filling when the last finished record
//! was sent are forgotten, so about the pipeline's depth); the pack list (32 B per pack); and
//! at most [`MAX_WAITING`] records (~16 B per entry) waiting for their packs, plus as many in
//! the channel.
//!
//! Must not: name a pack that neither this push stored nor a usable source record names, or
//! decide anything about this push's dedup (records are written only after the decisions).

use super::cursor::StoredAt;
use super::locators::LOC_MAGIC;
use crate::crypto::Keys;
use crate::format::locator::{LocBlob, Locator};
use crate::format::pack::BlobHeader;
use crate::format::table::TableWriter;
use crate::id::Id;
use crossbeam_channel as cb;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Encoded record bytes a push keeps; the nodes after them get none (~5 M entries: ~40 GB of
/// new leaves of 8 KiB chunks, far more than a nightly incremental changes).
pub(crate) const MAX_RECORD_BYTES: usize = 32 << 20;
/// Records waiting for their packs, or sent and not yet taken, at most (a pack of new data
/// usually arrives within a few leaves; a push that finds almost everything stored may go
/// gigabytes between packs, and its records beyond this get none).
pub(crate) const MAX_WAITING: usize = 1024;

/// Where one entry of a leaf a push builds is.
pub(crate) enum EntryAt {
    /// In frame `frame` of this push, at `inner` in its decoded bytes.
    New { frame: u64, inner: u32 },
    /// Entry `pos` of a source leaf's record.
    Stored(Arc<Locator>, u16),
}

/// A new node's record before its frames are in packs.
pub(crate) struct Pending {
    node: Id,
    /// The frame holding the node (a tree blob holds one node).
    frame: u64,
    /// A leaf's entries, in order; empty for an inner node.
    entries: Vec<EntryAt>,
    /// No record sent after this one names a frame below it (see [`RecordBuilder::node`]).
    floor: u64,
}

/// The dedup thread's side: entries of the leaf being built, and the sender of records.
pub(crate) struct RecordBuilder {
    entries: Vec<EntryAt>,
    located: bool,
    /// The frame of the latest new chunk: the data frame still filling, or one already made.
    last_new: Option<u64>,
    tx: cb::Sender<Pending>,
    /// Records not sent (an entry not located, or too many waiting).
    pub(crate) skipped: u64,
}

impl RecordBuilder {
    /// The next chunk of the stream, in order: where it is, if known.
    pub(crate) fn entry(&mut self, at: Option<EntryAt>) {
        if let Some(EntryAt::New { frame, .. }) = &at {
            self.last_new = Some(*frame);
        }
        match at {
            Some(e) if self.located => self.entries.push(e),
            _ => {
                self.located = false;
                self.entries.clear();
            }
        }
    }

    /// Where a stored chunk is, from the dedup decision (`None`: not known).
    pub(crate) fn stored(&mut self, at: StoredAt) {
        self.entry(at.map(|(r, pos)| EntryAt::Stored(r, pos)));
    }

    /// A node was made. `stored_in`: the frame of this push holding it, if it stored it (a node
    /// already stored has a record already, or never will from this push). A leaf takes the
    /// entries given since the previous leaf.
    pub(crate) fn node(&mut self, id: Id, leaf: bool, stored_in: Option<u64>) {
        let entries = if leaf {
            let located = std::mem::replace(&mut self.located, true);
            let e = std::mem::take(&mut self.entries);
            if !located {
                self.skipped += stored_in.is_some() as u64;
                return;
            }
            e
        } else {
            Vec::new()
        };
        let Some(frame) = stored_in else { return };
        // Later leaves name the data frame still filling (the latest new chunk's) or frames not
        // made yet; later nodes' own frames come after this one's. Older frames are done with.
        let floor = self.last_new.map_or(frame + 1, |f| f.min(frame + 1));
        if self.tx.len() >= MAX_WAITING || self.tx.send(Pending { node: id, frame, entries, floor }).is_err() {
            self.skipped += 1;
        }
    }
}

/// The uploader's side: frame locations, records waiting for them, and finished records.
pub(crate) struct RecordResolver {
    rx: cb::Receiver<Pending>,
    packs: Vec<Id>,
    /// Frame → (pack position in `packs`, offset, sealed length, decoded length), for the frames
    /// a record not finished yet may name.
    frames: BTreeMap<u64, (u32, u32, u32, u32)>,
    /// Frames below this are named by no record still to come.
    floor: u64,
    waiting: VecDeque<Pending>,
    records: Vec<(Id, Vec<u8>)>,
    bytes: usize,
    /// Records dropped here (waited too long, or beyond [`MAX_RECORD_BYTES`]).
    pub(crate) dropped: u64,
}

/// `id`'s position in a record's pack list (added if missing; a record names few packs).
fn pack_pos(packs: &mut Vec<Id>, id: Id) -> u16 {
    match packs.iter().position(|p| *p == id) {
        Some(i) => i as u16,
        None => {
            packs.push(id);
            (packs.len() - 1) as u16
        }
    }
}

/// A connected builder and resolver.
pub(crate) fn records() -> (RecordBuilder, RecordResolver) {
    let (tx, rx) = cb::unbounded();
    (
        RecordBuilder { entries: Vec::new(), located: true, last_new: None, tx, skipped: 0 },
        RecordResolver {
            rx,
            packs: Vec::new(),
            frames: BTreeMap::new(),
            floor: 0,
            waiting: VecDeque::new(),
            records: Vec::new(),
            bytes: 0,
            dropped: 0,
        },
    )
}

impl RecordResolver {
    /// Pack `pack` is stored, holding frames `frames` as its blobs `blobs` (same order).
    pub(crate) fn stored(&mut self, pack: Id, frames: &[u64], blobs: &[BlobHeader]) {
        let p = self.packs.len() as u32;
        self.packs.push(pack);
        for (f, b) in frames.iter().zip(blobs).filter(|(f, _)| **f >= self.floor) {
            self.frames.insert(*f, (p, b.offset, b.sealed_len, b.raw_len));
        }
        self.resolve();
    }

    /// Take the records sent so far and finish every one whose frames are all stored, in
    /// order.
    pub(crate) fn resolve(&mut self) {
        while let Ok(r) = self.rx.try_recv() {
            self.waiting.push_back(r);
        }
        while let Some(front) = self.waiting.front() {
            match self.locate(front) {
                Some(l) => {
                    let r = self.waiting.pop_front().expect("front exists");
                    self.forget_below(r.floor);
                    let v = l.encode();
                    if self.bytes + v.len() + 32 > MAX_RECORD_BYTES {
                        self.dropped += 1;
                        continue;
                    }
                    self.bytes += v.len() + 32;
                    self.records.push((r.node, v));
                }
                None if self.waiting.len() > MAX_WAITING => {
                    let r = self.waiting.pop_front().expect("front exists");
                    self.forget_below(r.floor);
                    self.dropped += 1;
                }
                None => break,
            }
        }
    }

    /// Records from now on name no frame below `floor`: their locations go.
    fn forget_below(&mut self, floor: u64) {
        self.floor = self.floor.max(floor);
        while let Some(e) = self.frames.first_entry() {
            if *e.key() >= self.floor {
                break;
            }
            e.remove();
        }
    }

    /// The record of `r`, or `None` while a frame it needs is not in a stored pack.
    fn locate(&self, r: &Pending) -> Option<Locator> {
        let mut l = Locator::default();
        l.node = self.frame_blob(r.frame, &mut l.packs)?;
        let mut last: Option<(LocBlob, u16)> = None;
        for e in &r.entries {
            let (blob, inner) = match e {
                EntryAt::New { frame, inner } => (self.frame_blob(*frame, &mut l.packs)?, *inner),
                EntryAt::Stored(rec, pos) => {
                    let (b, inner) = *rec.entries.get(*pos as usize)?;
                    let src = *rec.blobs.get(b as usize)?;
                    let pack = pack_pos(&mut l.packs, *rec.packs.get(src.pack as usize)?);
                    (LocBlob { pack, ..src }, inner)
                }
            };
            let b = match last {
                Some((lb, i)) if lb == blob => i,
                _ => match l.blobs.iter().position(|x| *x == blob) {
                    Some(i) => i as u16,
                    None => {
                        l.blobs.push(blob);
                        (l.blobs.len() - 1) as u16
                    }
                },
            };
            last = Some((blob, b));
            l.entries.push((b, inner));
        }
        Some(l)
    }

    /// Frame `f` as a blob of a record whose pack list is `packs`, once its pack is stored.
    fn frame_blob(&self, f: u64, packs: &mut Vec<Id>) -> Option<LocBlob> {
        let &(p, offset, sealed_len, raw_len) = self.frames.get(&f)?;
        Some(LocBlob { pack: pack_pos(packs, self.packs[p as usize]), offset, sealed_len, raw_len })
    }

    /// Records finished.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// The finished records as one locator table object (`None`: no record).
    pub(crate) fn into_table(mut self, keys: &Keys) -> Option<Vec<u8>> {
        if self.records.is_empty() {
            return None;
        }
        self.records.sort_unstable_by_key(|r| r.0);
        self.records.dedup_by_key(|r| r.0);
        let mut w = TableWriter::new(LOC_MAGIC, 32);
        for (id, v) in &self.records {
            w.add(keys, &id.0, v);
        }
        Some(w.finish(keys).0)
    }
}

impl super::Repository {
    /// Seal a push's records as one locator table, to be stored with its snapshot, between the
    /// same lease checks (module docs); `None` if there is none.
    pub(crate) async fn seal_push_locators(&self, resolver: RecordResolver, skipped: u64) -> Option<PushTable> {
        let (records, dropped) = (resolver.len(), resolver.dropped);
        let obj = resolver.into_table(&self.keys)?;
        Some(PushTable { name: Id::of_bytes(&obj), obj, records, without: skipped + dropped })
    }

    /// Store the table [`Self::seal_push_locators`] made (a failure costs the pulls of this
    /// snapshot an index scan until the next gc, and is logged).
    pub(crate) async fn put_push_locators(&self, table: Option<PushTable>) {
        let Some(t) = table else { return };
        match self.put_named(super::locators::LOC_PREFIX.trim_end_matches('/'), t.obj).await {
            Ok(name) => {
                tracing::debug!(
                    "locator records of this push: {} in locs/{}, {} node(s) without",
                    t.records,
                    name.short(),
                    t.without
                )
            }
            Err(e) => tracing::warn!(
                "writing this push's locator table (pulls of this snapshot scan the index until the next gc): {e}"
            ),
        }
    }
}

/// A push's sealed locator table, waiting to be stored with its snapshot.
pub(crate) struct PushTable {
    /// Its object name (the BLAKE3 of `obj`), known before it is written so that a push that
    /// commits nothing can delete it even if the write's answer was lost.
    name: Id,
    obj: Vec<u8>,
    records: usize,
    without: u64,
}

impl PushTable {
    /// Its key in the store.
    pub(crate) fn key(&self) -> String {
        format!("{}{}", super::locators::LOC_PREFIX, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::pack::BlobKind;

    fn blob(offset: u32) -> BlobHeader {
        BlobHeader { kind: BlobKind::Data, offset, sealed_len: 10, raw_len: 100, chunks: Vec::new() }
    }

    fn record(r: &RecordResolver, node: u8) -> Locator {
        let (_, v) = r.records.iter().find(|(id, _)| *id == Id([node; 32])).expect("record");
        Locator::decode(v).unwrap()
    }

    #[test]
    fn records_are_finished_in_order_once_their_frames_are_stored_and_then_forget_old_frames() {
        let (mut b, mut r) = records();
        let src = Arc::new(Locator {
            packs: vec![Id([9; 32])],
            node: LocBlob::default(),
            blobs: vec![LocBlob { pack: 0, offset: 7, sealed_len: 3, raw_len: 30 }],
            entries: vec![(0, 11)],
        });
        // Leaf 1: two new chunks in data frame 0 and one a source stored; its node in frame 1.
        b.entry(Some(EntryAt::New { frame: 0, inner: 0 }));
        b.entry(Some(EntryAt::New { frame: 0, inner: 50 }));
        b.stored(Some((src.clone(), 0)));
        b.node(Id([1; 32]), true, Some(1));
        // Leaf 2: one entry not located (a copy this push stored, say): no record.
        b.entry(Some(EntryAt::New { frame: 2, inner: 0 }));
        b.stored(None);
        b.node(Id([2; 32]), true, Some(3));
        // Leaf 3 was already stored (same node as a source's): nothing to write.
        b.entry(Some(EntryAt::New { frame: 2, inner: 60 }));
        b.node(Id([4; 32]), true, None);
        // The root, an inner node, in frame 5.
        b.node(Id([3; 32]), false, Some(5));
        assert_eq!(b.skipped, 1);

        // The tree frames' pack first: leaf 1 still waits for frame 0, and the root after it.
        r.stored(Id([10; 32]), &[1, 3, 5], &[blob(0), blob(10), blob(20)]);
        assert_eq!(r.len(), 0);
        r.stored(Id([11; 32]), &[0, 2], &[blob(0), blob(10)]);
        assert_eq!(r.len(), 2);
        let leaf = record(&r, 1);
        assert_eq!(leaf.packs, vec![Id([10; 32]), Id([11; 32]), Id([9; 32])]);
        assert_eq!(leaf.node, LocBlob { pack: 0, offset: 0, sealed_len: 10, raw_len: 100 });
        assert_eq!(
            leaf.blobs,
            vec![
                LocBlob { pack: 1, offset: 0, sealed_len: 10, raw_len: 100 },
                LocBlob { pack: 2, offset: 7, sealed_len: 3, raw_len: 30 }
            ]
        );
        assert_eq!(leaf.entries, vec![(0, 0), (0, 50), (1, 11)]);
        let root = record(&r, 3);
        assert_eq!((root.packs, root.node.offset, root.entries.len()), (vec![Id([10; 32])], 20, 0));
        // After the root, records still to come may name only data frame 2 (still filling when
        // it was sent) and later frames.
        assert_eq!(r.frames.keys().copied().collect::<Vec<_>>(), vec![2, 3, 5]);
        let table = r.into_table(&crate::crypto::MasterKey::from_bytes([7u8; 32]).derive()).unwrap();
        assert!(!table.is_empty());
    }

    /// verify checks push-written records against the index: a record that points at the
    /// wrong place (one offset changed, resealed with the right keys) is named.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verify_names_a_record_that_points_where_the_index_lists_no_such_blob() {
        use crate::backend::{Backend, memory::MemoryBackend};
        use crate::format::table::{TableWriter, open_table};
        use crate::repo::verify::{ProblemKind, VerifyOptions, VerifyProgress};
        use crate::repo::{InitOptions, PushOptions, Repository};
        let be: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let init = InitOptions { kdf: crate::crypto::keyfile::KdfParams::insecure_fast(), ..InitOptions::default() };
        let repo = Repository::init(be.clone(), b"pw", &init).await.unwrap();
        let opts = PushOptions { path: "p".into(), ..PushOptions::default() };
        let data = crate::testdata::text(3 << 20, 3);
        repo.push(Box::new(std::io::Cursor::new(data)), &opts, Arc::default()).await.unwrap();
        let verify = || async {
            repo.verify(&VerifyOptions::default(), Arc::new(VerifyProgress::default())).await.unwrap().problems
        };
        assert!(verify().await.is_empty());
        let tables = be.list("locs/").await.unwrap();
        assert_eq!(tables.len(), 1);
        let bytes = be.get(&tables[0].key).await.unwrap();
        let (_, blocks) = open_table(&repo.keys, LOC_MAGIC, &bytes).unwrap();
        let mut w = TableWriter::new(LOC_MAGIC, 32);
        for (i, (k, v)) in blocks.iter().flat_map(|b| b.iter()).enumerate() {
            let mut l = Locator::decode(v).unwrap();
            if i == 0 {
                l.node.offset += 1;
            }
            w.add(&repo.keys, k, &l.encode());
        }
        be.delete(&tables[0].key).await.unwrap();
        repo.put_named("locs", w.finish(&repo.keys).0).await.unwrap();
        let problems = verify().await;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].kind, ProblemKind::LocatorTable);
        assert!(problems[0].detail.contains("header lists no such blob"), "{}", problems[0].detail);
    }

    #[test]
    fn records_that_wait_too_long_are_dropped_and_the_builder_stops_sending_when_full() {
        let (mut b, mut r) = records();
        for i in 0..(MAX_WAITING + 10) as u64 {
            b.entry(Some(EntryAt::New { frame: 0, inner: i as u32 }));
            b.node(Id::of_bytes(&i.to_le_bytes()), true, Some(i + 1));
        }
        assert_eq!(b.skipped, 10, "the channel holds at most MAX_WAITING");
        // Frame 0 never comes: the resolver keeps MAX_WAITING waiting, then drops the oldest.
        r.resolve();
        assert_eq!((r.len(), r.waiting.len(), r.dropped), (0, MAX_WAITING, 0));
        for i in 0..5u64 {
            b.entry(Some(EntryAt::New { frame: 0, inner: 0 }));
            b.node(Id::of_bytes(&(10_000 + i).to_le_bytes()), true, Some(10_000 + i));
        }
        r.resolve();
        assert_eq!((r.waiting.len(), r.dropped), (MAX_WAITING, 5));
    }
}

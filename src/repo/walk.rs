//! Reading a damaged repository without stopping at the first problem: the pieces that
//! `verify` and `repair` share.
//!
//! * [`Walk`]: a depth-first walk of a snapshot's tree that, unlike
//!   [`TreeWalker`](crate::format::tree::TreeWalker), does not stop at a node it cannot read
//!   or that fails a check (missing, damaged, wrong level, wrong byte count): it reports the
//!   bytes that node covers as [`Event::Lost`] and goes on with the next entry, so every
//!   later offset stays right.
//! * [`Repository::load_index_checked`]: every index object that decodes, with damaged ones
//!   and packs that the index lists but the backend does not have reported instead of
//!   failing the whole load.
//! * [`read_pack_header`] (two ranged reads at the end of a pack) and [`read_piece`] (one
//!   chunk or tree node, authenticated and checked against its id).
//!
//! This module never writes or deletes anything. "Damage" means an error of kind
//! [`ErrorKind::Corrupt`] or [`ErrorKind::NotFound`]; any other error (storage down,
//! permission refused) is returned, so that a check never passes for want of reading.
//!
//! Memory: the walk holds the node stack (at most 9 nodes, one per level, of ≤ 4096 entries:
//! ≈ 1.3 MiB); the checked index is a [`ReadIndex`] (≈ 60–90 B per chunk) plus 36 B per chunk
//! of packs that are missing.

use super::read_index::{ChunkLoc, ReadIndex};
use super::{Repository, for_each_bounded, open_meta, pack_key};
use crate::backend::{Backend, ObjectInfo};
use crate::compress;
use crate::crypto::Keys;
use crate::error::{Error, ErrorKind, Result};
use crate::format::index::{INDEX_MAGIC, IndexFile};
use crate::format::pack::{BlobHeader, BlobKind, TRAILER_LEN, open_blob, read_header_from_tail, tail_len};
use crate::format::tree::Node;
use crate::id::{Id, IdMap, IdSet};
use std::sync::Arc;

/// First read at the end of a pack: enough for the header of a full 16 MiB pack of small
/// chunks in one request (as in `recover`).
const TAIL_GUESS: u64 = 256 << 10;

/// Index objects decoded at once.
const INDEX_READS: usize = 8;

/// True for errors that mean "this object is damaged or gone", as opposed to "we could not
/// ask" (transient storage trouble, permissions): only the former may become a reported
/// problem; the latter must fail the operation.
pub(crate) fn is_damage(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::NotFound)
}

/// What the walk found next.
#[derive(Debug)]
pub(crate) enum Event {
    /// A node was read and passed its checks; its entries follow, then [`Event::Exit`].
    Enter,
    /// The subtree of node `id` (entered earlier) is done: it has `level` and covers `covered`
    /// bytes.
    Exit { id: Id, level: u8, covered: u64 },
    /// A leaf entry: chunk `id` of `len` bytes at stream offset `offset`.
    Chunk { id: Id, len: u32, offset: u64 },
    /// A subtree was skipped because [`NodeSource::skip`] said it is known to be good.
    Skipped,
    /// Node `id` could not be read or failed a check: the `len` bytes it covers, at `offset`,
    /// are lost. The walk continues after it.
    Lost { node: Id, offset: u64, len: u64, error: Error },
}

/// Where the walk gets tree nodes.
pub(crate) trait NodeSource {
    /// The bytes of node `id`, already checked against `id` (keyed BLAKE3). Damage is an error
    /// of kind `Corrupt` or `NotFound`; any other error stops the walk.
    fn node(&mut self, id: &Id) -> Result<Vec<u8>>;
    /// Skip the subtree of node `id`, expected to have `level` and cover `covered` bytes?
    fn skip(&mut self, id: &Id, level: u8, covered: u64) -> bool {
        let _ = (id, level, covered);
        false
    }
}

struct Open {
    id: Id,
    level: u8,
    covered: u64,
    entries: std::vec::IntoIter<(Id, u64)>,
}

/// A fault-tolerant depth-first walk of one snapshot's tree (see the module docs).
pub(crate) struct Walk {
    root: Option<(Id, u64)>,
    stack: Vec<Open>,
    offset: u64,
}

impl Walk {
    /// A walk of the tree at `root`, which must cover `size` bytes.
    pub(crate) fn new(root: Id, size: u64) -> Walk {
        Walk { root: Some((root, size)), stack: Vec::new(), offset: 0 }
    }

    /// Stream offset reached so far.
    #[cfg(test)]
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Read and check node `id`, which its parent (or the snapshot) says has `level` (if
    /// known) and covers `covered` bytes.
    fn open(src: &mut dyn NodeSource, id: Id, level: Option<u8>, covered: u64) -> Result<Result<Open, Error>> {
        let bytes = match src.node(&id) {
            Ok(b) => b,
            Err(e) if is_damage(&e) => return Ok(Err(e)),
            Err(e) => return Err(e),
        };
        let node = match Node::decode(&bytes) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e.context(format!("tree node {}", id.short())))),
        };
        if let Some(want) = level
            && node.level != want
        {
            return Ok(Err(Error::corrupt(format!(
                "tree node {} has level {}, its parent expects {want}",
                id.short(),
                node.level
            ))));
        }
        let sum = node.entries.iter().try_fold(0u64, |a, e| a.checked_add(e.1));
        if sum != Some(covered) {
            let what = if level.is_some() { "its parent says" } else { "the snapshot's size is" };
            return Ok(Err(Error::corrupt(format!(
                "tree node {} covers {} bytes, {what} {covered}",
                id.short(),
                sum.map_or("more than 2^64".to_string(), |s| s.to_string())
            ))));
        }
        Ok(Ok(Open { id, level: node.level, covered, entries: node.entries.into_iter() }))
    }

    /// The next event, or `None` at the end. Errors only for failures that are not damage.
    pub(crate) fn next(&mut self, src: &mut dyn NodeSource) -> Result<Option<Event>> {
        if let Some((root, size)) = self.root.take() {
            return Ok(Some(match Self::open(src, root, None, size)? {
                Ok(o) => {
                    self.stack.push(o);
                    Event::Enter
                }
                Err(error) => {
                    self.offset = size;
                    Event::Lost { node: root, offset: 0, len: size, error }
                }
            }));
        }
        let Some(top) = self.stack.last_mut() else { return Ok(None) };
        let Some((id, n)) = top.entries.next() else {
            let o = self.stack.pop().expect("not empty");
            return Ok(Some(Event::Exit { id: o.id, level: o.level, covered: o.covered }));
        };
        let at = self.offset;
        self.offset = at.saturating_add(n);
        if top.level == 0 {
            return Ok(Some(Event::Chunk { id, len: n as u32, offset: at }));
        }
        let child_level = top.level - 1;
        if src.skip(&id, child_level, n) {
            return Ok(Some(Event::Skipped));
        }
        Ok(Some(match Self::open(src, id, Some(child_level), n)? {
            Ok(o) => {
                self.offset = at;
                self.stack.push(o);
                Event::Enter
            }
            Err(error) => Event::Lost { node: id, offset: at, len: n, error },
        }))
    }
}

/// The index as read by `verify` and `repair`: see [`Repository::load_index_checked`].
#[derive(Debug, Default)]
pub(crate) struct CheckedIndex {
    /// Blobs of packs that exist (others are left out, so that a chunk stored twice is found
    /// in the copy that exists).
    pub ri: ReadIndex,
    /// Chunks and tree nodes of packs the index lists but the backend does not have:
    /// position in [`CheckedIndex::missing_packs`].
    pub missing: IdMap<u32>,
    /// Packs the index lists that do not exist.
    pub missing_packs: Vec<Id>,
    /// Index objects that could not be read or decoded, with the reason.
    pub damaged: Vec<(String, Error)>,
    /// Index objects decoded.
    pub objects: u64,
    /// Bytes read.
    pub bytes: u64,
}

impl CheckedIndex {
    /// Where chunk or tree node `id` is, among packs that exist.
    pub(crate) fn get(&self, id: &Id) -> Option<ChunkLoc> {
        self.ri.get(id)
    }

    /// The pack holding `loc`.
    pub(crate) fn pack_of(&self, loc: &ChunkLoc) -> Id {
        self.ri.packs[self.ri.blobs[loc.blob as usize].pack as usize]
    }
}

impl Repository {
    /// Decode the index objects `objects` (from a listing of `index/`), leaving out blobs of
    /// packs not in `existing` and recording them in [`CheckedIndex::missing`]; as pulls do,
    /// a chunk stored twice is located in a pack not in `marked` (for deletion) if it can be.
    /// An object that does not match its name or does not decode is recorded in
    /// [`CheckedIndex::damaged`]. One that vanished since the listing was replaced by a
    /// concurrent index rewrite (gc, compaction, `repair index`: new objects are written before
    /// old ones are deleted), so `index/` is listed again and the objects not seen yet are read
    /// (a few rounds at most). `each` sees every decoded object (before its blobs are
    /// filtered). Other errors fail the load.
    pub(crate) async fn load_index_checked(
        &self,
        objects: Vec<ObjectInfo>,
        existing: &IdSet,
        marked: &IdSet,
        mut each: impl FnMut(&str, &IndexFile),
    ) -> Result<CheckedIndex> {
        let mut out = CheckedIndex::default();
        let task = |o: ObjectInfo| {
            let (b, k) = (self.backend.clone(), self.keys.clone());
            async move {
                let got = b.get_if_exists(&o.key).await.map_err(|e| e.context(format!("reading {}", o.key)))?;
                let Some(bytes) = got else { return Ok((o.key, 0, None)) };
                let n = bytes.len() as u64;
                let key = o.key.clone();
                let decoded = tokio::task::spawn_blocking(move || decode_index(&k, &key, &bytes))
                    .await
                    .map_err(|e| Error::new(ErrorKind::Io, format!("index decode task: {e}")))?;
                Ok((o.key, n, Some(decoded)))
            }
        };
        let mut seen: std::collections::HashSet<String> = objects.iter().map(|o| o.key.clone()).collect();
        let mut todo = objects;
        for _round in 0..5 {
            let mut vanished = 0usize;
            for_each_bounded(todo, INDEX_READS, task, |r| {
                let (key, n, decoded) = r?;
                out.bytes += n;
                match decoded {
                    None => vanished += 1,
                    Some(Err(e)) => out.damaged.push((key, e)),
                    Some(Ok(f)) => {
                        out.objects += 1;
                        each(&key, &f);
                        out.add(f, existing, marked);
                    }
                }
                Ok(())
            })
            .await?;
            if vanished == 0 {
                return Ok(out);
            }
            tracing::debug!("{vanished} index object(s) were replaced while being read; reading the new ones");
            todo = self.backend.list("index/").await?.into_iter().filter(|o| seen.insert(o.key.clone())).collect();
        }
        Err(Error::new(
            ErrorKind::Transient,
            "the index kept changing while it was read (concurrent maintenance); retry",
        ))
    }
}

impl CheckedIndex {
    fn add(&mut self, mut f: IndexFile, existing: &IdSet, marked: &IdSet) {
        let present: Vec<bool> = f.packs.iter().map(|p| existing.contains(p)).collect();
        if present.iter().all(|p| *p) {
            self.ri.add_preferring(f, marked);
            return;
        }
        let mut missing_pos = Vec::with_capacity(f.packs.len());
        for (p, here) in f.packs.iter().zip(&present) {
            missing_pos.push(if *here {
                u32::MAX
            } else if let Some(i) = self.missing_packs.iter().position(|m| m == p) {
                i as u32
            } else {
                self.missing_packs.push(*p);
                (self.missing_packs.len() - 1) as u32
            });
        }
        f.blobs.retain(|(p, b)| {
            if present[*p as usize] {
                return true;
            }
            for (id, _) in &b.chunks {
                self.missing.entry(*id).or_insert(missing_pos[*p as usize]);
            }
            false
        });
        self.ri.add_preferring(f, marked);
    }
}

/// Check an index object's name and decode it.
pub(crate) fn decode_index(keys: &Keys, key: &str, bytes: &[u8]) -> Result<IndexFile> {
    if Id::of_bytes(bytes).to_hex() != key.trim_start_matches("index/") {
        return Err(Error::corrupt(format!("{key}: content does not match its name")));
    }
    let plain = open_meta(keys, INDEX_MAGIC, bytes, &key)?;
    IndexFile::decode(&plain).map_err(|e| e.context(key))
}

/// The pack id of a `packs/` key, if it is a well-formed pack name.
pub(crate) fn pack_id_of_key(key: &str) -> Option<Id> {
    let id = Id::from_hex(key.rsplit('/').next()?).ok()?;
    (pack_key(&id) == key).then_some(id)
}

/// Read the blob list of pack `key` (of `size` bytes) from its sealed header: one ranged read
/// of the last 256 KiB, and a second one if the header is longer. Returns the blobs and the
/// bytes read.
pub(crate) async fn read_pack_header(
    backend: &Arc<dyn Backend>,
    keys: &Arc<Keys>,
    key: &str,
    size: u64,
) -> Result<(Vec<BlobHeader>, u64)> {
    if size < TRAILER_LEN as u64 {
        return Err(Error::corrupt(format!("{key}: {size} bytes is too short to be a pack")));
    }
    let guess = size.min(TAIL_GUESS);
    let mut tail = backend.get_range(key, size - guess, guess).await?;
    let mut read = tail.len() as u64;
    let need = tail_len(size, &tail, &key)?;
    if need > guess {
        tail = backend.get_range(key, size - need, need).await?;
        read += tail.len() as u64;
    }
    let (keys, key) = (keys.clone(), key.to_string());
    let blobs = tokio::task::spawn_blocking(move || read_header_from_tail(&keys, size, &tail, &key))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("pack header task: {e}")))??;
    Ok((blobs, read))
}

/// Open a sealed blob and decode its frame, checking the frame length the index records.
/// `what` names the blob in errors.
pub(crate) fn open_frame(keys: &Keys, sealed: &[u8], raw_len: u32, what: &str) -> Result<Vec<u8>> {
    let frame = open_blob(keys, sealed, &what)?;
    let raw = compress::decode(&frame).map_err(|e| e.context(what))?;
    if raw.len() != raw_len as usize {
        return Err(Error::corrupt(format!("{what}: frame is {} bytes, the index says {raw_len}", raw.len())));
    }
    Ok(raw)
}

/// "pack packs/ab/ab…, blob at offset N": how errors name a blob.
pub(crate) fn blob_name(pack: &Id, offset: u32) -> String {
    format!("pack {}, blob at offset {offset}", pack_key(pack))
}

/// Read one chunk or tree node at `loc` (a blocking call: use from a thread outside the async
/// runtime), check its blob kind and its keyed id. Returns the bytes and how many bytes were
/// read from the backend.
pub(crate) fn read_piece(
    rt: &tokio::runtime::Handle,
    backend: &Arc<dyn Backend>,
    keys: &Keys,
    ci: &CheckedIndex,
    id: &Id,
    loc: ChunkLoc,
    kind: BlobKind,
) -> Result<(Vec<u8>, u64)> {
    let b = ci.ri.blobs[loc.blob as usize];
    let pack = ci.ri.packs[b.pack as usize];
    let noun = if kind == BlobKind::Tree { "tree node" } else { "chunk" };
    if b.kind != kind {
        return Err(Error::corrupt(format!(
            "{noun} {} is stored as {} ({})",
            id.short(),
            if b.kind == BlobKind::Tree { "a tree node" } else { "data" },
            blob_name(&pack, b.offset)
        )));
    }
    let what = blob_name(&pack, b.offset);
    let sealed = rt
        .block_on(backend.get_range(&pack_key(&pack), b.offset as u64, b.sealed_len as u64))
        .map_err(|e| e.context(format!("reading {what}")))?;
    let raw = open_frame(keys, &sealed, b.raw_len, &what)?;
    let piece = cut_piece(keys, &raw, id, loc, noun, &what)?;
    Ok((piece.to_vec(), sealed.len() as u64))
}

/// The bytes of chunk (or tree node: `noun`) `id` at `loc` in the decoded frame `raw`,
/// checked against the id.
pub(crate) fn cut_piece<'a>(
    keys: &Keys,
    raw: &'a [u8],
    id: &Id,
    loc: ChunkLoc,
    noun: &str,
    what: &str,
) -> Result<&'a [u8]> {
    let (s, e) = (loc.inner as usize, loc.inner as usize + loc.len as usize);
    let Some(piece) = raw.get(s..e) else {
        return Err(Error::corrupt(format!("{noun} {} lies outside its frame ({what})", id.short())));
    };
    if keys.chunk_id(piece) != *id {
        return Err(Error::corrupt(format!("{noun} {} does not match its id ({what})", id.short())));
    }
    Ok(piece)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tree::TreeBuilder;
    use std::collections::HashMap;

    struct Store(HashMap<Id, Vec<u8>>, IdSet);
    impl NodeSource for Store {
        fn node(&mut self, id: &Id) -> Result<Vec<u8>> {
            if self.1.contains(id) {
                return Err(Error::corrupt("damaged"));
            }
            self.0.get(id).cloned().ok_or_else(|| Error::new(ErrorKind::NotFound, "missing"))
        }
    }

    fn build(n: usize) -> (Id, HashMap<Id, Vec<u8>>, Vec<(Id, u32)>) {
        let mut store = HashMap::new();
        let mut emit = |b: Vec<u8>| {
            let id = Id::of_bytes(&b);
            store.insert(id, b);
            id
        };
        let mut tb = TreeBuilder::new();
        let mut want = Vec::new();
        for i in 0..n {
            let id = Id::of_bytes(&(i as u64).to_le_bytes());
            tb.add(id, 100 + (i % 7) as u32, &mut emit);
            want.push((id, 100 + (i % 7) as u32));
        }
        (tb.finish(&mut emit), store, want)
    }

    fn run(w: &mut Walk, s: &mut Store) -> (Vec<(Id, u32, u64)>, Vec<(u64, u64)>) {
        let (mut chunks, mut lost) = (Vec::new(), Vec::new());
        while let Some(e) = w.next(s).unwrap() {
            match e {
                Event::Chunk { id, len, offset } => chunks.push((id, len, offset)),
                Event::Lost { offset, len, .. } => lost.push((offset, len)),
                _ => {}
            }
        }
        (chunks, lost)
    }

    #[test]
    fn intact_tree_yields_every_chunk_at_its_offset() {
        let (root, store, want) = build(20_000);
        let size: u64 = want.iter().map(|c| c.1 as u64).sum();
        let mut w = Walk::new(root, size);
        let (chunks, lost) = run(&mut w, &mut Store(store, IdSet::default()));
        assert!(lost.is_empty());
        assert_eq!(chunks.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(), want);
        let mut off = 0;
        for c in &chunks {
            assert_eq!(c.2, off);
            off += c.1 as u64;
        }
        assert_eq!(w.offset(), size);
    }

    #[test]
    fn a_damaged_node_loses_exactly_its_bytes_and_the_walk_goes_on() {
        let (root, store, want) = build(20_000);
        let size: u64 = want.iter().map(|c| c.1 as u64).sum();
        let rootnode = Node::decode(&store[&root]).unwrap();
        assert!(rootnode.level >= 1);
        // Damage the second child of the root.
        let (victim, covered) = rootnode.entries[1];
        let before = rootnode.entries[0].1;
        let mut bad = IdSet::default();
        bad.insert(victim);
        let (chunks, lost) = run(&mut Walk::new(root, size), &mut Store(store.clone(), bad));
        assert_eq!(lost, vec![(before, covered)]);
        let got: u64 = chunks.iter().map(|c| c.1 as u64).sum();
        assert_eq!(got + covered, size);
        assert!(chunks.iter().all(|c| c.2 < before || c.2 >= before + covered));
        // A wrong size claimed by the snapshot loses the whole stream.
        let (chunks, lost) = run(&mut Walk::new(root, size + 1), &mut Store(store, IdSet::default()));
        assert!(chunks.is_empty());
        assert_eq!(lost, vec![(0, size + 1)]);
    }
}

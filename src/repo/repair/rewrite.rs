//! A repaired stream: surviving chunks read and kept, lost ranges replaced by zeros of the
//! same length, new blobs packed (see the parent module).
//!
//! Must not: write a snapshot (the parent commits it) or delete anything.

use super::{Lost, Nodes, chunk_missing};
use crate::backend::Backend;
use crate::compress;
use crate::crypto::Keys;
use crate::error::{Error, ErrorKind, Result};
use crate::format::index::IndexFile;
use crate::format::pack::{BlobKind, PackBuilder, seal_blob_into};
use crate::format::snapshot::{Snapshot, SnapshotStats};
use crate::format::tree::TreeBuilder;
use crate::id::{Id, IdSet};
use crate::repo::pack_key;
use crate::repo::read_index::ChunkLoc;
use crate::repo::walk::{CheckedIndex, Event, Walk, blob_name, cut_piece, is_damage, open_frame};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// Decoded frames kept while rewriting a snapshot.
const FRAME_CACHE: usize = 8;
/// Longest zero chunk a rewrite stores (longer lost ranges are cut in pieces).
pub(super) const ZERO_PIECE: u32 = 64 << 10;

/// The new content of a rewritten snapshot.
pub(super) struct Rewritten {
    pub(super) root: Id,
    pub(super) hash: blake3::Hash,
    pub(super) lost: Lost,
    pub(super) index: IndexFile,
    pub(super) stats: SnapshotStats,
}

type Frame = std::result::Result<Arc<Vec<u8>>, String>;

/// Writes one repaired stream: surviving chunks are read and kept, lost ones replaced by
/// zeros; new blobs go to packs (blocking: runs on a thread of its own).
pub(super) struct Rewriter<'a> {
    pub(super) rt: &'a tokio::runtime::Handle,
    pub(super) backend: &'a Arc<dyn Backend>,
    pub(super) keys: &'a Keys,
    pub(super) ci: &'a CheckedIndex,
    pub(super) marked: &'a IdSet,
    pub(super) pack_target: usize,
    /// False for a dry pass that only finds what is lost.
    pub(super) write: bool,
    pub(super) written: IdSet,
    pub(super) pack: PackBuilder,
    pub(super) index: IndexFile,
    pub(super) sealed: Vec<u8>,
    pub(super) stats: SnapshotStats,
    pub(super) zero_ids: HashMap<u32, Id>,
    pub(super) zeros: Vec<u8>,
    pub(super) frames: Vec<(u32, Frame)>,
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

    pub(super) fn rewrite(&mut self, snap: &Snapshot) -> Result<Rewritten> {
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
pub(super) fn just_before(time: &str) -> String {
    let (s, ns) = crate::time::parse_rfc3339(time).unwrap_or((0, 0));
    let (s, ns) = if ns == 0 { (s - 1, 999_999_999) } else { (s, ns - 1) };
    crate::time::format_unix(s, ns)
}

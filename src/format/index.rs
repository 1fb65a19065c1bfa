//! Index objects: which pack and blob hold each chunk or tree node.
//!
//! ```text
//! object = "KRINDX01" || seal(aad "KRINDX01", frame(plain))
//! plain  = packs u32 || packs × pack_id 32
//!          || blobs u32 || blobs × (pack u32 || offset u32 || kind u8 || sealed_len u32
//!                                   || raw_len u32 || chunks u32 || chunks × (id 32 || len u32))
//! ```
//! A blob record is a pack-header record plus the pack it sits in and its offset, so the
//! index is exactly what reading every pack header would give: index objects are a cache
//! that can be rebuilt from the packs. Chunk `k` of a blob starts at the sum of the lengths
//! of chunks `0..k`. Any number of index objects may exist; they may overlap.

use super::ReadCursor;
use super::pack::{BlobHeader, BlobKind};
use crate::error::{Error, Result};
use crate::id::Id;

/// Magic and AAD of index objects.
pub const INDEX_MAGIC: &[u8; 8] = b"KRINDX01";

/// The decoded content of one index object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexFile {
    /// Pack ids referenced by the blobs.
    pub packs: Vec<Id>,
    /// Blobs: position of their pack in `packs`, and their header record.
    pub blobs: Vec<(u32, BlobHeader)>,
}

impl IndexFile {
    /// Add every blob of one pack.
    pub fn add_pack(&mut self, pack: Id, blobs: Vec<BlobHeader>) {
        let p = self.packs.len() as u32;
        self.packs.push(pack);
        self.blobs.extend(blobs.into_iter().map(|b| (p, b)));
    }

    /// Number of chunk entries.
    pub fn chunk_count(&self) -> usize {
        self.blobs.iter().map(|(_, b)| b.chunks.len()).sum()
    }

    /// Serialise the plaintext.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(8 + 32 * self.packs.len() + 21 * self.blobs.len() + 36 * self.chunk_count());
        v.extend_from_slice(&(self.packs.len() as u32).to_le_bytes());
        for p in &self.packs {
            v.extend_from_slice(&p.0);
        }
        v.extend_from_slice(&(self.blobs.len() as u32).to_le_bytes());
        for (p, b) in &self.blobs {
            v.extend_from_slice(&p.to_le_bytes());
            v.extend_from_slice(&b.offset.to_le_bytes());
            v.push(b.kind as u8);
            v.extend_from_slice(&b.sealed_len.to_le_bytes());
            v.extend_from_slice(&b.raw_len.to_le_bytes());
            v.extend_from_slice(&(b.chunks.len() as u32).to_le_bytes());
            for (id, len) in &b.chunks {
                v.extend_from_slice(&id.0);
                v.extend_from_slice(&len.to_le_bytes());
            }
        }
        v
    }

    /// Parse the plaintext, checking every reference.
    pub fn decode(plain: &[u8]) -> Result<IndexFile> {
        Self::decode_where(plain, |_, _| true)
    }

    /// Like [`IndexFile::decode`] (checking everything), keeping only the blobs for which
    /// `keep(pack id, kind)` holds: readers that need a few blobs per object (tree nodes) do
    /// not hold every chunk entry. The pack table is kept whole.
    pub fn decode_where(plain: &[u8], keep: impl Fn(&Id, BlobKind) -> bool) -> Result<IndexFile> {
        Self::keep_where(|f| Self::visit(plain, f), keep)
    }

    /// [`IndexFile::decode_where`] over an opened frame (see [`IndexFile::visit_frame`]).
    pub fn decode_frame_where(frame: &[u8], keep: impl Fn(&Id, BlobKind) -> bool) -> Result<IndexFile> {
        Self::keep_where(|f| Self::visit_frame(frame, f), keep)
    }

    fn keep_where(
        visit: impl FnOnce(&mut dyn FnMut(&[Id], u32, &BlobHeader)) -> Result<Vec<Id>>,
        keep: impl Fn(&Id, BlobKind) -> bool,
    ) -> Result<IndexFile> {
        let mut blobs = Vec::new();
        let packs = visit(&mut |packs, p, b| {
            if keep(&packs[p as usize], b.kind) {
                blobs.push((p, b.clone()));
            }
        })?;
        Ok(IndexFile { packs, blobs })
    }

    /// Read the plaintext one blob at a time, checking everything as [`IndexFile::decode`]
    /// does: `f(packs, pack position, blob)` sees each blob record (its chunk list in a buffer
    /// reused for the next blob); returns the pack table. Readers that keep a few chunks of an
    /// object (a pull's window of the stream) hold one blob's list, not the object's. On a
    /// malformed object `f` may have seen the blobs before the damage; the error says so.
    pub fn visit(plain: &[u8], f: impl FnMut(&[Id], u32, &BlobHeader)) -> Result<Vec<Id>> {
        Self::visit_read(plain, plain.len(), f)
    }

    /// [`IndexFile::visit`] over a sealed object's opened frame, decoded as it is read: memory
    /// is the frame, the decoder's window and one blob's chunk list, not the plaintext.
    pub fn visit_frame(frame: &[u8], f: impl FnMut(&[Id], u32, &BlobHeader)) -> Result<Vec<Id>> {
        let (r, len) = crate::compress::reader(frame)?;
        Self::visit_read(r, len, f)
    }

    fn visit_read(r: impl std::io::Read, len: usize, mut f: impl FnMut(&[Id], u32, &BlobHeader)) -> Result<Vec<Id>> {
        let mut c = ReadCursor::new(r, len, "index object");
        let np = c.count(32)?;
        let packs = (0..np).map(|_| c.id()).collect::<Result<Vec<_>>>()?;
        let nb = c.count(21)?;
        let mut b = BlobHeader { kind: BlobKind::Data, offset: 0, sealed_len: 0, raw_len: 0, chunks: Vec::new() };
        // One blob's chunk records, read at once (a read per field costs a call through the
        // decoder each).
        let mut run = Vec::new();
        for _ in 0..nb {
            let p = c.u32()?;
            if p as usize >= packs.len() {
                return Err(Error::corrupt("index object: blob refers to a pack outside its table"));
            }
            b.offset = c.u32()?;
            b.kind = BlobKind::from_u8(c.u8()?)?;
            b.sealed_len = c.u32()?;
            b.raw_len = c.u32()?;
            if b.raw_len as usize > crate::compress::MAX_FRAME {
                return Err(Error::corrupt("index object: blob larger than any frame"));
            }
            let k = c.count(36)?;
            c.read_into(&mut run, 36 * k)?;
            b.chunks.clear();
            let mut sum = 0u64;
            for e in run.chunks_exact(36) {
                let len = u32::from_le_bytes(e[32..].try_into().unwrap());
                sum += len as u64;
                b.chunks.push((Id::from_slice(&e[..32]), len));
            }
            if sum > b.raw_len as u64 {
                return Err(Error::corrupt("index object: chunks overrun their blob"));
            }
            f(&packs, p, &b);
        }
        c.finish()?;
        Ok(packs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut f = IndexFile::default();
        f.add_pack(
            Id::of_bytes(b"p1"),
            vec![BlobHeader {
                kind: BlobKind::Data,
                offset: 0,
                sealed_len: 50,
                raw_len: 10,
                chunks: vec![(Id::of_bytes(b"a"), 4), (Id::of_bytes(b"b"), 6)],
            }],
        );
        f.add_pack(
            Id::of_bytes(b"p2"),
            vec![BlobHeader {
                kind: BlobKind::Tree,
                offset: 7,
                sealed_len: 60,
                raw_len: 5,
                chunks: vec![(Id::of_bytes(b"t"), 5)],
            }],
        );
        assert_eq!(f.chunk_count(), 3);
        assert_eq!(IndexFile::decode(&f.encode()).unwrap(), f);
        let mut bad = f.clone();
        bad.blobs[0].0 = 2;
        assert!(IndexFile::decode(&bad.encode()).is_err());
        assert!(IndexFile::decode(&[1, 0, 0]).is_err());
        let mut enc = f.encode();
        enc.push(0);
        assert!(IndexFile::decode(&enc).is_err());
    }

    fn sample(blobs: usize) -> IndexFile {
        let mut f = IndexFile::default();
        for p in 0..3u32 {
            let hs = (0..blobs)
                .map(|b| BlobHeader {
                    kind: if b % 5 == 0 { BlobKind::Tree } else { BlobKind::Data },
                    offset: b as u32 * 100,
                    sealed_len: 100,
                    raw_len: 4000,
                    chunks: (0..(b % 40) as u32).map(|c| (Id::of_bytes(&[p as u8, b as u8, c as u8]), 90)).collect(),
                })
                .collect();
            f.add_pack(Id::of_bytes(&p.to_le_bytes()), hs);
        }
        f
    }

    #[test]
    fn frames_decode_as_they_are_read_with_the_same_checks() {
        let f = sample(300);
        let plain = f.encode();
        for level in [0, 3] {
            let frame = crate::compress::encode_vec(&plain, level);
            assert_eq!(IndexFile::decode_frame_where(&frame, |_, _| true).unwrap(), f, "level {level}");
            let trees = IndexFile::decode_frame_where(&frame, |_, k| k == BlobKind::Tree).unwrap();
            assert_eq!(trees, IndexFile::decode_where(&plain, |_, k| k == BlobKind::Tree).unwrap());
            let mut seen = 0;
            IndexFile::visit_frame(&frame, |_, _, b| seen += b.chunks.len()).unwrap();
            assert_eq!(seen, f.chunk_count());
        }
        // A frame that declares fewer or more bytes than the index holds is refused.
        for cut in [1usize, 36, plain.len() / 2] {
            let short = crate::compress::encode_vec(&plain[..plain.len() - cut], 3);
            assert!(IndexFile::decode_frame_where(&short, |_, _| true).is_err(), "cut {cut}");
        }
        let mut long = plain.clone();
        long.extend_from_slice(&[0; 7]);
        let e = IndexFile::decode_frame_where(&crate::compress::encode_vec(&long, 3), |_, _| true).unwrap_err();
        assert!(e.to_string().contains("trailing"), "{e}");
        // A zstd frame whose header claims another length.
        let mut lying = crate::compress::encode_vec(&plain, 3);
        lying[1..5].copy_from_slice(&((plain.len() - 4) as u32).to_le_bytes());
        assert!(IndexFile::decode_frame_where(&lying, |_, _| true).is_err());
        lying[1..5].copy_from_slice(&((plain.len() + 4) as u32).to_le_bytes());
        assert!(IndexFile::decode_frame_where(&lying, |_, _| true).is_err());
    }
}

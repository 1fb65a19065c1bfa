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

use super::Cursor;
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
        let mut c = Cursor::new(plain, "index object");
        let np = c.count(32)?;
        let packs = (0..np).map(|_| c.id()).collect::<Result<Vec<_>>>()?;
        let nb = c.count(21)?;
        let mut blobs = Vec::with_capacity(nb);
        for _ in 0..nb {
            let p = c.u32()?;
            if p as usize >= packs.len() {
                return Err(Error::corrupt("index object: blob refers to a pack outside its table"));
            }
            let offset = c.u32()?;
            let kind = BlobKind::from_u8(c.u8()?)?;
            let sealed_len = c.u32()?;
            let raw_len = c.u32()?;
            if raw_len as usize > crate::compress::MAX_FRAME {
                return Err(Error::corrupt("index object: blob larger than any frame"));
            }
            let k = c.count(36)?;
            let mut chunks = Vec::with_capacity(k);
            let mut sum = 0u64;
            for _ in 0..k {
                let id = c.id()?;
                let len = c.u32()?;
                sum += len as u64;
                chunks.push((id, len));
            }
            if sum > raw_len as u64 {
                return Err(Error::corrupt("index object: chunks overrun their blob"));
            }
            if keep(&packs[p as usize], kind) {
                blobs.push((p, BlobHeader { kind, offset, sealed_len, raw_len, chunks }));
            }
        }
        c.finish()?;
        Ok(IndexFile { packs, blobs })
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
}

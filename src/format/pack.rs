//! Packs: many sealed blobs in one object, with a sealed header at the end.
//!
//! ```text
//! pack    = blob_0 || … || blob_{n-1} || sealed_header || header_len u32 LE || "KRPACK01"
//! blob_i  = seal(aad "KRBLOB01", frame)          (frame: see crate::compress)
//! header  = count u32 || count × (kind u8 || sealed_len u32 || raw_len u32
//!                                 || chunks u32 || chunks × (id 32 || len u32))
//! ```
//! Blob `i` starts where blob `i-1` ends (blob 0 at offset 0). The header lets the index be
//! rebuilt from the packs alone. A pack is named by the BLAKE3 of its bytes.

use super::Cursor;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::id::Id;

/// AAD of every sealed blob.
pub const BLOB_AAD: &[u8] = b"KRBLOB01";
/// AAD of the sealed pack header.
pub const HEADER_AAD: &[u8] = b"KRPHDR01";
/// Final 8 bytes of every pack.
pub const PACK_MAGIC: &[u8; 8] = b"KRPACK01";
/// Bytes after the sealed header.
pub const TRAILER_LEN: usize = 12;

/// What a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BlobKind {
    /// Chunks of a stream.
    Data = 0,
    /// One node of a snapshot's chunk-list tree.
    Tree = 1,
}

impl BlobKind {
    /// From the stored byte.
    pub fn from_u8(b: u8) -> Result<BlobKind> {
        match b {
            0 => Ok(BlobKind::Data),
            1 => Ok(BlobKind::Tree),
            _ => Err(Error::corrupt(format!("unknown blob kind {b}"))),
        }
    }
}

/// One blob as listed in a pack header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    /// Kind.
    pub kind: BlobKind,
    /// Offset of the sealed blob in the pack (derived, not stored).
    pub offset: u32,
    /// Length of the sealed blob.
    pub sealed_len: u32,
    /// Length of the decoded frame.
    pub raw_len: u32,
    /// Chunks in the frame, in order: id and length.
    pub chunks: Vec<(Id, u32)>,
}

/// Builds one pack, in memory or drained piece by piece to a writer (see
/// [`PackBuilder::drain_with`]); either way the pack id is the BLAKE3 of all its bytes.
#[derive(Default)]
pub struct PackBuilder {
    buf: Vec<u8>,
    /// Bytes already handed out by `drain_with` (and hashed).
    drained: usize,
    hasher: blake3::Hasher,
    blobs: Vec<BlobHeader>,
}

impl PackBuilder {
    /// An empty pack written into `buf` (cleared; its allocation is reused).
    pub fn with_buffer(mut buf: Vec<u8>) -> Self {
        buf.clear();
        PackBuilder { buf, drained: 0, hasher: blake3::Hasher::new(), blobs: Vec::new() }
    }

    /// Append an already sealed blob (produced by [`seal_blob_into`], usually on another thread).
    pub fn add_sealed(&mut self, kind: BlobKind, sealed: &[u8], raw_len: u32, chunks: Vec<(Id, u32)>) -> &BlobHeader {
        let offset = self.len();
        self.buf.extend_from_slice(sealed);
        let sealed_len = sealed.len() as u32;
        self.blobs.push(BlobHeader { kind, offset: offset as u32, sealed_len, raw_len, chunks });
        self.blobs.last().unwrap()
    }

    /// Bytes so far, drained or not.
    pub fn len(&self) -> usize {
        self.drained + self.buf.len()
    }

    /// Bytes added since the last [`PackBuilder::drain_with`].
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True when no blob was added.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Hand the bytes added since the last drain to `out`, in order, then forget them (the
    /// pack's offsets and id still cover them). A caller that drains must write every piece
    /// and then the bytes [`PackBuilder::finish`] returns, in that order.
    pub fn drain_with<R>(&mut self, out: impl FnOnce(&[u8]) -> R) -> R {
        self.hasher.update(&self.buf);
        let r = out(&self.buf);
        self.drained += self.buf.len();
        self.buf.clear();
        r
    }

    /// Seal the header and return `(pack id, the bytes not yet drained, blobs)`.
    pub fn finish(mut self, keys: &Keys) -> (Id, Vec<u8>, Vec<BlobHeader>) {
        let header = encode_header(&self.blobs);
        let before = self.buf.len();
        keys.seal_into(HEADER_AAD, &[&header], &mut self.buf);
        let hlen = (self.buf.len() - before) as u32;
        self.buf.extend_from_slice(&hlen.to_le_bytes());
        self.buf.extend_from_slice(PACK_MAGIC);
        self.hasher.update(&self.buf);
        (Id(*self.hasher.finalize().as_bytes()), self.buf, self.blobs)
    }
}

/// Seal a blob into `out` (cleared first; its allocation is reused).
pub fn seal_blob_into(keys: &Keys, frame_header: &[u8], payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    keys.seal_into(BLOB_AAD, &[frame_header, payload], out);
}

/// Open a sealed blob into its frame.
pub fn open_blob(keys: &Keys, sealed: &[u8], what: &dyn std::fmt::Display) -> Result<Vec<u8>> {
    keys.open(BLOB_AAD, sealed, what)
}

/// [`open_blob`] into `out` (cleared first; its capacity is reused).
pub fn open_blob_into(keys: &Keys, sealed: &[u8], what: &dyn std::fmt::Display, out: &mut Vec<u8>) -> Result<()> {
    keys.open_into(BLOB_AAD, sealed, what, out)
}

/// Serialise a header's plaintext.
pub fn encode_header(blobs: &[BlobHeader]) -> Vec<u8> {
    let mut h = Vec::with_capacity(4 + blobs.iter().map(|b| 17 + 36 * b.chunks.len()).sum::<usize>());
    h.extend_from_slice(&(blobs.len() as u32).to_le_bytes());
    for b in blobs {
        h.push(b.kind as u8);
        h.extend_from_slice(&b.sealed_len.to_le_bytes());
        h.extend_from_slice(&b.raw_len.to_le_bytes());
        h.extend_from_slice(&(b.chunks.len() as u32).to_le_bytes());
        for (id, len) in &b.chunks {
            h.extend_from_slice(&id.0);
            h.extend_from_slice(&len.to_le_bytes());
        }
    }
    h
}

/// Parse a header's plaintext; offsets are derived from the sealed lengths.
pub fn decode_header(plain: &[u8]) -> Result<Vec<BlobHeader>> {
    let mut c = Cursor::new(plain, "pack header");
    let n = c.count(13)?;
    let mut blobs = Vec::with_capacity(n);
    let mut offset: u64 = 0;
    for _ in 0..n {
        let kind = BlobKind::from_u8(c.u8()?)?;
        let sealed_len = c.u32()?;
        let raw_len = c.u32()?;
        let k = c.count(36)?;
        let mut chunks = Vec::with_capacity(k);
        let mut sum: u64 = 0;
        for _ in 0..k {
            let id = c.id()?;
            let len = c.u32()?;
            sum += len as u64;
            chunks.push((id, len));
        }
        if kind == BlobKind::Data && sum != raw_len as u64 {
            return Err(Error::corrupt("pack header: chunk lengths do not add up to the frame length"));
        }
        if offset > u32::MAX as u64 {
            return Err(Error::corrupt("pack header: offsets overflow"));
        }
        blobs.push(BlobHeader { kind, offset: offset as u32, sealed_len, raw_len, chunks });
        offset += sealed_len as u64;
    }
    c.finish()?;
    Ok(blobs)
}

/// From the last [`TRAILER_LEN`] bytes of a pack, the length of its sealed header.
pub fn decode_trailer(tail: &[u8]) -> Result<u32> {
    if tail.len() != TRAILER_LEN || &tail[4..] != PACK_MAGIC {
        return Err(Error::corrupt("pack trailer magic missing (not a pack, or truncated)"));
    }
    Ok(u32::from_le_bytes(tail[..4].try_into().unwrap()))
}

/// Read the blob list of a whole pack held in memory, checking that it covers the pack exactly.
pub fn read_header(keys: &Keys, pack: &[u8], what: &dyn std::fmt::Display) -> Result<Vec<BlobHeader>> {
    read_header_from_tail(keys, pack.len() as u64, pack, what)
}

/// How many bytes of a pack's end hold its sealed header and trailer, from its last
/// [`TRAILER_LEN`] bytes; errors if that exceeds `pack_len`.
pub fn tail_len(pack_len: u64, trailer: &[u8], what: &dyn std::fmt::Display) -> Result<u64> {
    if pack_len < TRAILER_LEN as u64 || trailer.len() < TRAILER_LEN {
        return Err(Error::corrupt(format!("{what}: too short to be a pack")));
    }
    let hlen = decode_trailer(&trailer[trailer.len() - TRAILER_LEN..]).map_err(|e| e.context(what))? as u64;
    if hlen + TRAILER_LEN as u64 > pack_len {
        return Err(Error::corrupt(format!("{what}: header length exceeds the pack")));
    }
    Ok(hlen + TRAILER_LEN as u64)
}

/// Read the blob list of a pack of `pack_len` bytes from `tail`, its last bytes (at least
/// the sealed header and the trailer), checking that the blobs cover the pack exactly.
pub fn read_header_from_tail(
    keys: &Keys,
    pack_len: u64,
    tail: &[u8],
    what: &dyn std::fmt::Display,
) -> Result<Vec<BlobHeader>> {
    let need = tail_len(pack_len, tail, what)? as usize;
    if tail.len() < need {
        return Err(Error::corrupt(format!("{what}: header not within the bytes read")));
    }
    let sealed = &tail[tail.len() - need..tail.len() - TRAILER_LEN];
    let plain = keys.open(HEADER_AAD, sealed, what)?;
    let blobs = decode_header(&plain).map_err(|e| e.context(what))?;
    let covered: u64 = blobs.iter().map(|b| b.sealed_len as u64).sum();
    if covered != pack_len - need as u64 {
        return Err(Error::corrupt(format!("{what}: header does not describe the pack's blobs")));
    }
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress;
    use crate::crypto::MasterKey;

    #[test]
    fn build_and_read_back() {
        let keys = MasterKey::generate().derive();
        let mut pb = PackBuilder::default();
        let a = b"first chunk data".to_vec();
        let b = vec![7u8; 10000];
        let raw: Vec<u8> = [a.clone(), b.clone()].concat();
        let mut sealed = Vec::new();
        let f = compress::encode_vec(&raw, 3);
        seal_blob_into(&keys, &f[..compress::FRAME_HEADER], &f[compress::FRAME_HEADER..], &mut sealed);
        let chunks = vec![(keys.chunk_id(&a), a.len() as u32), (keys.chunk_id(&b), b.len() as u32)];
        pb.add_sealed(BlobKind::Data, &sealed, raw.len() as u32, chunks);
        let f = compress::encode_vec(b"tree", 3);
        seal_blob_into(&keys, &f[..compress::FRAME_HEADER], &f[compress::FRAME_HEADER..], &mut sealed);
        pb.add_sealed(BlobKind::Tree, &sealed, 4, vec![(keys.chunk_id(b"tree"), 4)]);
        let (id, bytes, blobs) = pb.finish(&keys);
        assert_eq!(id, Id::of_bytes(&bytes));
        let read = read_header(&keys, &bytes, &"p").unwrap();
        assert_eq!(read, blobs);
        let b0 = &read[0];
        let sealed = &bytes[b0.offset as usize..(b0.offset + b0.sealed_len) as usize];
        let frame = open_blob(&keys, sealed, &"b").unwrap();
        assert_eq!(compress::decode(&frame).unwrap(), raw);
        let mut bad = bytes.clone();
        bad[3] ^= 0x40;
        let sealed = &bad[b0.offset as usize..(b0.offset + b0.sealed_len) as usize];
        assert!(open_blob(&keys, sealed, &"b").is_err());
        assert!(read_header(&keys, &bytes[..bytes.len() - 1], &"p").is_err());
    }

    #[test]
    fn a_drained_pack_has_the_layout_and_blob_bytes_of_a_buffered_one() {
        let keys = MasterKey::generate().derive();
        let blobs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 1000 + 777 * i as usize]).collect();
        let (mut whole, mut piecewise) = (PackBuilder::default(), PackBuilder::default());
        let mut pieces = Vec::new();
        for (i, b) in blobs.iter().enumerate() {
            let chunks = vec![(keys.chunk_id(b), b.len() as u32)];
            whole.add_sealed(BlobKind::Data, b, b.len() as u32, chunks.clone());
            piecewise.add_sealed(BlobKind::Data, b, b.len() as u32, chunks);
            assert_eq!(whole.len(), piecewise.len());
            if i % 2 == 1 {
                piecewise.drain_with(|p| pieces.extend_from_slice(p));
                assert_eq!(piecewise.buffered(), 0);
            }
        }
        let (id, bytes, hdr) = whole.finish(&keys);
        let (id2, tail, hdr2) = piecewise.finish(&keys);
        pieces.extend_from_slice(&tail);
        assert_eq!(hdr, hdr2);
        // The sealed headers differ by their random salts, so the ids differ; each is the
        // BLAKE3 of its own bytes.
        assert_eq!(id, Id::of_bytes(&bytes));
        assert_eq!(id2, Id::of_bytes(&pieces));
        assert_eq!(&bytes[..bytes.len() - tail.len()], &pieces[..pieces.len() - tail.len()]);
        assert_eq!(read_header(&keys, &pieces, &"p").unwrap(), hdr);
        assert_eq!(bytes.len(), pieces.len());
    }

    #[test]
    fn header_decoder_rejects_garbage() {
        assert!(decode_header(&[]).is_err());
        assert!(decode_header(&[255, 255, 255, 255]).is_err());
        assert!(decode_trailer(&[0; 12]).is_err());
        assert_eq!(decode_header(&[0, 0, 0, 0]).unwrap(), vec![]);
    }
}

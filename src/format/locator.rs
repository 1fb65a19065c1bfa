//! Locator records: where a tree node's blob is and, for a leaf, where each chunk it lists is
//! (docs/format.md §15). They are the values of locator tables (format::table, magic
//! `KRLOCS01`, key = the node id), written by gc and compaction so that a pull reads the
//! locations of a snapshot's chunks leaf by leaf instead of scanning the index.
//!
//! ```text
//! value = p u16 || p × pack_id[32]
//!      || node_blob                                   (the node's own tree blob)
//!      || b u16 || b × blob                          (data blobs the entries use)
//!      || n u16 || n × (blob u16 || inner u32)       (leaf: one per entry, in order; else 0)
//! blob  = pack u16 || offset u32 || sealed_len u32 || raw_len u32
//! ```
//! `pack` indexes the record's pack list, `blob` its blob list; `inner` is the chunk's offset
//! in the decoded frame (its length is the leaf entry's). Records are hints: a reader checks
//! every chunk and node it reads against its id, as it does with index locations.
//!
//! Encoder and decoder only (no I/O). The decoder takes untrusted bytes and never panics.

use super::Cursor;
use crate::error::{Error, Result};
use crate::id::Id;

/// One blob of a record: offset and lengths in the pack `pack` (of the record's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LocBlob {
    /// Position in [`Locator::packs`].
    pub pack: u16,
    /// Offset in the pack.
    pub offset: u32,
    /// Sealed length.
    pub sealed_len: u32,
    /// Decoded frame length.
    pub raw_len: u32,
}

/// The decoded value of one locator table entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Locator {
    /// Packs the record refers to.
    pub packs: Vec<Id>,
    /// The node's own blob.
    pub node: LocBlob,
    /// Data blobs holding the leaf's chunks.
    pub blobs: Vec<LocBlob>,
    /// Per leaf entry, in order: (position in `blobs`, offset in the decoded frame). Empty for
    /// inner nodes.
    pub entries: Vec<(u16, u32)>,
}

fn put_blob(v: &mut Vec<u8>, b: &LocBlob) {
    v.extend_from_slice(&b.pack.to_le_bytes());
    v.extend_from_slice(&b.offset.to_le_bytes());
    v.extend_from_slice(&b.sealed_len.to_le_bytes());
    v.extend_from_slice(&b.raw_len.to_le_bytes());
}

fn u16_of(c: &mut Cursor<'_>) -> Result<u16> {
    Ok(u16::from_le_bytes(c.take_bytes(2)?.try_into().unwrap()))
}

fn get_blob(c: &mut Cursor<'_>, packs: usize) -> Result<LocBlob> {
    let b = LocBlob { pack: u16_of(c)?, offset: c.u32()?, sealed_len: c.u32()?, raw_len: c.u32()? };
    if b.pack as usize >= packs {
        return Err(Error::corrupt("locator record: blob in a pack outside its list"));
    }
    Ok(b)
}

impl Locator {
    /// Serialise. Panics if a list exceeds 65,535 items (a node has at most 4,096 entries).
    pub fn encode(&self) -> Vec<u8> {
        let n16 = |n: usize| u16::try_from(n).expect("locator lists fit in u16").to_le_bytes();
        let mut v =
            Vec::with_capacity(2 + 32 * self.packs.len() + 16 + 14 * (1 + self.blobs.len()) + 6 * self.entries.len());
        v.extend_from_slice(&n16(self.packs.len()));
        for p in &self.packs {
            v.extend_from_slice(&p.0);
        }
        put_blob(&mut v, &self.node);
        v.extend_from_slice(&n16(self.blobs.len()));
        for b in &self.blobs {
            put_blob(&mut v, b);
        }
        v.extend_from_slice(&n16(self.entries.len()));
        for (b, inner) in &self.entries {
            v.extend_from_slice(&b.to_le_bytes());
            v.extend_from_slice(&inner.to_le_bytes());
        }
        v
    }

    /// Parse untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<Locator> {
        let mut c = Cursor::new(b, "locator record");
        let p = u16_of(&mut c)? as usize;
        let mut packs = Vec::with_capacity(p.min(b.len() / 32));
        for _ in 0..p {
            packs.push(c.id()?);
        }
        let node = get_blob(&mut c, p)?;
        let nb = u16_of(&mut c)? as usize;
        let mut blobs = Vec::with_capacity(nb.min(b.len() / 14));
        for _ in 0..nb {
            blobs.push(get_blob(&mut c, p)?);
        }
        let n = u16_of(&mut c)? as usize;
        let mut entries = Vec::with_capacity(n.min(b.len() / 6));
        for _ in 0..n {
            let blob = u16_of(&mut c)?;
            if blob as usize >= nb {
                return Err(Error::corrupt("locator record: entry in a blob outside its list"));
            }
            entries.push((blob, c.u32()?));
        }
        c.finish()?;
        Ok(Locator { packs, node, blobs, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Locator {
        let b = |pack, offset| LocBlob { pack, offset, sealed_len: 100 + offset, raw_len: 1000 };
        Locator {
            packs: vec![Id::of_bytes(b"p0"), Id::of_bytes(b"p1")],
            node: b(1, 7),
            blobs: vec![b(0, 0), b(1, 500)],
            entries: vec![(0, 0), (0, 8192), (1, 0)],
        }
    }

    #[test]
    fn records_round_trip_and_inner_nodes_have_no_entries() {
        let l = sample();
        assert_eq!(Locator::decode(&l.encode()).unwrap(), l);
        let inner = Locator { blobs: vec![], entries: vec![], ..sample() };
        assert_eq!(Locator::decode(&inner.encode()).unwrap(), inner);
    }

    #[test]
    fn decode_rejects_truncation_trailing_bytes_and_dangling_positions() {
        let v = sample().encode();
        for cut in 0..v.len() {
            assert!(Locator::decode(&v[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = v.clone();
        long.push(0);
        assert!(Locator::decode(&long).is_err());
        let mut bad_pack = sample();
        bad_pack.blobs[1].pack = 2;
        assert!(Locator::decode(&bad_pack.encode()).is_err());
        let mut bad_blob = sample();
        bad_blob.entries[2].0 = 2;
        assert!(Locator::decode(&bad_blob.encode()).is_err());
        // Claimed counts larger than the input never allocate them.
        assert!(Locator::decode(&[0xff, 0xff]).is_err());
    }
}

//! Sorted tables: objects of fixed-length keys with values, sorted by key, cut into blocks that
//! are sealed one by one, so that a reader can fetch the footer and then only the blocks it
//! needs with ranged reads (issue 12: the blob map and the hook table; docs/architecture.md).
//!
//! ```text
//! object  = magic[8] || block_0 || … || block_{n-1} || sealed_footer || trailer
//! block_i = seal(magic || table_id || u32(i),      frame(m × (key[K] || vlen u32 || value)))
//! footer  = version u8 (1) || K u8 || entries u64 || n u32
//!           || n × (first_key[K] || offset u64 || sealed_len u32 || entries u32) || last_key[K] (n > 0)
//! sealed_footer = seal(magic || table_id || "FOOT", frame(footer))
//! trailer = table_id[16] || sealed_footer_len u32 || magic[8]              (TRAILER = 28 bytes)
//! ```
//! Keys are non-decreasing over the whole table (equal keys may repeat, also across a block
//! boundary). `table_id` is random per object and bound into every block's and the footer's
//! associated data, so a block cannot be moved between objects or positions unnoticed. Block
//! `i` starts at `offset_i`; blocks are contiguous from byte 8 up to the sealed footer.
//!
//! Encoders and decoders only (no I/O). Decoders take untrusted bytes and never panic.

use super::Cursor;
use crate::compress;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use std::ops::Range;

/// Bytes at the end of every table object: table id, sealed footer length, magic.
pub const TRAILER: usize = 28;
/// Raw bytes at which a writer closes a block.
pub const BLOCK_TARGET: usize = 64 << 10;
const VERSION: u8 = 1;

fn block_aad(magic: &[u8; 8], table_id: &[u8; 16], i: u32) -> Vec<u8> {
    [magic.as_slice(), table_id, &i.to_le_bytes()].concat()
}

fn footer_aad(magic: &[u8; 8], table_id: &[u8; 16]) -> Vec<u8> {
    [magic.as_slice(), table_id, b"FOOT"].concat()
}

/// Where one block is, and the first key it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRef {
    /// First key in the block.
    pub first: Vec<u8>,
    /// Offset of the sealed block in the object.
    pub offset: u64,
    /// Sealed length.
    pub sealed_len: u32,
    /// Entries in the block.
    pub entries: u32,
}

/// The decoded footer of a table object: enough to find the block of any key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// The object's random id (bound into every block's associated data).
    pub table_id: [u8; 16],
    /// Key length.
    pub key_len: usize,
    /// Entries in the whole table.
    pub entries: u64,
    /// Blocks in key order.
    pub blocks: Vec<BlockRef>,
    /// Last key of the table (empty when the table is empty).
    pub last: Vec<u8>,
}

impl Footer {
    /// The blocks that may hold entries with `key`: from the last block whose first key is
    /// below `key` (or the first block starting with `key`) through every block starting with
    /// `key`. Empty when `key` is outside the table's range.
    pub fn blocks_for(&self, key: &[u8]) -> Range<usize> {
        if self.blocks.is_empty() || key < self.blocks[0].first.as_slice() || key > self.last.as_slice() {
            return 0..0;
        }
        let below = self.blocks.partition_point(|b| b.first.as_slice() < key);
        let upto = self.blocks.partition_point(|b| b.first.as_slice() <= key);
        below.saturating_sub(1)..upto
    }

    /// Where the blocks end (and the sealed footer starts).
    pub fn blocks_end(&self) -> u64 {
        self.blocks.last().map_or(8, |b| b.offset + b.sealed_len as u64)
    }

    /// The byte range of block `i` in the object.
    pub fn block_range(&self, i: usize) -> Range<u64> {
        let b = &self.blocks[i];
        b.offset..b.offset + b.sealed_len as u64
    }
}

/// Builds one table object in memory (the caller bounds its size by starting a new object).
pub struct TableWriter {
    magic: [u8; 8],
    key_len: usize,
    table_id: [u8; 16],
    out: Vec<u8>,
    block: Vec<u8>,
    block_first: Vec<u8>,
    block_entries: u32,
    last: Vec<u8>,
    blocks: Vec<BlockRef>,
    entries: u64,
    target: usize,
}

impl TableWriter {
    /// A writer of `key_len`-byte keys (1–32).
    pub fn new(magic: &[u8; 8], key_len: usize) -> TableWriter {
        Self::with_block_target(magic, key_len, BLOCK_TARGET)
    }

    /// As [`TableWriter::new`] with another block size (tests use small blocks).
    pub fn with_block_target(magic: &[u8; 8], key_len: usize, target: usize) -> TableWriter {
        assert!((1..=32).contains(&key_len), "table key length {key_len}");
        let mut table_id = [0u8; 16];
        crate::crypto::random_bytes(&mut table_id);
        TableWriter {
            magic: *magic,
            key_len,
            table_id,
            out: magic.to_vec(),
            block: Vec::new(),
            block_first: Vec::new(),
            block_entries: 0,
            last: Vec::new(),
            blocks: Vec::new(),
            entries: 0,
            target: target.max(1),
        }
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes written so far (sealed blocks plus the open block's raw bytes): for callers that
    /// split output into several objects.
    pub fn len(&self) -> usize {
        self.out.len() + self.block.len()
    }

    /// True before the first entry.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Append one entry. Keys must come in non-decreasing order (a caller bug otherwise).
    pub fn add(&mut self, keys: &Keys, key: &[u8], value: &[u8]) {
        assert_eq!(key.len(), self.key_len, "table key length");
        assert!(self.entries == 0 || key >= self.last.as_slice(), "table keys out of order");
        if self.block_entries == 0 {
            self.block_first = key.to_vec();
        }
        self.block.extend_from_slice(key);
        self.block.extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.block.extend_from_slice(value);
        self.block_entries += 1;
        self.entries += 1;
        self.last = key.to_vec();
        if self.block.len() >= self.target {
            self.seal_block(keys);
        }
    }

    fn seal_block(&mut self, keys: &Keys) {
        if self.block_entries == 0 {
            return;
        }
        let i = self.blocks.len() as u32;
        let offset = self.out.len() as u64;
        let frame = compress::encode_vec(&self.block, 1);
        keys.seal_into(&block_aad(&self.magic, &self.table_id, i), &[&frame], &mut self.out);
        self.blocks.push(BlockRef {
            first: std::mem::take(&mut self.block_first),
            offset,
            sealed_len: (self.out.len() as u64 - offset) as u32,
            entries: self.block_entries,
        });
        self.block.clear();
        self.block_entries = 0;
    }

    /// The finished object and its footer.
    pub fn finish(mut self, keys: &Keys) -> (Vec<u8>, Footer) {
        self.seal_block(keys);
        let footer = Footer {
            table_id: self.table_id,
            key_len: self.key_len,
            entries: self.entries,
            blocks: std::mem::take(&mut self.blocks),
            last: std::mem::take(&mut self.last),
        };
        let f = encode_footer(&footer);
        let before = self.out.len();
        keys.seal_into(&footer_aad(&self.magic, &self.table_id), &[&compress::encode_vec(&f, 1)], &mut self.out);
        let footer_len = (self.out.len() - before) as u32;
        self.out.extend_from_slice(&self.table_id);
        self.out.extend_from_slice(&footer_len.to_le_bytes());
        self.out.extend_from_slice(&self.magic);
        (self.out, footer)
    }
}

/// A footer's plaintext (its `table_id` is not part of it: it sits in the trailer).
pub fn encode_footer(f: &Footer) -> Vec<u8> {
    let mut v = vec![VERSION, f.key_len as u8];
    v.extend_from_slice(&f.entries.to_le_bytes());
    v.extend_from_slice(&(f.blocks.len() as u32).to_le_bytes());
    for b in &f.blocks {
        v.extend_from_slice(&b.first);
        v.extend_from_slice(&b.offset.to_le_bytes());
        v.extend_from_slice(&b.sealed_len.to_le_bytes());
        v.extend_from_slice(&b.entries.to_le_bytes());
    }
    if !f.blocks.is_empty() {
        v.extend_from_slice(&f.last);
    }
    v
}

/// From the last `TRAILER` (or more) bytes of an object of `object_len` bytes: the table id and
/// the byte range of the sealed footer.
pub fn parse_trailer(tail: &[u8], object_len: u64, magic: &[u8; 8]) -> Result<([u8; 16], Range<u64>)> {
    if tail.len() < TRAILER || object_len < (8 + TRAILER) as u64 || tail.len() as u64 > object_len {
        return Err(Error::corrupt("table object is shorter than its trailer"));
    }
    let t = &tail[tail.len() - TRAILER..];
    if &t[20..28] != magic {
        return Err(Error::corrupt(format!("table object does not end with {:?}", String::from_utf8_lossy(magic))));
    }
    let table_id: [u8; 16] = t[0..16].try_into().unwrap();
    let footer_len = u32::from_le_bytes(t[16..20].try_into().unwrap()) as u64;
    let end = object_len - TRAILER as u64;
    if footer_len > end - 8 {
        return Err(Error::corrupt("table object: footer longer than the object"));
    }
    Ok((table_id, end - footer_len..end))
}

/// Open and check a sealed footer (`footer_at` = its byte range, from [`parse_trailer`]).
pub fn open_footer(
    keys: &Keys,
    magic: &[u8; 8],
    table_id: [u8; 16],
    sealed: &[u8],
    footer_at: Range<u64>,
) -> Result<Footer> {
    let frame = keys.open(&footer_aad(magic, &table_id), sealed, &"table footer")?;
    let f = decode_footer(&compress::decode(&frame)?, table_id)?;
    if f.blocks_end() != footer_at.start {
        return Err(Error::corrupt("table footer does not match its blocks"));
    }
    Ok(f)
}

/// Parse a footer's plaintext (see [`open_footer`], which also checks where the blocks end).
pub fn decode_footer(plain: &[u8], table_id: [u8; 16]) -> Result<Footer> {
    let mut c = Cursor::new(plain, "table footer");
    if c.u8()? != VERSION {
        return Err(Error::corrupt("table footer: unknown version"));
    }
    let key_len = c.u8()? as usize;
    if !(1..=32).contains(&key_len) {
        return Err(Error::corrupt("table footer: bad key length"));
    }
    let entries = c.u64()?;
    let n = c.count(key_len + 16)?;
    let mut blocks = Vec::with_capacity(n);
    let mut expect = 8u64;
    let mut total = 0u64;
    for _ in 0..n {
        let first = c.take_bytes(key_len)?.to_vec();
        let offset = c.u64()?;
        let sealed_len = c.u32()?;
        let count = c.u32()?;
        if offset != expect || count == 0 {
            return Err(Error::corrupt("table footer: blocks are not contiguous"));
        }
        if blocks.last().is_some_and(|b: &BlockRef| b.first > first) {
            return Err(Error::corrupt("table footer: blocks out of key order"));
        }
        expect = offset + sealed_len as u64;
        total += count as u64;
        blocks.push(BlockRef { first, offset, sealed_len, entries: count });
    }
    if total != entries {
        return Err(Error::corrupt("table footer does not match its blocks"));
    }
    let last = if n > 0 { c.take_bytes(key_len)?.to_vec() } else { Vec::new() };
    c.finish()?;
    if blocks.last().is_some_and(|b| b.first > last) {
        return Err(Error::corrupt("table footer: last key below a block's first"));
    }
    Ok(Footer { table_id, key_len, entries, blocks, last })
}

/// One decoded block: entries in key order.
#[derive(Debug, Clone)]
pub struct Block {
    plain: Vec<u8>,
    /// (key start, value start, value end) per entry.
    at: Vec<(u32, u32, u32)>,
    key_len: usize,
}

impl Block {
    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.at.iter().map(|&(k, vs, ve)| {
            (&self.plain[k as usize..k as usize + self.key_len], &self.plain[vs as usize..ve as usize])
        })
    }

    /// The values stored under `key`, in order.
    pub fn get<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        let start = self.at.partition_point(|&(k, _, _)| &self.plain[k as usize..k as usize + self.key_len] < key);
        self.at[start..]
            .iter()
            .take_while(move |&&(k, _, _)| &self.plain[k as usize..k as usize + self.key_len] == key)
            .map(|&(_, vs, ve)| &self.plain[vs as usize..ve as usize])
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// True when the block holds no entry.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}

/// Open block `i` of a table whose footer is `f`, checking its entries against the footer.
pub fn open_block(keys: &Keys, magic: &[u8; 8], f: &Footer, i: usize, sealed: &[u8]) -> Result<Block> {
    if i >= f.blocks.len() {
        return Err(Error::corrupt("table block outside the footer"));
    }
    let frame = keys.open(&block_aad(magic, &f.table_id, i as u32), sealed, &format_args!("table block {i}"))?;
    decode_block(compress::decode(&frame)?, f, i)
}

/// Parse block `i`'s plaintext against its footer (see [`open_block`]).
pub fn decode_block(plain: Vec<u8>, f: &Footer, i: usize) -> Result<Block> {
    let b = f.blocks.get(i).ok_or_else(|| Error::corrupt("table block outside the footer"))?;
    let what = format!("table block {i}");
    let k = f.key_len;
    let mut at = Vec::with_capacity(b.entries as usize);
    let mut pos = 0usize;
    let next_first = f.blocks.get(i + 1).map(|n| n.first.as_slice()).unwrap_or(f.last.as_slice());
    let mut prev: Option<usize> = None;
    while pos < plain.len() {
        if plain.len() - pos < k + 4 {
            return Err(Error::corrupt(format!("{what} is truncated")));
        }
        let key = &plain[pos..pos + k];
        let vlen = u32::from_le_bytes(plain[pos + k..pos + k + 4].try_into().unwrap()) as usize;
        let vs = pos + k + 4;
        if vlen > plain.len() - vs {
            return Err(Error::corrupt(format!("{what}: value outside the block")));
        }
        let in_order = match prev {
            None => key == b.first.as_slice(),
            Some(p) => &plain[p..p + k] <= key,
        };
        if !in_order || key > next_first {
            return Err(Error::corrupt(format!("{what}: keys out of order")));
        }
        prev = Some(pos);
        at.push((pos as u32, vs as u32, (vs + vlen) as u32));
        pos = vs + vlen;
    }
    if at.len() != b.entries as usize {
        return Err(Error::corrupt(format!("{what}: {} entries, footer says {}", at.len(), b.entries)));
    }
    Ok(Block { plain, at, key_len: k })
}

/// Decode a whole table object (merges and verify read them whole).
pub fn open_table(keys: &Keys, magic: &[u8; 8], object: &[u8]) -> Result<(Footer, Vec<Block>)> {
    if !object.starts_with(magic) {
        return Err(Error::corrupt(format!("table object does not start with {:?}", String::from_utf8_lossy(magic))));
    }
    let (id, at) = parse_trailer(object, object.len() as u64, magic)?;
    let f = open_footer(keys, magic, id, &object[at.start as usize..at.end as usize], at)?;
    let blocks = (0..f.blocks.len())
        .map(|i| {
            let r = f.block_range(i);
            open_block(keys, magic, &f, i, &object[r.start as usize..r.end as usize])
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((f, blocks))
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &[u8; 8] = b"KRTEST01";

    fn keys() -> Keys {
        crate::crypto::MasterKey::from_bytes([7u8; 32]).derive()
    }

    fn build(entries: &[(Vec<u8>, Vec<u8>)], target: usize) -> (Vec<u8>, Footer) {
        let k = keys();
        let mut w = TableWriter::with_block_target(M, entries.first().map_or(4, |e| e.0.len()), target);
        for (key, v) in entries {
            w.add(&k, key, v);
        }
        w.finish(&k)
    }

    fn sample(n: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        // Keys 0,0,2,2,4,4,…: every key twice, so runs of equal keys cross block boundaries.
        (0..n).map(|i| ((i / 2 * 2).to_be_bytes().to_vec(), format!("value {i}").into_bytes())).collect()
    }

    #[test]
    fn round_trip_and_lookup_across_block_boundaries() {
        let k = keys();
        let entries = sample(1000);
        let (obj, f) = build(&entries, 100);
        assert!(f.blocks.len() > 20, "{}", f.blocks.len());
        let (f2, blocks) = open_table(&k, M, &obj).unwrap();
        assert_eq!(f, f2);
        let all: Vec<(Vec<u8>, Vec<u8>)> =
            blocks.iter().flat_map(|b| b.iter().map(|(k, v)| (k.to_vec(), v.to_vec()))).collect();
        assert_eq!(all, entries);
        // Ranged reading: trailer, footer, then only the blocks a key needs.
        let (id, at) = parse_trailer(&obj[obj.len() - 40..], obj.len() as u64, M).unwrap();
        let f3 = open_footer(&k, M, id, &obj[at.start as usize..at.end as usize], at).unwrap();
        for i in 0..1000u32 {
            let key = i.to_be_bytes();
            let mut found = Vec::new();
            for b in f3.blocks_for(&key) {
                let r = f3.block_range(b);
                let blk = open_block(&k, M, &f3, b, &obj[r.start as usize..r.end as usize]).unwrap();
                found.extend(blk.get(&key).map(|v| v.to_vec()));
            }
            let want: Vec<Vec<u8>> = entries.iter().filter(|e| e.0 == key).map(|e| e.1.clone()).collect();
            assert_eq!(found, want, "key {i}");
        }
        assert!(f3.blocks_for(&5000u32.to_be_bytes()).is_empty());
    }

    #[test]
    fn empty_table() {
        let (obj, f) = build(&[], 100);
        assert_eq!(f.entries, 0);
        let (f2, blocks) = open_table(&keys(), M, &obj).unwrap();
        assert!(blocks.is_empty() && f2.blocks.is_empty());
        assert!(f2.blocks_for(&[0, 0, 0, 0]).is_empty());
    }

    #[test]
    fn damage_and_misplaced_blocks_are_refused() {
        let k = keys();
        let (obj, f) = build(&sample(300), 100);
        // One flipped byte anywhere in a block or the footer.
        for at in [8usize, f.blocks[1].offset as usize + 30, obj.len() - TRAILER - 10] {
            let mut bad = obj.clone();
            bad[at] ^= 1;
            assert!(open_table(&k, M, &bad).is_err(), "flip at {at}");
        }
        // A block presented as another one.
        let r0 = f.block_range(0);
        assert!(open_block(&k, M, &f, 1, &obj[r0.start as usize..r0.end as usize]).is_err());
        // A block of another table (same keys, other table id).
        let (other, g) = build(&sample(300), 100);
        let r = g.block_range(0);
        assert!(open_block(&k, M, &f, 0, &other[r.start as usize..r.end as usize]).is_err());
        // Wrong magic, truncation, garbage.
        assert!(open_table(&k, b"KRTEST02", &obj).is_err());
        assert!(open_table(&k, M, &obj[..obj.len() - 1]).is_err());
        assert!(parse_trailer(&[0; 10], 10, M).is_err());
        assert!(open_table(&k, M, b"KRTEST01 and some bytes that are not a table...").is_err());
    }

    #[test]
    #[should_panic(expected = "out of order")]
    fn writer_refuses_unsorted_keys() {
        let k = keys();
        let mut w = TableWriter::new(M, 2);
        w.add(&k, &[0, 2], b"");
        w.add(&k, &[0, 1], b"");
    }
}

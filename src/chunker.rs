//! Content-defined chunking of a byte stream with FastCDC (v2020 cut points).
//!
//! [`StreamChunker`] reads large blocks from any `Read`, finds cut points with
//! `fastcdc::v2020::cut_gear` and hands out chunks as [`Bytes`] slices of the block, so no
//! chunk is copied. The gear table is XOR-ed with a per-repository seed (derived from the
//! master key) so cut points are not the same in every repository.
//!
//! Pure CPU + the reader: this module neither hashes nor stores anything.

use crate::error::{Error, Result};
use crate::pool::BufPool;
use bytes::Bytes;
use fastcdc::v2020::{Normalization, cut_gear, get_gear_with_seed, select_masks};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::io::Read;

/// Chunk size parameters, stored in the repository config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkerParams {
    /// Smallest chunk (except the last one of a stream).
    pub min_size: u32,
    /// Target average.
    pub avg_size: u32,
    /// Largest chunk.
    pub max_size: u32,
    /// FastCDC normalization level (0..=3).
    pub normalization: u8,
}

impl Default for ChunkerParams {
    /// The measured default (docs/architecture.md §Chunk size): 4 KiB / 8 KiB / 64 KiB, level 1.
    fn default() -> Self {
        ChunkerParams { min_size: 4096, avg_size: 8192, max_size: 65536, normalization: 1 }
    }
}

impl ChunkerParams {
    /// Check the limits of `fastcdc` v2020 and that all sizes are even.
    pub fn validate(&self) -> Result<()> {
        let ok = (64..=1 << 20).contains(&self.min_size)
            && (256..=4 << 20).contains(&self.avg_size)
            && (1024..=16 << 20).contains(&self.max_size)
            && self.min_size <= self.avg_size
            && self.avg_size <= self.max_size
            && self.min_size % 2 == 0
            && self.avg_size % 2 == 0
            && self.max_size % 2 == 0
            && self.normalization <= 3;
        if ok { Ok(()) } else { Err(Error::invalid(format!("invalid chunker parameters {self:?}"))) }
    }

    fn level(&self) -> Normalization {
        match self.normalization {
            0 => Normalization::Level0,
            1 => Normalization::Level1,
            2 => Normalization::Level2,
            _ => Normalization::Level3,
        }
    }
}

/// Cut-point finder configured for one repository.
#[derive(Clone)]
pub struct Cutter {
    p: ChunkerParams,
    mask_s: u64,
    mask_l: u64,
    gear: Cow<'static, [u64]>,
    gear_ls: Cow<'static, [u64]>,
}

impl Cutter {
    /// A cutter with the given parameters and gear seed.
    pub fn new(p: ChunkerParams, seed: u64) -> Result<Cutter> {
        p.validate()?;
        let (mask_s, mask_l) = select_masks(p.avg_size as usize, p.level());
        let (gear, gear_ls) = get_gear_with_seed(seed);
        Ok(Cutter { p, mask_s, mask_l, gear, gear_ls })
    }

    /// The parameters.
    pub fn params(&self) -> ChunkerParams {
        self.p
    }

    /// Length of the next chunk at the start of `data`. Only valid when `data` holds at least
    /// `max_size` bytes or is the end of the stream.
    pub fn next_len(&self, data: &[u8]) -> usize {
        let (_, n) = cut_gear(
            data,
            self.p.min_size as usize,
            self.p.avg_size as usize,
            self.p.max_size as usize,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
            &self.gear,
            &self.gear_ls,
        );
        n
    }

    /// All chunk lengths of a complete in-memory buffer (for tests and tools).
    pub fn split<'a>(&self, mut data: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let n = self.next_len(data);
            let (c, rest) = data.split_at(n);
            out.push(c);
            data = rest;
        }
        out
    }
}

/// Reads a stream and returns it as batches of content-defined chunks.
///
/// Each batch is one block read from the stream; its chunks are slices of one pooled buffer,
/// which returns to the pool once every chunk of the batch has been dropped. The bytes after
/// the last cut point (less than one maximum chunk) are carried into the next block.
pub struct StreamChunker<R> {
    reader: R,
    cutter: Cutter,
    pool: std::sync::Arc<BufPool>,
    tail: Vec<u8>,
    block: usize,
    eof: bool,
    total: u64,
}

impl<R: Read> StreamChunker<R> {
    /// Chunk `reader`, reading about `block` bytes at a time (at least 4 × max chunk size).
    pub fn new(reader: R, cutter: Cutter, block: usize) -> Self {
        Self::with_pool_size(reader, cutter, block, 4)
    }

    /// Like [`StreamChunker::new`], keeping up to `keep` idle blocks for reuse (set it to the
    /// number of batches the consumer holds at once, so steady state allocates nothing).
    pub fn with_pool_size(reader: R, cutter: Cutter, block: usize, keep: usize) -> Self {
        let block = block.max(4 * cutter.p.max_size as usize);
        let pool = BufPool::new(block + cutter.p.max_size as usize, keep);
        StreamChunker { reader, cutter, pool, tail: Vec::new(), block, eof: false, total: 0 }
    }

    /// The reader back (after the end of the stream).
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.total
    }

    /// The next batch of chunks in stream order; `Ok(None)` at the end of the stream.
    pub fn next_batch(&mut self) -> std::io::Result<Option<Vec<Bytes>>> {
        Ok(self.next_block()?.map(|(_, chunks)| chunks))
    }

    /// Like [`StreamChunker::next_batch`], also returning the block the chunks are slices of
    /// (exactly their concatenation), so a consumer can hash the stream in large pieces.
    pub fn next_block(&mut self) -> std::io::Result<Option<(Bytes, Vec<Bytes>)>> {
        if self.eof && self.tail.is_empty() {
            return Ok(None);
        }
        let mut buf = self.pool.take();
        buf.extend_from_slice(&self.tail);
        self.tail.clear();
        let filled = buf.len();
        if !self.eof && filled < self.block {
            // `read_to_end` fills the reserved capacity without zeroing it first when the reader
            // supports it (files, stdin), and loops over short reads (pipes). Fewer bytes than
            // asked for means the stream ended.
            let want = (self.block - filled) as u64;
            match (&mut self.reader).take(want).read_to_end(&mut buf) {
                Ok(n) => {
                    self.total += n as u64;
                    self.eof = (n as u64) < want;
                }
                Err(e) => {
                    self.pool.give(buf);
                    return Err(e);
                }
            }
        }
        let max = self.cutter.p.max_size as usize;
        let mut cuts = Vec::new();
        let mut pos = 0;
        while pos < buf.len() && (self.eof || buf.len() - pos >= max) {
            let n = self.cutter.next_len(&buf[pos..]);
            cuts.push((pos, pos + n));
            pos += n;
        }
        self.tail.extend_from_slice(&buf[pos..]);
        buf.truncate(pos);
        if cuts.is_empty() {
            self.pool.give(buf);
            return if self.eof && self.tail.is_empty() { Ok(None) } else { Ok(Some((Bytes::new(), Vec::new()))) };
        }
        let block = self.pool.bytes(buf);
        let chunks = cuts.into_iter().map(|(s, e)| block.slice(s..e)).collect();
        Ok(Some((block, chunks)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testdata::pseudo_random as data;

    /// A reader returning short reads, like a pipe.
    struct Dribble<'a>(&'a [u8], usize);
    impl Read for Dribble<'_> {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            let n = b.len().min(self.1).min(self.0.len());
            b[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn stream_matches_slice_chunking() {
        let cutter = Cutter::new(ChunkerParams::default(), 42).unwrap();
        let d = data(3_000_000, 9);
        let want: Vec<&[u8]> = cutter.split(&d);
        let mut sc = StreamChunker::new(Dribble(&d, 65536 + 17), cutter.clone(), 1 << 18);
        let mut got = Vec::new();
        while let Some(b) = sc.next_batch().unwrap() {
            got.extend(b);
        }
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(&g[..], *w);
        }
        assert_eq!(sc.bytes_read(), d.len() as u64);
        let p = ChunkerParams::default();
        for c in &got[..got.len() - 1] {
            assert!(c.len() >= p.min_size as usize && c.len() <= p.max_size as usize);
        }
    }

    #[test]
    fn seed_changes_cut_points() {
        let d = data(1_000_000, 3);
        let a = Cutter::new(ChunkerParams::default(), 1).unwrap();
        let b = Cutter::new(ChunkerParams::default(), 2).unwrap();
        let la: Vec<usize> = a.split(&d).iter().map(|c| c.len()).collect();
        let lb: Vec<usize> = b.split(&d).iter().map(|c| c.len()).collect();
        assert_ne!(la, lb);
    }

    #[test]
    fn invalid_params() {
        let p = ChunkerParams { avg_size: 3, ..ChunkerParams::default() };
        assert!(p.validate().is_err());
        let p = ChunkerParams { min_size: 4096, avg_size: 2048, max_size: 65536, normalization: 1 };
        assert!(p.validate().is_err());
    }
}

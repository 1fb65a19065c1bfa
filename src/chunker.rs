//! Content-defined chunking of a byte stream with FastCDC (v2020 cut points).
//!
//! [`StreamChunker`] reads large blocks from any `Read`, finds cut points with
//! `fastcdc::v2020::cut_gear` and hands out chunks as [`Bytes`] slices of the block, so no
//! chunk is copied. The gear table is XOR-ed with a per-repository seed (derived from the
//! master key) so cut points are not the same in every repository.
//!
//! A [`CutPlan`] may find the cuts another way (a push following its parent's cuts,
//! repo::follow), as long as they are the cuts [`Cutter::next_len`] would make.
//!
//! Pure CPU + the reader: this module neither hashes nor stores anything (a reading thread hands
//! each block it reads to its caller's [`Tee`] first, which may).

use crate::error::{Error, Result};
use crate::id::Id;
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

/// Where the chunks of a stream end. An implementation must return exactly the cut that
/// [`Cutter::next_len`] returns for the same `data` (the chunking of a stream never depends on
/// how it was found), and may also return the chunk's id when it computed it.
pub trait CutPlan {
    /// Length of the chunk at the start of `data` (which holds at least `max_size` bytes or is
    /// the end of the stream), and the chunk's id if known.
    fn cut(&mut self, data: &[u8]) -> (usize, Option<Id>);
}

impl CutPlan for Cutter {
    fn cut(&mut self, data: &[u8]) -> (usize, Option<Id>) {
        (self.next_len(data), None)
    }
}

/// A batch of chunks (slices of one block), each with its id when the [`CutPlan`] computed it.
pub type PlannedBatch = Vec<(Option<Id>, Bytes)>;

/// Reads a stream and returns it as batches of content-defined chunks.
///
/// Each batch is one block read from the stream; its chunks are slices of one pooled buffer,
/// which returns to the pool once every chunk of the batch has been dropped. The bytes after
/// the last cut point (less than one maximum chunk) are carried into the next block.
///
/// Read on the caller's thread ([`StreamChunker::new`]), or ahead on a thread of its own
/// ([`StreamChunker::read_ahead`]: the copy out of the kernel then runs beside the cutting).
pub struct StreamChunker<R> {
    source: Source<R>,
    cutter: Cutter,
    pool: std::sync::Arc<BufPool>,
    tail: Vec<u8>,
    block: usize,
    eof: bool,
    total: u64,
}

/// A block read ahead: a buffer whose first `max_size` bytes are room for the tail of the
/// block before, the bytes read after them, and whether the stream ended.
type ReadBlock = std::io::Result<(Vec<u8>, bool)>;

/// What a reading thread ([`StreamChunker::read_ahead_tee`]) hands each block it reads to, and
/// whether the stream ended with it.
pub type Tee = Box<dyn FnMut(&[u8], bool) + Send>;

/// Blocks a reading thread may have queued that the chunker has not taken yet (one more may be
/// held by the thread, waiting for room).
const READ_AHEAD: usize = 2;

enum Source<R> {
    /// Read on the caller's thread.
    Here(R),
    /// Read by a thread of its own (it stops when this is dropped and it next reads a block).
    Ahead(std::sync::mpsc::Receiver<ReadBlock>),
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
        StreamChunker { source: Source::Here(reader), cutter, pool, tail: Vec::new(), block, eof: false, total: 0 }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.total
    }

    /// The next batch of chunks in stream order (possibly empty); `Ok(None)` at the end of the
    /// stream.
    pub fn next_batch(&mut self) -> std::io::Result<Option<Vec<Bytes>>> {
        let mut cdc = self.cutter.clone();
        Ok(self.next_batch_with(&mut cdc)?.map(|chunks| chunks.into_iter().map(|c| c.1).collect()))
    }

    /// The next bytes to cut: a buffer, and where in it they start (the tail carried over
    /// first).
    fn fill(&mut self) -> std::io::Result<(Vec<u8>, usize)> {
        match &mut self.source {
            Source::Ahead(rx) if !self.eof => {
                let (mut buf, eof) = rx.recv().unwrap_or_else(|_| {
                    Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the thread reading the input stopped"))
                })?;
                let gap = self.cutter.p.max_size as usize;
                let start = gap - self.tail.len();
                buf[start..gap].copy_from_slice(&self.tail);
                self.tail.clear();
                self.total += (buf.len() - gap) as u64;
                self.eof = eof;
                Ok((buf, start))
            }
            Source::Ahead(_) => {
                // After the end (not reached: the block that ends the stream is cut to its end).
                let mut buf = self.pool.take();
                buf.extend_from_slice(&self.tail);
                self.tail.clear();
                Ok((buf, 0))
            }
            Source::Here(reader) => {
                let mut buf = self.pool.take();
                buf.extend_from_slice(&self.tail);
                self.tail.clear();
                let filled = buf.len();
                if !self.eof && filled < self.block {
                    let want = (self.block - filled) as u64;
                    match read_block(reader, want, &mut buf) {
                        Ok((n, eof)) => {
                            self.total += n as u64;
                            self.eof = eof;
                        }
                        Err(e) => {
                            self.pool.give(buf);
                            return Err(e);
                        }
                    }
                }
                Ok((buf, 0))
            }
        }
    }

    /// Like [`StreamChunker::next_batch`], with the cuts found by `plan`, and each chunk with the id
    /// the plan computed for it, if any.
    pub fn next_batch_with(&mut self, plan: &mut dyn CutPlan) -> std::io::Result<Option<PlannedBatch>> {
        if self.eof && self.tail.is_empty() {
            return Ok(None);
        }
        let (mut buf, start) = self.fill()?;
        let max = self.cutter.p.max_size as usize;
        let mut cuts = Vec::new();
        let mut pos = start;
        while pos < buf.len() && (self.eof || buf.len() - pos >= max) {
            let (n, id) = plan.cut(&buf[pos..]);
            debug_assert!(n > 0 && pos + n <= buf.len());
            cuts.push((pos, pos + n, id));
            pos += n;
        }
        self.tail.extend_from_slice(&buf[pos..]);
        buf.truncate(pos);
        if cuts.is_empty() {
            self.pool.give(buf);
            return if self.eof && self.tail.is_empty() { Ok(None) } else { Ok(Some(Vec::new())) };
        }
        let block = self.pool.bytes(buf);
        Ok(Some(cuts.into_iter().map(|(s, e, id)| (id, block.slice(s..e))).collect()))
    }
}

impl<R: Read + Send + 'static> StreamChunker<R> {
    /// Like [`StreamChunker::with_pool_size`], reading on a thread of its own, up to
    /// [`READ_AHEAD`] + 1 blocks ahead of the cutting. A read error reaches the caller after the
    /// blocks read before it. The thread ends when this is dropped, at its next block (a read
    /// it is blocked in, on a pipe whose producer stalls, ends with the producer).
    pub fn read_ahead(reader: R, cutter: Cutter, block: usize, keep: usize) -> std::io::Result<Self> {
        Self::read_ahead_tee(reader, cutter, block, keep, Box::new(|_: &[u8], _: bool| {}))
    }

    /// Like [`StreamChunker::read_ahead`], handing every block to `tee` on the reading thread as
    /// it is read, before the chunker sees it: the bytes exactly as the reader returned them, in
    /// order (`true` with the last, possibly empty, block; never after a read error). The tee
    /// may see blocks, even the last, that the chunker never gets when it is dropped early: the
    /// end flag says that the stream was read to its end, not that it was cut.
    pub fn read_ahead_tee(
        mut reader: R,
        cutter: Cutter,
        block: usize,
        keep: usize,
        mut tee: Tee,
    ) -> std::io::Result<Self> {
        let block = block.max(4 * cutter.p.max_size as usize);
        let gap = cutter.p.max_size as usize;
        let pool = BufPool::new(block + gap, keep + READ_AHEAD + 1);
        let (tx, rx) = std::sync::mpsc::sync_channel::<ReadBlock>(READ_AHEAD);
        let blocks = pool.clone();
        std::thread::Builder::new().name("kando-input".into()).spawn(move || {
            loop {
                let mut buf = blocks.take();
                buf.resize(gap, 0);
                match read_block(&mut reader, block as u64, &mut buf) {
                    Ok((_, eof)) => {
                        tee(&buf[gap..], eof);
                        if tx.send(Ok((buf, eof))).is_err() || eof {
                            return;
                        }
                    }
                    Err(e) => {
                        blocks.give(buf);
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        })?;
        Ok(StreamChunker { source: Source::Ahead(rx), cutter, pool, tail: Vec::new(), block, eof: false, total: 0 })
    }
}

/// Read up to `want` bytes onto the end of `buf`: how many, and whether the stream ended.
fn read_block(reader: &mut impl Read, want: u64, buf: &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    // `read_to_end` fills the reserved capacity without zeroing it first when the reader
    // supports it (files, stdin), and loops over short reads (pipes). Fewer bytes than asked
    // for means the stream ended.
    let n = reader.take(want).read_to_end(buf)?;
    Ok((n, (n as u64) < want))
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

    /// An owned reader returning short reads, then an error after `fail_at` bytes if set.
    struct OwnedDribble(std::io::Cursor<Vec<u8>>, usize, Option<u64>);
    impl Read for OwnedDribble {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            if self.2.is_some_and(|at| self.0.position() >= at) {
                return Err(std::io::Error::other("producer failed"));
            }
            let n = b.len().min(self.1);
            self.0.read(&mut b[..n])
        }
    }

    #[test]
    fn reading_ahead_cuts_the_same_chunks() {
        let cutter = Cutter::new(ChunkerParams::default(), 42).unwrap();
        for len in [0, 1, 70_000, 3_000_000] {
            let d = data(len, 9);
            let want: Vec<&[u8]> = cutter.split(&d);
            let reader = OwnedDribble(std::io::Cursor::new(d.clone()), 65536 + 17, None);
            let (tee, teed) = recording_tee();
            let mut sc = StreamChunker::read_ahead_tee(reader, cutter.clone(), 1 << 18, 2, tee).unwrap();
            let (mut got, mut stream) = (Vec::new(), Vec::new());
            while let Some(chunks) = sc.next_batch().unwrap() {
                chunks.iter().for_each(|c| stream.extend_from_slice(c));
                got.extend(chunks);
            }
            assert_eq!(stream, d);
            assert_eq!(got.len(), want.len());
            assert!(got.iter().zip(&want).all(|(g, w)| &g[..] == *w));
            assert_eq!(sc.bytes_read(), d.len() as u64);
            // The tee saw every byte, in order, and the end once, with the last block.
            let (bytes, ends) = std::mem::take(&mut *teed.lock().unwrap());
            assert!(bytes == d, "len {len}: the tee saw other bytes");
            assert_eq!(ends.iter().filter(|e| **e).count(), 1);
            assert_eq!(ends.last(), Some(&true));
        }
    }

    /// A tee recording the bytes it is handed and the end flags.
    fn recording_tee() -> (Tee, std::sync::Arc<std::sync::Mutex<(Vec<u8>, Vec<bool>)>>) {
        let rec: std::sync::Arc<std::sync::Mutex<(Vec<u8>, Vec<bool>)>> = Default::default();
        let r = rec.clone();
        let tee: Tee = Box::new(move |b: &[u8], end: bool| {
            let mut r = r.lock().unwrap();
            r.0.extend_from_slice(b);
            r.1.push(end);
        });
        (tee, rec)
    }

    #[test]
    fn a_read_error_comes_after_the_blocks_read_before_it() {
        let cutter = Cutter::new(ChunkerParams::default(), 42).unwrap();
        let d = data(3_000_000, 5);
        let reader = OwnedDribble(std::io::Cursor::new(d.clone()), 1 << 16, Some(1_500_000));
        let (tee, teed) = recording_tee();
        let mut sc = StreamChunker::read_ahead_tee(reader, cutter, 1 << 18, 2, tee).unwrap();
        let mut stream = Vec::new();
        let err = loop {
            match sc.next_batch() {
                Ok(Some(chunks)) => chunks.iter().for_each(|c| stream.extend_from_slice(c)),
                Ok(None) => panic!("the stream cannot end without its error"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.to_string(), "producer failed");
        // Every whole block read before the error was cut (less than one block and a tail lost).
        assert!(stream.len() >= 1_500_000 - (1 << 18) - 65536, "{}", stream.len());
        assert_eq!(&stream[..], &d[..stream.len()]);
        // The tee saw the blocks read before the error, and never the end.
        let teed = teed.lock().unwrap();
        assert!(teed.0.len() >= stream.len() && teed.0 == d[..teed.0.len()]);
        assert!(!teed.1.contains(&true));
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

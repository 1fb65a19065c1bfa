//! Byte formats of repository objects (docs/format.md is the normative description).
//!
//! Every decoder here takes untrusted bytes and returns an error, never panics: these are the
//! entry points of the fuzz targets. Encoders and decoders only; no I/O, no backend access.

pub mod config;
pub mod index;
pub mod locator;
pub mod pack;
pub mod snapshot;
pub mod table;
pub mod tree;

use crate::error::{Error, Result};
use crate::id::Id;

/// A bounds-checked little-endian reader over untrusted bytes.
pub(crate) struct Cursor<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(b: &'a [u8], what: &'static str) -> Self {
        Cursor { b, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() < n {
            return Err(Error::corrupt(format!("{} is truncated", self.what)));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    pub(crate) fn take_bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        self.take(n)
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    pub(crate) fn id(&mut self) -> Result<Id> {
        Ok(Id::from_slice(self.take(32)?))
    }
    /// A count of items of `item_size` bytes each that must fit in the remaining input.
    pub(crate) fn count(&mut self, item_size: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(item_size) > self.b.len() {
            return Err(Error::corrupt(format!("{} claims {n} entries, more than it holds", self.what)));
        }
        Ok(n)
    }
    pub(crate) fn finish(self) -> Result<()> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(Error::corrupt(format!("{} has {} trailing bytes", self.what, self.b.len())))
        }
    }
}

/// Like [`Cursor`], over a stream of a declared length (a frame decoded as it is read):
/// counts are checked against what is left of that length, and [`ReadCursor::finish`] checks
/// that the stream ends exactly there.
pub(crate) struct ReadCursor<R> {
    r: R,
    left: usize,
    what: &'static str,
}

impl<R: std::io::Read> ReadCursor<R> {
    pub(crate) fn new(r: R, len: usize, what: &'static str) -> Self {
        ReadCursor { r, left: len, what }
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        if self.left < N {
            return Err(Error::corrupt(format!("{} is truncated", self.what)));
        }
        self.r.read_exact(&mut a).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::corrupt(format!("{} is truncated", self.what)),
            _ => Error::corrupt(format!("{}: {e}", self.what)),
        })?;
        self.left -= N;
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn id(&mut self) -> Result<Id> {
        Ok(Id(self.array()?))
    }
    /// The next `n` bytes into `buf` (replacing its content): one read for a run of records.
    pub(crate) fn read_into(&mut self, buf: &mut Vec<u8>, n: usize) -> Result<()> {
        if self.left < n {
            return Err(Error::corrupt(format!("{} is truncated", self.what)));
        }
        buf.clear();
        buf.resize(n, 0);
        self.r.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::corrupt(format!("{} is truncated", self.what)),
            _ => Error::corrupt(format!("{}: {e}", self.what)),
        })?;
        self.left -= n;
        Ok(())
    }
    /// A count of items of `item_size` bytes each that must fit in the remaining length.
    pub(crate) fn count(&mut self, item_size: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(item_size) > self.left {
            return Err(Error::corrupt(format!("{} claims {n} entries, more than it holds", self.what)));
        }
        Ok(n)
    }
    pub(crate) fn finish(mut self) -> Result<()> {
        if self.left != 0 {
            return Err(Error::corrupt(format!("{} has {} trailing bytes", self.what, self.left)));
        }
        let mut one = [0u8; 1];
        match self.r.read(&mut one) {
            Ok(0) => Ok(()),
            Ok(_) => Err(Error::corrupt(format!("{} is longer than it declares", self.what))),
            Err(e) => Err(Error::corrupt(format!("{}: {e}", self.what))),
        }
    }
}

/// Split a sealed metadata object into (magic-checked) sealed body.
pub(crate) fn strip_magic<'a>(bytes: &'a [u8], magic: &[u8; 8], what: &str) -> Result<&'a [u8]> {
    match bytes.strip_prefix(magic.as_slice()) {
        Some(rest) => Ok(rest),
        None => Err(Error::corrupt(format!("{what} does not start with {:?}", String::from_utf8_lossy(magic)))),
    }
}

//! Frames: the plaintext inside every sealed blob and metadata object.
//!
//! `frame = codec u8 || raw_len u32 LE || payload`, codec 0 = stored, 1 = zstd. A frame is
//! stored raw whenever zstd does not make it smaller. One zstd context per thread is reused.
//! Decoding refuses frames that claim more than [`MAX_FRAME`] bytes, so hostile input cannot
//! make us allocate without bound. No I/O, no crypto here.

use crate::error::{Error, Result};
use std::cell::RefCell;

/// Codec byte: payload stored as is.
pub const CODEC_STORED: u8 = 0;
/// Codec byte: payload is one zstd frame.
pub const CODEC_ZSTD: u8 = 1;
/// Bytes of the frame header.
pub const FRAME_HEADER: usize = 5;
/// Largest raw frame accepted when decoding (64 MiB).
pub const MAX_FRAME: usize = 64 << 20;

/// How to compress. Only writers need this: every frame decodes the same way, whatever the
/// parameters that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// zstd level (0 = store raw).
    pub level: i32,
    /// zstd strategy number (1 = fast, 2 = dfast, … 9 = btultra2) instead of the level's.
    pub strategy: Option<u32>,
    /// log2 of the match-finder hash table entries instead of the level's.
    pub hash_log: Option<u32>,
    /// log2 of the second (chain) table entries instead of the level's.
    pub chain_log: Option<u32>,
}

impl Params {
    /// Data frames by default: zstd level 2 with the double-fast match finder and larger
    /// tables (hash 2^18, chain 2^14). On the benchmark pg_dump in 1 MiB frames this stores
    /// 182.0 MB where plain level 2 stores 186.6 MB and level 3 184.2 MB, at ~87% of level
    /// 2's speed (level 3: ~55%). See docs/benchmarks.md.
    pub const DATA: Params = Params { level: 2, strategy: Some(2), hash_log: Some(18), chain_log: Some(14) };

    /// Plain `level`, the level's own parameters.
    pub const fn level(level: i32) -> Params {
        Params { level, strategy: None, hash_log: None, chain_log: None }
    }

    /// Check the values against zstd's bounds (a repository config is untrusted input).
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(-7..=22).contains(&self.level) {
            return Err(format!("zstd level {} is outside -7..=22", self.level));
        }
        if let Some(s) = self.strategy
            && !(1..=9).contains(&s)
        {
            return Err(format!("zstd strategy {s} is outside 1..=9"));
        }
        for (name, v) in [("hash_log", self.hash_log), ("chain_log", self.chain_log)] {
            if let Some(v) = v
                && !(6..=26).contains(&v)
            {
                return Err(format!("zstd {name} {v} is outside 6..=26"));
            }
        }
        Ok(())
    }

    fn compressor(&self) -> zstd::bulk::Compressor<'static> {
        use zstd::zstd_safe::{CParameter, Strategy};
        let mut c = zstd::bulk::Compressor::new(self.level).expect("zstd context");
        let set = |c: &mut zstd::bulk::Compressor<'static>, p| c.set_parameter(p).expect("zstd parameter in range");
        if let Some(s) = self.strategy {
            let s = [
                Strategy::ZSTD_fast,
                Strategy::ZSTD_dfast,
                Strategy::ZSTD_greedy,
                Strategy::ZSTD_lazy,
                Strategy::ZSTD_lazy2,
                Strategy::ZSTD_btlazy2,
                Strategy::ZSTD_btopt,
                Strategy::ZSTD_btultra,
                Strategy::ZSTD_btultra2,
            ][s as usize - 1];
            set(&mut c, CParameter::Strategy(s));
        }
        if let Some(h) = self.hash_log {
            set(&mut c, CParameter::HashLog(h));
        }
        if let Some(h) = self.chain_log {
            set(&mut c, CParameter::ChainLog(h));
        }
        c
    }
}

thread_local! {
    static COMPRESSOR: RefCell<Option<(Params, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Compress `raw` into `out` (cleared first; its allocation is reused). Returns the frame
/// header; the payload is `out` when the header says zstd, else `raw` itself (and `out` is
/// left empty).
pub fn encode_into(raw: &[u8], params: Params, out: &mut Vec<u8>) -> [u8; FRAME_HEADER] {
    out.clear();
    let len = u32::try_from(raw.len()).expect("frame fits u32");
    let mut h = [0u8; FRAME_HEADER];
    h[1..].copy_from_slice(&len.to_le_bytes());
    h[0] = CODEC_STORED;
    if params.level != 0 && !raw.is_empty() {
        out.reserve(zstd::zstd_safe::compress_bound(raw.len()));
        let n = COMPRESSOR.with(|c| {
            let mut c = c.borrow_mut();
            if c.as_ref().map(|(p, _)| *p) != Some(params) {
                *c = Some((params, params.compressor()));
            }
            c.as_mut().unwrap().1.compress_to_buffer(raw, out).expect("zstd compression of an in-memory buffer")
        });
        if n < raw.len() {
            h[0] = CODEC_ZSTD;
        } else {
            out.clear();
        }
    }
    h
}

/// Encode into one contiguous buffer (metadata objects).
pub fn encode_vec(raw: &[u8], level: i32) -> Vec<u8> {
    let mut z = Vec::new();
    let h = encode_into(raw, Params::level(level), &mut z);
    let payload: &[u8] = if h[0] == CODEC_ZSTD { &z } else { raw };
    let mut v = Vec::with_capacity(FRAME_HEADER + payload.len());
    v.extend_from_slice(&h);
    v.extend_from_slice(payload);
    v
}

/// A reader of a frame's raw bytes, and their declared length, without decoding the whole
/// frame into memory (a zstd frame is decoded through its window, ≤ a few MiB). The reader
/// yields exactly what the frame holds: the caller checks that it yields the declared length
/// (no more, no less), as [`decode`] does.
pub fn reader(frame: &[u8]) -> Result<(Box<dyn std::io::Read + '_>, usize)> {
    if frame.len() < FRAME_HEADER {
        return Err(Error::corrupt("frame shorter than its header"));
    }
    let len = u32::from_le_bytes(frame[1..5].try_into().unwrap()) as usize;
    let payload = &frame[FRAME_HEADER..];
    if len > MAX_FRAME {
        return Err(Error::corrupt(format!("frame claims {len} bytes, more than the {MAX_FRAME} limit")));
    }
    match frame[0] {
        CODEC_STORED if payload.len() != len => Err(Error::corrupt("stored frame length mismatch")),
        CODEC_STORED => Ok((Box::new(payload), len)),
        CODEC_ZSTD => {
            let d = zstd::stream::read::Decoder::with_buffer(payload)
                .map_err(|e| Error::corrupt(format!("zstd frame does not decode: {e}")))?;
            Ok((Box::new(std::io::BufReader::with_capacity(64 << 10, d)), len))
        }
        c => Err(Error::corrupt(format!("unknown frame codec {c}"))),
    }
}

/// Decode a frame back to its raw bytes, checking the declared length.
pub fn decode(frame: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    decode_into(frame, &mut out)?;
    Ok(out)
}

/// [`decode`] into `out`, which is cleared first and grown only if its capacity is short of
/// the declared length: a recycled buffer is reused as is.
pub fn decode_into(frame: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    if frame.len() < FRAME_HEADER {
        return Err(Error::corrupt("frame shorter than its header"));
    }
    let len = u32::from_le_bytes(frame[1..5].try_into().unwrap()) as usize;
    let payload = &frame[FRAME_HEADER..];
    if len > MAX_FRAME {
        return Err(Error::corrupt(format!("frame claims {len} bytes, more than the {MAX_FRAME} limit")));
    }
    match frame[0] {
        CODEC_STORED => {
            if payload.len() != len {
                return Err(Error::corrupt("stored frame length mismatch"));
            }
            out.extend_from_slice(payload);
            Ok(())
        }
        CODEC_ZSTD => DECOMPRESSOR.with(|d| {
            let mut d = d.borrow_mut();
            if d.is_none() {
                *d = Some(zstd::bulk::Decompressor::new().expect("zstd context"));
            }
            out.reserve(len);
            // Decodes into at most the buffer's capacity (≥ len); more than len is refused below.
            let n = d
                .as_mut()
                .unwrap()
                .decompress_to_buffer(payload, out)
                .map_err(|e| Error::corrupt(format!("zstd frame does not decode: {e}")))?;
            if n != len || out.len() != len {
                out.clear();
                return Err(Error::corrupt("zstd frame length mismatch"));
            }
            Ok(())
        }),
        c => Err(Error::corrupt(format!("unknown frame codec {c}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuned_parameters_round_trip_and_are_checked() {
        let text = b"INSERT INTO t VALUES (1, 'abc', 2026-11-24);\n".repeat(30_000);
        let (mut plain, mut tuned) = (Vec::new(), Vec::new());
        assert_eq!(encode_into(&text, Params::level(2), &mut plain)[0], CODEC_ZSTD);
        let h = encode_into(&text, Params::DATA, &mut tuned);
        assert_eq!(h[0], CODEC_ZSTD);
        let mut frame = h.to_vec();
        frame.extend_from_slice(&tuned);
        assert_eq!(decode(&frame).unwrap(), text);
        assert!(Params::DATA.validate().is_ok());
        for bad in [
            Params { strategy: Some(0), ..Params::DATA },
            Params { strategy: Some(10), ..Params::DATA },
            Params { hash_log: Some(40), ..Params::DATA },
            Params { chain_log: Some(2), ..Params::DATA },
            Params::level(23),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trip_and_raw_fallback() {
        let text = b"hello hello hello hello hello hello hello hello".repeat(100);
        let f = encode_vec(&text, 1);
        assert_eq!(f[0], CODEC_ZSTD);
        assert!(f.len() < text.len());
        assert_eq!(decode(&f).unwrap(), text);
        let noise: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let f = encode_vec(&noise, 1);
        assert_eq!(decode(&f).unwrap(), noise);
        assert_eq!(decode(&encode_vec(b"", 3)).unwrap(), b"");
        assert_eq!(encode_vec(&text, 0)[0], CODEC_STORED);
    }

    #[test]
    fn rejects_bad_frames() {
        assert!(decode(&[1, 2]).is_err());
        assert!(decode(&[9, 0, 0, 0, 0]).is_err());
        assert!(decode(&[0, 5, 0, 0, 0, 1]).is_err());
        assert!(decode(&[1, 255, 255, 255, 255, 0]).is_err());
        assert!(decode(&[1, 10, 0, 0, 0, 1, 2, 3]).is_err());
    }

    #[test]
    fn decode_into_reuses_the_buffer_and_still_refuses_a_wrong_length() {
        let text = b"hello hello hello hello hello hello hello hello".repeat(100);
        let f = encode_vec(&text, 1);
        let mut buf = Vec::with_capacity(3 * text.len());
        buf.extend_from_slice(b"old contents");
        let ptr = buf.as_ptr();
        decode_into(&f, &mut buf).unwrap();
        assert_eq!(buf, text);
        assert_eq!(buf.as_ptr(), ptr, "no new allocation");
        // The header claims one byte less than the payload decodes to: the spare capacity
        // would hold it, but the frame is refused.
        let mut short = f.clone();
        short[1..5].copy_from_slice(&(text.len() as u32 - 1).to_le_bytes());
        let e = decode_into(&short, &mut buf).unwrap_err();
        assert!(e.to_string().contains("length mismatch"), "{e}");
        assert!(buf.is_empty());
        assert!(decode(&short).is_err());
    }
}

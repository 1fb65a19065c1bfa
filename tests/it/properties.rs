//! Property tests of the chunker and the formats.

use crate::support::data;
use kanrepo::chunker::{ChunkerParams, Cutter, StreamChunker};
use kanrepo::crypto::MasterKey;
use proptest::prelude::*;
use std::collections::HashSet;

fn small() -> ChunkerParams {
    ChunkerParams { min_size: 256, avg_size: 1024, max_size: 8192, normalization: 1 }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Chunks concatenate back to the input, whatever the read sizes and the block size.
    #[test]
    fn chunks_concatenate_to_input(len in 0usize..200_000, seed in any::<u64>(), block in 1usize..100_000, step in 1usize..70_000) {
        let d = data(len, seed);
        let cutter = Cutter::new(small(), seed).unwrap();
        let mut sc = StreamChunker::new(Steps(&d, step), cutter.clone(), block);
        let mut out = Vec::new();
        let mut n = 0;
        while let Some(b) = sc.next_batch().unwrap() {
            for c in b {
                prop_assert!(c.len() <= 8192);
                n += 1;
                out.extend_from_slice(&c);
            }
        }
        prop_assert_eq!(&out, &d);
        prop_assert_eq!(n, cutter.split(&d).len());
    }

    /// Inserting bytes at the start changes only a few chunk ids after the insertion.
    #[test]
    fn prefix_insert_changes_few_chunks(seed in any::<u64>(), ins in 1usize..5000) {
        let changed = changed_after_insert(seed, ins, 300_000);
        // Resync is geometric: usually immediate, rarely more than a few chunks (see below).
        prop_assert!(changed <= 16, "{} chunks after the insertion changed", changed);
    }

    /// Sealed data round-trips and any flipped bit is detected.
    #[test]
    fn seal_detects_any_flip(len in 0usize..5000, seed in any::<u64>(), pos in any::<usize>()) {
        let keys = MasterKey::generate().derive();
        let pt = data(len, seed);
        let s = keys.seal(b"AAD", &pt);
        prop_assert_eq!(keys.open(b"AAD", &s, &"t").unwrap(), pt);
        let mut bad = s.clone();
        let i = pos % bad.len();
        bad[i] ^= 1 << (seed % 8);
        prop_assert!(keys.open(b"AAD", &bad, &"t").is_err());
    }
}

/// A reader returning at most `step` bytes per call.
struct Steps<'a>(&'a [u8], usize);
impl std::io::Read for Steps<'_> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        let n = b.len().min(self.1).min(self.0.len());
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Chunks past an inserted prefix whose ids are not in the original stream.
fn changed_after_insert(seed: u64, ins: usize, len: usize) -> usize {
    let keys = kanrepo::crypto::MasterKey::from_bytes([seed as u8; 32]).derive();
    let cutter = Cutter::new(small(), seed).unwrap();
    let d = data(len, seed);
    let mut e = data(ins, seed ^ 0xABCD);
    e.extend_from_slice(&d);
    let a: HashSet<_> = cutter.split(&d).iter().map(|c| keys.chunk_id(c)).collect();
    let mut off = 0usize;
    let mut changed = 0;
    for c in cutter.split(&e) {
        let start = off;
        off += c.len();
        if start >= ins && !a.contains(&keys.chunk_id(c)) {
            changed += 1;
        }
    }
    changed
}

#[test]
fn prefix_insert_resyncs_quickly_on_average() {
    let mut total = 0;
    let n = 300;
    for s in 0..n {
        total += changed_after_insert(s, 1 + (s as usize * 37) % 5000, 100_000);
    }
    let mean = total as f64 / n as f64;
    assert!(mean <= 1.5, "on average {mean} chunks changed after a prefix insertion");
}

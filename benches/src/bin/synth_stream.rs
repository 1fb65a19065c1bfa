//! Synthetic stream for the repository-scale benchmark (benches/scale.sh): unique chunks that
//! compress ~100:1, so that a repository of 20 M stored chunks (~160 GB of stream) fits in a
//! few GB of disk and builds in minutes.
//!
//! Usage: synth_stream BYTES SEED [FIRST]
//!
//! Writes BYTES bytes to stdout: one random 4 KiB block (a function of SEED) repeated; in
//! repetition number r (counted from FIRST, default 0) the 8 bytes at each of [`SLOTS`] fixed
//! offsets are overwritten with a 64-bit mix of (r, slot), a bijection of r. Every 4 KiB of the
//! stream is therefore different from every other one with the same SEED, so every chunk of at
//! least 4 KiB (the chunker's minimum) is unique as long as the ranges [FIRST, FIRST + BYTES /
//! 4096) of two streams with the same SEED do not overlap. Streams with different seeds share
//! no block content at all.
//!
//! Where FastCDC cuts such a stream depends on the block and on the repository's gear seed
//! (cut points repeat with the 4 KiB period, moved by the slots), so benches/scale.py pushes a
//! few MiB per candidate SEED into a copy of the repository and keeps a seed whose average chunk
//! is 8–12 KiB.
use std::io::Write;

/// Overwritten 8-byte slots per 4 KiB block (at offsets 0, 4096 / SLOTS, …).
const SLOTS: usize = 1;
const BLOCK: usize = 4096;

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A bijection of `r` (so distinct repetitions get distinct slot values), different per slot.
fn mix(r: u64, slot: u64) -> u64 {
    let mut s = r.wrapping_mul(SLOTS as u64).wrapping_add(slot);
    splitmix64(&mut s)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 || args.len() > 4 {
        eprintln!("usage: synth_stream BYTES SEED [FIRST]");
        std::process::exit(2);
    }
    let parse = |s: &str| -> u64 {
        s.parse().unwrap_or_else(|_| {
            eprintln!("synth_stream: not a number: {s}");
            std::process::exit(2)
        })
    };
    let total = parse(&args[1]);
    let seed = parse(&args[2]);
    let first = args.get(3).map(|s| parse(s)).unwrap_or(0);

    let mut state = seed ^ 0x5eed_5eed_5eed_5eed;
    let mut block = [0u8; BLOCK];
    for c in block.chunks_mut(8) {
        c.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    // 1 MiB of repetitions per write.
    const REPS: usize = 256;
    let mut buf = block.repeat(REPS);
    let mut out = std::io::stdout().lock();
    let (mut left, mut r) = (total, first);
    while left > 0 {
        for i in 0..REPS {
            let rep = &mut buf[i * BLOCK..(i + 1) * BLOCK];
            for s in 0..SLOTS {
                let at = s * BLOCK / SLOTS;
                rep[at..at + 8].copy_from_slice(&mix(r + i as u64, s as u64).to_le_bytes());
            }
        }
        let n = left.min(buf.len() as u64) as usize;
        if let Err(e) = out.write_all(&buf[..n]) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("synth_stream: writing: {e}");
            std::process::exit(1);
        }
        left -= n as u64;
        r += REPS as u64;
    }
}

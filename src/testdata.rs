//! Deterministic pseudo-random bytes for tests and benchmarks (xorshift64). Not for secrets.
#![doc(hidden)]

/// `n` pseudo-random bytes determined by `seed`.
pub fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

//! Randomness as Go's `crypto/rand` and `math/rand` give it to sprig: random bytes and a
//! uniform index below `n` (from the OS generator). A leaf: must not import anything of the
//! template engine.

/// `n` random bytes (`crypto/rand.Read`).
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    let _ = getrandom::fill(&mut b);
    b
}

/// A uniformly random index below `n`.
pub(crate) fn random_below(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let b = random_bytes(8);
        let x = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        if x < limit {
            return x % n;
        }
    }
}

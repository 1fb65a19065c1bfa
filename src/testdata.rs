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

/// Text-like data that compresses and has repeats.
pub fn text(n: usize, seed: u64) -> Vec<u8> {
    let words: Vec<&[u8]> = vec![b"alpha ", b"beta ", b"gamma ", b"delta\n", b"INSERT INTO t VALUES (", b"1, 2, 3);\n"];
    let r = pseudo_random(n / 4 + 1, seed);
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0;
    while out.len() < n {
        out.extend_from_slice(words[r[i % r.len()] as usize % words.len()]);
        if r[(i * 7) % r.len()].is_multiple_of(5) {
            out.extend_from_slice(format!("{}", r[i % r.len()] as u32 * 7919 + i as u32).as_bytes());
        }
        i += 1;
    }
    out.truncate(n);
    out
}

/// A deterministic stream of `total` bytes: 1 MiB blocks, alternating text-like and random,
/// every 7th block a repeat of block 3 (so dedup inside the stream is exercised).
pub struct Stream {
    total: u64,
    pos: u64,
    block: Vec<u8>,
    off: usize,
}

impl Stream {
    /// The stream of `total` bytes.
    pub fn new(total: u64) -> Self {
        Stream { total, pos: 0, block: Vec::new(), off: 0 }
    }

    fn make(i: u64) -> Vec<u8> {
        let i = if i % 7 == 6 { 3 } else { i };
        if i % 2 == 0 { text(1 << 20, i) } else { pseudo_random(1 << 20, i) }
    }
}

impl std::io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.total {
            return Ok(0);
        }
        if self.off >= self.block.len() {
            self.block = Stream::make(self.pos >> 20);
            self.off = 0;
        }
        let n = buf.len().min(self.block.len() - self.off).min((self.total - self.pos) as usize);
        buf[..n].copy_from_slice(&self.block[self.off..self.off + n]);
        self.off += n;
        self.pos += n as u64;
        Ok(n)
    }
}

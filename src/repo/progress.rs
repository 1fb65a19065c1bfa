//! Counters a pipeline updates and a front end reads (progress bars, JSON lines).
//! Plain atomics: the engine never renders anything itself.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one push or pull.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes read from the input stream (push).
    pub bytes_in: AtomicU64,
    /// Chunks seen (push).
    pub chunks: AtomicU64,
    /// Chunks not yet in the repository (push).
    pub new_chunks: AtomicU64,
    /// Raw bytes of those chunks (push).
    pub new_bytes: AtomicU64,
    /// Sealed blob bytes produced (push).
    pub stored_bytes: AtomicU64,
    /// Pack bytes written to the backend (push) or read from it (pull).
    pub transferred_bytes: AtomicU64,
    /// Bytes written to the output (pull).
    pub bytes_out: AtomicU64,
}

impl Progress {
    /// Read a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

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
    /// Chunks cut where the parent snapshot had its cut, found without a FastCDC scan (push;
    /// repo::follow).
    pub followed_chunks: AtomicU64,
    /// Scans of the index a pull made to locate tree nodes or chunks that no locator record
    /// covered (0 when gc's locator tables cover the whole snapshot), or a push made to read
    /// source trees no record covers, to check chunks against deletion marks, or to find the
    /// unindexed packs of an interrupted push of its path (0 in the common case).
    pub index_scans: AtomicU64,
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

/// Progress of a maintenance command (gc, compact): the stage it is in and how far along it
/// is. Stages: "leases", "trees" (`done`/`total` snapshots), "sweeping", "marking",
/// "repacking" (`done`/`total` packs), "index".
#[derive(Debug, Default)]
pub struct StageProgress {
    stage: std::sync::Mutex<&'static str>,
    /// Units done in the current stage.
    pub done: AtomicU64,
    /// Units in the current stage (0 when unknown).
    pub total: AtomicU64,
    /// Bytes read from the backend so far (all stages).
    pub bytes_read: AtomicU64,
    /// Bytes written to the backend so far (all stages).
    pub bytes_written: AtomicU64,
}

impl StageProgress {
    /// The current stage ("" before the first).
    pub fn stage(&self) -> &'static str {
        *self.stage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enter a stage of `total` units.
    pub(crate) fn enter(&self, stage: &'static str, total: u64) {
        *self.stage.lock().unwrap_or_else(|e| e.into_inner()) = stage;
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
}

//! Shared helpers for the integration tests.

use kanrepo::backend::Backend;
use kanrepo::crypto::keyfile::KdfParams;
use kanrepo::{InitOptions, Progress, PullOptions, PushOptions, Repository};
use std::sync::{Arc, Mutex};

pub use kanrepo::testdata::{pseudo_random as data, text};

/// Init options with cheap key derivation (tests only).
pub fn fast_init() -> InitOptions {
    InitOptions { kdf: KdfParams::insecure_fast(), ..InitOptions::default() }
}

/// A `Write` that collects into shared memory.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Push `bytes` under `path`.
pub async fn push(
    repo: &Repository,
    path: &str,
    bytes: Vec<u8>,
) -> kanrepo::Result<(kanrepo::Id, kanrepo::format::snapshot::Snapshot)> {
    let opts = PushOptions { path: path.into(), ..PushOptions::default() };
    repo.push(Box::new(std::io::Cursor::new(bytes)), &opts, Arc::new(Progress::default())).await
}

/// Pull the latest snapshot of `path` into memory.
pub async fn pull(repo: &Repository, path: &str) -> kanrepo::Result<Vec<u8>> {
    let s = repo.latest(path).await?;
    let buf = SharedBuf::default();
    // Small index windows: every test that pulls, concurrent maintenance included, reads
    // chunk locations through many windows (engine.rs pulls with the default).
    let o = PullOptions { index_window: 97, ..PullOptions::default() };
    repo.pull(&s.snapshot, Box::new(buf.clone()), &o, Arc::new(Progress::default())).await?;
    let v = buf.0.lock().unwrap().clone();
    Ok(v)
}

/// A fresh repository on `backend`.
pub async fn init(backend: Arc<dyn Backend>) -> Repository {
    Repository::init(backend, b"test-password", &fast_init()).await.unwrap()
}

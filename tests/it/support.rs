//! Shared helpers for the integration tests.

use kanrepo::backend::Backend;
use kanrepo::crypto::keyfile::KdfParams;
use kanrepo::{InitOptions, Progress, PullOptions, PushOptions, Repository};
use std::sync::{Arc, Mutex};

pub use kanrepo::testdata::pseudo_random as data;

/// Text-like data that compresses and has repeats.
pub fn text(n: usize, seed: u64) -> Vec<u8> {
    let words: Vec<&[u8]> = vec![b"alpha ", b"beta ", b"gamma ", b"delta\n", b"INSERT INTO t VALUES (", b"1, 2, 3);\n"];
    let r = data(n / 4 + 1, seed);
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
    repo.pull(&s.snapshot, Box::new(buf.clone()), &PullOptions::default(), Arc::new(Progress::default())).await?;
    let v = buf.0.lock().unwrap().clone();
    Ok(v)
}

/// A fresh repository on `backend`.
pub async fn init(backend: Arc<dyn Backend>) -> Repository {
    Repository::init(backend, b"test-password", &fast_init()).await.unwrap()
}

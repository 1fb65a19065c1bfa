//! Engine tests on the in-memory and local-disk backends.

use crate::support::*;
use kanrepo::ErrorKind;
use kanrepo::backend::Backend;
use kanrepo::backend::local::LocalBackend;
use kanrepo::backend::memory::MemoryBackend;
use kanrepo::chunker::ChunkerParams;
use kanrepo::{Progress, PullOptions, Repository};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_sizes_around_chunk_limits() {
    let repo = init(Arc::new(MemoryBackend::new())).await;
    let p = ChunkerParams::default();
    let (min, avg, max) = (p.min_size as usize, p.avg_size as usize, p.max_size as usize);
    let sizes = [
        0,
        1,
        2,
        min - 1,
        min,
        min + 1,
        avg - 1,
        avg,
        avg + 1,
        max - 1,
        max,
        max + 1,
        3 * max + 7,
        (1 << 20) + 3,
        5_000_000,
    ];
    for (i, n) in sizes.into_iter().enumerate() {
        let d = if i % 2 == 0 { data(n, i as u64) } else { text(n, i as u64) };
        let path = format!("p/{n}");
        let (_, snap) = push(&repo, &path, d.clone()).await.unwrap();
        assert_eq!(snap.size, n as u64);
        assert_eq!(snap.blake3, blake3::hash(&d).to_hex().to_string());
        let back = pull(&repo, &path).await.unwrap();
        assert!(back == d, "size {n}: restored bytes differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_push_dedups_and_reopen_works() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.path().join("repo")));
    let repo = init(backend.clone()).await;
    let d = text(8_000_000, 1);
    let (_, s1) = push(&repo, "db", d.clone()).await.unwrap();
    assert!(s1.stats.new_bytes as usize >= d.len() * 9 / 10, "first push stores nearly everything");
    assert!((s1.stats.stored_bytes as usize) < d.len() / 2, "text compresses");
    // Same bytes again: nothing new but tree nodes.
    let repo = Repository::open(backend.clone(), b"test-password").await.unwrap();
    let (_, s2) = push(&repo, "db", d.clone()).await.unwrap();
    assert_eq!(s2.stats.new_bytes, 0);
    // A small edit in the middle: only a few chunks are new.
    let mut e = d.clone();
    e.splice(4_000_000..4_000_000, b"a small insertion".iter().copied());
    let (_, s3) = push(&repo, "db", e.clone()).await.unwrap();
    assert!(s3.stats.new_chunks <= 4, "{:?}", s3.stats);
    assert_eq!(pull(&repo, "db").await.unwrap(), e);
    assert_eq!(repo.snapshots().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_a_clear_error() {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    init(backend.clone()).await;
    let e = Repository::open(backend.clone(), b"nope").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongPassword);
    assert!(e.to_string().contains("wrong password"), "{e}");
    let e = Repository::open(Arc::new(MemoryBackend::new()), b"x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_byte_in_a_pack_fails_the_pull_and_names_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(&root));
    let repo = init(backend.clone()).await;
    push(&repo, "x", data(3_000_000, 5)).await.unwrap();
    let packs = backend.list("packs/").await.unwrap();
    let victim = &packs[0].key;
    let path = root.join(victim);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 0x01;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let e = pull(&repo, "x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains(victim.as_str()), "error must name the pack: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_then_pull_fails_cleanly() {
    let repo = init(Arc::new(MemoryBackend::new())).await;
    push(&repo, "a", data(100_000, 1)).await.unwrap();
    push(&repo, "a", data(100_000, 2)).await.unwrap();
    push(&repo, "b", data(100_000, 3)).await.unwrap();
    assert_eq!(repo.delete_path("a").await.unwrap().len(), 2);
    assert_eq!(pull(&repo, "a").await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(pull(&repo, "b").await.unwrap(), data(100_000, 3));
}

/// A reader that fails half-way, like a producer that dies.
struct Failing(Vec<u8>, usize);
impl std::io::Read for Failing {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        if self.1 >= self.0.len() {
            return Err(std::io::Error::other("producer died"));
        }
        let n = b.len().min(self.0.len() - self.1);
        b[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
        self.1 += n;
        Ok(n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_reader_commits_nothing() {
    let repo = init(Arc::new(MemoryBackend::new())).await;
    let opts = kanrepo::PushOptions { path: "f".into(), ..Default::default() };
    let e = repo
        .push(Box::new(Failing(data(20_000_000, 1), 0)), &opts, Arc::new(kanrepo::Progress::default()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Producer, "{e}");
    assert!(repo.snapshots().await.unwrap().is_empty());
    // The repository is still usable.
    push(&repo, "f", data(1000, 1)).await.unwrap();
    assert_eq!(pull(&repo, "f").await.unwrap(), data(1000, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_password_opens_the_same_repository() {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let repo = init(backend.clone()).await;
    push(&repo, "p", data(200_000, 9)).await.unwrap();
    repo.add_key(b"second", kanrepo::crypto::keyfile::KdfParams::insecure_fast()).await.unwrap();
    for pw in [&b"test-password"[..], b"second"] {
        let r = Repository::open(backend.clone(), pw).await.unwrap();
        assert_eq!(pull(&r, "p").await.unwrap(), data(200_000, 9));
    }
    assert_eq!(Repository::open(backend, b"third").await.unwrap_err().kind(), ErrorKind::WrongPassword);
}

/// Local disk whose staged packs fail after `room` bytes, like a disk that fills up mid-push.
struct FillingDisk {
    inner: LocalBackend,
    room: usize,
}

struct FillingStaged(Box<dyn kanrepo::backend::StagedObject>, usize);

impl kanrepo::backend::StagedObject for FillingStaged {
    fn write(&mut self, data: &[u8]) -> kanrepo::Result<()> {
        if data.len() > self.1 {
            let e = std::io::Error::from_raw_os_error(28); // ENOSPC
            return Err(kanrepo::Error::io("writing a staged pack", e));
        }
        self.1 -= data.len();
        self.0.write(data)
    }
    fn commit(self: Box<Self>, key: &str) -> kanrepo::Result<()> {
        self.0.commit(key)
    }
}

#[async_trait::async_trait]
impl Backend for FillingDisk {
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn put(&self, key: &str, data: bytes::Bytes) -> kanrepo::Result<()> {
        self.inner.put(key, data).await
    }
    async fn get(&self, key: &str) -> kanrepo::Result<bytes::Bytes> {
        self.inner.get(key).await
    }
    async fn get_range(&self, key: &str, offset: u64, len: u64) -> kanrepo::Result<bytes::Bytes> {
        self.inner.get_range(key, offset, len).await
    }
    async fn list(&self, prefix: &str) -> kanrepo::Result<Vec<kanrepo::backend::ObjectInfo>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> kanrepo::Result<()> {
        self.inner.delete(key).await
    }
    fn stage(&self, prefix: &str) -> kanrepo::Result<Option<Box<dyn kanrepo::backend::StagedObject>>> {
        Ok(self.inner.stage(prefix)?.map(|s| Box::new(FillingStaged(s, self.room)) as _))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_mid_pack_fails_the_push_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let full = init(Arc::new(FillingDisk { inner: LocalBackend::new(&root), room: 5 << 20 })).await;
    let e = push(&full, "db", data(30_000_000, 4)).await.unwrap_err();
    assert!(e.to_string().contains("No space left on device"), "{e}");
    assert!(full.snapshots().await.unwrap().is_empty());
    // The dropped staged pack left no file behind, hidden or not.
    let packs: Vec<_> = walkdir(&root.join("packs"));
    assert!(packs.is_empty(), "{packs:?}");
    // With room again, the same repository takes the push and gives it back byte for byte.
    let repo = Repository::open(Arc::new(LocalBackend::new(&root)), b"test-password").await.unwrap();
    push(&repo, "db", data(30_000_000, 4)).await.unwrap();
    assert!(pull(&repo, "db").await.unwrap() == data(30_000_000, 4));
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walkdir(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Generations of a stream whose changes are scattered (one changed byte every ~64 KB, at
/// positions that move each night), plus a run of one repeated chunk: a late snapshot then
/// needs chunks of every generation's frames at scattered positions, and one chunk many times.
fn scattered_generations(n: usize) -> Vec<Vec<u8>> {
    let mut d = data(3_000_000, 40);
    d.extend(vec![0u8; 600_000]);
    d.extend(data(1_000_000, 41));
    let mut out = vec![d.clone()];
    for g in 1..n {
        for (k, at) in (g * 7919..d.len()).step_by(64_000).enumerate() {
            d[at] = d[at].wrapping_add(1 + (k % 200) as u8);
        }
        out.push(d.clone());
    }
    out
}

async fn pull_with(
    repo: &Repository,
    snap: &kanrepo::format::snapshot::Snapshot,
    o: &PullOptions,
) -> kanrepo::Result<Vec<u8>> {
    let buf = SharedBuf::default();
    repo.pull(snap, Box::new(buf.clone()), o, Arc::new(Progress::default())).await?;
    let v = buf.0.lock().unwrap().clone();
    Ok(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scattered_generations_pull_byte_exact_whatever_the_budgets() {
    let repo = init(Arc::new(MemoryBackend::new())).await;
    let gens = scattered_generations(6);
    let mut snaps = Vec::new();
    for g in &gens {
        snaps.push(push(&repo, "db", g.clone()).await.unwrap().1);
    }
    let d = PullOptions { verify_stream: true, ..PullOptions::default() };
    let variants = [
        d.clone(),
        // No lookahead, no extras: one job per run, frames decoded again and again.
        PullOptions { lookahead: 1, extras: 0, ..d.clone() },
        // Extras budget of a few chunks, a short lookahead, the smallest window.
        PullOptions { lookahead: 40, extras: 40_000, window: 1, ..d.clone() },
        // Room for everything, one fetch thread.
        PullOptions { lookahead: 1 << 20, extras: 1 << 30, threads: 1, ..d.clone() },
        PullOptions { lookahead: 300, extras: 2 << 20, threads: 3, ..d.clone() },
        // Chunk locations one position at a time: a scan of the index per position.
        PullOptions { index_window: 1, ..d.clone() },
        // A lookahead spanning many index windows, each kept until written.
        PullOptions { index_window: 50, lookahead: 1 << 20, extras: 1 << 30, ..d.clone() },
        PullOptions { index_window: 333, lookahead: 40, extras: 40_000, window: 1, ..d.clone() },
    ];
    for (i, o) in variants.iter().enumerate() {
        for g in [5, 2, 0] {
            let back = pull_with(&repo, &snaps[g], o).await.unwrap();
            assert!(back == gens[g], "variant {i}, generation {g}: restored bytes differ");
        }
    }
}

/// A writer that fails after `n` bytes, like a consumer that goes away.
struct ClosingAfter(usize);

impl std::io::Write for ClosingAfter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.0 < b.len() {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "reader went away"));
        }
        self.0 -= b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_goes_away_with_pieces_cut_ahead_stops_the_pull() {
    let repo = init(Arc::new(MemoryBackend::new())).await;
    let gens = scattered_generations(4);
    for g in &gens {
        push(&repo, "db", g.clone()).await.unwrap();
    }
    let snap = repo.latest("db").await.unwrap().snapshot;
    for stop in [0, 100_000, 2_500_000] {
        for o in [PullOptions::default(), PullOptions { window: 1, extras: 50_000, ..PullOptions::default() }] {
            let r = tokio::time::timeout(
                std::time::Duration::from_secs(60),
                repo.pull(&snap, Box::new(ClosingAfter(stop)), &o, Arc::new(Progress::default())),
            )
            .await
            .expect("the pull stops instead of hanging");
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Io, "{e}");
            assert!(e.to_string().contains("writing the output"), "{e}");
        }
    }
}

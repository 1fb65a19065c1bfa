//! Long streams: a multi-GB byte-exact round trip (kando's peak memory against stream length
//! is tested with the binary, in crates/kando).

use crate::support::fast_init;
use kanrepo::backend::local::LocalBackend;
use kanrepo::testdata::Stream;
use kanrepo::{Progress, PullOptions, PushOptions, Repository};
use std::io::{Read, Write};
use std::sync::Arc;

/// A writer that compares everything written with a regenerated stream.
struct Compare {
    want: Stream,
    buf: Vec<u8>,
    seen: u64,
}

impl Write for Compare {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.resize(b.len(), 0);
        self.want.read_exact(&mut self.buf).map_err(|_| std::io::Error::other("output longer than the source"))?;
        if self.buf != b {
            return Err(std::io::Error::other(format!(
                "byte mismatch in the {} bytes after offset {}",
                b.len(),
                self.seen
            )));
        }
        self.seen += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn large_bytes() -> u64 {
    std::env::var("KANREPO_LARGE_TEST_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(2 << 30)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_gigabyte_round_trip_is_byte_exact() {
    let total = large_bytes();
    let dir = tempfile::tempdir().unwrap();
    let repo =
        Repository::init(Arc::new(LocalBackend::new(dir.path().join("repo"))), b"pw", &fast_init()).await.unwrap();
    let opts = PushOptions { path: "big".into(), ..PushOptions::default() };
    let (_, snap) = repo.push(Box::new(Stream::new(total)), &opts, Arc::new(Progress::default())).await.unwrap();
    assert_eq!(snap.size, total);
    assert!(snap.stats.new_bytes < total, "repeated blocks must dedup");
    let cmp = Arc::new(std::sync::Mutex::new(0u64));
    struct Shared(Compare, Arc<std::sync::Mutex<u64>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let n = self.0.write(b)?;
            *self.1.lock().unwrap() = self.0.seen;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let w = Shared(Compare { want: Stream::new(total), buf: Vec::new(), seen: 0 }, cmp.clone());
    repo.pull(&snap, Box::new(w), &PullOptions::default(), Arc::new(Progress::default())).await.unwrap();
    assert_eq!(*cmp.lock().unwrap(), total, "every byte compared");
}

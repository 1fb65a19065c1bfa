//! Dedup without an index of every stored chunk (issue 12): a push's sources are its parent
//! snapshot and, through the hook tables, other live snapshots (src/repo/cursor.rs).

use crate::maintenance::{generation, now_gc, small_init};
use crate::support::*;
use kanrepo::backend::{Backend, memory::MemoryBackend};
use kanrepo::repo::Repository;
use kanrepo::repo::forget::Selection;
use kanrepo::{Progress, PushOptions};
use std::sync::Arc;

async fn repo() -> (Arc<dyn Backend>, Repository) {
    let be: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let repo = Repository::init(be.clone(), b"pw", &small_init()).await.unwrap();
    (be, repo)
}

async fn hook_tables(be: &Arc<dyn Backend>) -> usize {
    be.list("hooks/").await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_stream_under_a_second_path_is_found_through_hooks() {
    let (be, repo) = repo().await;
    let x = generation(3);
    let (_, first) = push(&repo, "a", x.clone()).await.unwrap();
    assert_eq!(first.stats.new_bytes, x.len() as u64);
    assert_eq!(hook_tables(&be).await, 1, "the push wrote its hook table");
    let (_, again) = push(&repo, "b", x.clone()).await.unwrap();
    // Only what lies before the first hook's leaf can be missed.
    assert!(again.stats.new_bytes * 10 < x.len() as u64, "stored again: {:?}", again.stats);
    assert_eq!(again.root, first.root, "same stream, same tree");
    assert_eq!(pull(&repo, "b").await.unwrap(), x);
}

/// The same stream pushed again under its path stores nothing at all: its chunks and leaves
/// are in the parent cursor's window when the push meets them, and its upper tree nodes
/// (emitted at the end of the stream, long after their first leaf left the window) among the
/// inner nodes the cursor walked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_stream_again_stores_not_even_a_tree_node() {
    let (_, repo) = repo().await;
    let x = data(16 << 20, 9);
    let (_, first) = push(&repo, "db", x.clone()).await.unwrap();
    let (_, again) = push(&repo, "db", x.clone()).await.unwrap();
    assert_eq!(again.root, first.root);
    assert_eq!((again.stats.new_chunks, again.stats.stored_bytes), (0, 0), "{:?}", again.stats);
    assert_eq!(pull(&repo, "db").await.unwrap(), x);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_generations_dedup_against_their_parent() {
    let (_, repo) = repo().await;
    let (_, g0) = push(&repo, "db", generation(0)).await.unwrap();
    assert_eq!(g0.stats.new_bytes, generation(0).len() as u64);
    for g in 1..8 {
        let (_, s) = push(&repo, "db", generation(g)).await.unwrap();
        // Each generation rewrites two 64 KiB tables; chunks straddling their edges are new too.
        assert!(s.stats.new_bytes <= 4 * 65536, "generation {g}: {:?}", s.stats);
        assert!(s.stats.new_bytes >= 2 * 65536 - 16384, "generation {g}: {:?}", s.stats);
    }
    assert_eq!(pull(&repo, "db").await.unwrap(), generation(7));
}

/// A push that follows its parent's cuts (src/repo/follow.rs) cuts exactly where a push
/// without a parent does: same tree, whatever the edits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_the_parents_cuts_never_changes_them() {
    let (_, repo) = repo().await;
    let base = [text(3 << 20, 1), data(3 << 20, 2)].concat();
    push(&repo, "db", base.clone()).await.unwrap();
    let mut next = base.clone();
    next.splice(500_000..500_000, data(3000, 3)); // an insertion
    next.drain(2_000_000..2_150_000); // a deletion
    next[4_000_000] ^= 0x55; // a changed byte
    next.splice(5_000_000..5_000_000, [7u8]); // one byte inserted
    next.truncate(next.len() - 70_000);
    next.extend_from_slice(&data(90_000, 4)); // a new end
    let progress = Arc::new(Progress::default());
    let opts = PushOptions { path: "db".into(), ..PushOptions::default() };
    // The input waits a little, so that the parent's first leaves are there before the reader
    // has cut most of this 6 MB stream: following never waits for them (a loaded machine
    // could otherwise see fewer than half the chunks followed; the tree is the same anyway).
    let slow = crate::verify::SlowStart(std::io::Cursor::new(next.clone()), Some(std::time::Duration::from_secs(1)));
    let (_, followed) = repo.push(Box::new(slow), &opts, progress.clone()).await.unwrap();
    let chunks = followed.stats.chunks;
    // (The first block may still be cut before the parent's first leaf arrives.)
    let followed_chunks = Progress::get(&progress.followed_chunks);
    assert!(followed_chunks * 2 > chunks, "followed {followed_chunks} of {chunks}");
    // No parent under this path: every cut found by FastCDC.
    let (_, fresh) = push(&repo, "elsewhere", next.clone()).await.unwrap();
    assert_eq!(followed.root, fresh.root, "same cuts, same tree");
    assert_eq!(followed.blake3, fresh.blake3);
    assert_eq!(pull(&repo, "db").await.unwrap(), next);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_its_parent_forgotten_a_push_finds_another_snapshot_through_hooks() {
    let (_, repo) = repo().await;
    for g in 0..4 {
        push(&repo, "a", generation(g)).await.unwrap();
    }
    push(&repo, "b", generation(3)).await.unwrap();
    repo.forget(&Selection::Paths(vec!["a".into()]), true, false).await.unwrap();
    repo.gc(&now_gc()).await.unwrap();
    // "a" has no snapshot left: no parent. Generation 4 differs from "b" by two tables.
    let (_, s) = push(&repo, "a", generation(4)).await.unwrap();
    assert!(s.stats.new_bytes <= 6 * 65536, "{:?}", s.stats);
    assert_eq!(pull(&repo, "a").await.unwrap(), generation(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_merges_hook_tables_and_drops_forgotten_snapshots() {
    let (be, repo) = repo().await;
    for g in 0..5 {
        push(&repo, "a", generation(g)).await.unwrap();
    }
    push(&repo, "b", data(3_000_000, 9)).await.unwrap();
    assert_eq!(hook_tables(&be).await, 6, "one per push");
    let r = repo.gc(&now_gc()).await.unwrap();
    assert_eq!((r.hook_tables_before, r.hook_tables_after), (6, 1), "{r:?}");
    let merged = be.list("hooks/").await.unwrap()[0].size;
    // Forget everything but "b": the merge keeps only b's hooks, a smaller table.
    repo.forget(&Selection::Paths(vec!["a".into()]), true, false).await.unwrap();
    let r = repo.gc(&now_gc()).await.unwrap();
    assert_eq!((r.hook_tables_before, r.hook_tables_after), (1, 1), "{r:?}");
    assert!(be.list("hooks/").await.unwrap()[0].size < merged);
    // A second gc with nothing to drop leaves the one table alone.
    let before = be.list("hooks/").await.unwrap();
    repo.gc(&now_gc()).await.unwrap();
    assert_eq!(be.list("hooks/").await.unwrap()[0].key, before[0].key);
    // Forget the rest but one short stream: only its table is left (a stream's first chunk
    // is always a hook).
    push(&repo, "c", data(1000, 1)).await.unwrap();
    repo.forget(&Selection::Paths(vec!["b".into()]), true, false).await.unwrap();
    let r = repo.gc(&now_gc()).await.unwrap();
    assert_eq!((r.hook_tables_before, r.hook_tables_after), (2, 1), "{r:?}");
    repo.forget(&Selection::Paths(vec!["c".into()]), true, false).await.unwrap();
    let r = repo.gc(&now_gc()).await.unwrap();
    assert_eq!((r.hook_tables_before, r.hook_tables_after), (1, 0), "{r:?}");
    assert_eq!(hook_tables(&be).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_hook_table_costs_dedup_not_the_push() {
    let (be, repo) = repo().await;
    let x = generation(2);
    push(&repo, "a", x.clone()).await.unwrap();
    let t = be.list("hooks/").await.unwrap().remove(0);
    let mut bytes = be.get(&t.key).await.unwrap().to_vec();
    bytes[20] ^= 1;
    be.delete(&t.key).await.unwrap();
    be.put(&t.key, bytes.into()).await.unwrap();
    let (_, s) = push(&repo, "b", x.clone()).await.unwrap();
    assert_eq!(s.stats.new_bytes, x.len() as u64, "nothing to find it through: stored again");
    assert_eq!(pull(&repo, "b").await.unwrap(), x);
    // gc drops the damaged table in its merge.
    let r = repo.gc(&now_gc()).await.unwrap();
    assert_eq!(r.hook_tables_after, 1, "{r:?}");
    let (_, s) = push(&repo, "c", x.clone()).await.unwrap();
    assert!(s.stats.new_bytes * 10 < x.len() as u64, "found through b's hooks: {:?}", s.stats);
}

/// A producer that hands out its first `first` bytes, says so, and then hangs until the test
/// lets it fail: a push that dies half-way.
struct Hangs {
    data: std::io::Cursor<Vec<u8>>,
    first: u64,
    reached: Option<std::sync::mpsc::Sender<()>>,
    gate: std::sync::mpsc::Receiver<()>,
}

impl std::io::Read for Hangs {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.first - self.data.position();
        if left == 0 {
            if let Some(r) = self.reached.take() {
                let _ = r.send(());
            }
            let _ = self.gate.recv();
            return Err(std::io::Error::other("the producer died"));
        }
        let n = buf.len().min(left as usize);
        self.data.read(&mut buf[..n])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_resumes_one_that_died_without_storing_its_indexed_data_again() {
    use kanrepo::repo::lease::LeaseTiming;
    use kanrepo::{Progress, PushOptions};
    let (be, mut repo) = repo().await;
    // Record every index object at once (the default waits 5 s between records).
    repo.set_lease_timing(LeaseTiming { record: std::time::Duration::ZERO, ..LeaseTiming::default() });
    let repo = Arc::new(repo);
    let x = data(12_000_000, 77);
    // The first push dies after 10 MB (its dedup decides a batch once 3 more have come), with an index object written after every stored pack.
    let (gate_tx, gate) = std::sync::mpsc::channel();
    let (reached_tx, reached) = std::sync::mpsc::channel();
    let reader = Hangs { data: std::io::Cursor::new(x.clone()), first: 10_000_000, reached: Some(reached_tx), gate };
    let h = {
        let repo = repo.clone();
        tokio::spawn(async move {
            let o = PushOptions { path: "db".into(), index_flush_chunks: 1, ..PushOptions::default() };
            repo.push(Box::new(reader), &o, Arc::new(Progress::default())).await
        })
    };
    tokio::task::spawn_blocking(move || reached.recv_timeout(std::time::Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    // Its packs of the first megabytes are stored and indexed; then it is killed.
    let t0 = std::time::Instant::now();
    while be.list("index/").await.unwrap().len() < 8 {
        assert!(t0.elapsed().as_secs() < 60, "the push indexed nothing");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    h.abort();
    let _ = h.await;
    drop(gate_tx);
    assert!(repo.snapshots().await.unwrap().is_empty());
    assert!(be.list("leases/").await.unwrap().len() >= 2, "the dead push's lease and its records stay");
    // Run again: what the dead push indexed (≥ 8 packs of 256 KiB) is not stored again.
    let (_, s) = push(&repo, "db", x.clone()).await.unwrap();
    assert!(s.stats.new_bytes + 8 * 200_000 <= x.len() as u64, "stored again: {:?}", s.stats);
    assert_eq!(pull(&repo, "db").await.unwrap(), x);
    // Another path does not follow it.
    let (_, other) = push(&repo, "other", data(500_000, 78)).await.unwrap();
    assert_eq!(other.stats.new_bytes, 500_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_resumes_one_that_failed_and_the_failed_one_holds_no_gc_back() {
    use kanrepo::{Progress, PushOptions};
    let (be, repo) = repo().await;
    let repo = Arc::new(repo);
    let x = data(12_000_000, 79);
    // The producer fails after 10 MB (no index object was due yet: the default writes one
    // every 16,384 chunks).
    let (gate_tx, gate) = std::sync::mpsc::channel();
    drop(gate_tx);
    let reader = Hangs { data: std::io::Cursor::new(x.clone()), first: 10_000_000, reached: None, gate };
    let o = PushOptions { path: "db".into(), ..PushOptions::default() };
    let err = repo.push(Box::new(reader), &o, Arc::new(Progress::default())).await.unwrap_err();
    assert!(err.to_string().contains("the producer died"), "{err}");
    assert!(repo.snapshots().await.unwrap().is_empty());
    // It indexed what it stored and ended its lease, which stays for its records.
    assert!(!be.list("index/").await.unwrap().is_empty(), "the failed push indexed its packs");
    let leases: Vec<String> = be.list("leases/").await.unwrap().into_iter().map(|o| o.key).collect();
    assert!(leases.iter().any(|k| k.ends_with("/end")), "{leases:?}");
    // Run again: what it read was stored (its look-ahead too) and is not stored again.
    let (_, s) = push(&repo, "db", x.clone()).await.unwrap();
    assert!(s.stats.new_bytes + 9_000_000 <= x.len() as u64, "stored again: {:?}", s.stats);
    assert_eq!(pull(&repo, "db").await.unwrap(), x);

    // A failed push's ended lease does not hold garbage collection back: its unreferenced
    // packs are swept while the lease is not expired.
    let gate = {
        let (tx, rx) = std::sync::mpsc::channel();
        drop(tx);
        rx
    };
    let y = data(3_000_000, 80);
    let reader = Hangs { data: std::io::Cursor::new(y), first: 2_500_000, reached: None, gate };
    let o = PushOptions { path: "other".into(), ..PushOptions::default() };
    repo.push(Box::new(reader), &o, Arc::new(Progress::default())).await.unwrap_err();
    let before = be.list("packs/").await.unwrap().len();
    // With no minimum age gc marks and sweeps in one run, unless a live lease started earlier.
    let r = repo.gc(&now_gc()).await.unwrap();
    assert!(r.marked_packs > 0 && r.deleted_packs == r.marked_packs && r.waiting.is_empty(), "{r:?}");
    assert_eq!(be.list("packs/").await.unwrap().len(), before - r.deleted_packs);
    let leases: Vec<String> = be.list("leases/").await.unwrap().into_iter().map(|o| o.key).collect();
    assert!(leases.iter().any(|k| k.ends_with("/end")), "kept until it expires: {leases:?}");
    assert_eq!(pull(&repo, "db").await.unwrap(), x);
    assert!(repo.verify(&Default::default(), Arc::new(Default::default())).await.unwrap().is_clean());
}

//! A push starts without reading the index (issue 12: start-up independent of the repository's
//! size): source tree nodes come from locator records, a chunk found through a record is known
//! to have a copy in an unmarked pack, and the index is scanned only for what no record
//! vouches for while packs are marked, or to find the unindexed packs of an interrupted push of
//! the same path (src/repo/cursor.rs, src/repo/push.rs).

use crate::maintenance::{gated_push, generation, now_gc, small_init};
use crate::support::{data, pull};
use kanrepo::backend::{Backend, memory::MemoryBackend};
use kanrepo::format::snapshot::Snapshot;
use kanrepo::repo::forget::Selection;
use kanrepo::repo::gc::GcOptions;
use kanrepo::{Progress, PushOptions, Repository};
use std::sync::Arc;

/// Push `reader` under `path`; the snapshot (or error) and the index scans the push made.
async fn push_counting(
    repo: &Repository,
    path: &str,
    reader: Box<dyn std::io::Read + Send>,
) -> (kanrepo::Result<Snapshot>, u64) {
    let progress = Arc::new(Progress::default());
    let opts = PushOptions { path: path.into(), ..PushOptions::default() };
    let r = repo.push(reader, &opts, progress.clone()).await.map(|(_, s)| s);
    (r, Progress::get(&progress.index_scans))
}

fn bytes(b: Vec<u8>) -> Box<dyn std::io::Read + Send> {
    Box::new(std::io::Cursor::new(b))
}

/// A producer that fails after `n` bytes.
struct FailsAfter(std::io::Cursor<Vec<u8>>, u64);

impl std::io::Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.1 - self.0.position();
        if left == 0 {
            return Err(std::io::Error::other("the producer died"));
        }
        let n = buf.len().min(left as usize);
        self.0.read(&mut buf[..n])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_sources_have_records_reads_no_index_even_while_packs_are_marked() {
    let be: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let repo = Repository::init(be.clone(), b"pw", &small_init()).await.unwrap();
    let (s0, scans) = push_counting(&repo, "db", bytes(generation(0))).await;
    assert_eq!((s0.unwrap().stats.new_bytes, scans), (generation(0).len() as u64, 0));
    // The parent's nodes and chunks are located by the records its push wrote.
    let (s1, scans) = push_counting(&repo, "db", bytes(generation(1))).await;
    let s1 = s1.unwrap();
    assert_eq!(scans, 0, "the incremental read no index object");
    assert!(s1.stats.new_bytes * 5 < s1.size, "it deduplicated: {:?}", s1.stats);
    // Marks pending (a forgotten snapshot's packs, not yet old enough to sweep), and another
    // path's push that failed, leaving its lease.
    push_counting(&repo, "junk", bytes(data(400_000, 9))).await.0.unwrap();
    repo.forget(&Selection::Paths(vec!["junk".into()]), true, false).await.unwrap();
    let r = repo.gc(&GcOptions::default()).await.unwrap();
    assert!(r.marked_packs > 0 && r.deleted_packs == 0, "{r:?}");
    let failing = FailsAfter(std::io::Cursor::new(data(3_000_000, 10)), 2_500_000);
    let (failed, _) = push_counting(&repo, "other", Box::new(failing)).await;
    assert!(failed.is_err());
    assert!(!be.list("leases/").await.unwrap().is_empty(), "the failed push's lease stays");
    for g in 2..4 {
        let (s, scans) = push_counting(&repo, "db", bytes(generation(g))).await;
        let s = s.unwrap();
        assert_eq!(scans, 0, "generation {g}: no index object read");
        assert!(s.stats.new_bytes * 5 < s.size, "it deduplicated: {:?}", s.stats);
        assert_eq!(pull(&repo, "db").await.unwrap(), generation(g));
    }
    // The same stream under a new path, found through the hook tables gc wrote: no scan either.
    let (s, scans) = push_counting(&repo, "copy", bytes(generation(3))).await;
    assert!(s.unwrap().stats.new_bytes * 5 < generation(3).len() as u64);
    assert_eq!(scans, 0);
    assert_eq!(pull(&repo, "copy").await.unwrap(), generation(3));
}

/// A repository with `x` under "db" as a live snapshot S whose chunks are only in packs marked
/// for deletion, and "keep": a push P started with X's snapshot of `x` as its parent, gc marked
/// X's packs (X forgotten), then P committed S. Returns S's id.
async fn live_snapshot_on_marked_packs(repo: &Arc<Repository>, x: &[u8]) -> kanrepo::Id {
    let (old, _) = crate::support::push(repo, "db", x.to_vec()).await.unwrap();
    crate::support::push(repo, "keep", data(100_000, 5)).await.unwrap();
    let (gate, h) = gated_push(repo, "db", x.to_vec()).await;
    repo.forget(&Selection::Ids(vec![old.to_hex()]), true, false).await.unwrap();
    let r = repo.gc(&now_gc()).await.unwrap();
    assert!(r.marked_packs > 0 && r.deleted_packs == 0, "{r:?}");
    gate.send(()).unwrap();
    let id = h.await.unwrap().unwrap();
    let s = repo.load_snapshot(&id).await.unwrap();
    assert_eq!(s.stats.new_chunks, 0, "P deduplicated against X: {:?}", s.stats);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_after_a_mark_stores_again_what_only_marked_packs_hold_even_through_a_live_parent() {
    let repo = Arc::new(Repository::init(Arc::new(MemoryBackend::new()), b"pw", &small_init()).await.unwrap());
    let x = generation(5);
    live_snapshot_on_marked_packs(&repo, &x).await;
    // A push Q of the same stream that starts now: S is its parent, S's records name marked
    // packs (so they are not used), and every chunk S lists is only in a marked pack. Q
    // stores the stream again, having scanned the index to learn that.
    let (q, scans) = push_counting(&repo, "db", bytes(x.clone())).await;
    let q = q.unwrap();
    assert!(q.stats.new_bytes * 10 >= 9 * x.len() as u64, "Q relied on marked packs: {:?}", q.stats);
    assert!(scans >= 1, "{scans}");
    assert_eq!(pull(&repo, "db").await.unwrap(), x);
    // The next gc sweeps what S no longer needs only (Q's copies serve S too) and loses
    // nothing: every snapshot restores byte-exact and verify is clean.
    repo.gc(&now_gc()).await.unwrap();
    for s in repo.snapshots().await.unwrap() {
        let want = if s.snapshot.path == "keep" { data(100_000, 5) } else { x.clone() };
        let out = crate::support::SharedBuf::default();
        repo.pull(&s.snapshot, Box::new(out.clone()), &Default::default(), Arc::new(Progress::default()))
            .await
            .unwrap();
        assert!(*out.0.lock().unwrap() == want, "{} restores byte-exact", s.snapshot.path);
    }
    assert!(repo.verify(&Default::default(), Arc::new(Default::default())).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_push_of_its_path_reuses_the_packs_a_failed_push_could_not_index() {
    use crate::faulty::{FaultyBackend, Op};
    let fb = FaultyBackend::new(Arc::new(MemoryBackend::new()));
    let repo = Repository::init(fb.clone(), b"pw", &small_init()).await.unwrap();
    let x = data(3_000_000, 21);
    // Every index object write fails: the push stores its packs, fails, and cannot index them.
    fb.on(Op::Put).prefix("index/").always().fail(kanrepo::ErrorKind::Transient);
    let (r, _) = push_counting(&repo, "db", bytes(x.clone())).await;
    let e = r.unwrap_err();
    assert!(e.to_string().contains("index/"), "{e}");
    fb.clear();
    assert!(!fb.list("packs/").await.unwrap().is_empty() && fb.list("index/").await.unwrap().is_empty());
    let leases: Vec<String> = fb.list("leases/").await.unwrap().into_iter().map(|o| o.key).collect();
    assert!(leases.iter().any(|k| k.ends_with("/end")), "its lease is ended, not removed: {leases:?}");
    // A push of another path does not look for them.
    let (o, scans) = push_counting(&repo, "other", bytes(data(200_000, 22))).await;
    assert_eq!((o.unwrap().stats.new_bytes, scans), (200_000, 0));
    // The next push of its path finds them (one scan of the index) and stores little again.
    let (s, scans) = push_counting(&repo, "db", bytes(x.clone())).await;
    let s = s.unwrap();
    assert_eq!(scans, 1);
    assert!(s.stats.new_bytes * 5 < x.len() as u64, "stored again: {:?}", s.stats);
    assert_eq!(pull(&repo, "db").await.unwrap(), x);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_marked_packs_are_swept_while_it_runs_stores_what_only_they_held() {
    let repo = Arc::new(Repository::init(Arc::new(MemoryBackend::new()), b"pw", &small_init()).await.unwrap());
    let x = generation(6);
    let s = live_snapshot_on_marked_packs(&repo, &x).await;
    // Q starts after the mark (by more than the store's timestamp granularity), with S as its
    // parent: it reads S's leaves, whose records name X (not usable).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (gate, h) = gated_push(&repo, "db", x.clone()).await;
    // While Q waits, S is forgotten and a gc sweeps X: Q started after the mark, so it does
    // not hold the sweep back, and X leaves the index before Q looks anything up in it.
    repo.forget(&Selection::Ids(vec![s.to_hex()]), true, false).await.unwrap();
    let r = repo.gc(&now_gc()).await.unwrap();
    assert!(r.deleted_packs > 0, "{r:?}");
    gate.send(()).unwrap();
    let q = repo.load_snapshot(&h.await.unwrap().unwrap()).await.unwrap();
    assert!(q.stats.new_bytes * 10 >= 9 * x.len() as u64, "Q relied on swept packs: {:?}", q.stats);
    assert_eq!(pull(&repo, "db").await.unwrap(), x);
    assert!(repo.verify(&Default::default(), Arc::new(Default::default())).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_taken_for_dead_leaves_no_locator_table() {
    // A later push trusts a record's packs to hold its chunks, so a push that commits nothing
    // must not leave a table that may name packs a gc swept while it was stalled.
    let be: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let repo = Arc::new(Repository::init(be.clone(), b"pw", &small_init()).await.unwrap());
    crate::support::push(&repo, "db", generation(0)).await.unwrap();
    let tables = be.list("locs/").await.unwrap().len();
    let (gate, h) = gated_push(&repo, "db", generation(1)).await;
    // A gc took it for dead (it stalled past the TTL) and removed its lease objects.
    let leases: Vec<String> = be.list("leases/").await.unwrap().into_iter().map(|o| o.key).collect();
    assert!(!leases.is_empty());
    be.delete_many(&leases).await.unwrap();
    gate.send(()).unwrap();
    let e = h.await.unwrap().unwrap_err();
    assert!(e.to_string().contains("taken for dead"), "{e}");
    assert_eq!(be.list("locs/").await.unwrap().len(), tables, "no table of the push that committed nothing");
    assert!(be.list("snapshots/").await.unwrap().len() == 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_uses_no_record_naming_a_pack_it_cannot_find() {
    use crate::faulty::{FaultyBackend, Op};
    let fb = FaultyBackend::new(Arc::new(MemoryBackend::new()));
    let repo = Repository::init(fb.clone(), b"pw", &small_init()).await.unwrap();
    push_counting(&repo, "db", bytes(generation(0))).await.0.unwrap();
    // Every pack looks missing to the size requests: no record is used, so the push reads the
    // parent's tree through the index (one scan) and still deduplicates (no marks exist).
    fb.on(Op::Size).prefix("packs/").always().fail(kanrepo::ErrorKind::NotFound);
    let (s, scans) = push_counting(&repo, "db", bytes(generation(1))).await;
    let s = s.unwrap();
    assert_eq!(scans, 1, "the records were not used");
    assert!(s.stats.new_bytes * 5 < s.size, "{:?}", s.stats);
    assert_eq!(pull(&repo, "db").await.unwrap(), generation(1));
    // That push's leaves sourced from unusable records got none; gc writes them. Packs found:
    // records used again, each pack's size asked once.
    fb.clear();
    repo.gc(&now_gc()).await.unwrap();
    fb.reset_log();
    let (s, scans) = push_counting(&repo, "db", bytes(generation(2))).await;
    assert_eq!(scans, 0);
    s.unwrap();
    let packs = fb.list("packs/").await.unwrap().len() as u64;
    let asked = fb.count_prefix(Op::Size, "packs/");
    assert!(asked >= 1 && asked <= packs, "{asked} size requests for {packs} packs");
    assert_eq!(pull(&repo, "db").await.unwrap(), generation(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_taken_for_dead_while_it_writes_its_snapshot_takes_its_table_back() {
    use crate::faulty::{FaultyBackend, Op};
    let fb = FaultyBackend::new(Arc::new(MemoryBackend::new()));
    let repo = Arc::new(Repository::init(fb.clone(), b"pw", &small_init()).await.unwrap());
    crate::support::push(&repo, "db", generation(0)).await.unwrap();
    let tables = fb.list("locs/").await.unwrap().len();
    // The push passes its first commit check, then stalls in its snapshot write, long enough
    // for a gc to take it for dead (its lease objects removed).
    let gate = fb.on(Op::Put).prefix("snapshots/").pause();
    let h = {
        let repo = repo.clone();
        tokio::spawn(async move { crate::support::push(&repo, "db", generation(1)).await })
    };
    gate.reached().await;
    let t0 = std::time::Instant::now();
    while fb.list("locs/").await.unwrap().len() == tables {
        assert!(t0.elapsed().as_secs() < 30, "its table is written beside the snapshot");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let leases: Vec<String> = fb.list("leases/").await.unwrap().into_iter().map(|o| o.key).collect();
    fb.delete_many(&leases).await.unwrap();
    gate.release();
    let e = h.await.unwrap().unwrap_err();
    assert!(e.to_string().contains("taken for dead"), "{e}");
    assert_eq!(fb.list("locs/").await.unwrap().len(), tables, "the table went with the snapshot");
    assert_eq!(fb.list("snapshots/").await.unwrap().len(), 1);
}

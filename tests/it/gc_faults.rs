//! Garbage collection and compaction against a misbehaving store: a clock far from this
//! machine's, deletes that fail half-way, a pack write that fails and a pack that reads back
//! damaged in the middle of a compaction. Nothing committed may be lost, errors say what
//! failed, and the next run finishes the work.

use crate::faulty::{FaultyBackend, Op};
use crate::maintenance::{gated_push, generation, now_gc, small_init};
use crate::support::{data, pull, push};
use kanrepo::backend::memory::MemoryBackend;
use kanrepo::repo::compact::CompactOptions;
use kanrepo::repo::forget::{KeepPolicy, Selection};
use kanrepo::repo::gc::GcOptions;
use kanrepo::repo::verify::VerifyOptions;
use kanrepo::{ErrorKind, Repository};
use std::sync::Arc;

async fn verify_clean(repo: &Repository) {
    let r = repo.verify(&VerifyOptions::default(), Arc::default()).await.unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}

/// The store's clock two hours ahead of or behind this machine's changes nothing: ages come
/// from the store's own timestamps. (Comparing a local clock with store times would sweep a
/// fresh mark at once when the store is behind, and take a running push for dead.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_clock_hours_away_from_ours_changes_no_decision() {
    for skew in [-7200i64, 7200] {
        let fb = FaultyBackend::new(Arc::new(MemoryBackend::new()));
        let repo = Arc::new(Repository::init(fb.clone(), b"pw", &small_init()).await.unwrap());
        fb.skew_clock(skew);
        let x = generation(2);
        let (old, _) = push(&repo, "db", x.clone()).await.unwrap();
        push(&repo, "keep", data(200_000, 3)).await.unwrap();
        // A push whose dedup source is X's snapshot (its parent) is still running.
        let (gate, h) = gated_push(&repo, "db", x.clone()).await;
        repo.forget(&Selection::Ids(vec![old.to_hex()]), true, false).await.unwrap();
        let r = repo.gc(&GcOptions::default()).await.unwrap();
        assert!(r.marked_packs > 0 && r.deleted_packs == 0, "skew {skew}: {r:?}");
        // A second run at once, default minimum age: the mark is seconds old by the store.
        let r = repo.gc(&GcOptions::default()).await.unwrap();
        assert_eq!(r.deleted_packs, 0, "skew {skew}: a fresh mark was swept: {r:?}");
        // No minimum age, but the push that started before the mark is alive.
        let r = repo.gc(&now_gc()).await.unwrap();
        assert_eq!(r.deleted_packs, 0, "skew {skew}: swept under a running push: {r:?}");
        gate.send(()).unwrap();
        h.await.unwrap().unwrap();
        assert_eq!(pull(&repo, "db").await.unwrap(), x, "skew {skew}");
        let r = repo.gc(&now_gc()).await.unwrap();
        assert_eq!(r.deleted_packs, 0, "skew {skew}: X is needed again: {r:?}");
        verify_clean(&repo).await;
        assert_eq!(pull(&repo, "keep").await.unwrap(), data(200_000, 3));
    }
}

/// The store fails (or loses the answer to) the delete of the second pack gc sweeps, and in
/// another run the delete of an old index object: gc reports the failure, loses nothing, and
/// the next run completes the sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fails_mid_delete_loses_nothing_and_the_next_gc_finishes() {
    for (prefix, lost_answer) in [("packs/", false), ("packs/", true), ("index/", false)] {
        let fb = FaultyBackend::new(Arc::new(MemoryBackend::new()));
        let repo = Repository::init(fb.clone(), b"pw", &small_init()).await.unwrap();
        let mut ids = Vec::new();
        for g in 0..4 {
            ids.push(push(&repo, "db", data(600_000, 50 + g)).await.unwrap().0);
        }
        push(&repo, "keep", generation(1)).await.unwrap();
        repo.forget(&Selection::Ids(ids[..3].iter().map(|i| i.to_hex()).collect()), true, false).await.unwrap();
        let rule = fb.on(Op::Delete).prefix(prefix).nth(2);
        let fired = if lost_answer { rule.fail_after(ErrorKind::Transient) } else { rule.fail(ErrorKind::Transient) };
        let what = format!("{prefix} lost_answer={lost_answer}");
        let e = repo.gc(&now_gc()).await.unwrap_err();
        assert_eq!(fired.count(), 1, "{what}");
        assert!(e.to_string().contains("injected fault"), "{what}: {e}");
        if prefix == "packs/" {
            assert!(e.to_string().contains("deleting unneeded packs"), "{what}: {e}");
        }
        // Nothing the kept snapshots need is gone, and the repository verifies.
        assert_eq!(pull(&repo, "db").await.unwrap(), data(600_000, 53), "{what}");
        assert_eq!(pull(&repo, "keep").await.unwrap(), generation(1), "{what}");
        verify_clean(&repo).await;
        // The next run finishes: no mark left, nothing dead left, still verifies.
        fb.clear();
        repo.gc(&now_gc()).await.unwrap();
        let r = repo.gc(&now_gc()).await.unwrap();
        assert_eq!((r.marked_packs, r.deleted_packs, r.pending_marks), (0, 0, 0), "{what}: {r:?}");
        assert!(repo.marks().await.unwrap().is_empty(), "{what}");
        let u = repo.usage(&Default::default()).await.unwrap();
        assert_eq!(u.dead_packs, 0, "{what}: {u:?}");
        verify_clean(&repo).await;
        assert_eq!(pull(&repo, "db").await.unwrap(), data(600_000, 53), "{what}");
    }
}

/// A compaction whose store fails the write of its second new pack, or returns its second old
/// pack damaged, fails with an error that says so while its decode and seal jobs are in
/// flight; it marks nothing, every snapshot still restores byte-exact, and the next compaction
/// finishes the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_that_meets_a_failing_write_or_a_damaged_read_loses_nothing() {
    for fault in ["write", "read"] {
        let fb = FaultyBackend::new(Arc::new(MemoryBackend::new()));
        let repo = Repository::init(fb.clone(), b"pw", &small_init()).await.unwrap();
        let gens: Vec<Vec<u8>> = (0..12).map(generation).collect();
        for g in &gens {
            push(&repo, "db", g.clone()).await.unwrap();
        }
        let policy = Selection::Policy(KeepPolicy { last: 3, ..Default::default() }, vec![]);
        repo.forget(&policy, false, false).await.unwrap();
        repo.gc(&now_gc()).await.unwrap();
        let plan = repo.compact(&CompactOptions { dry_run: true, ..Default::default() }).await.unwrap();
        assert!(plan.repacked_packs >= 3, "{fault}: too little to repack for the test: {plan:?}");

        let fired = match fault {
            "write" => fb.on(Op::Put).prefix("packs/").nth(2).fail(ErrorKind::Transient),
            _ => fb.on(Op::Get).prefix("packs/").nth(2).flip_byte(1000),
        };
        let e = repo.compact(&CompactOptions::default()).await.unwrap_err();
        assert_eq!(fired.count(), 1, "{fault}");
        match fault {
            "write" => assert!(e.to_string().contains("injected fault"), "{fault}: {e}"),
            _ => {
                assert_eq!(e.kind(), ErrorKind::Corrupt, "{fault}: {e}");
                assert!(
                    e.to_string().contains("does not match its name") && e.to_string().contains("run verify"),
                    "{e}"
                );
            }
        }
        assert!(repo.marks().await.unwrap().is_empty(), "{fault}: a failed compaction marked packs");
        for (i, g) in gens.iter().enumerate().skip(9) {
            let s = repo.snapshots().await.unwrap();
            let e = s.iter().find(|e| e.snapshot.blake3 == blake3::hash(g).to_hex().to_string()).unwrap();
            let buf = crate::support::SharedBuf::default();
            repo.pull(&e.snapshot, Box::new(buf.clone()), &Default::default(), Arc::default()).await.unwrap();
            assert!(*buf.0.lock().unwrap() == *g, "{fault}: generation {i} after the failed compaction");
        }
        verify_clean(&repo).await;

        fb.clear();
        let c = repo.compact(&CompactOptions::default()).await.unwrap();
        assert_eq!(c.repacked_packs, plan.repacked_packs, "{fault}: {c:?}");
        let r = repo.gc(&now_gc()).await.unwrap();
        assert!(r.deleted_packs >= c.repacked_packs, "{fault}: {r:?}");
        verify_clean(&repo).await;
        assert_eq!(pull(&repo, "db").await.unwrap(), gens[11], "{fault}");
    }
}

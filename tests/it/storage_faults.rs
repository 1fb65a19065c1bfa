//! verify and repair against storage faults (the fault-injecting backend is `crate::faulty`).

use crate::faulty::{FaultyBackend, Op};
use crate::support::*;
use kanrepo::ErrorKind;
use kanrepo::Repository;
use kanrepo::backend::Backend;
use kanrepo::backend::memory::MemoryBackend;
use kanrepo::repo::repair::{RepairIndexOptions, RepairSnapshotsOptions};
use kanrepo::repo::verify::{ProblemKind, ReadData, VerifyOptions, VerifyProgress};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A repository on a faulty in-memory backend with small packs and two snapshots.
async fn faulty_repo() -> (Arc<FaultyBackend>, Repository, Vec<u8>, Vec<u8>) {
    let fb = FaultyBackend::new(Arc::new(MemoryBackend::new()));
    let opts = kanrepo::InitOptions { pack_target: 256 << 10, frame_target: 64 << 10, ..fast_init() };
    let repo = Repository::init(fb.clone(), b"test-password", &opts).await.unwrap();
    let (a, b) = (text(1_500_000, 1), data(700_000, 2));
    push(&repo, "pg/nightly.sql", a.clone()).await.unwrap();
    push(&repo, "other", b.clone()).await.unwrap();
    (fb, repo, a, b)
}

fn opts(read_data: ReadData) -> VerifyOptions {
    VerifyOptions { read_data, ..Default::default() }
}

async fn verify(repo: &Repository, read_data: ReadData) -> kanrepo::Result<kanrepo::repo::verify::VerifyReport> {
    repo.verify(&opts(read_data), Arc::new(VerifyProgress::default())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_fails_instead_of_passing_when_storage_fails() {
    let (fb, repo, _, _) = faulty_repo().await;
    assert!(verify(&repo, ReadData::All).await.unwrap().is_clean());
    for (op, prefix, kind) in [
        (Op::GetRange, "packs/", ErrorKind::Transient),
        (Op::Get, "index/", ErrorKind::PermissionDenied),
        (Op::Get, "packs/", ErrorKind::Io),
        (Op::List, "", ErrorKind::Transient),
    ] {
        fb.clear();
        fb.on(op).prefix(prefix).nth(2).fail(kind);
        let e = verify(&repo, ReadData::All).await.expect_err("an unreadable repository must not verify clean");
        assert_eq!(e.kind(), kind, "{op:?} {prefix}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_headers_by_range_and_data_a_few_packs_at_a_time() {
    let (fb, repo, _, _) = faulty_repo().await;
    let packs = fb.list("packs/").await.unwrap().len() as u64;
    assert!(packs >= 4, "small packs: {packs}");
    fb.reset_log();
    let r = verify(&repo, ReadData::None).await.unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(fb.count_prefix(Op::Get, "packs/"), 0, "structure only: never a whole pack");
    assert_eq!(r.pack_headers_checked, packs);
    fb.reset_log();
    fb.on(Op::Get).prefix("packs/").always().delay(Duration::from_millis(30));
    let o = VerifyOptions { read_data: ReadData::All, pack_reads: 2 };
    let r = repo.verify(&o, Arc::new(VerifyProgress::default())).await.unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.packs_read, packs);
    assert_eq!(fb.count_prefix(Op::Get, "packs/"), packs, "each pack read whole once");
    let most = fb.max_in_flight(Op::Get, "packs");
    assert!((1..=2).contains(&most), "at most 2 packs in flight, got {most}");
}

/// Where the tree nodes are: the ranged reads of a structural verify that do not reach the end
/// of their pack (those are header reads) — as (pack key, offset, length) — and the packs that
/// hold no tree node.
pub async fn layout(fb: &FaultyBackend, repo: &Repository) -> (Vec<(String, u64, u64)>, Vec<String>) {
    let sizes: HashMap<String, u64> = fb.list("packs/").await.unwrap().into_iter().map(|o| (o.key, o.size)).collect();
    let from = fb.log().len();
    verify(repo, ReadData::None).await.unwrap();
    let mut nodes: Vec<(String, u64, u64)> = fb.log()[from..]
        .iter()
        .filter(|c| c.op == Op::GetRange)
        .filter_map(|c| c.range.map(|(o, l)| (c.key.clone(), o, l)))
        .filter(|(k, o, l)| o + l < sizes[k])
        .collect();
    nodes.sort();
    nodes.dedup();
    let mut data_only: Vec<String> = sizes.into_keys().filter(|k| !nodes.iter().any(|n| &n.0 == k)).collect();
    data_only.sort();
    (nodes, data_only)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_flipped_on_the_way_is_caught_by_reading_data_and_names_the_pack() {
    let (fb, repo, _, _) = faulty_repo().await;
    let (node_ranges, data_only) = layout(&fb, &repo).await;
    let key = &data_only[0];
    fb.corrupt(key, 100);
    let r = verify(&repo, ReadData::None).await.unwrap();
    assert!(r.is_clean(), "the structure is intact: {:?}", r.problems);
    let r = verify(&repo, ReadData::All).await.unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    let p = &r.problems[0];
    assert_eq!(p.kind, ProblemKind::PackDamaged);
    assert_eq!(&p.object, key);
    assert_eq!(p.snapshots.len(), 1, "{p}");
    assert_eq!(r.damaged_snapshots.len(), 1);
    // A tree node flipped the same way is caught by the structural check.
    fb.clear();
    let (nkey, noff, _) = node_ranges[0].clone();
    fb.corrupt(&nkey, noff + 50);
    let r = verify(&repo, ReadData::None).await.unwrap();
    assert!(r.problems.iter().any(|p| p.kind == ProblemKind::TreeNode && p.detail.contains(&nkey)), "{:?}", r.problems);
    assert!(!r.damaged_snapshots.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_index_interrupted_before_deleting_leaves_duplicates_never_a_gap() {
    let (fb, repo, a, b) = faulty_repo().await;
    let old: Vec<String> = fb.list("index/").await.unwrap().into_iter().map(|o| o.key).collect();
    // The new index objects are written, the first delete of an old one fails.
    fb.on(Op::Delete).prefix("index/").fail(ErrorKind::Transient);
    let e = repo.repair_index(&RepairIndexOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(e.to_string().contains("run the repair again"), "{e}");
    let now: Vec<String> = fb.list("index/").await.unwrap().into_iter().map(|o| o.key).collect();
    assert!(old.iter().all(|k| now.contains(k)) && now.len() > old.len(), "old and new objects both there");
    assert_eq!(pull(&repo, "pg/nightly.sql").await.unwrap(), a);
    assert!(verify(&repo, ReadData::None).await.unwrap().is_clean());
    // Run again: one clean set.
    fb.clear();
    let r = repo.repair_index(&RepairIndexOptions::default()).await.unwrap();
    assert_eq!(r.deleted.len(), now.len());
    let after: Vec<String> = fb.list("index/").await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(after, {
        let mut w = r.written.clone();
        w.sort();
        w
    });
    assert_eq!(pull(&repo, "other").await.unwrap(), b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_index_that_cannot_write_deletes_nothing() {
    let (fb, repo, a, _) = faulty_repo().await;
    let old = fb.list("index/").await.unwrap();
    fb.on(Op::Put).prefix("index/").always().fail(ErrorKind::Transient);
    let e = repo.repair_index(&RepairIndexOptions::default()).await.unwrap_err();
    assert!(e.to_string().contains("nothing was deleted"), "{e}");
    assert_eq!(fb.count_prefix(Op::Delete, "index/"), 0, "no index object deleted");
    assert_eq!(fb.list("index/").await.unwrap(), old);
    fb.clear();
    assert_eq!(pull(&repo, "pg/nightly.sql").await.unwrap(), a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_index_leaves_a_pack_with_a_damaged_header_alone_and_keeps_its_data_readable() {
    let (fb, repo, a, b) = faulty_repo().await;
    let victim = fb.list("packs/").await.unwrap().into_iter().next().unwrap();
    fb.corrupt(&victim.key, victim.size - 20);
    let r = repo.repair_index(&RepairIndexOptions::default()).await.unwrap();
    assert_eq!(r.unreadable_packs.len(), 1, "{r:?}");
    assert_eq!(r.unreadable_packs[0].pack, victim.key);
    assert!(r.unreadable_packs[0].kept_from_old_index);
    assert!(fb.list("packs/").await.unwrap().iter().any(|o| o.key == victim.key), "never deleted");
    assert_eq!(pull(&repo, "pg/nightly.sql").await.unwrap(), a);
    assert_eq!(pull(&repo, "other").await.unwrap(), b);
    let v = verify(&repo, ReadData::None).await.unwrap();
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert_eq!(v.problems[0].kind, ProblemKind::PackHeader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrite_that_fails_to_read_writes_no_snapshot() {
    let (fb, repo, _, _) = faulty_repo().await;
    // Lose a pack of data only (some data of a snapshot is lost, the rest can be kept), rebuild
    // the index, then make the reads of the rewrite fail. The victim holds "other"'s random
    // data, which fills several packs (the text of "pg/nightly.sql" may compress into one).
    let first_snapshot = fb.log().iter().position(|c| c.op == Op::Put && c.key.starts_with("snapshots/")).unwrap();
    let others: Vec<String> = fb.log()[first_snapshot..]
        .iter()
        .filter(|c| c.op == Op::Put && c.key.starts_with("packs/"))
        .map(|c| c.key.clone())
        .collect();
    let (_, data_only) = layout(&fb, &repo).await;
    let victim = data_only.iter().find(|k| others.contains(k)).expect("a data-only pack of the second push");
    assert!(others.len() >= 2, "the second push fills several packs: {others:?}");
    fb.delete(victim).await.unwrap();
    repo.repair_index(&RepairIndexOptions::default()).await.unwrap();
    let before = fb.list("snapshots/").await.unwrap().len();
    fb.on(Op::GetRange).prefix("packs/").nth(3).always().fail(ErrorKind::Transient);
    let o = RepairSnapshotsOptions { rewrite: true, delete_originals: true, ..Default::default() };
    let e = repo.repair_snapshots(&o).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert_eq!(fb.list("snapshots/").await.unwrap().len(), before, "nothing written, nothing deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_commits_while_verify_or_repair_lists_is_never_taken_for_damage() {
    let (fb, repo, _, _) = faulty_repo().await;
    let repo = Arc::new(repo);
    // verify lists "" (for its notes), then snapshots/, index/, packs/: hold the index/
    // listing (the 2nd list overlapping index/) while a push commits a new snapshot.
    for (nth, what) in [(2, "verify"), (1, "repair snapshots")] {
        fb.clear();
        let gate = fb.on(Op::List).prefix("index/").nth(nth).pause();
        let r2 = repo.clone();
        let task = tokio::spawn(async move {
            if what == "verify" {
                let r = verify(&r2, ReadData::None).await.unwrap();
                (r.problems.len(), r.snapshots as usize)
            } else {
                let r = r2.repair_snapshots(&RepairSnapshotsOptions::default()).await.unwrap();
                (r.damaged.len(), r.snapshots as usize)
            }
        });
        gate.reached().await;
        let before = fb.list("snapshots/").await.unwrap().len();
        push(&repo, &format!("late/{what}"), data(400_000, 40 + nth)).await.unwrap();
        gate.release();
        let (problems, snapshots) = task.await.unwrap();
        assert_eq!(problems, 0, "{what}: a snapshot committed during the listing is not damaged");
        assert_eq!(snapshots, before, "{what}: snapshots are listed before the index");
    }
}

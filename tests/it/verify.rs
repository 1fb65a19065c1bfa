//! `verify` and `repair` against a repository on local disk damaged one byte at a time: every
//! kind of object (config, key object, snapshot, index object, pack data, pack header, tree
//! node), a deleted pack, a deleted index. Verify must name the object and the snapshots it
//! affects; a pull of an affected snapshot must fail without writing a wrong byte; repair must
//! bring back what can be brought back.

use crate::faulty::FaultyBackend;
use crate::support::*;
use kanrepo::backend::Backend;
use kanrepo::backend::local::LocalBackend;
use kanrepo::format::snapshot::Snapshot;
use kanrepo::repo::repair::{RepairIndexOptions, RepairSnapshotsOptions};
use kanrepo::repo::verify::{ProblemKind, ReadData, VerifyOptions, VerifyProgress, VerifyReport};
use kanrepo::{ErrorKind, Id, Progress, PullOptions, Repository};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const PASSWORD: &[u8] = b"test-password";

struct Fx {
    _dir: tempfile::TempDir,
    root: PathBuf,
    backend: Arc<dyn Backend>,
    repo: Repository,
    /// Snapshot id → its stream.
    streams: HashMap<Id, Vec<u8>>,
    /// Ids in push order: night 1 and night 2 of `pg/nightly.sql` (sharing most chunks), and
    /// `other`.
    ids: Vec<Id>,
    /// Packs the last push (`other`) wrote.
    other_packs: Vec<String>,
}

fn night1() -> Vec<u8> {
    text(1_500_000, 1)
}

fn night2() -> Vec<u8> {
    let mut d = night1();
    d.splice(700_000..700_000, b"INSERT INTO t VALUES (42, 'night 2');\n".iter().copied());
    d.extend_from_slice(&text(100_000, 9));
    d
}

/// A repository with small packs (so there are many) and three snapshots.
async fn setup() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(&root));
    let opts = kanrepo::InitOptions { pack_target: 256 << 10, frame_target: 64 << 10, ..fast_init() };
    let repo = Repository::init(backend.clone(), PASSWORD, &opts).await.unwrap();
    let mut streams = HashMap::new();
    let mut ids = Vec::new();
    let mut before = Vec::new();
    for (path, d) in [("pg/nightly.sql", night1()), ("pg/nightly.sql", night2()), ("other", data(700_000, 2))] {
        before = backend.list("packs/").await.unwrap().into_iter().map(|o| o.key).collect();
        let (id, _) = push(&repo, path, d.clone()).await.unwrap();
        streams.insert(id, d);
        ids.push(id);
    }
    let other_packs =
        backend.list("packs/").await.unwrap().into_iter().map(|o| o.key).filter(|k| !before.contains(k)).collect();
    Fx { _dir: dir, root, backend, repo, streams, ids, other_packs }
}

impl Fx {
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    async fn keys(&self, prefix: &str) -> Vec<(String, u64)> {
        self.backend.list(prefix).await.unwrap().into_iter().map(|o| (o.key, o.size)).collect()
    }

    /// Tree-node blobs (pack key, offset, length) and the packs that hold none (see
    /// [`crate::storage_faults::layout`]).
    async fn layout(&self) -> (Vec<(String, u64, u64)>, Vec<String>) {
        let fb = FaultyBackend::new(self.backend.clone());
        let repo = Repository::open(fb.clone(), PASSWORD).await.unwrap();
        crate::storage_faults::layout(&fb, &repo).await
    }

    /// Pull snapshot `id`: the result and every byte written before it ended.
    async fn pull_id(&self, id: &Id) -> (kanrepo::Result<()>, Vec<u8>) {
        let snap = match self.repo.load_snapshot(id).await {
            Ok(s) => s,
            Err(e) => return (Err(e), Vec::new()),
        };
        pull_snap(&self.repo, &snap).await
    }

    /// The pull of every snapshot in `damaged` fails without writing a wrong byte; every
    /// other one is byte-exact.
    async fn check_pulls(&self, damaged: &[String]) {
        for id in &self.ids {
            let (r, out) = self.pull_id(id).await;
            let want = &self.streams[id];
            if damaged.contains(&id.to_hex()) {
                let e = r.expect_err("a damaged snapshot must not pull");
                assert!(matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::NotFound), "{e}");
                assert!(out.len() < want.len() && want.starts_with(&out), "only intact bytes before the damage");
            } else {
                r.unwrap_or_else(|e| panic!("snapshot {} should pull: {e}", id.short()));
                assert!(out == *want, "byte-exact");
            }
        }
    }
}

async fn pull_snap(repo: &Repository, snap: &Snapshot) -> (kanrepo::Result<()>, Vec<u8>) {
    let buf = SharedBuf::default();
    let r = repo.pull(snap, Box::new(buf.clone()), &PullOptions::default(), Arc::new(Progress::default())).await;
    let out = buf.0.lock().unwrap().clone();
    (r, out)
}

/// Flip the low bit of byte `offset` of a stored file (objects are written read-only).
fn flip(path: &Path, offset: u64) {
    use std::os::unix::fs::PermissionsExt;
    let mut b = std::fs::read(path).unwrap();
    b[offset as usize] ^= 1;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(path, b).unwrap();
}

async fn verify(repo: &Repository, read_data: ReadData) -> VerifyReport {
    let o = VerifyOptions { read_data, ..Default::default() };
    repo.verify(&o, Arc::new(VerifyProgress::default())).await.unwrap()
}

async fn verify_at(backend: &Arc<dyn Backend>, read_data: ReadData) -> VerifyReport {
    let o = VerifyOptions { read_data, ..Default::default() };
    Repository::verify_at(backend.clone(), PASSWORD, &o, Arc::new(VerifyProgress::default())).await.unwrap()
}

fn damaged_ids(r: &VerifyReport) -> Vec<String> {
    r.damaged_snapshots.iter().map(|d| d.snapshot.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_repository_verifies_clean_with_and_without_data() {
    let fx = setup().await;
    let packs = fx.keys("packs/").await.len() as u64;
    for rd in [ReadData::None, ReadData::All] {
        let r = verify(&fx.repo, rd).await;
        assert!(r.is_clean(), "{rd}: {:?}", r.problems);
        assert!(r.complete && r.damaged_snapshots.is_empty());
        assert_eq!((r.key_objects, r.snapshots, r.packs, r.packs_indexed), (1, 3, packs, packs));
        assert_eq!(r.pack_headers_checked, packs);
        assert!(r.index_objects >= 3 && r.tree_nodes >= 3 && r.chunk_refs > 100 && r.bytes_read > 0, "{r:?}");
        // Every object is one verify knows (hook tables included): nothing left unchecked.
        assert_eq!(r.hook_tables, 3, "{r:?}");
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }
    let r = verify(&fx.repo, ReadData::All).await;
    assert_eq!(r.packs_read, packs);
    assert!(r.bytes_read as f64 >= fx.keys("packs/").await.iter().map(|p| p.1).sum::<u64>() as f64);
    assert!(r.chunks_read >= r.tree_nodes);
    // Opening and verifying in one step gives the same verdict.
    assert!(verify_at(&fx.backend, ReadData::None).await.is_clean());
    // A wrong password is an error, not a finding.
    let e = Repository::verify_at(fx.backend.clone(), b"nope", &VerifyOptions::default(), Arc::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongPassword);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_subsets_read_their_share_of_the_packs() {
    let fx = setup().await;
    let packs: Vec<Id> =
        fx.keys("packs/").await.iter().map(|(k, _)| Id::from_hex(k.rsplit('/').next().unwrap()).unwrap()).collect();
    let mut total = 0;
    for n in 1..=3 {
        let r = verify(&fx.repo, ReadData::Subset { n, m: 3 }).await;
        assert!(r.is_clean());
        let want = packs.iter().filter(|p| ReadData::in_subset(p, n, 3)).count() as u64;
        assert_eq!(r.packs_read, want, "subset {n}/3");
        total += r.packs_read;
    }
    assert_eq!(total, packs.len() as u64, "the three subsets cover every pack once");
    let r = verify(&fx.repo, ReadData::Percent(50.0)).await;
    assert_eq!(r.packs_read, packs.len().div_ceil(2) as u64);
    assert_eq!(r.read_data, "50%");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_config_is_named_and_nothing_opens() {
    let fx = setup().await;
    flip(&fx.path("config"), 30);
    let r = verify_at(&fx.backend, ReadData::None).await;
    assert!(!r.complete);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].kind, ProblemKind::Config);
    assert!(r.problems[0].to_string().starts_with("config is damaged"), "{}", r.problems[0]);
    // No pull can start: the repository does not open.
    assert!(Repository::open(fx.backend.clone(), PASSWORD).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_key_object_is_named() {
    let fx = setup().await;
    // With a second password, the repository still opens with the first.
    let second = fx.repo.add_key(b"second", kanrepo::crypto::keyfile::KdfParams::insecure_fast()).await.unwrap();
    let key = format!("keys/{second}");
    flip(&fx.path(&key), 40);
    let r = verify(&fx.repo, ReadData::None).await;
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!((r.problems[0].kind, r.problems[0].object.as_str()), (ProblemKind::Key, key.as_str()));
    assert!(r.damaged_snapshots.is_empty());
    fx.check_pulls(&[]).await;
    // The only key of a repository: it does not open, and verify says why.
    let fx = setup().await;
    let (only, _) = fx.keys("keys/").await.remove(0);
    flip(&fx.path(&only), 60);
    let r = verify_at(&fx.backend, ReadData::None).await;
    assert!(!r.complete);
    assert!(r.problems.iter().any(|p| p.kind == ProblemKind::Key && p.object == only), "{:?}", r.problems);
    assert!(Repository::open(fx.backend.clone(), PASSWORD).await.is_err());
}

/// A hook table only guides deduplication, but a damaged one is damage: verify names it; the
/// pulls and the next push do not need it, and the next gc rewrites the tables without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_hook_table_is_named_and_the_next_gc_replaces_it() {
    let fx = setup().await;
    let tables = fx.keys("hooks/").await;
    assert_eq!(tables.len(), 3);
    let key = tables[1].0.clone();
    flip(&fx.path(&key), tables[1].1 / 2);
    let r = verify(&fx.repo, ReadData::None).await;
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!((r.problems[0].kind, r.problems[0].object.as_str()), (ProblemKind::HookTable, key.as_str()));
    assert!(r.problems[0].to_string().starts_with(&format!("hook table {key} is damaged")), "{}", r.problems[0]);
    assert!(r.damaged_snapshots.is_empty(), "{:?}", r.damaged_snapshots);
    fx.check_pulls(&[]).await;
    push(&fx.repo, "pg/nightly.sql", night2()).await.unwrap();
    fx.repo.gc(&kanrepo::repo::gc::GcOptions::default()).await.unwrap();
    assert!(!fx.keys("hooks/").await.iter().any(|(k, _)| *k == key), "the merge dropped the damaged table");
    assert!(verify(&fx.repo, ReadData::None).await.is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_locator_table_is_named_pulls_scan_instead_and_the_next_gc_replaces_it() {
    let fx = setup().await;
    let r = fx.repo.gc(&kanrepo::repo::gc::GcOptions::default()).await.unwrap();
    assert_eq!(r.locator_tables_after, 1, "{r:?}");
    let clean = verify(&fx.repo, ReadData::None).await;
    assert!(clean.is_clean() && clean.notes.is_empty(), "{:?} {:?}", clean.problems, clean.notes);
    assert_eq!(clean.locator_tables, 1);
    let tables = fx.keys("locs/").await;
    let key = tables[0].0.clone();
    flip(&fx.path(&key), tables[0].1 / 3);
    let r = verify(&fx.repo, ReadData::None).await;
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!((r.problems[0].kind, r.problems[0].object.as_str()), (ProblemKind::LocatorTable, key.as_str()));
    assert!(r.problems[0].to_string().starts_with(&format!("locator table {key} is damaged")), "{}", r.problems[0]);
    assert!(r.damaged_snapshots.is_empty(), "{:?}", r.damaged_snapshots);
    fx.check_pulls(&[]).await;
    fx.repo.gc(&kanrepo::repo::gc::GcOptions::default()).await.unwrap();
    assert!(!fx.keys("locs/").await.iter().any(|(k, _)| *k == key), "gc replaced the damaged table");
    assert!(verify(&fx.repo, ReadData::None).await.is_clean());
    // A pack deleted behind the repository's back: the table that names it is reported too.
    std::fs::remove_file(fx.path(&fx.other_packs[0])).unwrap();
    let r = verify(&fx.repo, ReadData::None).await;
    let p = r.problems.iter().find(|p| p.kind == ProblemKind::LocatorTable).expect("locator table problem");
    assert!(p.detail.contains("does not exist"), "{p}");
    assert!(r.problems.iter().any(|p| p.kind == ProblemKind::PackMissing), "{:?}", r.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_snapshot_object_is_named_and_refused() {
    let fx = setup().await;
    let key = format!("snapshots/{}", fx.ids[2]);
    flip(&fx.path(&key), 20);
    let r = verify(&fx.repo, ReadData::None).await;
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!((r.problems[0].kind, r.problems[0].object.as_str()), (ProblemKind::Snapshot, key.as_str()));
    let e = fx.repo.load_snapshot(&fx.ids[2]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(e.to_string().contains(&key), "{e}");
    assert!(pull(&fx.repo, "other").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_index_object_is_named_and_repair_index_replaces_it() {
    let fx = setup().await;
    let (key, _) = fx.keys("index/").await.remove(0);
    flip(&fx.path(&key), 50);
    let r = verify(&fx.repo, ReadData::None).await;
    let p = r.problems.iter().find(|p| p.kind == ProblemKind::Index).expect("index problem");
    assert_eq!(p.object, key);
    assert!(p.detail.contains("repair index"), "{p}");
    // Its entries are the ones missing: one explained problem, not one per chunk.
    assert!(r.problems.len() <= 2, "{:?}", r.problems);
    // A pull that locator records cover does not read the index: it is right.
    let (res, out) = fx.pull_id(&fx.ids[0]).await;
    res.unwrap();
    assert!(out == fx.streams[&fx.ids[0]]);
    // Without them, every pull fails before writing anything.
    for (t, _) in fx.keys("locs/").await {
        std::fs::remove_file(fx.path(&t)).unwrap();
    }
    let (res, out) = fx.pull_id(&fx.ids[0]).await;
    assert!(res.unwrap_err().to_string().contains(&key));
    assert!(out.is_empty());
    let rep = fx.repo.repair_index(&RepairIndexOptions::default()).await.unwrap();
    assert_eq!(rep.damaged_index_objects, vec![key.clone()]);
    assert!(rep.unreadable_packs.is_empty() && rep.dropped_missing_packs.is_empty());
    assert!(!fx.path(&key).exists());
    assert!(verify(&fx.repo, ReadData::All).await.is_clean());
    fx.check_pulls(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_pack_data_is_found_by_reading_data_and_refused_by_pull() {
    let fx = setup().await;
    let (_, data_only) = fx.layout().await;
    let victim = &data_only[0];
    flip(&fx.path(victim), 100);
    let r = verify(&fx.repo, ReadData::None).await;
    assert!(r.is_clean(), "invisible without reading data: {:?}", r.problems);
    let r = verify(&fx.repo, ReadData::All).await;
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    let p = &r.problems[0];
    assert_eq!((p.kind, &p.object), (ProblemKind::PackDamaged, victim));
    assert!(!p.snapshots.is_empty() && p.to_string().contains("needed by snapshot"), "{p}");
    let damaged = damaged_ids(&r);
    assert_eq!(p.snapshots.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), damaged);
    fx.check_pulls(&damaged).await;
    // The pull names the pack.
    let (res, _) = fx.pull_id(&Id::from_hex(&damaged[0]).unwrap()).await;
    assert!(res.unwrap_err().to_string().contains(victim.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_pack_header_is_named_and_pulls_still_work() {
    let fx = setup().await;
    let (victim, size) = fx.keys("packs/").await.remove(1);
    flip(&fx.path(&victim), size - 30);
    for rd in [ReadData::None, ReadData::All] {
        let r = verify(&fx.repo, rd).await;
        assert_eq!(r.problems.len(), 1, "{rd}: {:?}", r.problems);
        assert_eq!((r.problems[0].kind, &r.problems[0].object), (ProblemKind::PackHeader, &victim));
        assert!(r.damaged_snapshots.is_empty(), "pulls read blobs through the index, not the header");
    }
    fx.check_pulls(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_tree_node_is_named_and_refused_by_pull() {
    let fx = setup().await;
    let (nodes, _) = fx.layout().await;
    // A leaf node (the root of a small stream is one too): take the first.
    let (pack, off, len) = nodes[0].clone();
    flip(&fx.path(&pack), off + len / 2);
    let r = verify(&fx.repo, ReadData::None).await;
    let p = r.problems.iter().find(|p| p.kind == ProblemKind::TreeNode).unwrap_or_else(|| panic!("{:?}", r.problems));
    assert!(p.detail.contains(&pack), "{p}");
    assert!(!p.snapshots.is_empty());
    let damaged = damaged_ids(&r);
    fx.check_pulls(&damaged).await;
    // Reading data finds it too, as damage in that pack.
    let r = verify(&fx.repo, ReadData::All).await;
    assert!(r.problems.iter().any(|p| p.kind == ProblemKind::PackDamaged && p.object == pack), "{:?}", r.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pack_is_named_with_the_snapshots_that_need_it() {
    let fx = setup().await;
    let (_, data_only) = fx.layout().await;
    let victim = &data_only[0];
    std::fs::remove_file(fx.path(victim)).unwrap();
    let r = verify(&fx.repo, ReadData::None).await;
    // The pack, and the locator tables that name it (the pushes wrote them).
    let (tables, packs): (Vec<_>, Vec<_>) = r.problems.iter().partition(|p| p.kind == ProblemKind::LocatorTable);
    assert_eq!(packs.len(), 1, "{:?}", r.problems);
    assert!(!tables.is_empty() && tables.iter().all(|t| t.detail.contains(victim.as_str())), "{tables:?}");
    let p = packs[0];
    assert_eq!((p.kind, &p.object), (ProblemKind::PackMissing, victim));
    let line = p.to_string();
    assert!(line.starts_with(&format!("pack {victim} is missing")), "{line}");
    for s in &p.snapshots {
        assert!(line.contains(&format!("{} ({})", &s.id[..8], s.path)), "{line}");
    }
    let damaged = damaged_ids(&r);
    assert!(!damaged.is_empty());
    fx.check_pulls(&damaged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_index_rebuilds_a_deleted_index_from_the_packs() {
    let fx = setup().await;
    for (k, _) in fx.keys("index/").await {
        std::fs::remove_file(fx.path(&k)).unwrap();
    }
    let r = verify(&fx.repo, ReadData::None).await;
    assert!(!r.is_clean());
    assert_eq!(r.damaged_snapshots.len(), 3);
    assert!(r.notes.iter().any(|n| n.contains("pack(s) are in no index object")), "orphans are a note: {:?}", r.notes);
    assert!(r.problems.iter().all(|p| p.kind == ProblemKind::Chunk || p.kind == ProblemKind::TreeNode));
    let dry = fx.repo.repair_index(&RepairIndexOptions { dry_run: true }).await.unwrap();
    assert!(dry.dry_run && !dry.written.is_empty());
    assert!(fx.keys("index/").await.is_empty(), "a dry run writes nothing");
    let rep = fx.repo.repair_index(&RepairIndexOptions::default()).await.unwrap();
    assert_eq!(rep.packs_indexed, fx.keys("packs/").await.len() as u64);
    assert_eq!(fx.keys("index/").await.len(), rep.written.len());
    fx.check_pulls(&[]).await;
    assert!(verify(&fx.repo, ReadData::All).await.is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_snapshots_replaces_exactly_the_lost_ranges_by_zeros() {
    let fx = setup().await;
    let (_, data_only) = fx.layout().await;
    // A data-only pack of the incompressible `other` stream, which spans several packs. (The
    // compressible nightly dump may fit in one pack, larger or smaller than other's, and a
    // snapshot with nothing left is reported but, rightly, not rewritten.)
    let sizes: HashMap<String, u64> = fx.keys("packs/").await.into_iter().collect();
    let victim = data_only
        .iter()
        .filter(|k| fx.other_packs.contains(*k))
        .max_by_key(|k| (sizes[*k], (*k).clone()))
        .expect("a data-only pack of `other`")
        .clone();
    std::fs::remove_file(fx.path(&victim)).unwrap();
    let damaged = damaged_ids(&verify(&fx.repo, ReadData::None).await);

    // Report only: which snapshots, which ranges; nothing written.
    let report = fx.repo.repair_snapshots(&RepairSnapshotsOptions::default()).await.unwrap();
    assert_eq!(report.damaged.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), damaged);
    assert!(report.notes.iter().any(|n| n.contains("repair index")), "{:?}", report.notes);
    assert!(report.damaged.iter().all(|d| d.new_snapshot.is_none() && !d.lost.is_empty()));
    assert!(report.damaged[0].lost[0].reason.contains(&victim), "{:?}", report.damaged[0].lost);
    assert_eq!(fx.keys("snapshots/").await.len(), 3);
    // Rewriting on an index that lists a missing pack is refused.
    let rewrite = RepairSnapshotsOptions { rewrite: true, ..Default::default() };
    let e = fx.repo.repair_snapshots(&rewrite).await.unwrap_err();
    assert!(e.to_string().contains("repair index"), "{e}");
    let rep = fx.repo.repair_index(&RepairIndexOptions::default()).await.unwrap();
    assert_eq!(rep.dropped_missing_packs, vec![victim.clone()]);

    let done = fx.repo.repair_snapshots(&rewrite).await.unwrap();
    assert_eq!(done.damaged.len(), damaged.len());
    let mut repaired = Vec::new();
    for d in &done.damaged {
        let orig = Id::from_hex(&d.id).unwrap();
        let new = Id::from_hex(d.new_snapshot.as_ref().unwrap_or_else(|| panic!("not rewritten: {d:?}"))).unwrap();
        assert!(!d.original_deleted);
        // The stream: the original with zeros in exactly the reported ranges.
        let mut want = fx.streams[&orig].clone();
        for r in &d.lost {
            want[r.offset as usize..(r.offset + r.len) as usize].fill(0);
        }
        assert_eq!(d.lost_bytes, d.lost.iter().map(|r| r.len).sum::<u64>());
        assert!(d.lost_bytes > 0 && (d.lost_bytes as usize) < want.len());
        let snap = fx.repo.load_snapshot(&new).await.unwrap();
        let buf = SharedBuf::default();
        let o = PullOptions { verify_stream: true, ..Default::default() };
        fx.repo.pull(&snap, Box::new(buf.clone()), &o, Arc::default()).await.unwrap();
        assert!(*buf.0.lock().unwrap() == want, "zeros exactly where reported, the rest intact");
        // The loss is recorded in the snapshot itself.
        assert!(snap.tags.contains(&"repaired".to_string()));
        assert!(snap.tags.contains(&format!("repaired-from:{orig}")));
        for r in &d.lost {
            assert!(snap.tags.contains(&format!("lost:{}+{}", r.offset, r.len)), "{:?}", snap.tags);
        }
        // It sorts just before its original, which stays the latest of its path.
        let orig_snap = fx.repo.load_snapshot(&orig).await.unwrap();
        assert!(snap.time_key() < orig_snap.time_key());
        assert_eq!(snap.path, orig_snap.path);
        repaired.push((snap.path.clone(), want));
    }
    // Again, deleting the originals: the copies are reused, not written twice.
    let count = fx.keys("snapshots/").await.len();
    let again = fx
        .repo
        .repair_snapshots(&RepairSnapshotsOptions { rewrite: true, delete_originals: true, ..Default::default() })
        .await
        .unwrap();
    assert!(again.damaged.iter().all(|d| d.original_deleted && d.not_rewritten.is_some()), "{again:?}");
    assert_eq!(fx.keys("snapshots/").await.len(), count - damaged.len());
    assert!(verify(&fx.repo, ReadData::All).await.is_clean());
    assert!(fx.repo.repair_snapshots(&RepairSnapshotsOptions::default()).await.unwrap().damaged.is_empty());
    // The repaired snapshot is now the latest of its path. Its zero-filled ranges were not cut
    // by FastCDC, so a push of the path does not follow its cuts (src/repo/follow.rs): the
    // repaired stream pushed again there is chunked as under a path without a parent. (The
    // input waits a little, so that the parent's leaves are there before its first block.)
    let (path, stream) = &repaired[0];
    let progress = Arc::new(Progress::default());
    let opts = kanrepo::PushOptions { path: path.clone(), ..Default::default() };
    let slow = SlowStart(std::io::Cursor::new(stream.clone()), Some(std::time::Duration::from_secs(1)));
    let (_, again) = fx.repo.push(Box::new(slow), &opts, progress.clone()).await.unwrap();
    let (_, fresh) = push(&fx.repo, "no-parent", stream.clone()).await.unwrap();
    assert_eq!(again.root, fresh.root);
    assert_eq!(Progress::get(&progress.followed_chunks), 0);
    // The same stream again: its parent is a push, and is followed.
    let slow = SlowStart(std::io::Cursor::new(stream.clone()), Some(std::time::Duration::from_secs(1)));
    let (_, third) = fx.repo.push(Box::new(slow), &opts, progress.clone()).await.unwrap();
    assert_eq!(third.root, fresh.root);
    assert!(Progress::get(&progress.followed_chunks) > 0);
}

/// A reader that waits before its first read.
pub(crate) struct SlowStart(pub(crate) std::io::Cursor<Vec<u8>>, pub(crate) Option<std::time::Duration>);

impl std::io::Read for SlowStart {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        if let Some(d) = self.1.take() {
            std::thread::sleep(d);
        }
        self.0.read(b)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_snapshots_reading_data_replaces_damaged_chunks_too() {
    let fx = setup().await;
    let (_, data_only) = fx.layout().await;
    let victim = data_only[0].clone();
    flip(&fx.path(&victim), 100);
    let damaged = damaged_ids(&verify(&fx.repo, ReadData::All).await);
    assert!(!damaged.is_empty());
    let plain = fx.repo.repair_snapshots(&RepairSnapshotsOptions::default()).await.unwrap();
    assert!(plain.damaged.is_empty(), "stored but damaged data is invisible without reading it");
    let (packs, index) = (fx.keys("packs/").await, fx.keys("index/").await);
    let read = RepairSnapshotsOptions { read_data: true, ..Default::default() };
    let rep = fx.repo.repair_snapshots(&read).await.unwrap();
    assert_eq!(rep.damaged.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), damaged);
    assert!(rep.damaged[0].lost[0].reason.contains(&victim), "{:?}", rep.damaged[0].lost);
    assert_eq!((fx.keys("packs/").await, fx.keys("index/").await), (packs, index), "a report writes nothing");

    let fix = RepairSnapshotsOptions { read_data: true, rewrite: true, delete_originals: true };
    let rep = fx.repo.repair_snapshots(&fix).await.unwrap();
    for d in &rep.damaged {
        assert!(d.original_deleted);
        let mut want = fx.streams[&Id::from_hex(&d.id).unwrap()].clone();
        for r in &d.lost {
            want[r.offset as usize..(r.offset + r.len) as usize].fill(0);
        }
        let snap = fx.repo.load_snapshot(&Id::from_hex(d.new_snapshot.as_ref().unwrap()).unwrap()).await.unwrap();
        let buf = SharedBuf::default();
        let o = PullOptions { verify_stream: true, ..Default::default() };
        fx.repo.pull(&snap, Box::new(buf.clone()), &o, Arc::default()).await.unwrap();
        assert!(*buf.0.lock().unwrap() == want);
    }
    // The damaged pack stays (repair never deletes data), but no snapshot needs its bad blob.
    let r = verify(&fx.repo, ReadData::All).await;
    assert!(r.damaged_snapshots.is_empty(), "{:?}", r.problems);
    assert!(
        r.problems.iter().all(|p| p.kind == ProblemKind::PackDamaged && p.snapshots.is_empty()),
        "{:?}",
        r.problems
    );
}

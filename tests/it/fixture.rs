//! Format pinning: the committed repository `tests/fixtures/repo-v1/` was written once, by
//! [`generate_fixture_repository`] below, in repository format v1 (docs/format.md); every later
//! build must keep opening it, listing it and pulling each snapshot byte for byte, and must
//! still cut and name chunks the same way (a push of a known stream deduplicates completely).
//!
//! The committed bytes are the reference, not the generator: the test works on a copy in a
//! temporary directory and never writes to `tests/fixtures/`, and the fixture is never
//! regenerated. A format change that needs a new fixture adds one beside it
//! (tests/fixtures/README.md).

use crate::support::{SharedBuf, data, text};
use kanrepo::backend::Backend;
use kanrepo::backend::local::LocalBackend;
use kanrepo::chunker::ChunkerParams;
use kanrepo::crypto::keyfile::{KdfParams, KeyFile};
use kanrepo::format::pack::BlobKind;
use kanrepo::format::snapshot::Snapshot;
use kanrepo::repo::verify::{ReadData, VerifyOptions};
use kanrepo::{ErrorKind, InitOptions, Progress, PullOptions, PushOptions, Repository};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The password of the first key object (argon2id 64 KiB, 1 pass, 1 lane).
const PASSWORD: &[u8] = b"kanrepo-fixture-v1";
/// The password of the second key object (argon2id 8 KiB, 1 pass, 1 lane: the minimum).
const SECOND_PASSWORD: &[u8] = b"kanrepo-fixture-v1-second";
/// Hostname recorded in the snapshots.
const HOSTNAME: &str = "kanrepo-fixture";
/// Where the generator's output goes (a directory that must not exist yet).
const OUT_ENV: &str = "KANREPO_FIXTURE_OUT";
/// The README's line before the JSON block the test compares with the repository.
const MANIFEST_MARKER: &str = "<!-- manifest: checked by tests/it/fixture.rs -->";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo-v1")
}

fn readme() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/README.md")
}

/// Night 1 of a text dump.
fn night1() -> Vec<u8> {
    text(600_000, 1)
}

/// Night 2: night 1 with one row inserted in the middle and more rows appended (deduplicates
/// against night 1 except around the edits).
fn night2() -> Vec<u8> {
    let mut d = night1();
    d.splice(300_000..300_000, b"INSERT INTO t VALUES (42, 'night 2');\n".iter().copied());
    d.extend_from_slice(&text(40_000, 3));
    d
}

/// Incompressible bytes, twice (deduplicates against itself).
fn random_twice() -> Vec<u8> {
    let r = data(100_000, 2);
    [r.clone(), r].concat()
}

/// One stream of the fixture: its path, how to make it, its size and BLAKE3.
struct Stream {
    path: &'static str,
    make: fn() -> Vec<u8>,
    size: u64,
    blake3: &'static str,
}

/// The snapshots, in push order (also their time order).
const STREAMS: [Stream; 4] = [
    Stream {
        path: "db/dump.sql",
        make: night1,
        size: 600_000,
        blake3: "f5975134bb49594a7cab27b33faf3a546c6c39a884ee7a82b78dbe5864d2260d",
    },
    Stream {
        path: "db/dump.sql",
        make: night2,
        size: 640_038,
        blake3: "87b788e63a657c97cbe897f218ed40807e035f729803d2ea4f8f68ef8bb1a248",
    },
    Stream {
        path: "files/random.bin",
        make: random_twice,
        size: 200_000,
        blake3: "af26895cbdcafc8bc1d48fbd5c3fc5e2f47290e362dfde8a8a895dd06a076288",
    },
    Stream {
        path: "empty",
        make: Vec::new,
        size: 0,
        blake3: "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    },
];

/// The repository settings: small chunks, frames and packs (and, in the pushes, small index
/// objects), so that a fixture of a few hundred KB has hundreds of chunks, several frames,
/// packs and index objects per stream, and trees of more than one level.
fn fixture_init() -> InitOptions {
    InitOptions {
        chunker: ChunkerParams { min_size: 256, avg_size: 1024, max_size: 8192, normalization: 1 },
        frame_target: 64 << 10,
        pack_target: 32 << 10,
        kdf: KdfParams::insecure_fast(),
        ..InitOptions::default()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

async fn pull(repo: &Repository, snap: &Snapshot) -> Vec<u8> {
    let buf = SharedBuf::default();
    let opts = PullOptions { verify_stream: true, ..PullOptions::default() };
    repo.pull(snap, Box::new(buf.clone()), &opts, Arc::new(Progress::default())).await.unwrap();
    buf.0.lock().unwrap().clone()
}

/// Counts that show what the fixture exercises.
#[derive(Debug)]
struct Shape {
    packs: usize,
    index_objects: u64,
    data_blobs: usize,
    tree_blobs: usize,
    roots: usize,
    indexed_ids: usize,
}

async fn shape(repo: &Repository) -> Shape {
    let ri = repo.load_read_index().await.unwrap();
    let roots: BTreeSet<_> = repo.snapshots().await.unwrap().iter().map(|s| s.snapshot.root.clone()).collect();
    Shape {
        packs: ri.packs.len(),
        index_objects: repo.stats().await.unwrap().index_objects,
        data_blobs: ri.blobs.iter().filter(|b| b.kind == BlobKind::Data).count(),
        tree_blobs: ri.blobs.iter().filter(|b| b.kind == BlobKind::Tree).count(),
        roots: roots.len(),
        indexed_ids: ri.len(),
    }
}

/// What the fixture must exercise; `Err` says what it lacks.
async fn check_shape(repo: &Repository) -> Result<Shape, String> {
    let s = shape(repo).await;
    let snaps = repo.snapshots().await.unwrap();
    let stats = |i: usize| &snaps[i].snapshot.stats;
    let mut lacks = Vec::new();
    // Every push writes at least one pack and index object; more means some wrote several.
    if s.packs <= snaps.len() || s.index_objects as usize <= snaps.len() {
        lacks.push("pushes of several packs and index objects");
    }
    if s.data_blobs < 10 {
        lacks.push("several frames per stream");
    }
    // A node that is no snapshot's root: some tree has more than one level.
    if s.tree_blobs <= s.roots {
        lacks.push("a tree of more than one level");
    }
    if stats(1).new_chunks * 4 > stats(1).chunks {
        lacks.push("night 2 deduplicating against night 1");
    }
    if stats(2).new_chunks * 4 > stats(2).chunks * 3 {
        lacks.push("a stream deduplicating against itself");
    }
    if lacks.is_empty() { Ok(s) } else { Err(format!("{s:?} lacks {}", lacks.join(", "))) }
}

/// Everything recorded about the repository: the figures the README lists.
async fn manifest(repo: &Repository, dir: &Path) -> serde_json::Value {
    let mut keys: Vec<serde_json::Value> = files(&dir.join("keys"))
        .iter()
        .map(|name| {
            let kf = KeyFile::parse(&std::fs::read(dir.join("keys").join(name)).unwrap()).unwrap();
            serde_json::json!({"id": name, "created": kf.created, "params": kf.params})
        })
        .collect();
    keys.sort_by_key(|k| k["created"].as_str().unwrap().to_string());
    let snapshots: Vec<serde_json::Value> = repo
        .snapshots()
        .await
        .unwrap()
        .iter()
        .map(|s| {
            let mut j = serde_json::to_value(&s.snapshot).unwrap();
            j["id"] = serde_json::Value::String(s.id.to_hex());
            j
        })
        .collect();
    let s = shape(repo).await;
    serde_json::json!({
        "config": serde_json::to_value(repo.config()).unwrap(),
        "keys": keys,
        "snapshots": snapshots,
        "stats": serde_json::to_value(repo.stats().await.unwrap()).unwrap(),
        "structure": {
            "files": files(dir).len(),
            "packs": s.packs,
            "data_blobs": s.data_blobs,
            "tree_blobs": s.tree_blobs,
            "indexed_ids": s.indexed_ids,
        },
    })
}

/// Whether `got` holds every value `recorded` has: objects may have gained fields (a later build
/// may record more), everything else must be equal.
fn records(got: &serde_json::Value, recorded: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (got, recorded) {
        (Value::Object(g), Value::Object(r)) => r.iter().all(|(k, v)| g.get(k).is_some_and(|gv| records(gv, v))),
        (Value::Array(g), Value::Array(r)) => g.len() == r.len() && g.iter().zip(r).all(|(g, r)| records(g, r)),
        _ => got == recorded,
    }
}

/// The JSON block after [`MANIFEST_MARKER`] in the README.
fn readme_manifest() -> serde_json::Value {
    let r = std::fs::read_to_string(readme()).expect("tests/fixtures/README.md");
    let after = r.split_once(MANIFEST_MARKER).expect("the README's manifest marker").1;
    let body = after.split_once("```json\n").expect("a ```json block after the marker").1;
    let json = body.split_once("```").expect("the end of the JSON block").0;
    serde_json::from_str(json).expect("the README's manifest is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_repository_v1_opens_lists_and_pulls_byte_exact() {
    let src = fixture_dir();
    assert!(src.join("config").is_file(), "the committed fixture {} is missing", src.display());
    // Work on a copy: the committed files are never written, not even by a lease or a pull.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo-v1");
    copy_dir(&src, &dir);
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(&dir));

    // Both passwords open it; another gets the wrong-password error.
    Repository::open(backend.clone(), SECOND_PASSWORD).await.expect("the second password opens the fixture");
    let e = Repository::open(backend.clone(), b"not-the-fixture-password").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongPassword, "{e}");
    let repo = Repository::open(backend.clone(), PASSWORD).await.expect("the fixture password opens the fixture");

    // Config, key objects, snapshots, stats and structure are those the README records.
    let got = manifest(&repo, &dir).await;
    let recorded = readme_manifest();
    for part in ["config", "keys", "snapshots", "stats", "structure"] {
        assert!(recorded[part].is_object() || recorded[part].is_array(), "the README's manifest lacks '{part}'");
    }
    assert!(
        records(&got, &recorded),
        "the fixture no longer reads as recorded in tests/fixtures/README.md\nread:\n{}\nrecorded:\n{}",
        serde_json::to_string_pretty(&got).unwrap(),
        serde_json::to_string_pretty(&recorded).unwrap()
    );
    check_shape(&repo).await.unwrap();

    // Every snapshot pulls byte for byte (per-chunk checks and the whole-stream BLAKE3),
    // equal to the regenerated stream.
    let snaps = repo.snapshots().await.unwrap();
    assert_eq!(snaps.len(), STREAMS.len());
    for (entry, want) in snaps.iter().zip(&STREAMS) {
        let s = &entry.snapshot;
        let expected = (want.make)();
        assert_eq!(
            (expected.len() as u64, blake3::hash(&expected).to_hex().as_str()),
            (want.size, want.blake3),
            "the generator of {} changed (kanrepo::testdata?): the fixture's streams can no longer be regenerated",
            want.path
        );
        assert_eq!((s.path.as_str(), s.size, s.blake3.as_str()), (want.path, want.size, want.blake3));
        let found = repo.find_snapshot(&entry.id.to_hex()[..8]).await.unwrap();
        assert_eq!(found.id, entry.id);
        let got = pull(&repo, s).await;
        assert!(got == expected, "snapshot {} ({}) does not pull byte-exact", entry.id.short(), want.path);
    }
    assert!(repo.latest("db/dump.sql").await.unwrap().snapshot.size == STREAMS[1].size, "latest is night 2");

    // Verification, structure only and reading every pack, finds nothing wrong.
    for read_data in [ReadData::None, ReadData::All] {
        let opts = VerifyOptions { read_data, ..VerifyOptions::default() };
        let report = repo.verify(&opts, Arc::default()).await.unwrap();
        assert!(report.complete && report.problems.is_empty(), "verify: {:?}", report.problems);
        assert_eq!(report.snapshots, snaps.len() as u64);
        if read_data == ReadData::All {
            assert_eq!(report.packs_read, report.packs);
        }
    }

    // Writers still cut and name chunks as the fixture's writer did: night 1 again, pushed into
    // the copy, gives night 1's tree (same cut points, same ids). Its dedup source is the
    // parent, night 2 (the fixture predates hook tables), so the few chunks night 2 changed
    // are stored again.
    let opts = PushOptions { path: "db/dump.sql".into(), ..PushOptions::default() };
    let (_, again) =
        repo.push(Box::new(std::io::Cursor::new(night1())), &opts, Arc::new(Progress::default())).await.unwrap();
    assert_eq!(again.root, snaps[0].snapshot.root, "pushing night 1 again gave another tree: chunking or ids changed");
    assert!(
        again.stats.new_bytes * 20 < again.size,
        "pushing night 1 again stored {} of {} bytes: dedup against night 2 failed",
        again.stats.new_bytes,
        again.size
    );
    assert!(pull(&repo, &again).await == night1());

    // The committed fixture holds only objects (no temporary files) and was not touched.
    assert!(files(&src).iter().all(|f| !f.split('/').any(|p| p.starts_with('.'))), "stray files in the fixture");
    assert_eq!(files(&src).len() as u64, recorded["structure"]["files"].as_u64().unwrap());
}

/// Writes a new fixture repository into `$KANREPO_FIXTURE_OUT` (which must not exist) and
/// prints its manifest for the README. To make a NEW fixture directory, by hand:
///
/// ```sh
/// KANREPO_FIXTURE_OUT=$PWD/tests/fixtures/repo-vN cargo test -p kanrepo --test it \
///     generate_fixture_repository -- --nocapture
/// ```
///
/// Without the variable (every test run) it writes into a temporary directory, so the
/// generator itself stays working.
///
/// Chunk ids, tree shapes and every stored byte depend on the random master key, so the
/// generator retries until the repository has the shape [`check_shape`] asks for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_fixture_repository() {
    let scratch = tempfile::tempdir().unwrap();
    let out = std::env::var_os(OUT_ENV).map(PathBuf::from).unwrap_or_else(|| scratch.path().join("repo-new"));
    assert!(!out.exists(), "{} exists: a fixture is never regenerated in place", out.display());
    for (want, got) in STREAMS.iter().map(|s| (s, (s.make)())) {
        println!("{}: {} bytes, BLAKE3 {}", want.path, got.len(), blake3::hash(&got).to_hex());
    }
    for attempt in 1..=40 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(&dir));
        let repo = Repository::init(backend.clone(), PASSWORD, &fixture_init()).await.unwrap();
        repo.add_key(SECOND_PASSWORD, KdfParams { memory_kib: 8, iterations: 1, parallelism: 1 }).await.unwrap();
        for s in &STREAMS {
            let opts = PushOptions {
                path: s.path.into(),
                hostname: Some(HOSTNAME.into()),
                index_flush_chunks: 200,
                ..PushOptions::default()
            };
            repo.push(Box::new(std::io::Cursor::new((s.make)())), &opts, Arc::new(Progress::default())).await.unwrap();
            // Distinct times, so the order of snapshots is the push order.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        match check_shape(&repo).await {
            Ok(shape) => println!("attempt {attempt}: {shape:?}"),
            Err(e) => {
                println!("attempt {attempt}: {e}; again with a new master key");
                continue;
            }
        }
        assert!(files(&dir).iter().all(|f| !f.split('/').any(|p| p.starts_with('.'))), "temporary files left");
        copy_dir(&dir, &out);
        let repo = Repository::open(Arc::new(LocalBackend::new(&out)), PASSWORD).await.unwrap();
        println!(
            "{MANIFEST_MARKER}\n```json\n{}\n```",
            serde_json::to_string_pretty(&manifest(&repo, &out).await).unwrap()
        );
        return;
    }
    panic!("no attempt gave the fixture its shape");
}

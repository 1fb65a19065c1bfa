//! `kando repository forget|gc|compact|stats|maintenance` and automatic maintenance after
//! push and delete, through the binary on a local repository.

use kanrepo::testdata::pseudo_random as data;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const KANDO: &str = env!("CARGO_BIN_EXE_kando");
const PW: &str = "maint-Pa55word-x8Q";

fn kando(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = Command::new(KANDO);
    c.args(args)
        .env("KANDO_REPOSITORY_PASSWORD", PW)
        .env_remove("KANDO_NO_AUTO_MAINTENANCE")
        .env("KANDO_PROGRESS", "none")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = c.spawn().unwrap();
    if let Some(input) = stdin {
        let mut si = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = si.write_all(&input);
        });
    }
    let o = child.wait_with_output().unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!all.contains(PW), "the password leaked: {all}");
    o
}

fn ok(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let o = kando(args, stdin);
    assert!(o.status.success(), "kando {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&ok(args, None).stdout).unwrap()
}

/// Generation `g` of a 2 MB stream: 32 blocks of 64 KiB, two rewritten per generation.
fn generation(g: u64) -> Vec<u8> {
    (0..32u64)
        .flat_map(|b| {
            let last = (1..=g).rev().find(|k| k % 32 == b || (k * 5) % 32 == b).unwrap_or(0);
            data(64 << 10, 100 * b + last)
        })
        .collect()
}

fn init(repo: &Path) {
    let r = repo.to_str().unwrap();
    ok(
        &[
            "repository",
            "init",
            "--repo",
            r,
            "--pack-mib",
            "1",
            "--kdf-memory-mib",
            "1",
            "--kdf-passes",
            "1",
            "--kdf-lanes",
            "1",
        ],
        None,
    );
}

#[test]
fn forget_gc_compact_and_stats_reclaim_space_and_keep_what_they_should() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let r = repo.to_str().unwrap();
    init(&repo);
    // An old snapshot whose data nothing later shares: its packs die whole.
    ok(&["location", "push", "--repo", r, "--path", "db", "-"], Some(&data(1_500_000, 777)));
    for g in 0..6 {
        ok(&["location", "push", "--repo", r, "--path", "db", "-"], Some(&generation(g)));
    }
    ok(&["location", "push", "--repo", r, "--path", "logs", "-"], Some(&data(500_000, 9)));

    // A policy, dry: reasons per snapshot, nothing removed.
    let d = json(&["repository", "forget", "--repo", r, "--keep-last", "2", "--dry-run", "--json"]);
    let d = d.as_array().unwrap();
    assert_eq!(d.len(), 8);
    assert_eq!(d.iter().filter(|x| x["keep"] == false).count(), 5, "{d:?}");
    assert!(d.iter().any(|x| x["path"] == "logs" && x["keep"] == true && x["reasons"][0] == "last 2"));
    assert!(d.iter().all(|x| x["keep"] == true || x["reasons"][0] == "no rule keeps it"));
    let text =
        String::from_utf8(ok(&["repository", "forget", "--repo", r, "--keep-last", "2", "-n"], None).stdout).unwrap();
    assert!(text.contains("5 of 8 snapshot(s) would be forgotten"), "{text}");
    assert_eq!(json(&["repository", "snapshots", "--repo", r, "--json"]).as_array().unwrap().len(), 8);

    let before = json(&["repository", "stats", "--repo", r, "--json"]);
    ok(&["repository", "forget", "--repo", r, "--keep-last", "2"], None);
    let st = json(&["repository", "stats", "--repo", r, "--json"]);
    assert!(st["dead_bytes"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(st["paths"]["db"]["snapshots"], 2);
    assert!(st["dedup_ratio"].as_f64().unwrap() >= 1.0);

    // Default min-age: marks only. Then 0s: deletes. Compact, and gc deletes the old packs.
    let g = json(&["repository", "gc", "--repo", r, "--json"]);
    assert!(g["marked_packs"].as_u64().unwrap() > 0 && g["deleted_packs"] == 0, "{g}");
    let g = json(&["repository", "gc", "--repo", r, "--min-age", "0s", "--json"]);
    assert!(g["deleted_packs"].as_u64().unwrap() > 0, "{g}");
    let c = json(&["repository", "compact", "--repo", r, "--min-live-fraction", "0.8", "--json"]);
    assert!(c["repacked_packs"].as_u64().unwrap() > 0, "{c}");
    let g = json(&["repository", "gc", "--repo", r, "--min-age", "0s", "--json"]);
    assert!(g["deleted_packs"].as_u64().unwrap() >= c["repacked_packs"].as_u64().unwrap(), "{g}");
    let after = json(&["repository", "stats", "--repo", r, "--json"]);
    assert!(
        after["objects"]["pack_bytes"].as_u64().unwrap() < before["objects"]["pack_bytes"].as_u64().unwrap() * 2 / 3,
        "{before} → {after}"
    );
    assert!(after["dead_bytes"].as_u64().unwrap() < 64 << 10, "{after}");

    // What is kept restores byte-exact.
    let o = ok(&["location", "pull", "--repo", r, "--path", "db", "-"], None);
    assert!(o.stdout == generation(5));
    let o = ok(&["location", "pull", "--repo", r, "--path", "logs", "-"], None);
    assert!(o.stdout == data(500_000, 9));
    let snaps = json(&["repository", "snapshots", "--repo", r, "--json"]);
    let older = snaps
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["path"] == "db")
        .min_by_key(|s| s["time"].as_str().unwrap().to_string())
        .unwrap();
    let o =
        ok(&["location", "pull", "--repo", r, "--path", "db", "--snapshot", older["id"].as_str().unwrap(), "-"], None);
    assert!(o.stdout == generation(4));

    // Errors: nothing selected, a bad duration, forgetting the last snapshot without asking.
    let o = kando(&["repository", "forget", "--repo", r], None);
    assert_eq!(o.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to forget"));
    let o = kando(&["repository", "gc", "--repo", r, "--min-age", "soon"], None);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("examples"));
    let d = json(&["repository", "forget", "--repo", r, "--path", "logs", "--json"]);
    assert_eq!(d.as_array().unwrap().iter().filter(|x| x["path"] == "logs" && x["keep"] == true).count(), 1);

    // A wrong password: every maintenance command refuses with the same clear error and
    // changes nothing.
    let files = |p: &Path| walk(p).len();
    let n = files(&repo);
    for args in [
        vec!["repository", "gc", "--min-age", "0s"],
        vec!["repository", "compact"],
        vec!["repository", "forget", "--keep-last", "1"],
        vec!["repository", "verify"],
        vec!["repository", "stats"],
    ] {
        let mut a = args.clone();
        a.extend(["--repo", r]);
        let o = Command::new(KANDO)
            .args(&a)
            .env("KANDO_REPOSITORY_PASSWORD", "not-the-password")
            .env("KANDO_PROGRESS", "none")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(69), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("wrong password"), "{args:?}: {e}");
    }
    assert_eq!(files(&repo), n, "a refused command wrote or deleted something");
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap().path();
        if e.is_dir() { out.extend(walk(&e)) } else { out.push(e) }
    }
    out
}

#[test]
fn gc_refuses_while_another_holds_the_gc_lease() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let r = repo.to_str().unwrap();
    init(&repo);
    ok(&["location", "push", "--repo", r, "--path", "db", "-"], Some(&generation(0)));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let lease = rt.block_on(async {
        let be = std::sync::Arc::new(kanrepo::backend::local::LocalBackend::new(&repo));
        let repo = kanrepo::Repository::open(be, PW.as_bytes()).await.unwrap();
        repo.acquire_gc_lease("test").await.unwrap().0
    });
    for cmd in ["gc", "compact"] {
        let o = kando(&["repository", cmd, "--repo", r], None);
        assert_eq!(o.status.code(), Some(69), "{cmd}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("another garbage collection or compaction is running"), "{e}");
    }
    // Automatic maintenance that finds the lease taken skips; the push itself succeeds.
    ok(&["repository", "maintenance", "--repo", r, "--quick-every", "0s"], None);
    let o = ok(&["location", "push", "--repo", r, "--path", "db", "-"], Some(&generation(1)));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("automatic quick"), "{}", String::from_utf8_lossy(&o.stderr));
    rt.block_on(lease.release()).unwrap();
    ok(&["repository", "gc", "--repo", r, "--min-age", "0s"], None);
}

#[test]
fn automatic_maintenance_runs_after_push_and_delete_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let r = repo.to_str().unwrap();
    init(&repo);
    // A new repository is not due (its creation counts as the last run).
    let s = json(&["repository", "maintenance", "--repo", r, "--json"]);
    assert_eq!(s["due"], serde_json::Value::Null, "{s}");
    assert_eq!(s["settings"]["enabled"], true);
    for g in 0..3 {
        let o = ok(&["location", "push", "--repo", r, "--path", "db", "-"], Some(&generation(g)));
        assert!(!String::from_utf8_lossy(&o.stderr).contains("automatic"));
    }
    // Due on every push now, deleting marked data at once (single writer).
    ok(&["repository", "maintenance", "--repo", r, "--full-every", "0s", "--min-age", "0s"], None);
    ok(&["location", "delete", "--repo", r, "--path", "db", "--snapshot", &first_id(r)], None);
    let o = ok(&["location", "push", "--repo", r, "--path", "db", "--no-auto-maintenance", "-"], Some(&generation(3)));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("automatic"), "--no-auto-maintenance");
    let o = ok(&["location", "push", "--repo", r, "--path", "db", "-"], Some(&generation(4)));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("kando: automatic full maintenance"), "{e}");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("###Phase-output###:"), "the phase output comes first");
    let st = json(&["repository", "stats", "--repo", r, "--json"]);
    assert_eq!(st["dead_packs"], 0, "{st}");
    assert_eq!(st["objects"]["index_objects"], 1, "{st}");
    let s = json(&["repository", "maintenance", "--repo", r, "--json"]);
    assert_eq!(s["last_full_seconds_ago"].as_u64().map(|x| x < 60), Some(true), "{s}");
    // Disabled for the repository: nothing runs.
    ok(&["repository", "maintenance", "--repo", r, "--disable"], None);
    let o = ok(&["location", "push", "--repo", r, "--path", "db", "-"], Some(&generation(5)));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("automatic"));
    for g in [1u64, 2, 3, 4, 5] {
        let snaps = json(&["repository", "snapshots", "--repo", r, "--json"]);
        let want = blake3::hash(&generation(g)).to_hex().to_string();
        let s = snaps
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["blake3"] == want.as_str())
            .unwrap_or_else(|| panic!("generation {g}"));
        let o =
            ok(&["location", "pull", "--repo", r, "--path", "db", "--snapshot", s["id"].as_str().unwrap(), "-"], None);
        assert!(o.stdout == generation(g), "generation {g}");
    }
    // A run on request is recorded too.
    let rep = json(&["repository", "maintenance", "--repo", r, "--run", "quick", "--json"]);
    assert_eq!(rep["kind"], "quick");
}

fn first_id(r: &str) -> String {
    let snaps = json(&["repository", "snapshots", "--repo", r, "--json"]);
    let mut v: Vec<(String, String)> = snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["time"].as_str().unwrap().into(), s["id"].as_str().unwrap().into()))
        .collect();
    v.sort();
    v[0].1.clone()
}

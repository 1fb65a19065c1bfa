//! The kando binary, driven as Kanister drives it.

use kanrepo::testdata::{pseudo_random as data, text};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const KANDO: &str = env!("CARGO_BIN_EXE_kando");

fn profile(dir: &Path) -> String {
    // The shape `{{ toJson .Profile }}` renders, with Go field names.
    format!(
        r#"{{"Location":{{"Type":"filestore","Bucket":"","Endpoint":"","Prefix":"{}","Region":""}},"Credential":{{"Type":"keyPair","KeyPair":{{"ID":"","Secret":""}},"Secret":null,"KopiaServerSecret":{{}}}},"SkipSSLVerify":false}}"#,
        dir.display()
    )
}

fn kando(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = Command::new(KANDO);
    c.args(args).env("KANDO_REPOSITORY_PASSWORD", "s3cret").stdout(Stdio::piped()).stderr(Stdio::piped());
    c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = c.spawn().unwrap();
    if let Some(input) = stdin {
        let mut si = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = si.write_all(&input);
        });
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn snapshot_count(p: &str) -> usize {
    let o = kando(&["repository", "snapshots", "--json", "--profile", p], None);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout).unwrap().len()
}

#[test]
fn push_pull_round_trip_stdin_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile(&dir.path().join("repo"));
    let d = text(3_000_000, 7);
    let o = kando(&["location", "push", "--profile", &p, "--path", "pg/2026/backup.sql", "-"], Some(&d));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("###Phase-output###: {\"key\":\"kandoOutput\",\"value\":\"{"), "{out}");
    let o = kando(&["location", "pull", "--profile", &p, "--path", "pg/2026/backup.sql", "-"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout == d, "stdout pull must be byte-exact");
    // File source and file target, custom output name.
    let src = dir.path().join("in.bin");
    std::fs::write(&src, data(1_234_567, 3)).unwrap();
    let o = kando(&["location", "push", "-p", &p, "-s", "f", "-o", "snap_info", src.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("{\"key\":\"snap_info\""));
    let dst = dir.path().join("out.bin");
    let o = kando(&["location", "pull", "-p", &p, "-s", "f", dst.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(&dst).unwrap() == data(1_234_567, 3));
    // The optional end-to-end check of the whole-stream BLAKE3 passes on an intact repository.
    let o = kando(&["location", "pull", "-p", &p, "-s", "f", "--verify-stream", "-"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout == data(1_234_567, 3));
    assert_eq!(snapshot_count(&p), 2);
}

#[test]
fn output_prints_the_exact_marker() {
    let o = kando(&["output", "backupLocation", "s3://b/p \"q\""], None);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "###Phase-output###: {\"key\":\"backupLocation\",\"value\":\"s3://b/p \\\"q\\\"\"}\n"
    );
    let o = kando(&["output", "bad-key", "v"], None);
    assert_eq!(o.status.code(), Some(69));
    let o = kando(&["output", "onlyone"], None);
    assert_eq!(o.status.code(), Some(69));
}

#[test]
fn wrong_password_and_bad_profile_exit_69_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile(&dir.path().join("repo"));
    assert!(kando(&["location", "push", "--profile", &p, "--path", "x", "-"], Some(b"hello")).status.success());
    let o = Command::new(KANDO)
        .args(["location", "pull", "--profile", &p, "--path", "x", "-"])
        .env("KANDO_REPOSITORY_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(69));
    assert!(stderr(&o).contains("wrong password"), "{}", stderr(&o));
    let o = Command::new(KANDO)
        .args(["location", "pull", "--profile", &p, "--path", "x", "-"])
        .env_remove("KANDO_REPOSITORY_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(69));
    assert!(stderr(&o).contains("KANDO_REPOSITORY_PASSWORD"), "{}", stderr(&o));
    for (bad, want) in [
        ("{not json", "not valid JSON"),
        (r#"{"Location":{"Type":"filestore"}}"#, "Prefix"),
        (r#"{"Location":{"Type":"ftp","Prefix":"/x"}}"#, "unknown location type"),
        (r#"{"Credential":{}}"#, "Location.Type"),
    ] {
        let o = kando(&["location", "push", "--profile", bad, "--path", "x", "-"], Some(b"data"));
        assert_eq!(o.status.code(), Some(69), "{bad}");
        assert!(stderr(&o).contains(want), "{bad}: {}", stderr(&o));
    }
}

#[test]
fn from_command_commits_only_on_success() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile(&dir.path().join("repo"));
    let o = kando(
        &["location", "push", "-p", &p, "-s", "dump", "--from-command", "head -c 3000000 /dev/zero; exit 7"],
        None,
    );
    assert_eq!(o.status.code(), Some(69));
    assert!(stderr(&o).contains("exit status: 7"), "{}", stderr(&o));
    let o = kando(&["location", "push", "-p", &p, "-s", "dump", "--from-command", "printf 'row 1\\nrow 2\\n'"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(snapshot_count(&p), 1);
    let o = kando(&["location", "pull", "-p", &p, "-s", "dump", "-"], None);
    assert_eq!(o.stdout, b"row 1\nrow 2\n");
}

#[test]
fn a_failed_dump_is_resumed_by_the_next_push_of_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile(&dir.path().join("repo"));
    let src = dir.path().join("dump.bin");
    std::fs::write(&src, data(12_000_000, 11)).unwrap();
    let s = src.to_str().unwrap();
    // The dump fails after 10 MB: no snapshot, but what was read is stored and recorded.
    let failing = format!("head -c 10000000 {s}; exit 3");
    let o = kando(&["location", "push", "-p", &p, "-s", "db", "--from-command", &failing], None);
    assert_eq!(o.status.code(), Some(69));
    assert!(stderr(&o).contains("exit status: 3"), "{}", stderr(&o));
    assert_eq!(snapshot_count(&p), 0);
    let o = kando(&["location", "push", "-p", &p, "-s", "db", "--from-command", &format!("cat {s}")], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kando(&["repository", "snapshots", "--json", "--profile", &p], None);
    let snaps: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let new_bytes = snaps[0]["stats"]["new_bytes"].as_u64().unwrap_or_else(|| panic!("{}", snaps[0]));
    assert!(new_bytes < 3_000_000, "the retry stored {new_bytes} bytes again");
    let o = kando(&["location", "pull", "-p", &p, "-s", "db", "-"], None);
    assert!(o.stdout == std::fs::read(&src).unwrap(), "pull must be byte-exact");
}

#[test]
fn push_delete_pull_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile(&dir.path().join("repo"));
    assert!(kando(&["location", "push", "-p", &p, "-s", "a/b", "-"], Some(&data(50_000, 1))).status.success());
    let o = kando(&["location", "delete", "-p", &p, "-s", "a/b"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kando(&["location", "pull", "-p", &p, "-s", "a/b", "-"], None);
    assert_eq!(o.status.code(), Some(69));
    assert!(stderr(&o).contains("no snapshot with path 'a/b'"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    // A failed pull to a file leaves no file behind.
    let dst = dir.path().join("restored.sql");
    let o = kando(&["location", "pull", "-p", &p, "-s", "a/b", dst.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(69));
    assert!(!dst.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no partial files");
}

/// Kill -9 a push after it stored some packs: no snapshot, and the next push succeeds.
#[test]
fn push_killed_half_way_leaves_no_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let p = profile(&repo);
    let mut child = Command::new(KANDO)
        .args(["location", "push", "-p", &p, "-s", "big", "--progress", "none", "-"])
        .env("KANDO_REPOSITORY_PASSWORD", "s3cret")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Feed 64 MB, keep the pipe open, wait until packs are on disk, then kill.
    for i in 0..64 {
        stdin.write_all(&data(1 << 20, 100 + i)).unwrap();
    }
    let t0 = std::time::Instant::now();
    loop {
        let packs = walk(&repo.join("packs")).len();
        if packs >= 2 {
            break;
        }
        assert!(t0.elapsed().as_secs() < 120, "no pack appeared");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert_eq!(snapshot_count(&p), 0, "a killed push must not leave a snapshot");
    let d = text(2_000_000, 5);
    let o = kando(&["location", "push", "-p", &p, "-s", "big", "-"], Some(&d));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kando(&["location", "pull", "-p", &p, "-s", "big", "-"], None);
    assert!(o.status.success() && o.stdout == d);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn help_explains_commands() {
    let o = Command::new(KANDO).args(["location", "push", "--help"]).output().unwrap();
    assert!(o.status.success());
    let h = String::from_utf8_lossy(&o.stdout);
    for w in ["--profile", "--path", "--output-name", "--from-command", "KANDO_REPOSITORY_PASSWORD", "filestore"] {
        assert!(h.contains(w), "help lacks {w}");
    }
}

fn key_params(repo: &Path) -> Vec<serde_json::Value> {
    walk(&repo.join("keys"))
        .iter()
        .map(|k| serde_json::from_slice::<serde_json::Value>(&std::fs::read(k).unwrap()).unwrap()["params"].clone())
        .collect()
}

#[test]
fn init_records_the_chosen_kdf_cost_and_push_uses_the_default() {
    let dir = tempfile::tempdir().unwrap();
    // Explicit argon2id cost at init lands in the key object and still opens the repository.
    let r = dir.path().join("strong");
    let p = profile(&r);
    let args = ["repository", "init", "-p", &p, "--kdf-memory-mib", "24", "--kdf-passes", "3", "--kdf-lanes", "1"];
    let o = kando(&args, None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(key_params(&r), vec![serde_json::json!({"memory_kib": 24 * 1024, "iterations": 3, "parallelism": 1})]);
    let o = kando(&["location", "push", "-p", &p, "-s", "x", "-"], Some(b"abc"));
    assert!(o.status.success(), "{}", stderr(&o));
    // The first push to an empty location uses the default: 19 MiB, 2 passes, 2 lanes.
    let r = dir.path().join("default");
    let p = profile(&r);
    let o = kando(&["location", "push", "-p", &p, "-s", "x", "-"], Some(b"abc"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(key_params(&r), vec![serde_json::json!({"memory_kib": 19456, "iterations": 2, "parallelism": 2})]);
    // Out-of-range costs are refused by the parser, before anything is written.
    let o = kando(&["repository", "init", "-p", &profile(&dir.path().join("bad")), "--kdf-lanes", "0"], None);
    assert!(!o.status.success());
    assert!(!dir.path().join("bad").exists());
}

/// The `###Phase-progress###:` lines of a command's stderr, decoded.
fn progress_lines(o: &Output) -> Vec<serde_json::Value> {
    stderr(o)
        .lines()
        .filter_map(|l| l.strip_prefix("###Phase-progress###: "))
        .map(|j| serde_json::from_str(j).expect("progress JSON"))
        .collect()
}

#[test]
fn kanister_progress_mode_reports_bytes_and_totals_for_the_controller() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile(dir.path());
    let night0 = text(3_000_000, 7);
    let run = |args: &[&str], stdin: Option<&[u8]>| {
        let mut c = Command::new(KANDO);
        c.args(args)
            .env("KANDO_REPOSITORY_PASSWORD", "s3cret")
            .env("KANDO_PROGRESS", "kanister")
            .env("KANDO_PROGRESS_INTERVAL", "0.05")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut si = child.stdin.take().unwrap();
        let input = stdin.map(|s| s.to_vec());
        std::thread::spawn(move || {
            if let Some(i) = input {
                let _ = si.write_all(&i);
            }
        });
        child.wait_with_output().unwrap()
    };
    // First push: no estimate yet; the last line counts every byte.
    let o = run(&["location", "push", "-p", &p, "-s", "db", "-"], Some(&night0));
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = progress_lines(&o);
    let last = lines.last().expect("at least the final progress line");
    assert_eq!(last["op"], "push");
    assert_eq!(last["bytes"], 3_000_000);
    assert!(last.get("total").is_none(), "{last}");
    // Second push of the path: the previous snapshot's size is the estimate.
    let o = run(&["location", "push", "-p", &p, "-s", "db", "-"], Some(&night0[..2_000_000]));
    assert!(o.status.success(), "{}", stderr(&o));
    let last = progress_lines(&o).pop().unwrap();
    assert_eq!((last["bytes"].as_u64(), last["total"].as_u64()), (Some(2_000_000), Some(3_000_000)));
    // Pull: the snapshot's size is the total, and every byte is counted.
    let o = run(&["location", "pull", "-p", &p, "-s", "db", "-"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout.len(), 2_000_000);
    let last = progress_lines(&o).pop().unwrap();
    assert_eq!(last["op"], "pull");
    assert_eq!((last["bytes"].as_u64(), last["total"].as_u64()), (Some(2_000_000), Some(2_000_000)));
    // The phase output is still the only thing on stdout for a push.
    assert!(!String::from_utf8_lossy(&o.stdout[..100]).contains("Phase-progress"));
}

#[test]
fn pull_and_delete_one_snapshot_by_id_or_by_pushs_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile(dir.path());
    let night = |i: u64| text(200_000, i);
    let mut outputs = Vec::new();
    for i in 0..3 {
        let o = kando(&["location", "push", "-p", &p, "-s", "db/dump.sql", "-"], Some(&night(i)));
        assert!(o.status.success(), "{}", stderr(&o));
        let line = String::from_utf8_lossy(&o.stdout).lines().last().unwrap().to_string();
        let v: serde_json::Value = serde_json::from_str(line.strip_prefix("###Phase-output###: ").unwrap()).unwrap();
        outputs.push(v["value"].as_str().unwrap().to_string());
    }
    // The JSON push printed (as an artifact would keep it) selects that night's snapshot.
    let o = kando(&["location", "pull", "-p", &p, "-s", "db/dump.sql", "--snapshot", &outputs[1], "-"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, night(1));
    // Delete only the first night's snapshot; the others still pull.
    let o = kando(&["location", "delete", "-p", &p, "-s", "db/dump.sql", "--snapshot", &outputs[0]], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(snapshot_count(&p), 2);
    let o = kando(&["location", "pull", "-p", &p, "-s", "db/dump.sql", "--snapshot", &outputs[0], "-"], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no snapshot"), "{}", stderr(&o));
    let id2: serde_json::Value = serde_json::from_str(&outputs[2]).unwrap();
    let o = kando(
        &["location", "pull", "-p", &p, "-s", "db/dump.sql", "--snapshot", &id2["id"].as_str().unwrap()[..12], "-"],
        None,
    );
    assert_eq!(o.stdout, night(2));
    // A snapshot of another path is refused.
    let o = kando(&["location", "delete", "-p", &p, "-s", "other", "--snapshot", &outputs[1]], None);
    assert!(!o.status.success() && stderr(&o).contains("has path 'db/dump.sql'"), "{}", stderr(&o));
}

//! `kando repository verify` and `repair index|snapshots` driven through the binary on a local
//! repository damaged on disk: what they print, their exit codes, and that pulls of damaged
//! snapshots fail without writing a wrong byte.

use kanrepo::testdata::{pseudo_random as data, text};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const KANDO: &str = env!("CARGO_BIN_EXE_kando");

fn kando(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = Command::new(KANDO);
    c.args(args)
        .env("KANDO_REPOSITORY_PASSWORD", "s3cret")
        .env_remove("KANDO_PROFILE")
        .env_remove("KANDO_REPOSITORY")
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
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Repo {
    /// A repository with 1 MiB packs.
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let r = Repo { _dir: dir, root };
        let o = r.run(&["repository", "init", "--pack-mib", "1", "--kdf-memory-mib", "1", "--kdf-passes", "1"], None);
        assert!(o.status.success(), "{}", stderr(&o));
        r
    }

    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut a: Vec<&str> = args.to_vec();
        let root = self.root.to_str().unwrap();
        a.extend(["--repo", root]);
        kando(&a, stdin)
    }

    /// Push; returns the snapshot id.
    fn push(&self, path: &str, d: &[u8]) -> String {
        let o = self.run(&["location", "push", "--path", path, "-"], Some(d));
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let v: serde_json::Value = serde_json::from_str(out.trim().split_once(": ").unwrap().1).unwrap();
        let inner: serde_json::Value = serde_json::from_str(v["value"].as_str().unwrap()).unwrap();
        inner["id"].as_str().unwrap().to_string()
    }

    fn packs(&self) -> Vec<String> {
        let mut v = Vec::new();
        for d in std::fs::read_dir(self.root.join("packs")).unwrap() {
            for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                    v.push(p.strip_prefix(&self.root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        v.sort();
        v
    }

    fn verify_json(&self, extra: &[&str]) -> (Output, serde_json::Value) {
        let mut a = vec!["repository", "verify", "--json"];
        a.extend_from_slice(extra);
        let o = self.run(&a, None);
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&o), stderr(&o)));
        (o, v)
    }
}

fn flip(path: &Path, offset: usize) {
    use std::os::unix::fs::PermissionsExt;
    let mut b = std::fs::read(path).unwrap();
    b[offset] ^= 1;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(path, b).unwrap();
}

/// The pull failed with exit 69 and wrote only a prefix of `want`.
fn assert_refused(o: &Output, want: &[u8]) {
    assert_eq!(o.status.code(), Some(69), "{}", stderr(o));
    assert!(o.stdout.len() < want.len() && want.starts_with(&o.stdout), "only intact bytes before the damage");
}

#[test]
fn a_clean_repository_verifies_and_subsets_cover_every_pack() {
    let r = Repo::new();
    r.push("pg/nightly.sql", &text(2_500_000, 1));
    r.push("other", &data(4_000_000, 2));
    let packs = r.packs().len() as u64;
    assert!(packs >= 4, "{packs}");
    for extra in [&[][..], &["--read-data"][..]] {
        let mut a = vec!["repository", "verify"];
        a.extend_from_slice(extra);
        let o = r.run(&a, None);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains(": no problems"), "{}", stdout(&o));
    }
    let (o, v) = r.verify_json(&["--read-data"]);
    assert!(o.status.success());
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
    assert_eq!(v["packs_read"].as_u64().unwrap(), packs);
    assert_eq!(v["snapshots"].as_u64().unwrap(), 2);
    let mut total = 0;
    for n in 1..=3 {
        let (o, v) = r.verify_json(&["--read-data-subset", &format!("{n}/3")]);
        assert!(o.status.success(), "{}", stderr(&o));
        total += v["packs_read"].as_u64().unwrap();
    }
    assert_eq!(total, packs, "1/3, 2/3 and 3/3 read every pack once");
    let (_, v) = r.verify_json(&["--read-data-subset", "25%"]);
    assert_eq!(v["packs_read"].as_u64().unwrap(), packs.div_ceil(4));
    let o = r.run(&["repository", "verify", "--read-data-subset", "4/3"], None);
    assert_eq!(o.status.code(), Some(69));
    assert!(stderr(&o).contains("is not a data subset"), "{}", stderr(&o));
    // Progress lines go to stderr, the report to stdout.
    let mut c = Command::new(KANDO);
    let o = c
        .args(["repository", "verify", "--progress", "plain", "--repo", r.root.to_str().unwrap()])
        .env("KANDO_REPOSITORY_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert!(o.status.success() && !stdout(&o).contains("kando: verify:"));
}

#[test]
fn damaged_data_is_named_with_its_snapshots_and_pulls_refuse_it() {
    let r = Repo::new();
    let d = data(3_000_000, 7);
    let id = r.push("pg/nightly.sql", &d);
    let victim = r.packs().remove(1);
    flip(&r.root.join(&victim), 100);
    let o = r.run(&["repository", "verify", "--read-data"], None);
    assert_eq!(o.status.code(), Some(69));
    let out = stdout(&o);
    let line = out.lines().find(|l| l.starts_with("problem:")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains(&format!("pack {victim} is damaged")), "{line}");
    assert!(line.contains(&format!("needed by snapshot {} (pg/nightly.sql)", &id[..8])), "{line}");
    assert!(out.contains("snapshots that cannot be restored in full:"), "{out}");
    assert!(stderr(&o).contains("verify found 1 problem(s)"), "{}", stderr(&o));
    let o = r.run(&["location", "pull", "--path", "pg/nightly.sql", "-"], None);
    assert_refused(&o, &d);
    assert!(stderr(&o).contains(&victim), "{}", stderr(&o));
}

#[test]
fn a_deleted_pack_and_a_damaged_config_are_named() {
    let r = Repo::new();
    let d = text(2_000_000, 3);
    r.push("keep", &d);
    let before = r.packs();
    let other = data(1_500_000, 4);
    let id = r.push("other", &other);
    let theirs: Vec<String> = r.packs().into_iter().filter(|p| !before.contains(p)).collect();
    std::fs::remove_file(r.root.join(&theirs[0])).unwrap();
    let o = r.run(&["repository", "verify"], None);
    assert_eq!(o.status.code(), Some(69));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("problem: pack {} is missing", theirs[0]))
            && out.contains(&format!("needed by snapshot {} (other)", &id[..8])),
        "{out}"
    );
    assert_refused(&r.run(&["location", "pull", "--path", "other", "-"], None), &other);
    let o = r.run(&["location", "pull", "--path", "keep", "-"], None);
    assert!(o.status.success() && o.stdout == d, "an unaffected snapshot pulls");

    flip(&r.root.join("config"), 20);
    let (o, v) = r.verify_json(&[]);
    assert_eq!(o.status.code(), Some(69));
    assert_eq!(v["complete"], false);
    assert_eq!(v["problems"][0]["kind"], "config");
    assert!(v["problems"][0]["detail"].as_str().unwrap().starts_with("is damaged"), "{v}");
    let o = r.run(&["location", "pull", "--path", "keep", "-"], None);
    assert_eq!(o.status.code(), Some(69));
    assert!(o.stdout.is_empty());
}

#[test]
fn repair_index_then_repair_snapshots_bring_back_what_is_left() {
    let r = Repo::new();
    let d = data(3_500_000, 11);
    let orig = r.push("pg/nightly.sql", &d);
    let keep = text(600_000, 5);
    r.push("small", &keep);
    // Lose the whole index: a pull that the pushes' locator records cover does not read it;
    // without them pulls fail, and repair index brings them back byte for byte.
    std::fs::remove_dir_all(r.root.join("index")).unwrap();
    let o = r.run(&["location", "pull", "--path", "small", "-"], None);
    assert!(o.status.success() && o.stdout == keep, "{}", stderr(&o));
    std::fs::remove_dir_all(r.root.join("locs")).unwrap();
    assert_eq!(r.run(&["location", "pull", "--path", "small", "-"], None).status.code(), Some(69));
    let o = r.run(&["repository", "repair", "index"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("rebuilt the index of"), "{}", stdout(&o));
    let o = r.run(&["location", "pull", "--path", "pg/nightly.sql", "-"], None);
    assert!(o.status.success() && o.stdout == d);

    // Lose a pack of the big stream (one that does not hold its root tree node, so that some
    // of it is left): report, then rewrite with zeros.
    let mut lost_one = false;
    for p in r.packs() {
        let (path, aside) = (r.root.join(&p), r.root.join("aside"));
        std::fs::rename(&path, &aside).unwrap();
        let o = r.run(&["repository", "repair", "snapshots", "--json"], None);
        let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let partial = rep["damaged"].as_array().unwrap().iter().any(|d| {
            d["id"].as_str() == Some(orig.as_str()) && d["lost_bytes"].as_u64().unwrap() < d["size"].as_u64().unwrap()
        });
        if partial && rep["damaged"].as_array().unwrap().len() == 1 {
            std::fs::remove_file(&aside).unwrap();
            lost_one = true;
            break;
        }
        std::fs::rename(&aside, &path).unwrap();
    }
    assert!(lost_one, "some pack holds only data of the big stream");
    assert!(r.run(&["repository", "repair", "index"], None).status.success());
    let o = r.run(&["repository", "repair", "snapshots"], None);
    assert_eq!(o.status.code(), Some(69), "reporting damage is not success");
    assert!(stdout(&o).contains(&format!("snapshot {} (pg/nightly.sql", &orig[..8])), "{}", stdout(&o));
    assert!(stderr(&o).contains("nothing was changed"), "{}", stderr(&o));
    let o = r.run(&["repository", "repair", "snapshots", "--rewrite-damaged", "--json"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dmg = &rep["damaged"][0];
    let new = dmg["new_snapshot"].as_str().unwrap().to_string();
    let mut want = d.clone();
    for l in dmg["lost"].as_array().unwrap() {
        let (off, len) = (l["offset"].as_u64().unwrap() as usize, l["len"].as_u64().unwrap() as usize);
        want[off..off + len].fill(0);
    }
    assert!(want != d);
    let o = r.run(&["location", "pull", "--path", "pg/nightly.sql", "--snapshot", &new, "--verify-stream", "-"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout == want, "zeros exactly in the reported ranges");
    // The original stays the latest of its path until deleted.
    assert_refused(&r.run(&["location", "pull", "--path", "pg/nightly.sql", "-"], None), &d);
    let o = r.run(&["repository", "repair", "snapshots", "--rewrite-damaged", "--delete-originals"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("already repaired"), "{}", stdout(&o));
    let o = r.run(&["location", "pull", "--path", "pg/nightly.sql", "-"], None);
    assert!(o.status.success() && o.stdout == want);
    let o = r.run(&["repository", "verify", "--read-data"], None);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = r.run(&["repository", "snapshots", "--json"], None);
    assert!(stdout(&o).contains("\"repaired\"") && stdout(&o).contains(&format!("repaired-from:{orig}")));
}

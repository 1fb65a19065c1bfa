//! `kando repository key list|add|remove|passwd` driven through the binary on a filestore
//! profile: several passwords open one repository, the guards on removal, password changes,
//! and no password ever reaching stdout or stderr.

use kanrepo::testdata::{pseudo_random as data, text};
use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const KANDO: &str = env!("CARGO_BIN_EXE_kando");

const PW1: &str = "first-Pa55phrase-q7Zx";
const PW2: &str = "second-Pa55phrase-K3mv";
const PW3: &str = "third-Pa55phrase-from-file-W9tb";

/// Cheap argon2id cost for the key objects the tests add.
const FAST: [&str; 6] = ["--kdf-memory-mib", "1", "--kdf-passes", "1", "--kdf-lanes", "1"];

fn profile(dir: &Path) -> String {
    format!(r#"{{"Location":{{"Type":"filestore","Prefix":"{}"}},"Credential":{{"Type":"keyPair"}}}}"#, dir.display())
}

/// Runs kando and keeps every output, to check at the end that no password leaked.
#[derive(Default)]
struct Kando {
    outputs: RefCell<Vec<Output>>,
}

impl Kando {
    /// Run with current password `pw`, optional new password in the environment, and stdin.
    fn run(&self, pw: &str, new_pw: Option<&str>, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut c = Command::new(KANDO);
        c.args(args)
            .env("KANDO_REPOSITORY_PASSWORD", pw)
            .env_remove("KANDO_NEW_REPOSITORY_PASSWORD")
            .env_remove("KANDO_PROFILE")
            .env_remove("KANDO_REPOSITORY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        if let Some(n) = new_pw {
            c.env("KANDO_NEW_REPOSITORY_PASSWORD", n);
        }
        let mut child = c.spawn().unwrap();
        if let Some(input) = stdin {
            let mut si = child.stdin.take().unwrap();
            let input = input.to_vec();
            std::thread::spawn(move || {
                let _ = si.write_all(&input);
            });
        }
        let o = child.wait_with_output().unwrap();
        self.outputs.borrow_mut().push(o.clone());
        o
    }

    /// Run and require success.
    fn ok(&self, pw: &str, new_pw: Option<&str>, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let o = self.run(pw, new_pw, args, stdin);
        assert!(o.status.success(), "kando {args:?} failed: {}", stderr(&o));
        o
    }

    /// Run and require exit 69 with `want` in stderr.
    fn fails(&self, pw: &str, new_pw: Option<&str>, args: &[&str], want: &[&str]) -> String {
        let o = self.run(pw, new_pw, args, None);
        assert_eq!(o.status.code(), Some(69), "kando {args:?} should fail: {}", stderr(&o));
        let e = stderr(&o);
        for w in want {
            assert!(e.contains(w), "kando {args:?}: stderr lacks '{w}': {e}");
        }
        e
    }

    fn push(&self, pw: &str, p: &str, path: &str, d: &[u8]) {
        self.ok(pw, None, &["location", "push", "-p", p, "-s", path, "--progress", "none", "-"], Some(d));
    }

    fn pull(&self, pw: &str, p: &str, path: &str) -> Vec<u8> {
        self.ok(pw, None, &["location", "pull", "-p", p, "-s", path, "--progress", "none", "-"], None).stdout
    }

    fn keys(&self, pw: &str, p: &str) -> Vec<serde_json::Value> {
        let o = self.ok(pw, None, &["repository", "key", "list", "--json", "-p", p], None);
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// No password, in any output so far.
    fn assert_no_password_leaked(&self) {
        let outs = self.outputs.borrow();
        assert!(!outs.is_empty());
        for o in outs.iter() {
            for stream in [&o.stdout, &o.stderr] {
                let s = String::from_utf8_lossy(stream);
                for pw in [PW1, PW2, PW3] {
                    assert!(!s.contains(pw), "a password appeared in kando's output: {s}");
                }
            }
        }
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn in_use(keys: &[serde_json::Value]) -> String {
    let u: Vec<_> = keys.iter().filter(|k| k["in_use"] == true).collect();
    assert_eq!(u.len(), 1, "exactly one key object in use: {keys:?}");
    assert_eq!(u[0]["state"], "in-use");
    u[0]["id"].as_str().unwrap().to_string()
}

#[test]
fn a_second_password_opens_the_repository_and_both_push_and_pull() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile(&dir.path().join("repo"));
    let k = Kando::default();
    let a = text(600_000, 11);
    k.push(PW1, &p, "db/a.sql", &a);
    let keys = k.keys(PW1, &p);
    assert_eq!(keys.len(), 1);
    let id1 = in_use(&keys);
    assert_eq!(keys[0]["kdf"], serde_json::json!({"memory_kib": 19456, "iterations": 2, "parallelism": 2}));

    // Add a second password (from the environment) at a chosen cost.
    let mut add = vec!["repository", "key", "add", "-p", &p];
    add.extend(FAST);
    let o = k.ok(PW1, Some(PW2), &add, None);
    assert!(stdout(&o).contains("added key object") && stdout(&o).contains("2 key object(s)"), "{}", stdout(&o));

    // Each password reads what the other wrote, byte for byte.
    assert!(k.pull(PW2, &p, "db/a.sql") == a, "pull with the second password");
    let b = data(300_000, 12);
    k.push(PW2, &p, "bin/b", &b);
    assert!(k.pull(PW1, &p, "bin/b") == b, "pull with the first password");
    assert!(k.pull(PW2, &p, "bin/b") == b);

    // The list shows both; which one is in use depends on the password given.
    let keys1 = k.keys(PW1, &p);
    assert_eq!(keys1.len(), 2);
    assert_eq!(in_use(&keys1), id1);
    let other: Vec<_> = keys1.iter().filter(|k| k["in_use"] == false).collect();
    assert_eq!(other[0]["state"], "other-password");
    assert_eq!(other[0]["kdf"], serde_json::json!({"memory_kib": 1024, "iterations": 1, "parallelism": 1}));
    let keys2 = k.keys(PW2, &p);
    let id2 = in_use(&keys2);
    assert_ne!(id1, id2);
    assert_eq!(other[0]["id"], id2.as_str());

    // Human list: the in-use line is marked, with its short id.
    let o = k.ok(PW1, None, &["repository", "key", "list", "-p", &p], None);
    let text_out = stdout(&o);
    let marked: Vec<_> = text_out.lines().filter(|l| l.starts_with("* ")).collect();
    assert_eq!(marked.len(), 1, "{text_out}");
    assert!(marked[0].contains(&id1[..8]) && marked[0].contains("in use"), "{text_out}");
    assert!(text_out.contains(&id2[..8]) && text_out.contains("2 key object(s)"), "{text_out}");
    assert!(text_out.contains("19 MiB, 2 passes, 2 lanes") && text_out.contains("1 MiB, 1 pass, 1 lane"), "{text_out}");

    // A third password from a file (trailing newline ignored); the location options may also
    // come before the subcommand.
    let f = dir.path().join("new-password");
    std::fs::write(&f, format!("{PW3}\n")).unwrap();
    let mut add = vec!["repository", "key", "-p", &p, "add", "--new-password-file", f.to_str().unwrap()];
    add.extend(FAST);
    k.ok(PW2, None, &add, None);
    assert!(k.pull(PW3, &p, "db/a.sql") == a);
    assert_eq!(k.keys(PW3, &p).len(), 3);
    // The current password from --password-file works too.
    let cur = dir.path().join("current-password");
    std::fs::write(&cur, PW2).unwrap();
    let o = k.ok(
        "unused",
        None,
        &["repository", "key", "list", "--json", "-p", &p, "--password-file", cur.to_str().unwrap()],
        None,
    );
    let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(in_use(&v), id2);

    // A new password is never taken from the command line, and a missing one is explained.
    let o = k.run(PW1, None, &["repository", "key", "add", "-p", &p, "--new-password", PW2], None);
    assert_eq!(o.status.code(), Some(69));
    k.outputs.borrow_mut().pop(); // clap echoes the offending argument: the test passed it on purpose.
    k.fails(
        PW1,
        None,
        &["repository", "key", "add", "-p", &p],
        &["KANDO_NEW_REPOSITORY_PASSWORD", "--new-password-file"],
    );
    // Wrong current password: nothing is added.
    k.fails(
        "wrong",
        Some(PW2),
        &["repository", "key", "add", "-p", &p],
        &["wrong password", "KANDO_REPOSITORY_PASSWORD"],
    );
    assert_eq!(k.keys(PW1, &p).len(), 3);
    k.assert_no_password_leaked();
}

#[test]
fn remove_refuses_the_last_key_and_the_key_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let p = profile(&repo);
    let k = Kando::default();
    let a = text(200_000, 21);
    k.push(PW1, &p, "a", &a);
    let id1 = in_use(&k.keys(PW1, &p));

    // The only key: refused, with or without --force.
    let rm = |id: &str, force: bool| {
        let mut v = vec!["repository".to_string(), "key".into(), "remove".into(), "-p".into(), p.clone(), id.into()];
        if force {
            v.push("--force".into());
        }
        v
    };
    k.fails(PW1, None, &strs(&rm(&id1[..8], false)), &["last key object", "kando repository key add"]);
    k.fails(PW1, None, &strs(&rm(&id1, true)), &["last key object"]);

    // With a second password: the key in use still needs --force.
    let mut add = vec!["repository", "key", "add", "-p", &p];
    add.extend(FAST);
    k.ok(PW1, Some(PW2), &add, None);
    let id2 = in_use(&k.keys(PW2, &p));
    k.fails(PW1, None, &strs(&rm(&id1[..8], false)), &["key in use", "--force", "kando repository key passwd"]);

    // Unknown, too short, ambiguous ids.
    k.fails(PW1, None, &strs(&rm("000000", false)), &["no key object with id '000000'", "key list"]);
    k.fails(PW1, None, &strs(&rm("ab", false)), &["at least 6 hex characters"]);
    std::fs::write(repo.join("keys/aaaaaa01"), b"not a key").unwrap();
    std::fs::write(repo.join("keys/aaaaaa02"), b"not a key").unwrap();
    k.fails(PW1, None, &strs(&rm("aaaaaa", false)), &["ambiguous", "aaaaaa01", "aaaaaa02"]);
    // Stray objects are listed as unreadable, and still removable.
    let keys = k.keys(PW1, &p);
    assert_eq!(keys.iter().filter(|k| k["state"] == "unreadable").count(), 2, "{keys:?}");
    k.ok(PW1, None, &strs(&rm("aaaaaa01", false)), None);
    k.ok(PW1, None, &strs(&rm("keys/aaaaaa02", false)), None);

    // Remove the other key: its password no longer opens the repository.
    let o = k.ok(PW1, None, &strs(&rm(&id2[..10], false)), None);
    assert!(stdout(&o).contains(&format!("removed key object {}", &id2[..8])), "{}", stdout(&o));
    k.fails(PW2, None, &["location", "pull", "-p", &p, "-s", "a", "-"], &["wrong password"]);
    assert_eq!(k.keys(PW1, &p).len(), 1);

    // Add it back, then force out the key in use: only the second password opens it now.
    k.ok(PW1, Some(PW2), &add, None);
    let o = k.ok(PW1, None, &strs(&rm(&id1[..8], true)), None);
    assert!(stdout(&o).contains("it was in use"), "{}", stdout(&o));
    k.fails(PW1, None, &["location", "pull", "-p", &p, "-s", "a", "-"], &["wrong password"]);
    assert!(k.pull(PW2, &p, "a") == a);
    k.assert_no_password_leaked();
}

#[test]
fn passwd_changes_the_password_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile(&dir.path().join("repo"));
    let k = Kando::default();
    let a = text(500_000, 31);
    let b = data(200_000, 32);
    k.push(PW1, &p, "a", &a);
    k.push(PW1, &p, "b", &b);
    let id1 = in_use(&k.keys(PW1, &p));
    // A second key object of the same password (listed as such): passwd removes it too.
    let mut add = vec!["repository", "key", "add", "-p", &p];
    add.extend(FAST);
    k.ok(PW1, Some(PW1), &add, None);
    let keys = k.keys(PW1, &p);
    let copy = keys.iter().find(|k| k["state"] == "same-password").expect("the copy is recognised");
    let copy = copy["id"].as_str().unwrap().to_string();

    // No new password: nothing changes.
    k.fails(PW1, None, &["repository", "key", "passwd", "-p", &p], &["KANDO_NEW_REPOSITORY_PASSWORD"]);
    // Traced, so that a leak into the logs would show.
    let mut passwd = vec!["-v", "trace", "repository", "key", "passwd", "-p", &p];
    passwd.extend(FAST);
    let o = k.ok(PW1, Some(PW2), &passwd, None);
    let out = stdout(&o);
    assert!(out.contains("password changed") && out.contains(&id1[..8]) && out.contains(&copy[..8]), "{out}");

    // The old password is refused with the wrong-password error; the new one reads everything.
    k.fails(PW1, None, &["location", "pull", "-p", &p, "-s", "a", "-"], &["wrong password"]);
    k.fails(PW1, None, &["repository", "key", "list", "-p", &p], &["wrong password"]);
    assert!(k.pull(PW2, &p, "a") == a);
    assert!(k.pull(PW2, &p, "b") == b);
    let keys = k.keys(PW2, &p);
    assert_eq!(keys.len(), 1);
    assert_ne!(in_use(&keys), id1);
    assert_eq!(keys[0]["kdf"], serde_json::json!({"memory_kib": 1024, "iterations": 1, "parallelism": 1}));
    let o = k.ok(PW2, None, &["repository", "snapshots", "--json", "-p", &p], None);
    assert_eq!(serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout).unwrap().len(), 2);

    // Changing it again, the same way, from a file.
    let f = dir.path().join("pw3");
    std::fs::write(&f, PW3).unwrap();
    let mut passwd = vec!["repository", "key", "passwd", "-p", &p, "--new-password-file", f.to_str().unwrap()];
    passwd.extend(FAST);
    k.ok(PW2, None, &passwd, None);
    k.fails(PW2, None, &["location", "pull", "-p", &p, "-s", "b", "-"], &["wrong password"]);
    assert!(k.pull(PW3, &p, "b") == b);
    // Wrong current password: passwd changes nothing.
    k.fails(PW1, Some(PW2), &["repository", "key", "passwd", "-p", &p], &["wrong password"]);
    assert_eq!(k.keys(PW3, &p).len(), 1);
    k.assert_no_password_leaked();
}

#[test]
fn key_help_names_the_password_sources() {
    let o = Command::new(KANDO).args(["repository", "key", "add", "--help"]).output().unwrap();
    assert!(o.status.success());
    let h = stdout(&o);
    for w in ["--new-password-file", "KANDO_NEW_REPOSITORY_PASSWORD", "--kdf-memory-mib", "--password-file"] {
        assert!(h.contains(w), "help lacks {w}: {h}");
    }
    let o = Command::new(KANDO).args(["repository", "key", "--help"]).output().unwrap();
    let h = stdout(&o);
    for w in ["list", "add", "remove", "passwd"] {
        assert!(h.contains(w), "help lacks {w}: {h}");
    }
}

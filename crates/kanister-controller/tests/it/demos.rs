//! The seed's demo on the test control plane, with upstream's example blueprints unchanged
//! (and our own tuned versions from `blueprints/`): a database runs as a StatefulSet, a
//! Profile on MinIO is created with kanctl, a backup ActionSet completes with its artifact,
//! the data is dropped, `kanctl create actionset --action restore --from <backup>` brings it
//! back (compared row for row), and the delete action removes the backup.

use crate::databases::{self, psql, wait_ready};
use crate::support::{Controller, Ns, kanctl_bin};
use kanister::types::{ActionSet, State};
use std::path::PathBuf;
use std::time::Duration;

/// A blueprint file: upstream's (`crates/kanister/tests/data/blueprints/…`, unchanged) or ours
/// (`blueprints/…`).
fn blueprint(rel: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = if let Some(ours) = rel.strip_prefix("ours:") {
        root.join("blueprints").join(ours)
    } else {
        root.join("crates/kanister/tests/data/blueprints").join(rel)
    };
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `kanctl create actionset …`; returns the new ActionSet's name.
fn kanctl_actionset(ns: &Ns, args: &[&str]) -> String {
    let mut full = vec!["create", "actionset"];
    full.extend_from_slice(args);
    let o = ns.kanctl(&full);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "kanctl {full:?}: {out}{}", String::from_utf8_lossy(&o.stderr));
    out.lines()
        .find_map(|l| l.strip_prefix("actionset ").and_then(|r| r.strip_suffix(" created")))
        .unwrap_or_else(|| panic!("no ActionSet name in {out}"))
        .to_string()
}

async fn complete(ns: &Ns, c: &Controller, name: &str, timeout: Duration) -> ActionSet {
    let a = ns.wait_done(name, timeout).await;
    let s = a.status.as_ref().unwrap();
    assert_eq!(s.state, State::Complete, "{name}: {}\n--- controller log tail ---\n{}", s.error.message, tail(&c.logs(), 40));
    a
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Snapshots of a path in the profile's repository, listed with the host's kando.
fn snapshot_paths(profile_prefix: &str) -> Vec<String> {
    let kando = kanctl_bin().with_file_name("kando");
    let repo = format!("s3://{}/{profile_prefix}", crate::support::env("KANREPO_TEST_S3_BUCKET"));
    let o = std::process::Command::new(kando)
        .args(["repository", "snapshots", "--json", "--repo", &repo])
        .env("KANDO_REPOSITORY_PASSWORD", DEMO_PASSWORD)
        .env("AWS_ENDPOINT", crate::support::env("KANREPO_TEST_S3_ENDPOINT"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", crate::support::env("KANREPO_TEST_S3_ACCESS_KEY"))
        .env("AWS_SECRET_ACCESS_KEY", crate::support::env("KANREPO_TEST_S3_SECRET_KEY"))
        .env("AWS_REGION", crate::support::env("KANREPO_TEST_S3_REGION"))
        .output()
        .expect("kando");
    assert!(o.status.success(), "kando snapshots: {}", String::from_utf8_lossy(&o.stderr));
    let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    v.iter().filter_map(|s| s["path"].as_str().map(String::from)).collect()
}

const DEMO_PASSWORD: &str = "demo-repository-password";

async fn setup(tag: &str) -> (Ns, Controller, String, String) {
    let ns = Ns::new(tag).await;
    ns.secret("repo-password", &[("password", DEMO_PASSWORD)]).await;
    let c = Controller::start(&ns, &["--repository-password-secret", "repo-password"]);
    c.ready().await;
    let prefix = format!("demo-{tag}-{}", crate::support::suffix());
    let profile = ns.s3_profile(&prefix);
    (ns, c, profile, prefix)
}

const PG_PORT: u16 = 5432;
const PG_PASSWORD: &str = "pg-Secret-pass";

async fn postgres_demo(bp_file: &str, bp_name: &str, tag: &str) {
    let (ns, c, profile, prefix) = setup(tag).await;
    ns.apply(&databases::postgres("pg", PG_PASSWORD, PG_PORT)).await;
    wait_ready(&ns, "pg-postgresql", 1, Duration::from_secs(120)).await;
    psql(PG_PORT, PG_PASSWORD, "CREATE DATABASE shop");
    let seed = "CREATE TABLE orders (id int primary key, item text, qty int); \
                INSERT INTO orders SELECT g, 'item-' || g, g % 7 FROM generate_series(1, 5000) g;";
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &PG_PORT.to_string(), "-U", "postgres", "-d", "shop", "-v", "ON_ERROR_STOP=1", "-c", seed])
        .env("PGPASSWORD", PG_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let digest = "SELECT count(*), md5(string_agg(id || ':' || item || ':' || qty, ',' ORDER BY id)) FROM orders";
    let q = |sql: &str| {
        let o = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &PG_PORT.to_string(), "-U", "postgres", "-d", "shop", "-At", "-c", sql])
            .env("PGPASSWORD", PG_PASSWORD)
            .output()
            .unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let before = q(digest).1;
    assert!(before.starts_with("5000|"), "{before}");

    // Applied as written (the test namespace is filled in for the missing metadata.namespace).
    ns.apply(&blueprint(bp_file)).await;
    let sts = format!("{}/pg-postgresql", ns.name);
    let prof = format!("{}/{profile}", ns.name);
    let backup = kanctl_actionset(&ns, &["--action", "backup", "--blueprint", bp_name, "--statefulset", &sts, "--profile", &prof]);
    let a = complete(&ns, &c, &backup, Duration::from_secs(180)).await;
    let art = &a.status.as_ref().unwrap().actions[0].artifacts["cloudObject"].key_value;
    let location = art.get("backupLocation").cloned().unwrap_or_default();
    assert!(location.starts_with(&format!("pg_backups/{}/pg-postgresql/", ns.name)), "artifact {art:?}");
    assert!(snapshot_paths(&prefix).contains(&location), "the backup is a snapshot in the repository");

    // Disaster: the table is gone.
    assert!(q("DROP TABLE orders").0);
    assert!(!q(digest).0);

    let restore = kanctl_actionset(&ns, &["--action", "restore", "--from", &backup]);
    complete(&ns, &c, &restore, Duration::from_secs(180)).await;
    assert_eq!(q(digest).1, before, "every row is back");

    let ns_target = ns.name.clone();
    let delete = kanctl_actionset(&ns, &["--action", "delete", "--from", &backup, "--namespacetargets", &ns_target]);
    complete(&ns, &c, &delete, Duration::from_secs(120)).await;
    assert!(!snapshot_paths(&prefix).contains(&location), "the delete action removed the backup");
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn postgres_with_upstreams_blueprint() {
    let _g = crate::DB_LOCK.lock().await;
    postgres_demo("postgres/postgres-blueprint.yaml", "postgres-bp", "pg-up").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn postgres_with_our_blueprint() {
    let _g = crate::DB_LOCK.lock().await;
    postgres_demo("ours:postgres-blueprint.yaml", "postgres-kanrepo", "pg-ours").await;
}

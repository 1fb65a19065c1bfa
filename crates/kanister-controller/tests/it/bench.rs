//! The controller's own cost on a real backup, run by `benches/controller.sh` (not by the test
//! command: it needs the ~580 MB benchmark corpus): PostgreSQL loaded with the corpus, then
//! backup ActionSets with our blueprint (twice: a full and a nightly incremental) and with
//! upstream's. Printed per run: the ActionSet's wall time from creation to `complete`, the time
//! kando reports for the push inside it, the difference (the controller's overhead: scheduling,
//! pod start, log streaming, status writes), and the controller's peak RSS.

use crate::databases::{self, wait_ready};
use crate::support::{Controller, Ns, kanctl_bin};
use kanister::types::State;
use std::time::{Duration, Instant};

const PG_PORT: u16 = 5432;
const PG_PASSWORD: &str = "bench-pg-pass";

/// Seconds of kando's last push summary in the controller's log (`… MB in 12.3 s (…)`).
fn kando_push_seconds(log: &str, since: usize) -> Option<f64> {
    let tail = &log[since.min(log.len())..];
    tail.lines().rev().find_map(|l| {
        let i = l.find("kando: snapshot ")?;
        let rest = &l[i..];
        let j = rest.find(" MB in ")? + " MB in ".len();
        rest[j..].split(' ').next()?.parse().ok()
    })
}

fn vm_hwm_mb(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: benches/controller.sh runs it"]
async fn bench_postgres_backup_actionset() {
    let corpus =
        std::env::var("KANREPO_BENCH_CORPUS").expect("KANREPO_BENCH_CORPUS: the corpus SQL (benches/controller.sh)");
    let corpus1 = std::env::var("KANREPO_BENCH_CORPUS1").ok();
    let _g = crate::DB_LOCK.lock().await;
    let ns = Ns::new("bench").await;
    ns.secret("repo-password", &[("password", "bench-repository-password")]).await;
    let c = Controller::start(&ns, &["--repository-password-secret", "repo-password", "--log-format", "text"]);
    c.ready().await;
    let pid = c.pid().unwrap();
    let profile = ns.s3_profile(&format!("bench-{}", crate::support::suffix()));
    ns.apply(&databases::postgres("pg", PG_PASSWORD, PG_PORT)).await;
    wait_ready(&ns, "StatefulSet", "pg-postgresql", 1, Duration::from_secs(120)).await;
    let load = |path: &str| {
        let t0 = Instant::now();
        let f = std::fs::File::open(path).unwrap();
        let o = std::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &PG_PORT.to_string(),
                "-U",
                "postgres",
                "-q",
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                "bench",
            ])
            .env("PGPASSWORD", PG_PASSWORD)
            .stdin(f)
            .stdout(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        eprintln!("loaded {path} in {:.1} s", t0.elapsed().as_secs_f64());
    };
    databases::psql(PG_PORT, PG_PASSWORD, "CREATE DATABASE bench");
    load(&corpus);
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for f in
        ["blueprints/postgres-blueprint.yaml", "crates/kanister/tests/data/blueprints/postgres/postgres-blueprint.yaml"]
    {
        ns.apply(&std::fs::read_to_string(root.join(f)).unwrap()).await;
    }
    let sts = format!("{}/pg-postgresql", ns.name);
    let prof = format!("{}/{profile}", ns.name);
    let mut rows = Vec::new();
    let runs: Vec<(&str, &str, bool)> = vec![
        ("ours, full", "postgres-kanrepo", false),
        ("ours, next night", "postgres-kanrepo", corpus1.is_some()),
        ("upstream (gzip)", "postgres-bp", false),
    ];
    for (label, bp, churn) in runs {
        if churn {
            databases::psql(PG_PORT, PG_PASSWORD, "DROP DATABASE bench");
            databases::psql(PG_PORT, PG_PASSWORD, "CREATE DATABASE bench");
            load(corpus1.as_deref().unwrap());
        }
        let since = c.logs().len();
        let t0 = Instant::now();
        let o = std::process::Command::new(kanctl_bin())
            .args([
                "create",
                "actionset",
                "--action",
                "backup",
                "--blueprint",
                bp,
                "--statefulset",
                &sts,
                "--profile",
                &prof,
                "-n",
                &ns.name,
            ])
            .env("KUBECONFIG", crate::support::kubeconfig())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8_lossy(&o.stdout);
        let name = out
            .lines()
            .find_map(|l| l.strip_prefix("actionset ").and_then(|r| r.strip_suffix(" created")))
            .unwrap()
            .to_string();
        let a = ns
            .wait_for(&name, Duration::from_secs(1800), |a| {
                a.status.as_ref().is_some_and(|s| matches!(s.state, State::Complete | State::Failed))
            })
            .await;
        let wall = t0.elapsed().as_secs_f64();
        let st = a.status.as_ref().unwrap();
        assert_eq!(st.state, State::Complete, "{}", st.error.message);
        let push = kando_push_seconds(&c.logs(), since).expect("kando's push summary in the controller log");
        let up = st.progress.size_uploaded_b;
        rows.push((label.to_string(), wall, push, up));
    }
    let rss = vm_hwm_mb(pid);
    println!("\n| run | ActionSet wall s | kando push s | overhead s (1 phase) | stream MB |");
    println!("|---|---|---|---|---|");
    for (label, wall, push, up) in &rows {
        println!("| {label} | {wall:.2} | {push:.2} | {:.2} | {:.1} |", wall - push, *up as f64 / 1e6);
    }
    println!("\ncontroller peak RSS: {rss:.1} MB (target <= 64 MB); overhead target <= 2 s per phase");
    let worst = rows.iter().map(|r| r.1 - r.2).fold(0.0f64, f64::max);
    println!("worst overhead: {worst:.2} s ({})", if worst <= 2.0 { "met" } else { "NOT met" });
    ns.delete().await;
}

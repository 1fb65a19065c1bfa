//! The seed's demo on the test control plane, with upstream's example blueprints unchanged
//! (and our own tuned versions from `blueprints/`): a database runs as a StatefulSet, a
//! Profile on MinIO is created with kanctl, a backup ActionSet completes with its artifact,
//! the data is dropped, `kanctl create actionset --action restore --from <backup>` brings it
//! back (compared row for row, document for document), and the delete action removes the backup.
//!
//! PostgreSQL 15 and MariaDB 10.11 are the real servers; MongoDB is FerretDB v1 over
//! PostgreSQL, which speaks enough of the wire protocol for mongodump/mongorestore but leaves
//! parts of upstream's mongodb blueprint unexercised (see [`mongodb_demo`]).

use crate::databases::{self, psql, wait_port_free, wait_ready};
use crate::support::{Controller, Ns, kanctl_bin};
use kanister::types::{ActionSet, State};
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    assert_eq!(
        s.state,
        State::Complete,
        "{name}: {}\n--- controller log tail ---\n{}",
        s.error.message,
        tail(&c.logs(), 40)
    );
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

/// Deletes the test's namespace when the test ends, passed or failed (then the next demo does
/// not find this one's database still listening on the shared host ports).
struct DeleteNs(String);

impl Drop for DeleteNs {
    fn drop(&mut self) {
        let name = self.0.clone();
        // Drop may run while a test panics, outside any usable runtime: a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
                    kube::Api::all(crate::support::client().await);
                let _ = api.delete(&name, &Default::default()).await;
            })
        })
        .join();
    }
}

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

/// Rows of the demo table, and whether to kill -9 the controller while the backup runs.
struct PgRun {
    rows: i64,
    kill_mid_backup: bool,
}

async fn postgres_demo(bp_file: &str, bp_name: &str, tag: &str, run: PgRun) {
    let started = Instant::now();
    wait_port_free(PG_PORT, Duration::from_secs(120)).await;
    let (ns, mut c, profile, prefix) = setup(tag).await;
    let _cleanup = DeleteNs(ns.name.clone());
    ns.apply(&databases::postgres("pg", PG_PASSWORD, PG_PORT)).await;
    wait_ready(&ns, "StatefulSet", "pg-postgresql", 1, Duration::from_secs(120)).await;
    psql(PG_PORT, PG_PASSWORD, "CREATE DATABASE shop");
    let seed = format!(
        "CREATE TABLE orders (id int primary key, item text, qty int); \
         INSERT INTO orders SELECT g, 'item-' || g || repeat(md5(g::text), {pad}), g % 7 FROM generate_series(1, {rows}) g;",
        rows = run.rows,
        pad = if run.kill_mid_backup { 4 } else { 0 }
    );
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &PG_PORT.to_string(),
            "-U",
            "postgres",
            "-d",
            "shop",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &seed,
        ])
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
    assert!(before.starts_with(&format!("{}|", run.rows)), "{before}");

    // Applied as written (the test namespace is filled in for the missing metadata.namespace).
    ns.apply(&blueprint(bp_file)).await;
    let sts = format!("{}/pg-postgresql", ns.name);
    let prof = format!("{}/{profile}", ns.name);
    let backup = kanctl_actionset(
        &ns,
        &["--action", "backup", "--blueprint", bp_name, "--statefulset", &sts, "--profile", &prof],
    );
    if run.kill_mid_backup {
        // The controller dies (kill -9) while the dump streams; a new one resumes the ActionSet
        // from its status and re-attaches to the backup pod (upstream's would stay `running`).
        let a = ns
            .wait_for(&backup, Duration::from_secs(60), |a| {
                a.status.as_ref().is_some_and(|s| s.actions[0].phases[0].state == State::Running)
            })
            .await;
        let sel = format!("kanister.kanrepo.io/actionset-uid={}", a.metadata.uid.clone().unwrap());
        let t0 = Instant::now();
        while ns.pods(&sel).await.is_empty() {
            assert!(t0.elapsed() < Duration::from_secs(30), "no backup pod");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.kill9();
        let mid = ns.actionset(&backup).await;
        assert_eq!(mid.status.as_ref().unwrap().state, State::Running, "killed mid-backup");
        c.restart();
    }
    let a = complete(&ns, &c, &backup, Duration::from_secs(180)).await;
    if run.kill_mid_backup {
        assert!(c.logs().contains("re-attached to the pod of a resumed phase"), "{}", tail(&c.logs(), 30));
    }
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
    eprintln!("{tag}: demo done in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn postgres_with_upstreams_blueprint() {
    let _g = crate::DB_LOCK.lock().await;
    postgres_demo(
        "postgres/postgres-blueprint.yaml",
        "postgres-bp",
        "pg-up",
        PgRun { rows: 5000, kill_mid_backup: false },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn postgres_with_our_blueprint() {
    let _g = crate::DB_LOCK.lock().await;
    postgres_demo(
        "ours:postgres-blueprint.yaml",
        "postgres-kanrepo",
        "pg-ours",
        PgRun { rows: 5000, kill_mid_backup: false },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn postgres_backup_survives_a_controller_killed_mid_backup() {
    let _g = crate::DB_LOCK.lock().await;
    let run = PgRun { rows: 300_000, kill_mid_backup: true };
    postgres_demo("ours:postgres-blueprint.yaml", "postgres-kanrepo", "pg-kill", run).await;
}

/// The blueprint's artifact value `artifact.key` of a complete ActionSet.
fn artifact(a: &ActionSet, artifact: &str, key: &str) -> String {
    let arts = &a.status.as_ref().unwrap().actions[0].artifacts;
    let kv = &arts.get(artifact).unwrap_or_else(|| panic!("no artifact {artifact} in {arts:?}")).key_value;
    kv.get(key).cloned().unwrap_or_else(|| panic!("no key {key} in artifact {artifact}: {kv:?}"))
}

/// Backup, restore `--from` the backup, delete, with the checks every demo makes: each
/// ActionSet completes, the artifact names a snapshot under `location_prefix` in the profile's
/// repository (our blueprints also keep the snapshot itself), and the delete action removes it.
/// The caller destroys the data between backup and restore, and checks it after the restore.
struct Run<'a> {
    ns: &'a Ns,
    c: &'a Controller,
    profile: &'a str,
    prefix: &'a str,
}

impl Run<'_> {
    async fn backup(&self, bp_name: &str, sts: &str, art: (&str, &str), location_prefix: &str) -> (String, String) {
        let sts = format!("{}/{sts}", self.ns.name);
        let prof = format!("{}/{}", self.ns.name, self.profile);
        let t0 = Instant::now();
        let backup = kanctl_actionset(
            self.ns,
            &["--action", "backup", "--blueprint", bp_name, "--statefulset", &sts, "--profile", &prof],
        );
        let a = complete(self.ns, self.c, &backup, Duration::from_secs(180)).await;
        eprintln!("backup {backup} complete in {:?}", t0.elapsed());
        let location = artifact(&a, art.0, art.1);
        assert!(
            location.trim_start_matches('/').starts_with(location_prefix),
            "artifact {}.{}: {location}",
            art.0,
            art.1
        );
        if bp_name.ends_with("-kanrepo") {
            // Our blueprints keep push's JSON output, which names the snapshot and its path.
            let snap: serde_json::Value =
                serde_json::from_str(&artifact(&a, art.0, "snapshot")).expect("snapshot JSON");
            assert_eq!(snap["path"].as_str(), Some(location.as_str()), "{snap}");
            assert!(snap["id"].as_str().is_some_and(|id| id.len() >= 8), "{snap}");
        }
        assert!(
            snapshot_paths(self.prefix).contains(&location),
            "the backup {location} is a snapshot in the repository"
        );
        (backup, location)
    }

    async fn restore(&self, backup: &str) {
        let t0 = Instant::now();
        let restore = kanctl_actionset(self.ns, &["--action", "restore", "--from", backup]);
        complete(self.ns, self.c, &restore, Duration::from_secs(180)).await;
        eprintln!("restore {restore} complete in {:?}", t0.elapsed());
    }

    async fn delete(&self, backup: &str, location: &str) {
        let ns_target = self.ns.name.clone();
        let delete =
            kanctl_actionset(self.ns, &["--action", "delete", "--from", backup, "--namespacetargets", &ns_target]);
        complete(self.ns, self.c, &delete, Duration::from_secs(120)).await;
        assert!(!snapshot_paths(self.prefix).contains(&location.to_string()), "the delete action removed {location}");
    }
}

const MYSQL_PORT: u16 = 3306;
const MYSQL_PASSWORD: &str = "my-Secret-pass";
/// Every column as text, binary ones in hex: any changed byte of any row changes it.
const MYSQL_ROWS: &str = "SELECT id, HEX(item), qty, price, at, HEX(payload) FROM orders ORDER BY id";

/// MariaDB 10.11 as the Bitnami MySQL chart's release `mysql` (see [`databases::mysql`]).
/// Upstream's blueprint runs MySQL 8's `mysqldump --column-statistics=0`; a `mysqldump` wrapper
/// on the pod PATH drops that one option, which MariaDB's mysqldump rejects
/// ([`databases::install_mysqldump_wrapper`]). Everything else runs as the blueprint says:
/// `--single-transaction --all-databases` over TCP to the Service `mysql`, gzip, kando, and
/// `gunzip | mysql` on restore (our blueprint: no gzip, `--from-command`, the snapshot).
async fn mysql_demo(bp_file: &str, bp_name: &str, art: (&str, &str), tag: &str) {
    let started = Instant::now();
    wait_port_free(MYSQL_PORT, Duration::from_secs(120)).await;
    databases::install_mysqldump_wrapper();
    let (ns, c, profile, prefix) = setup(tag).await;
    let _cleanup = DeleteNs(ns.name.clone());
    let t0 = Instant::now();
    ns.apply(&databases::mysql("mysql", MYSQL_PASSWORD, MYSQL_PORT)).await;
    wait_ready(&ns, "StatefulSet", "mysql", 1, Duration::from_secs(120)).await;
    eprintln!("MariaDB ready in {:?}", t0.elapsed());
    let sql = |db: &str, q: &str| databases::mariadb(MYSQL_PORT, MYSQL_PASSWORD, db, q);
    let (ok, _, err) = sql("", "SELECT 1");
    assert!(ok, "root over TCP with the Secret's password: {err}");
    assert!(!databases::mariadb(MYSQL_PORT, "wrong", "", "SELECT 1").0, "a wrong password is refused");
    let seed = "CREATE DATABASE shop; USE shop; \
                CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(64) CHARACTER SET utf8mb4, qty INT, \
                  price DECIMAL(10,2), at DATETIME(6), payload VARBINARY(32)); \
                INSERT INTO orders SELECT seq, CONCAT('item-', seq, ' ☕ ü'), seq % 7, seq * 1.25, \
                  TIMESTAMP('2024-01-01') + INTERVAL seq * 1001 MICROSECOND + INTERVAL seq MINUTE, \
                  UNHEX(SHA2(seq, 256)) FROM seq_1_to_5000;";
    let (ok, _, err) = sql("", seed);
    assert!(ok, "seed: {err}");
    let (ok, before, err) = sql("shop", MYSQL_ROWS);
    assert!(ok, "{err}");
    assert_eq!(before.lines().count(), 5000, "seeded rows");
    assert!(before.lines().nth(6).unwrap().starts_with("7\t6974656D2D3720E29895"), "{:?}", before.lines().nth(6));
    let (_, ddl, _) = sql("shop", "SHOW CREATE TABLE orders");

    ns.apply(&blueprint(bp_file)).await;
    let run = Run { ns: &ns, c: &c, profile: &profile, prefix: &prefix };
    let (backup, location) = run.backup(bp_name, "mysql", art, &format!("mysql-backups/{}/mysql/", ns.name)).await;

    // Disaster: the table is gone.
    assert!(sql("shop", "DROP TABLE orders").0);
    assert!(!sql("shop", MYSQL_ROWS).0, "the table is dropped");

    run.restore(&backup).await;
    let (ok, after, err) = sql("shop", MYSQL_ROWS);
    assert!(ok, "after the restore: {err}");
    assert_eq!(after.lines().count(), 5000, "row count after the restore");
    assert!(after == before, "every row is back byte for byte");
    assert_eq!(sql("shop", "SHOW CREATE TABLE orders").1, ddl, "the table definition is back");

    run.delete(&backup, &location).await;
    ns.delete().await;
    eprintln!("{tag}: demo done in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn mysql_with_upstreams_blueprint() {
    let _g = crate::DB_LOCK.lock().await;
    mysql_demo("mysql/mysql-blueprint.yaml", "mysql-blueprint", ("mysqlCloudDump", "s3path"), "my-up").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn mysql_with_our_blueprint() {
    let _g = crate::DB_LOCK.lock().await;
    mysql_demo("ours:mysql-blueprint.yaml", "mysql-kanrepo", ("mysqlCloudDump", "s3path"), "my-ours").await;
}

const MONGO_PG_PORT: u16 = 5433;
const MONGO_PASSWORD: &str = "mongo-Secret-pass";
/// `test.restaurants`, every document in canonical extended JSON (types and `_id` included),
/// in `_id` order, one per line.
const MONGO_DOCS: &str =
    "for d in c.test.restaurants.find().sort('_id', 1):\n    print(json_util.dumps(d, json_options=CANONICAL))";

/// MongoDB as FerretDB v1 over PostgreSQL (see [`databases::mongodb`]), with the blueprint's
/// command lines unchanged except for one flag: `mongodump`/`mongorestore` wrappers on the pod
/// PATH append `--authenticationMechanism=PLAIN` ([`databases::install_mongo_tool_wrappers`]).
///
/// What upstream's flags need from FerretDB, set up here before the data is written:
/// - `mongodump --oplog` reads `local.oplog.rs`: FerretDB runs with `--repl-set-name=rs0`, and
///   the test creates that collection capped before seeding; FerretDB then appends an entry for
///   each insert, so it has entries, as `--oplog` needs.
/// - `mongorestore --oplogReplay` replays the entries captured during the dump with `applyOps`,
///   which FerretDB does not have: the last write before the backup goes to
///   `config.kanrepo_marker` (a write mongorestore never replays), so the captured entry is
///   skipped and 0 entries are applied.
///
/// What FerretDB does NOT exercise, so this demo proves nothing about it: replaying real writes
/// from the oplog (a backup taken while the database is written to; FerretDB has no `applyOps`
/// and no replication), restoring users and roles (`admin.system.users`: FerretDB v1 keeps none,
/// PostgreSQL owns the accounts), and SCRAM authentication (the tools' default; FerretDB v1
/// only does PLAIN, hence the wrappers). It does exercise the blueprint's Secret and host
/// templating, the archive format (gzipped or not) through kando, `--drop`, authentication with
/// the Secret's password (a wrong one is refused), and the four documents coming back exactly.
async fn mongodb_demo(bp_file: &str, bp_name: &str, art: (&str, &str), tag: &str) {
    let started = Instant::now();
    wait_port_free(27017, Duration::from_secs(120)).await;
    wait_port_free(MONGO_PG_PORT, Duration::from_secs(120)).await;
    databases::install_mongo_tool_wrappers();
    let (ns, c, profile, prefix) = setup(tag).await;
    let _cleanup = DeleteNs(ns.name.clone());
    let t0 = Instant::now();
    ns.apply(&databases::mongodb("mongodb", MONGO_PASSWORD, MONGO_PG_PORT)).await;
    wait_ready(&ns, "StatefulSet", "mongodb", 1, Duration::from_secs(120)).await;
    let mongo = |py: &str| {
        let (ok, out, err) = databases::pymongo(MONGO_PASSWORD, py);
        assert!(ok, "pymongo:\n{py}\n{err}");
        out
    };
    let t1 = Instant::now();
    loop {
        let (ok, _, err) = databases::pymongo(MONGO_PASSWORD, "c.admin.command('ping')");
        if ok {
            break;
        }
        assert!(t1.elapsed() < Duration::from_secs(60), "FerretDB does not answer: {err}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("FerretDB ready in {:?}", t0.elapsed());
    let (ok, _, _) = databases::pymongo("wrong", "c.admin.command('ping')");
    assert!(!ok, "a wrong password is refused");

    // The oplog `mongodump --oplog` reads (FerretDB appends to it once it exists).
    mongo("c.local.create_collection('oplog.rs', capped=True, size=16 << 20)");
    // The seed demo's four restaurants (scripts/demo-cluster.sh; upstream's example inserts Roys).
    mongo(
        "c.test.restaurants.insert_many([\n\
         {'name': 'Roys', 'cuisine': 'Hawaiian', 'id': '8675309'},\n\
         {'name': 'Rubens', 'cuisine': 'Jewish', 'id': '1234567'},\n\
         {'name': 'Carls', 'cuisine': 'Burgers', 'id': '2345678'},\n\
         {'name': 'Jacks', 'cuisine': 'Grill', 'id': '3456789'}])",
    );
    assert!(
        mongo("print(c.local['oplog.rs'].count_documents({}))").trim().parse::<u32>().unwrap() >= 4,
        "oplog entries"
    );
    // The last write before the backup: the entry `--oplog` captures, never replayed.
    mongo("c.config.kanrepo_marker.insert_one({'before': 'backup'})");
    let before = mongo(MONGO_DOCS);
    assert_eq!(before.lines().count(), 4, "{before}");
    for name in ["Roys", "Rubens", "Carls", "Jacks"] {
        assert!(before.contains(&format!("\"name\": \"{name}\"")), "{name} in {before}");
    }

    ns.apply(&blueprint(bp_file)).await;
    let run = Run { ns: &ns, c: &c, profile: &profile, prefix: &prefix };
    let location_prefix = if bp_name.ends_with("-kanrepo") {
        format!("mongodb-backups/{}/mongodb/", ns.name)
    } else {
        "mongodb-replicaset-backups/mongodb/".to_string()
    };
    let (backup, location) = run.backup(bp_name, "mongodb", art, &location_prefix).await;

    // Disaster: the collection is gone.
    mongo("c.test.restaurants.drop()");
    assert_eq!(mongo("print(c.test.restaurants.count_documents({}))").trim(), "0");

    run.restore(&backup).await;
    let after = mongo(MONGO_DOCS);
    assert_eq!(after.lines().count(), 4, "documents after the restore: {after}");
    assert!(after == before, "the four documents are back as they were:\n{before}\n---\n{after}");

    run.delete(&backup, &location).await;
    ns.delete().await;
    eprintln!("{tag}: demo done in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn mongodb_with_upstreams_blueprint() {
    let _g = crate::DB_LOCK.lock().await;
    mongodb_demo("mongodb/mongodb-blueprint.yaml", "mongodb-blueprint", ("cloudObject", "path"), "mongo-up").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn mongodb_with_our_blueprint() {
    let _g = crate::DB_LOCK.lock().await;
    mongodb_demo("ours:mongodb-blueprint.yaml", "mongodb-kanrepo", ("cloudObject", "path"), "mongo-ours").await;
}

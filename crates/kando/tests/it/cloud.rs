//! Object-store backends on real servers: MinIO (S3), Azurite (Azure) and fake-gcs-server
//! behind the XML-API shim (GCS), started by `scripts/servers.sh` (which `scripts/test.sh`
//! runs, exporting the `KANREPO_TEST_*` variables).
//!
//! Every test here is `#[ignore]`d so that a bare `cargo test` without the servers lists
//! them as ignored instead of failing; `scripts/test.sh` runs them with `--include-ignored`,
//! and then a missing variable is a failure, not a skip.

use kanrepo::backend::Backend;
use kanrepo::profile::Profile;
use kanrepo::testdata::{pseudo_random as data, text};
use serde_json::json;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KANDO: &str = env!("CARGO_BIN_EXE_kando");

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set: run scripts/test.sh, or scripts/servers.sh start DIR and source DIR/env")
    })
}

/// A prefix no other test (or earlier run) uses.
fn unique(tag: &str) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("it-{tag}-{}-{t}", std::process::id())
}

#[derive(Clone, Copy, Debug)]
enum Store {
    S3,
    Azure,
    Gcs,
}

/// The profile JSON `{{ toJson .Profile }}` would render for this server and prefix.
fn profile(s: Store, prefix: &str) -> String {
    let (kind, bucket, endpoint, region, id, secret) = match s {
        Store::S3 => (
            "s3Compliant",
            env("KANREPO_TEST_S3_BUCKET"),
            env("KANREPO_TEST_S3_ENDPOINT"),
            env("KANREPO_TEST_S3_REGION"),
            env("KANREPO_TEST_S3_ACCESS_KEY"),
            env("KANREPO_TEST_S3_SECRET_KEY"),
        ),
        Store::Azure => (
            "azure",
            env("KANREPO_TEST_AZURE_CONTAINER"),
            env("KANREPO_TEST_AZURE_ENDPOINT"),
            String::new(),
            env("KANREPO_TEST_AZURE_ACCOUNT"),
            env("KANREPO_TEST_AZURE_KEY"),
        ),
        Store::Gcs => (
            "gcs",
            env("KANREPO_TEST_GCS_BUCKET"),
            env("KANREPO_TEST_GCS_BASE_URL"),
            String::new(),
            "test-project".to_string(),
            env("KANREPO_TEST_GCS_SERVICE_ACCOUNT"),
        ),
    };
    profile_json(kind, &bucket, &endpoint, prefix, &region, &id, &secret)
}

fn profile_json(
    kind: &str,
    bucket: &str,
    endpoint: &str,
    prefix: &str,
    region: &str,
    id: &str,
    secret: &str,
) -> String {
    json!({
        "Location": {"Type": kind, "Bucket": bucket, "Endpoint": endpoint, "Prefix": prefix, "Region": region},
        "Credential": {"Type": "keyPair", "KeyPair": {"ID": id, "Secret": secret}, "Secret": null, "KopiaServerSecret": {}},
        "SkipSSLVerify": false
    })
    .to_string()
}

fn backend(p: &str) -> Arc<dyn Backend> {
    Profile::parse(p).unwrap().backend().unwrap()
}

fn kando(args: &[&str], stdin: Option<Vec<u8>>, envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(KANDO);
    c.args(args).env("KANDO_REPOSITORY_PASSWORD", "s3cret").stdout(Stdio::piped()).stderr(Stdio::piped());
    c.envs(envs.iter().copied());
    c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = c.spawn().unwrap();
    if let Some(input) = stdin {
        let mut si = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = si.write_all(&input);
        });
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `physicalSize` from a push's phase output.
fn physical_size(o: &Output) -> u64 {
    let line = String::from_utf8_lossy(&o.stdout).lines().last().unwrap().to_string();
    let outer: serde_json::Value = serde_json::from_str(line.trim_start_matches("###Phase-output###: ")).unwrap();
    let inner: serde_json::Value = serde_json::from_str(outer["value"].as_str().unwrap()).unwrap();
    inner["physicalSize"].as_u64().unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn conformance(s: Store) {
    let b = backend(&profile(s, &unique("conf")));
    rt().block_on(kanrepo::backend::testsuite::run(b.as_ref()));
}

#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn conformance_s3_minio() {
    conformance(Store::S3);
}

#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn conformance_azure_azurite() {
    conformance(Store::Azure);
}

#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn conformance_gcs_fake_gcs_server() {
    conformance(Store::Gcs);
}

/// kando against one store: two nights pushed and pulled back byte for byte, dedup between
/// them, then the upstream-kando migration path (plain objects pulled and deleted).
fn kando_end_to_end(s: Store) {
    let p = profile(s, &unique("kando"));
    let mut night0 = text(12_000_000, 1);
    night0.extend_from_slice(&data(10_000_000, 2));
    let mut night1 = night0.clone();
    night1[5_000_000..5_000_100].copy_from_slice(&[b'x'; 100]);
    night1.extend_from_slice(&text(500_000, 3));
    let o = kando(&["location", "push", "-p", &p, "-s", "db/night0", "-"], Some(night0.clone()), &[]);
    assert!(o.status.success(), "{s:?} push: {}", stderr(&o));
    let first = physical_size(&o);
    let o = kando(&["location", "push", "-p", &p, "-s", "db/night1", "-"], Some(night1.clone()), &[]);
    assert!(o.status.success(), "{s:?} push: {}", stderr(&o));
    let second = physical_size(&o);
    assert!(second * 10 < first, "{s:?}: the second night must store little: {second} vs {first}");
    for (path, want) in [("db/night0", &night0), ("db/night1", &night1)] {
        let o = kando(&["location", "pull", "-p", &p, "-s", path, "-"], None, &[]);
        assert!(o.status.success(), "{s:?} pull: {}", stderr(&o));
        assert!(&o.stdout == want, "{s:?}: {path} must come back byte for byte");
    }

    // A plain object at <prefix>/<path>, as upstream kando stored it.
    let b = backend(&p);
    let legacy = text(3_000_000, 9);
    let path = "/pg_backups/ns/sts/2026-11-20T01:00:00Z/backup.sql.gz";
    rt().block_on(b.put(path.trim_start_matches('/'), bytes::Bytes::from(legacy.clone()))).unwrap();
    let o = kando(&["location", "pull", "-p", &p, "-s", path, "-"], None, &[]);
    assert!(o.status.success(), "{s:?} legacy pull: {}", stderr(&o));
    assert!(o.stdout == legacy, "{s:?}: the plain object must come back byte for byte");
    let o = kando(&["location", "delete", "-p", &p, "-s", path], None, &[]);
    assert!(o.status.success(), "{s:?} legacy delete: {}", stderr(&o));
    let o = kando(&["location", "pull", "-p", &p, "-s", path, "-"], None, &[]);
    assert_eq!(o.status.code(), Some(69), "{s:?}: pull after delete must fail");
    assert!(stderr(&o).contains("no plain object"), "{}", stderr(&o));
    // Snapshots of the repository survive a legacy delete.
    let o = kando(&["location", "pull", "-p", &p, "-s", "db/night1", "/dev/null"], None, &[]);
    assert!(o.status.success(), "{s:?}: {}", stderr(&o));
}

#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn kando_on_s3_minio() {
    kando_end_to_end(Store::S3);
}

#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn kando_on_azure_azurite() {
    kando_end_to_end(Store::Azure);
}

#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn kando_on_gcs_fake_gcs_server() {
    kando_end_to_end(Store::Gcs);
}

#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn legacy_pull_without_repository_or_password() {
    let p = profile(Store::S3, &unique("legacy"));
    let b = backend(&p);
    let d = data(1_500_000, 4);
    rt().block_on(b.put("mysql-backups/ns/db/dump.sql.gz", bytes::Bytes::from(d.clone()))).unwrap();
    let mut c = Command::new(KANDO);
    c.args(["location", "pull", "-p", &p, "-s", "/mysql-backups/ns/db/dump.sql.gz", "-"]);
    let o = c.env_remove("KANDO_REPOSITORY_PASSWORD").stderr(Stdio::piped()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout == d);
    let o = kando(&["location", "pull", "-p", &p, "-s", "mysql-backups/ns/other", "-"], None, &[]);
    assert_eq!(o.status.code(), Some(69));
    assert!(stderr(&o).contains("no repository"), "{}", stderr(&o));
}

/// Bad credentials, wrong region, missing bucket, unreachable endpoint: exit 69 with a clear
/// message, quickly, and nothing written.
#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn s3_permanent_errors_are_clear_and_write_nothing() {
    let prefix = unique("errors");
    let (bucket, endpoint) = (env("KANREPO_TEST_S3_BUCKET"), env("KANREPO_TEST_S3_ENDPOINT"));
    let (id, secret) = (env("KANREPO_TEST_S3_ACCESS_KEY"), env("KANREPO_TEST_S3_SECRET_KEY"));
    let cases = [
        (
            "bad credentials",
            profile_json("s3Compliant", &bucket, &endpoint, &prefix, "us-east-1", &id, "wrong-secret-value"),
            "credentials",
        ),
        (
            "wrong region",
            profile_json("s3Compliant", &bucket, &endpoint, &prefix, "eu-central-1", &id, &secret),
            "region",
        ),
        (
            "missing bucket",
            profile_json("s3Compliant", "no-such-bucket-kanrepo", &endpoint, &prefix, "us-east-1", &id, &secret),
            "bucket does not exist",
        ),
        (
            "unreachable endpoint",
            profile_json("s3Compliant", &bucket, "http://127.0.0.1:9", &prefix, "us-east-1", &id, &secret),
            "127.0.0.1:9: the server could not be reached",
        ),
        (
            "azure bad key",
            profile_json(
                "azure",
                &env("KANREPO_TEST_AZURE_CONTAINER"),
                &env("KANREPO_TEST_AZURE_ENDPOINT"),
                &prefix,
                "",
                &env("KANREPO_TEST_AZURE_ACCOUNT"),
                "d3Jvbmcta2V5",
            ),
            "credentials were rejected",
        ),
        (
            "azure missing container",
            profile_json(
                "azure",
                "no-such-container",
                &env("KANREPO_TEST_AZURE_ENDPOINT"),
                &prefix,
                "",
                &env("KANREPO_TEST_AZURE_ACCOUNT"),
                &env("KANREPO_TEST_AZURE_KEY"),
            ),
            "bucket does not exist",
        ),
        (
            "gcs missing bucket",
            profile_json(
                "gcs",
                "no-such-bucket-kanrepo",
                &env("KANREPO_TEST_GCS_BASE_URL"),
                &prefix,
                "",
                "p",
                &env("KANREPO_TEST_GCS_SERVICE_ACCOUNT"),
            ),
            "bucket does not exist",
        ),
    ];
    for (what, p, expect) in cases {
        let t = Instant::now();
        let o = kando(
            &["location", "push", "-p", &p, "-s", "x", "-"],
            Some(data(100_000, 1)),
            &[("KANDO_MAX_RETRIES", "2")],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(69), "{what}: {err}");
        assert!(
            err.to_lowercase().contains(&expect.to_lowercase()),
            "{what}: message should mention '{expect}': {err}"
        );
        assert!(
            !err.contains("wrong-secret-value") && !err.contains(&secret) && !err.contains("d3Jvbmcta2V5"),
            "{what}: a secret leaked: {err}"
        );
        assert!(t.elapsed() < Duration::from_secs(30), "{what}: took {:?}", t.elapsed());
    }
    for store in [Store::S3, Store::Azure, Store::Gcs] {
        let good = backend(&profile(store, &prefix));
        assert!(rt().block_on(good.list("")).unwrap().is_empty(), "{store:?}: nothing may be written");
    }
}

/// A port `p` with `p + 1` free too (MinIO's API and console), so the private server never
/// collides with anything already listening.
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair");
}

/// A private MinIO instance the test can kill and restart.
struct Minio {
    child: std::process::Child,
    dir: std::path::PathBuf,
    port: u16,
    /// Serving https with the certificate in this directory.
    certs: Option<std::path::PathBuf>,
}

impl Minio {
    fn start(dir: &std::path::Path, port: u16) -> Minio {
        Minio::start_with(dir, port, None, &[])
    }

    /// Start on `dir`; with `certs` (holding public.crt / private.key) it serves https.
    fn start_with(dir: &std::path::Path, port: u16, certs: Option<&std::path::Path>, envs: &[(&str, &str)]) -> Minio {
        let mut c = Command::new(env("KANREPO_TEST_MINIO_BIN"));
        c.args(["server", dir.to_str().unwrap(), "--quiet", "--address", &format!("127.0.0.1:{port}")])
            .args(["--console-address", &format!("127.0.0.1:{}", port + 1)]);
        if let Some(d) = certs {
            c.args(["--certs-dir", d.to_str().unwrap()]);
        }
        let child = c
            .env("MINIO_ROOT_USER", env("KANREPO_TEST_S3_ACCESS_KEY"))
            .env("MINIO_ROOT_PASSWORD", env("KANREPO_TEST_S3_SECRET_KEY"))
            .env("MINIO_BROWSER", "off")
            .env("MINIO_UPDATE", "off")
            .env("MINIO_CI_CD", "1")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting minio");
        let m = Minio { child, dir: dir.to_path_buf(), port, certs: certs.map(|d| d.to_path_buf()) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "private minio did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    fn endpoint(&self) -> String {
        let scheme = if self.certs.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// curl against this server, signed; returns (HTTP code, response headers).
    fn curl(&self, method: &str, path: &str) -> (String, String) {
        let user = format!("{}:{}", env("KANREPO_TEST_S3_ACCESS_KEY"), env("KANREPO_TEST_S3_SECRET_KEY"));
        let mut c = Command::new("curl");
        c.args(["-s", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}", "-X", method]);
        if method == "HEAD" {
            c.arg("-I");
        }
        if let Some(d) = &self.certs {
            c.args(["--cacert", d.join("ca.crt").to_str().unwrap()]);
        }
        let o = c
            .args([
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
                "--user",
                &user,
                "-H",
                "x-amz-content-sha256: UNSIGNED-PAYLOAD",
            ])
            .arg(format!("{}/{path}", self.endpoint()))
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let code = out.lines().last().unwrap_or("").trim().to_string();
        (code, out)
    }

    fn make_bucket(&self, name: &str) {
        for _ in 0..50 {
            if self.curl("PUT", name).0.ends_with("200") {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("could not create bucket {name} on the private minio");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Minio {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kill the S3 server in the middle of a push: bounded retries, then a clear failure and no
/// snapshot; restart it and push again: it completes and reuses the packs already stored.
#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn s3_server_killed_mid_push_then_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port_pair();
    let mut minio = Minio::start(&dir.path().join("data"), port);
    minio.make_bucket("faults");
    let (id, secret) = (env("KANREPO_TEST_S3_ACCESS_KEY"), env("KANREPO_TEST_S3_SECRET_KEY"));
    let p = profile_json("s3Compliant", "faults", &minio.endpoint(), "repo", "us-east-1", &id, &secret);
    let stream = data(160 << 20, 77); // incompressible: ~10 packs of 16 MiB
    let retry_env = [("KANDO_MAX_RETRIES", "3"), ("KANDO_RETRY_TIMEOUT", "5")];

    // Push from a slow producer so the server can be killed while packs are in flight.
    let mut child = Command::new(KANDO)
        .args(["location", "push", "-p", &p, "-s", "db/dump", "--progress", "none", "-"])
        .env("KANDO_REPOSITORY_PASSWORD", "s3cret")
        .envs(retry_env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = stream.clone();
    let feeder = std::thread::spawn(move || {
        for piece in feed.chunks(1 << 20) {
            if stdin.write_all(piece).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(15));
        }
    });
    let b = backend(&p);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let packs = rt().block_on(b.list("packs/")).map(|l| l.len()).unwrap_or(0);
        if packs >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no packs appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed_at = Instant::now();
    minio.kill();
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(69), "the push must fail: {err}");
    assert!(killed_at.elapsed() < Duration::from_secs(60), "bounded retries: took {:?}", killed_at.elapsed());
    assert!(err.contains(&minio.endpoint()), "the error names the endpoint: {err}");

    // Restart on the same data: no snapshot is visible, the packs are still there.
    let minio2 = Minio::start(&minio.dir.clone(), port);
    let o = kando(&["repository", "snapshots", "--json", "-p", &p], None, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout).unwrap().len(),
        0,
        "no snapshot after a failed push"
    );
    let left = rt().block_on(b.list("packs/")).unwrap().len();
    assert!(left >= 3, "the uploaded packs are still stored: {left}");

    // Push again: completes and stores only what is missing.
    let o = kando(&["location", "push", "-p", &p, "-s", "db/dump", "-"], Some(stream.clone()), &retry_env);
    assert!(o.status.success(), "{}", stderr(&o));
    let resumed = physical_size(&o);
    let fresh = profile_json("s3Compliant", "faults", &minio2.endpoint(), "fresh", "us-east-1", &id, &secret);
    let o = kando(&["location", "push", "-p", &fresh, "-s", "db/dump", "-"], Some(stream.clone()), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let full = physical_size(&o);
    assert!(
        resumed + (left as u64 - 1) * (15 << 20) <= full,
        "resumed push stored {resumed} of {full} with {left} packs reused"
    );
    let o = kando(&["location", "pull", "-p", &p, "-s", "db/dump", "-"], None, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout == stream, "the resumed snapshot restores byte for byte");
    drop(minio2);
}

/// Standalone use: `--repo s3://bucket/prefix` with the standard AWS_* variables.
#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn standalone_s3_url_with_environment_credentials() {
    let url = format!("s3://{}/{}", env("KANREPO_TEST_S3_BUCKET"), unique("url"));
    let aws = [
        ("AWS_ENDPOINT", env("KANREPO_TEST_S3_ENDPOINT")),
        ("AWS_ACCESS_KEY_ID", env("KANREPO_TEST_S3_ACCESS_KEY")),
        ("AWS_SECRET_ACCESS_KEY", env("KANREPO_TEST_S3_SECRET_KEY")),
        ("AWS_REGION", env("KANREPO_TEST_S3_REGION")),
    ];
    let envs: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let d = text(2_000_000, 11);
    let o = kando(&["location", "push", "--repo", &url, "-s", "x", "-"], Some(d.clone()), &envs);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kando(&["location", "pull", "--repo", &url, "-s", "x", "-"], None, &envs);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout == d);
    // Without credentials in the environment: a clear error, no metadata-endpoint lookup.
    let o = kando(&["repository", "snapshots", "--repo", &url], None, &envs[..1]);
    assert_eq!(o.status.code(), Some(69));
    assert!(stderr(&o).contains("no credentials"), "{}", stderr(&o));
}

/// TLS: a self-signed server is refused by default, accepted with SkipSSLVerify or with its
/// CA in KANDO_CA_FILE; server-side encryption (SSE-S3, MinIO's built-in KMS key) is
/// requested with AWS_SERVER_SIDE_ENCRYPTION and recorded on every object.
#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn s3_tls_custom_ca_skip_verify_and_server_side_encryption() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    // A CA and a server certificate it signs (rustls refuses a CA used as the server's own).
    let ossl = |args: &[&str]| {
        let o = Command::new("openssl").args(args).current_dir(&certs).output().unwrap();
        assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    ossl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=kanrepo-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    ossl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "private.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(certs.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    ossl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "public.crt",
    ]);
    let kms = "kanrepo-key:IyqsU3kMFloCNup4BsZtf/rmfHVcTgznO2F25CkEH1g=";
    let minio =
        Minio::start_with(&dir.path().join("data"), free_port_pair(), Some(&certs), &[("MINIO_KMS_SECRET_KEY", kms)]);
    minio.make_bucket("tls");
    let (id, secret) = (env("KANREPO_TEST_S3_ACCESS_KEY"), env("KANREPO_TEST_S3_SECRET_KEY"));
    let p = profile_json("s3Compliant", "tls", &minio.endpoint(), "repo", "us-east-1", &id, &secret);
    let d = text(1_000_000, 5);
    let o = kando(&["location", "push", "-p", &p, "-s", "x", "-"], Some(d.clone()), &[("KANDO_MAX_RETRIES", "1")]);
    assert_eq!(o.status.code(), Some(69), "an untrusted certificate must be refused");
    assert!(stderr(&o).contains("TLS certificate not trusted"), "{}", stderr(&o));
    let skip = p.replace(r#""SkipSSLVerify":false"#, r#""SkipSSLVerify":true"#);
    let o = kando(&["location", "push", "-p", &skip, "-s", "x", "-"], Some(d.clone()), &[]);
    assert!(o.status.success(), "SkipSSLVerify: {}", stderr(&o));
    let ca = certs.join("ca.crt");
    let sse = [("KANDO_CA_FILE", ca.to_str().unwrap()), ("AWS_SERVER_SIDE_ENCRYPTION", "AES256")];
    let o = kando(&["location", "push", "-p", &p, "-s", "y", "-"], Some(d.clone()), &sse);
    assert!(o.status.success(), "custom CA: {}", stderr(&o));
    let o = kando(&["location", "pull", "-p", &p, "-s", "y", "-"], None, &sse[..1]);
    assert!(o.status.success() && o.stdout == d, "{}", stderr(&o));
    // Objects written by the SSE push carry the encryption header.
    let b = backend(&skip);
    let snaps = rt().block_on(b.list("snapshots/")).unwrap();
    let newest = snaps.iter().map(|s| s.key.clone()).collect::<Vec<_>>();
    let encrypted = newest
        .iter()
        .filter(|k| {
            minio
                .curl("HEAD", &format!("tls/repo/{k}"))
                .1
                .to_ascii_lowercase()
                .contains("x-amz-server-side-encryption: aes256")
        })
        .count();
    assert_eq!(encrypted, 1, "exactly the snapshot of the SSE push is encrypted at rest: {newest:?}");
}

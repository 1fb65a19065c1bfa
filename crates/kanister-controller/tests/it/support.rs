//! The test control plane from the tests' side: a namespace per test, the controller binary
//! run against it (and killed or restarted at will), objects applied from YAML, ActionSets
//! created and awaited, kanctl run with the test kubeconfig.
//!
//! Everything needs the cluster `scripts/servers.sh start` brings up (etcd, kube-apiserver,
//! controller-manager, scheduler, the test node agent, MinIO): its `DIR/env` exports
//! `KANREPO_TEST_KUBECONFIG` and the rest. The tests are `#[ignore]`d so that a bare
//! `cargo test` lists them; `scripts/test.sh` runs them with `--include-ignored`.

#![allow(dead_code)]

use kanister::types::{ActionSet, State};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::discovery::Scope;
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CONTROLLER: &str = env!("CARGO_BIN_EXE_kanister-controller");

/// A required environment variable of the test servers.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the test servers (scripts/servers.sh start DIR; source DIR/env)")
    })
}

pub fn kubeconfig() -> PathBuf {
    PathBuf::from(env("KANREPO_TEST_KUBECONFIG"))
}

/// A short random suffix.
pub fn suffix() -> String {
    let mut b = [0u8; 3];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The kube client of the test cluster.
pub async fn client() -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig()).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("kube config");
    kube::Client::try_from(cfg).expect("kube client")
}

/// A test's namespace (deleted at the end of the test, pods and all).
pub struct Ns {
    pub name: String,
    pub client: kube::Client,
    pub dir: tempfile::TempDir,
}

impl Ns {
    /// A fresh namespace `<tag>-<random>`.
    pub async fn new(tag: &str) -> Ns {
        let client = client().await;
        // The CRDs, as a controller installs them at start (tests apply Blueprints first).
        kanister_controller::controller::apply_crds(&client).await.expect("apply the CRDs");
        let name = format!("{tag}-{}", suffix());
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let ns = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        api.create(&PostParams::default(), &ns).await.expect("create namespace");
        // The controller-manager makes the default ServiceAccount; pods need it.
        let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &name);
        let t0 = Instant::now();
        while sa.get_opt("default").await.unwrap().is_none() {
            assert!(t0.elapsed() < Duration::from_secs(30), "no default ServiceAccount in {name}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ns { name, client, dir: tempfile::tempdir().unwrap() }
    }

    /// Apply every document of `yaml` (server-side apply) in this namespace unless the
    /// document names another.
    pub async fn apply(&self, yaml: &str) {
        let docs: Vec<Json> = serde_saphyr::from_str_multiple(yaml).expect("valid YAML");
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            self.apply_one(doc).await;
        }
    }

    async fn resolve(&self, api_version: &str, kind: &str) -> (ApiResource, Scope) {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) =
            kube::discovery::pinned_kind(&self.client, &gvk).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
        (ar, caps.scope)
    }

    /// A dynamic API for `apiVersion`/`kind` in `ns` (this namespace when empty).
    pub async fn api(&self, api_version: &str, kind: &str, ns: &str) -> Api<DynamicObject> {
        let (ar, scope) = self.resolve(api_version, kind).await;
        match scope {
            Scope::Cluster => Api::all_with(self.client.clone(), &ar),
            Scope::Namespaced => {
                Api::namespaced_with(self.client.clone(), if ns.is_empty() { &self.name } else { ns }, &ar)
            }
        }
    }

    pub async fn apply_one(&self, mut doc: Json) -> DynamicObject {
        let av = doc["apiVersion"].as_str().unwrap().to_string();
        let kind = doc["kind"].as_str().unwrap().to_string();
        let ns = doc["metadata"]["namespace"].as_str().unwrap_or(&self.name).to_string();
        let name = doc["metadata"]["name"].as_str().expect("apply needs metadata.name").to_string();
        let api = self.api(&av, &kind, &ns).await;
        if doc["metadata"].get("namespace").is_none() && api.resource_url().contains("/namespaces/") {
            doc["metadata"]["namespace"] = json!(ns);
        }
        api.patch(&name, &PatchParams::apply("kanister-e2e").force(), &Patch::Apply(&doc))
            .await
            .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"))
    }

    /// Create an ActionSet from YAML (may use generateName); returns its name.
    pub async fn create_actionset(&self, yaml: &str) -> String {
        let mut doc: Json = serde_saphyr::from_str(yaml).expect("valid YAML");
        doc["metadata"]["namespace"] = json!(self.name);
        let api = self.actionsets();
        let obj: DynamicObject = serde_json::from_value(doc).unwrap();
        let created = api.create(&PostParams::default(), &obj).await.expect("create ActionSet");
        created.metadata.name.unwrap()
    }

    pub fn actionsets(&self) -> Api<DynamicObject> {
        let ar = ApiResource {
            group: "cr.kanister.io".into(),
            version: "v1alpha1".into(),
            api_version: "cr.kanister.io/v1alpha1".into(),
            kind: "ActionSet".into(),
            plural: "actionsets".into(),
        };
        Api::namespaced_with(self.client.clone(), &self.name, &ar)
    }

    pub async fn actionset(&self, name: &str) -> ActionSet {
        let o = self.actionsets().get(name).await.expect("get ActionSet");
        serde_json::from_value(serde_json::to_value(o).unwrap()).expect("decode ActionSet")
    }

    /// Wait until the ActionSet reaches `complete` or `failed` (panics after `timeout`).
    pub async fn wait_done(&self, name: &str, timeout: Duration) -> ActionSet {
        self.wait_for(name, timeout, |a| {
            a.status.as_ref().is_some_and(|s| matches!(s.state, State::Complete | State::Failed))
        })
        .await
    }

    /// Wait until `pred` holds for the ActionSet.
    pub async fn wait_for(&self, name: &str, timeout: Duration, pred: impl Fn(&ActionSet) -> bool) -> ActionSet {
        let t0 = Instant::now();
        loop {
            let a = self.actionset(name).await;
            if pred(&a) {
                return a;
            }
            if t0.elapsed() > timeout {
                panic!(
                    "ActionSet {name} not there after {timeout:?}: {}",
                    serde_json::to_string_pretty(&a.status).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Pods in this namespace with a label selector.
    pub async fn pods(&self, selector: &str) -> Vec<k8s_openapi::api::core::v1::Pod> {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), &self.name);
        api.list(&kube::api::ListParams::default().labels(selector)).await.unwrap().items
    }

    /// Events of an object (core/v1 view), as (type, reason, message).
    pub async fn events_of(&self, name: &str) -> Vec<(String, String, String)> {
        let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(self.client.clone(), &self.name);
        let list = api.list(&Default::default()).await.unwrap();
        list.items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect()
    }

    /// A Secret with string data.
    pub async fn secret(&self, name: &str, data: &[(&str, &str)]) {
        let sd: serde_json::Map<String, Json> = data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        self.apply_one(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": sd}))
            .await;
    }

    /// Run kanctl with the test kubeconfig in this namespace.
    pub fn kanctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(kanctl_bin())
            .args(args)
            .args(["-n", &self.name])
            .env("KUBECONFIG", kubeconfig())
            .output()
            .expect("run kanctl")
    }

    /// An S3 Profile on the test MinIO (via kanctl, as a user would), with `prefix`.
    pub fn s3_profile(&self, prefix: &str) -> String {
        let o = self.kanctl(&[
            "create",
            "profile",
            "--bucket",
            &env("KANREPO_TEST_S3_BUCKET"),
            "--endpoint",
            &env("KANREPO_TEST_S3_ENDPOINT"),
            "--region",
            &env("KANREPO_TEST_S3_REGION"),
            "--prefix",
            prefix,
            "s3compliant",
            "--access-key",
            &env("KANREPO_TEST_S3_ACCESS_KEY"),
            "--secret-key",
            &env("KANREPO_TEST_S3_SECRET_KEY"),
        ]);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "kanctl create profile: {out}{}", String::from_utf8_lossy(&o.stderr));
        out.lines()
            .find_map(|l| l.strip_prefix("profile '").and_then(|r| r.strip_suffix("' created")))
            .unwrap_or_else(|| panic!("no profile name in: {out}"))
            .to_string()
    }

    pub async fn delete(&self) {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        let _ = api.delete(&self.name, &DeleteParams::default()).await;
    }
}

/// kanctl, built beside this test binary (`cargo build -p kanctl`, done by scripts/test.sh).
pub fn kanctl_bin() -> PathBuf {
    let me = Path::new(CONTROLLER);
    let p = me.parent().unwrap().join("kanctl");
    assert!(p.exists(), "{} is missing: cargo build -p kanctl", p.display());
    p
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A controller process watching a namespace.
pub struct Controller {
    child: Option<Child>,
    pub log: PathBuf,
    pub port: u16,
    ns: String,
    extra: Vec<String>,
}

impl Controller {
    /// Start one for `ns` (with the repository password from Secret `repo-password` if
    /// `password` is set, which the caller creates).
    pub fn start(ns: &Ns, extra: &[&str]) -> Controller {
        let mut c = Controller {
            child: None,
            log: ns.dir.path().join(format!("controller-{}.log", suffix())),
            port: free_port(),
            ns: ns.name.clone(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(CONTROLLER)
            .args(["--namespace", &self.ns, "--health-port", &self.port.to_string(), "--health-address", "127.0.0.1"])
            .args(["--lease-seconds", "4", "--progress-interval", "500ms"])
            .args(&self.extra)
            .args(if self.extra.iter().any(|a| a == "--log-format") { &[][..] } else { &["--log-format", "json"][..] })
            .env("KUBECONFIG", kubeconfig())
            .env("KANISTER_TOOLS", "kanister-tools")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the controller");
        self.child = Some(child);
    }

    /// Wait until it answers readiness.
    pub async fn ready(&self) {
        let t0 = Instant::now();
        loop {
            if let Some(body) = http_get(self.port, "/v0/readyz")
                && body.contains("\"ready\":true")
            {
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "controller not ready:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn metrics(&self) -> String {
        http_get(self.port, "/metrics").unwrap_or_default()
    }

    /// The metrics page once it contains every one of `lines` (waiting up to 10 s: the controller
    /// counts an action after its last status write, so a test that saw the status may be early).
    pub async fn metrics_with(&self, lines: &[&str]) -> String {
        let t0 = Instant::now();
        loop {
            let m = self.metrics();
            if lines.iter().all(|l| m.contains(l)) || t0.elapsed() > Duration::from_secs(10) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -9`: no cleanup at all.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(10) {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.spawn();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A plain HTTP GET on 127.0.0.1 (health and metrics).
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// A phase's status by name.
pub fn phase<'a>(a: &'a ActionSet, action: usize, name: &str) -> &'a kanister::types::Phase {
    let st = &a.status.as_ref().unwrap().actions[action];
    st.phases
        .iter()
        .chain(std::iter::once(&st.defer_phase))
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no phase {name}"))
}

/// An ActionSet's state and error message.
pub fn state(a: &ActionSet) -> (State, String) {
    let s = a.status.as_ref().unwrap();
    (s.state.clone(), s.error.message.clone())
}

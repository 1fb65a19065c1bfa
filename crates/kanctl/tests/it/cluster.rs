//! kanctl against a real Kubernetes API server (etcd + kube-apiserver, no kubelet), started by
//! `scripts/servers.sh` (which exports `KANREPO_TEST_KUBECONFIG`), and MinIO for the profile
//! bucket checks. The tests are `#[ignore]`d so that a bare `cargo test` lists them instead
//! of failing; `scripts/test.sh` runs them with `--include-ignored`.
//!
//! Each test works in a namespace of its own (namespaces are never deleted: without a
//! controller-manager they would stay Terminating; every servers.sh start begins empty).
//! The CRDs come from `deploy/crds/`, applied once per test process: the API server
//! accepting them is itself a test of the generated schemas.

use super::data;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kanister::types::{ActionSet, Blueprint, Profile, State};
use kanister_kube::{Cluster, ClusterError};
use kube::api::{Api, ListParams, PostParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const KANCTL: &str = env!("CARGO_BIN_EXE_kanctl");

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the test servers (scripts/servers.sh start DIR; source DIR/env)")
    })
}

fn kubeconfig() -> PathBuf {
    PathBuf::from(env("KANREPO_TEST_KUBECONFIG"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A short random suffix for names.
fn suffix() -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Apply every CRD in `deploy/crds/` (create, or replace one left by an earlier run) and wait
/// until each is Established and its resource is served.
async fn apply_crds(cl: &Cluster) -> Result<(), String> {
    let api: Api<CustomResourceDefinition> = Api::all(cl.client().clone());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let mut names = vec![];
    for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let mut crd: CustomResourceDefinition =
            serde_json::from_value(kanister::load::any(&text).map_err(|e| e.to_string())?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        let name = crd.metadata.name.clone().unwrap();
        match api.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let old = api.get(&name).await.map_err(|e| e.to_string())?;
                crd.metadata.resource_version = old.metadata.resource_version;
                api.replace(&name, &PostParams::default(), &crd).await.map_err(|e| format!("{name}: {e}"))?;
            }
            Err(e) => return Err(format!("the API server refused {}: {e}", path.display())),
        }
        names.push(name);
    }
    for name in names {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let crd = api.get(&name).await.map_err(|e| e.to_string())?;
            let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
            if let Some(c) = conditions.iter().find(|c| c.type_ == "NonStructuralSchema" && c.status == "True") {
                return Err(format!("{name}: non-structural schema: {}", c.message.clone().unwrap_or_default()));
            }
            let established = conditions.iter().any(|c| c.type_ == "Established" && c.status == "True");
            // Established, and the resource answers (discovery can lag a moment).
            let plural = name.split('.').next().unwrap();
            let ar = kube::api::ApiResource {
                group: "cr.kanister.io".into(),
                version: "v1alpha1".into(),
                api_version: "cr.kanister.io/v1alpha1".into(),
                kind: String::new(),
                plural: plural.into(),
            };
            let api: Api<kube::api::DynamicObject> = Api::all_with(cl.client().clone(), &ar);
            let served = api.list(&ListParams::default().limit(1)).await.is_ok();
            if established && served {
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("{name} was not established within 30 s: {conditions:?}"));
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// A namespace of one test, on the test cluster with the CRDs applied, and the runtime its
/// client lives on (a kube client works only on the runtime that made it).
struct Ns {
    name: String,
    cl: Cluster,
    rt: tokio::runtime::Runtime,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn setup(prefix: &str) -> Ns {
    static CRDS: OnceLock<Result<(), String>> = OnceLock::new();
    let kc = kubeconfig();
    let crds = CRDS.get_or_init(|| {
        runtime().block_on(async {
            let cl = Cluster::connect_with(&kc, None).await.map_err(|e| e.to_string())?;
            cl.ping().await.map_err(|e| e.to_string())?;
            apply_crds(&cl).await
        })
    });
    crds.as_ref().expect("applying deploy/crds");
    let name = format!("kt-{prefix}-{}", suffix());
    let rt = runtime();
    let cl = rt.block_on(Cluster::connect_with(&kc, Some(&name))).unwrap();
    rt.block_on(create(&cl, "", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})));
    Ns { name, cl, rt }
}

/// Create a core or apps object from its JSON.
async fn create(cl: &Cluster, ns: &str, obj: Value) {
    let c = cl.client().clone();
    let pp = PostParams::default();
    let kind = obj["kind"].as_str().unwrap().to_string();
    fn de<T: DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }
    let res = match kind.as_str() {
        "Namespace" => Api::<Namespace>::all(c).create(&pp, &de(obj)).await.map(|_| ()),
        "StatefulSet" => Api::<StatefulSet>::namespaced(c, ns).create(&pp, &de(obj)).await.map(|_| ()),
        "Deployment" => Api::<Deployment>::namespaced(c, ns).create(&pp, &de(obj)).await.map(|_| ()),
        "PersistentVolumeClaim" => {
            Api::<PersistentVolumeClaim>::namespaced(c, ns).create(&pp, &de(obj)).await.map(|_| ())
        }
        "ConfigMap" => Api::<ConfigMap>::namespaced(c, ns).create(&pp, &de(obj)).await.map(|_| ()),
        "Secret" => Api::<Secret>::namespaced(c, ns).create(&pp, &de(obj)).await.map(|_| ()),
        other => panic!("no helper for {other}"),
    };
    res.unwrap_or_else(|e| panic!("creating a {kind}: {e}"));
}

/// A StatefulSet or Deployment (nothing runs it: there is no kubelet).
fn workload(kind: &str, name: &str, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
}

impl Ns {
    /// kanctl with the test kubeconfig, in this namespace (`-n`).
    fn kanctl(&self, args: &[&str]) -> Output {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend(args);
        self.kanctl_raw(&full)
    }

    /// kanctl with the test kubeconfig and exactly these arguments.
    fn kanctl_raw(&self, args: &[&str]) -> Output {
        Command::new(KANCTL).args(args).env("KUBECONFIG", kubeconfig()).output().unwrap()
    }

    fn create(&self, obj: Value) {
        self.block_on(create(&self.cl, &self.name, obj))
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The upstream postgres blueprint, as `name`.
    fn blueprint(&self, name: &str) -> Blueprint {
        let text = std::fs::read_to_string(data("blueprints/postgres/postgres-blueprint.yaml")).unwrap();
        let mut bp = kanister::load::blueprint(&text).unwrap();
        bp.metadata.name = Some(name.into());
        bp.metadata.namespace = None;
        self.block_on(self.cl.create(&self.name, &bp)).unwrap()
    }

    fn actionset(&self, name: &str) -> ActionSet {
        self.block_on(self.cl.actionset(&self.name, name)).unwrap()
    }

    fn actionsets(&self) -> Vec<String> {
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
            self.cl.client().clone(),
            &self.name,
            &kube::api::ApiResource {
                group: "cr.kanister.io".into(),
                version: "v1alpha1".into(),
                api_version: "cr.kanister.io/v1alpha1".into(),
                kind: "ActionSet".into(),
                plural: "actionsets".into(),
            },
        );
        let l = self.block_on(api.list(&ListParams::default())).unwrap();
        l.items.into_iter().map(|o| o.metadata.name.unwrap()).collect()
    }

    fn secrets(&self) -> Vec<String> {
        let api: Api<Secret> = Api::namespaced(self.cl.client().clone(), &self.name);
        let l = self.block_on(api.list(&ListParams::default())).unwrap();
        l.items.into_iter().map(|o| o.metadata.name.unwrap()).collect()
    }
}

/// `actionset NAME created` → NAME.
fn created_actionset(o: &Output) -> String {
    assert!(o.status.success(), "kanctl failed: {}{}", stdout(o), stderr(o));
    let out = stdout(o);
    let line = out.lines().find(|l| l.starts_with("actionset ")).unwrap_or_else(|| panic!("{out}"));
    let name = line.strip_prefix("actionset ").unwrap().strip_suffix(" created").unwrap();
    name.to_string()
}

#[test]
#[ignore = "needs the test Kubernetes API server (scripts/servers.sh; scripts/test.sh runs it)"]
fn cluster_accepts_the_crds_and_every_upstream_blueprint_round_trips() {
    let ns = setup("crds");
    let root = data("blueprints");
    let mut files = vec![];
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut n = 0;
    for f in files {
        let Ok(mut bp) = kanister::load::blueprint(&std::fs::read_to_string(&f).unwrap()) else { continue };
        n += 1;
        bp.metadata.name = Some(format!("bp-{n}"));
        bp.metadata.namespace = None;
        let stored = ns.block_on(ns.cl.create(&ns.name, &bp)).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let back: Blueprint = ns.block_on(ns.cl.blueprint(&ns.name, &format!("bp-{n}"))).unwrap();
        assert_eq!(stored, back);
        // Nothing pruned: everything but the server-set metadata comes back as written.
        let mut want = serde_json::to_value(&bp).unwrap();
        let mut got = serde_json::to_value(&back).unwrap();
        want.as_object_mut().unwrap().remove("metadata");
        got.as_object_mut().unwrap().remove("metadata");
        assert_eq!(want, got, "{} changed on its way through the API server", f.display());
    }
    assert!(n >= 38, "only {n} blueprints found");
}

#[test]
#[ignore = "needs the test Kubernetes API server (scripts/servers.sh; scripts/test.sh runs it)"]
fn cluster_create_actionset_stores_every_field() {
    let ns = setup("as");
    let n = ns.name.as_str();
    ns.blueprint("pg-bp");
    ns.create(workload("StatefulSet", "db", json!({})));
    ns.create(workload("Deployment", "web", json!({})));
    ns.create(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}));
    ns.create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "v"}}));
    ns.create(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"k": "v"}}));
    let profile: Profile = serde_json::from_value(json!({"apiVersion": "cr.kanister.io/v1alpha1", "kind": "Profile",
        "metadata": {"name": "prof"}, "location": {"type": "s3Compliant", "bucket": "b", "region": "r"},
        "credential": {"type": "keyPair", "keyPair": {"idField": "a", "secretField": "b",
            "secret": {"name": "creds", "namespace": n}}}}))
    .unwrap();
    ns.block_on(ns.cl.create(n, &profile)).unwrap();
    let (t, d, v, o) =
        (format!("{n}/db"), format!("{n}/web"), format!("{n}/data"), format!("apps/v1/deployments/{n}/web"));
    let (c, s) = (format!("config={n}/cm"), format!("creds={n}/creds"));
    let out = ns.kanctl(&[
        "create",
        "actionset",
        "-a",
        "backup",
        "-b",
        "pg-bp",
        "-A",
        "full",
        "-t",
        &t,
        "-d",
        &d,
        "-v",
        &v,
        "-T",
        n,
        "-O",
        &o,
        "-p",
        "prof",
        "-c",
        &c,
        "-s",
        &s,
        "-o",
        "keep=3,mode=fast",
        "--labels",
        "team=dba, tier = gold",
        "--podlabels",
        "l1=v1",
        "--podannotations",
        "a1=v1",
    ]);
    assert_eq!(created_actionset(&out), "full");
    assert!(!stderr(&out).contains("Warning"), "a profile was given: {}", stderr(&out));
    let a = ns.actionset("full");
    assert_eq!(a.metadata.namespace.as_deref(), Some(n));
    let labels = a.metadata.labels.clone().unwrap();
    assert_eq!((labels["team"].as_str(), labels["tier"].as_str()), ("dba", "gold"));
    assert!(a.status.is_none(), "kanctl writes no status");
    let actions = a.spec.unwrap().actions;
    let targets: Vec<(String, String, String)> = actions
        .iter()
        .map(|x| (x.object.kind.clone(), x.object.namespace.clone().unwrap_or_default(), x.object.name.clone()))
        .collect();
    let s = |k: &str, ns: &str, name: &str| (k.to_string(), ns.to_string(), name.to_string());
    assert_eq!(
        targets,
        vec![
            s("deployment", n, "web"),
            s("statefulset", n, "db"),
            s("pvc", n, "data"),
            s("namespace", n, n),
            s("", n, "web"),
        ],
        "one action per object, flags first, then --objects"
    );
    let generic = &actions[4].object;
    assert_eq!(
        (generic.group.as_str(), generic.api_version.as_str(), generic.resource.as_str()),
        ("apps/", "v1", "deployments")
    );
    for x in &actions {
        assert_eq!((x.name.as_str(), x.blueprint.as_str()), ("backup", "pg-bp"));
        let p = x.profile.as_ref().unwrap();
        assert_eq!((p.name.as_str(), p.namespace.as_deref()), ("prof", Some(n)), "profile defaults to -n");
        assert_eq!(x.config_maps["config"].name, "cm");
        assert_eq!(x.secrets["creds"].namespace.as_deref(), Some(n));
        assert_eq!((x.options["keep"].as_str(), x.options["mode"].as_str()), ("3", "fast"));
        assert_eq!(x.pod_labels.as_ref().unwrap()["l1"], "v1");
        assert_eq!(x.pod_annotations.as_ref().unwrap()["a1"], "v1");
        assert!(x.artifacts.is_empty() && x.repository_server.is_none());
    }
    // Without -A the name is <action>-<5 random>; without -p kanctl warns.
    let name = created_actionset(&ns.kanctl(&["create", "actionset", "-a", "backup", "-b", "pg-bp", "-t", &t]));
    assert!(name.starts_with("backup-") && name.len() == "backup-".len() + 5, "{name}");
    let out = ns.kanctl(&["create", "actionset", "-a", "backup", "-b", "pg-bp", "-t", &t]);
    assert!(stderr(&out).contains("Warning: Neither --profile nor --repository-server flag is provided."));
}

#[test]
#[ignore = "needs the test Kubernetes API server (scripts/servers.sh; scripts/test.sh runs it)"]
fn cluster_default_namespace_comes_from_the_kubeconfig_context() {
    let ns = setup("ctx");
    ns.blueprint("bp");
    ns.create(workload("StatefulSet", "db", json!({})));
    // A copy of the test kubeconfig whose context names our namespace.
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let text = std::fs::read_to_string(kubeconfig())
        .unwrap()
        .replace("namespace: default", &format!("namespace: {}", ns.name));
    std::fs::write(&kc, text).unwrap();
    let t = format!("{}/db", ns.name);
    let out = Command::new(KANCTL)
        .args(["create", "actionset", "-a", "backup", "-b", "bp", "-t", &t, "-p", "nope", "--skip-validation"])
        .env("KUBECONFIG", &kc)
        .output()
        .unwrap();
    let name = created_actionset(&out);
    let a = ns.actionset(&name);
    let p = a.spec.unwrap().actions[0].profile.clone().unwrap();
    assert_eq!(p.namespace.as_deref(), Some(ns.name.as_str()), "the profile's namespace is the context's");
}

#[test]
#[ignore = "needs the test Kubernetes API server (scripts/servers.sh; scripts/test.sh runs it)"]
fn cluster_create_actionset_from_a_parent() {
    let ns = setup("from");
    let n = ns.name.as_str();
    ns.blueprint("pg-bp");
    ns.blueprint("other-bp");
    ns.create(workload("StatefulSet", "db", json!({})));
    let t = format!("{n}/db");
    let parent = created_actionset(&ns.kanctl(&[
        "create",
        "actionset",
        "-a",
        "backup",
        "-b",
        "pg-bp",
        "-A",
        "backup-parent",
        "-t",
        &t,
        "-o",
        "keep=1,x=old",
        "-p",
        "prof",
        "--skip-validation",
    ]));
    // Not complete yet: refused, as upstream.
    let out = ns.kanctl(&["create", "actionset", "--from", &parent, "-a", "restore"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Request parent ActionSet backup-parent has not been executed"), "{}", stderr(&out));
    // Complete it as the controller would (a plain update: no status subresource).
    let mut a = ns.actionset(&parent);
    let spec = a.spec.clone().unwrap();
    a.status = Some(
        serde_json::from_value(json!({"state": "complete", "actions": [{
            "name": "backup", "blueprint": "pg-bp", "object": spec.actions[0].object,
            "artifacts": {"cloudObject": {"keyValue": {"backupLocation": "pg_backups/db/2026/backup.sql.gz"}}},
            "phases": [{"name": "pgDump", "state": "complete"}]}]}))
        .unwrap(),
    );
    ns.block_on(ns.cl.replace(n, &parent, &a)).unwrap();
    assert_eq!(ns.actionset(&parent).status.unwrap().state, State::Complete);

    let child =
        created_actionset(&ns.kanctl(&["create", "actionset", "--from", &parent, "-a", "restore", "-o", "x=new"]));
    assert!(
        child.starts_with("restore-backup-parent-") && child.len() == "restore-backup-parent-".len() + 5,
        "{child}"
    );
    let c = ns.actionset(&child).spec.unwrap().actions;
    assert_eq!(c.len(), 1);
    let x = &c[0];
    assert_eq!((x.name.as_str(), x.blueprint.as_str(), x.object.name.as_str()), ("restore", "pg-bp", "db"));
    assert_eq!(x.artifacts["cloudObject"].key_value["backupLocation"], "pg_backups/db/2026/backup.sql.gz");
    assert_eq!((x.options["keep"].as_str(), x.options["x"].as_str()), ("1", "new"), "options merged, ours win");
    assert_eq!(x.profile.as_ref().unwrap().name, "prof", "the parent's profile");
    // Flags override the parent: blueprint; a bare --from keeps the parent's action name.
    let child = created_actionset(&ns.kanctl(&["create", "actionset", "--from", &parent, "-b", "other-bp"]));
    assert!(child.starts_with("backup-parent-"), "{child}");
    let x = &ns.actionset(&child).spec.unwrap().actions[0];
    assert_eq!((x.name.as_str(), x.blueprint.as_str()), ("backup", "other-bp"));
    // A missing parent names itself.
    let out = ns.kanctl(&["create", "actionset", "--from", "nope", "-a", "restore"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("actionsets.cr.kanister.io 'nope' not found"), "{}", stderr(&out));
}

#[test]
#[ignore = "needs the test Kubernetes API server (scripts/servers.sh; scripts/test.sh runs it)"]
fn cluster_create_actionset_with_a_selector() {
    let ns = setup("sel");
    let n = ns.name.as_str();
    let other = setup("sel2");
    ns.blueprint("bp");
    let app = format!("sel-{}", suffix());
    ns.create(workload("StatefulSet", "db", json!({"app-group": app})));
    ns.create(workload("StatefulSet", "unlabelled", json!({})));
    ns.create(workload("Deployment", "web", json!({"app-group": app})));
    other.create(workload("Deployment", "web2", json!({"app-group": app})));
    let sel = format!("app-group={app}");
    let targets = |name: &str| -> Vec<String> {
        let a = ns.actionset(name);
        let mut v: Vec<String> = a
            .spec
            .unwrap()
            .actions
            .iter()
            .map(|x| format!("{}:{}/{}", x.object.kind, x.object.namespace.clone().unwrap_or_default(), x.object.name))
            .collect();
        v.sort();
        v
    };
    // `kanctl create actionset -a backup -b bp ARGS…`, returning the created ActionSet's targets.
    let backup = |args: &[&str]| -> Vec<String> {
        let argv = [&["create", "actionset", "-a", "backup", "-b", "bp"][..], args].concat();
        targets(&created_actionset(&ns.kanctl(&argv)))
    };
    // --kind all (the default) in one namespace: the deployment and the statefulset there.
    assert_eq!(
        backup(&["-l", &sel, "--selector-namespace", n, "--skip-validation"]),
        vec![format!("deployment:{n}/web"), format!("statefulset:{n}/db")]
    );
    // Every namespace, statefulsets only / deployments only.
    assert_eq!(
        backup(&["-l", &sel, "-k", "deployment", "--skip-validation"]),
        vec![format!("deployment:{n}/web"), format!("deployment:{}/web2", other.name)]
    );
    assert_eq!(backup(&["-l", &sel, "-k", "statefulset", "--skip-validation"]), vec![format!("statefulset:{n}/db")]);
    // An object named by a flag too is not repeated.
    let t = format!("{n}/db");
    assert_eq!(backup(&["-t", &t, "-l", &sel, "-k", "statefulset"]), vec![format!("statefulset:{n}/db")]);
    // Nothing matches: no objects.
    let out =
        ns.kanctl(&["create", "actionset", "-a", "backup", "-b", "bp", "-l", "app-group=none", "--skip-validation"]);
    assert!(stderr(&out).contains("no objects found to perform action set"), "{}", stderr(&out));
    let out = ns.kanctl(&["create", "actionset", "-a", "backup", "-b", "bp", "-l", &sel, "-k", "pod"]);
    assert!(stderr(&out).contains("unsupported or unknown object kind 'pod'"), "{}", stderr(&out));
    // A dry run with a selector reads the cluster but creates nothing.
    let before = ns.actionsets().len();
    let out = ns.kanctl(&[
        "create",
        "--dry-run",
        "actionset",
        "-a",
        "backup",
        "-b",
        "bp",
        "-l",
        &sel,
        "--selector-namespace",
        n,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("name: web") && stdout(&out).contains("name: db"), "{}", stdout(&out));
    assert_eq!(ns.actionsets().len(), before);
}

#[test]
#[ignore = "needs the test Kubernetes API server (scripts/servers.sh; scripts/test.sh runs it)"]
fn cluster_create_actionset_validation_failures() {
    let ns = setup("val");
    let n = ns.name.as_str();
    ns.create(workload("StatefulSet", "db", json!({})));
    let t = format!("{n}/db");
    // Missing blueprint and profile: both named, nothing created.
    let out = ns.kanctl(&["create", "actionset", "-a", "backup", "-b", "missing-bp", "-t", &t, "-p", "missing-prof"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("Please make sure 'blueprint' with name 'missing-bp' exists in namespace '{n}'")),
        "{err}"
    );
    assert!(
        err.contains(&format!("Please make sure 'profile' with name 'missing-prof' exists in namespace '{n}'")),
        "{err}"
    );
    assert!(err.contains("Error: resource verification failed"), "{err}");
    assert!(ns.actionsets().is_empty());
    // Blueprint present; a missing target, secret and config map.
    ns.blueprint("bp");
    let missing_t = format!("{n}/nope");
    let (s, c) = (format!("x={n}/no-secret"), format!("y={n}/no-cm"));
    let out = ns.kanctl(&["create", "actionset", "-a", "backup", "-b", "bp", "-t", &missing_t, "-s", &s, "-c", &c]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("Please make sure 'statefulset' with name 'nope' exists in namespace '{n}'")),
        "{err}"
    );
    assert!(err.contains("'secret' with name 'no-secret'") && err.contains("'config map' with name 'no-cm'"), "{err}");
    let out =
        ns.kanctl(&["create", "actionset", "-a", "backup", "-b", "bp", "-O", &format!("v1/configmaps/{n}/no-cm")]);
    assert!(stderr(&out).contains("configmaps 'no-cm' not found"), "{}", stderr(&out));
    // A profile in another namespace is looked up there.
    let out = ns.kanctl(&["create", "actionset", "-a", "backup", "-b", "bp", "-t", &t, "-p", "elsewhere/prof"]);
    assert!(stderr(&out).contains("'profile' with name 'prof' exists in namespace 'elsewhere'"), "{}", stderr(&out));
    // A repository server must exist (and be Ready).
    let out = ns.kanctl(&["create", "actionset", "-a", "backup", "-b", "bp", "-t", &t, "-r", &format!("{n}/repo")]);
    assert!(stderr(&out).contains("'repository-server' with name 'repo'"), "{}", stderr(&out));
    assert!(ns.actionsets().is_empty());
    // --skip-validation creates it anyway.
    created_actionset(&ns.kanctl(&[
        "create",
        "actionset",
        "-a",
        "backup",
        "-b",
        "missing-bp",
        "-t",
        &missing_t,
        "--skip-validation",
    ]));
    assert_eq!(ns.actionsets().len(), 1);
}

/// `kanctl create profile … s3compliant` against the test MinIO.
fn s3_profile(ns: &Ns, secret_key: &str, extra: &[&str]) -> Output {
    let (bucket, region, endpoint, ak) = (
        env("KANREPO_TEST_S3_BUCKET"),
        env("KANREPO_TEST_S3_REGION"),
        env("KANREPO_TEST_S3_ENDPOINT"),
        env("KANREPO_TEST_S3_ACCESS_KEY"),
    );
    let mut args =
        vec!["create", "profile", "-b", &bucket, "-r", &region, "-e", &endpoint, "-p", "kanctl/prefix", "s3compliant"];
    args.extend(["-a", &ak, "-s", secret_key]);
    args.extend(extra);
    ns.kanctl(&args)
}

#[test]
#[ignore = "needs the test Kubernetes API server and MinIO (scripts/servers.sh; scripts/test.sh runs them)"]
fn cluster_create_and_validate_profile_on_minio() {
    let ns = setup("prof");
    let n = ns.name.as_str();
    let out = s3_profile(&ns, &env("KANREPO_TEST_S3_SECRET_KEY"), &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let secret = text.lines().find_map(|l| l.strip_prefix("secret '")?.strip_suffix("' created")).unwrap().to_string();
    let profile =
        text.lines().find_map(|l| l.strip_prefix("profile '")?.strip_suffix("' created")).unwrap().to_string();
    assert!(secret.starts_with("s3-secret-") && profile.starts_with("s3-profile-"), "{text}");
    assert!(!text.contains("Failed"), "{text}");
    let p = ns.block_on(ns.cl.profile(n, &profile)).unwrap();
    assert_eq!(p.location.location_type, "s3Compliant");
    assert_eq!(p.location.bucket, env("KANREPO_TEST_S3_BUCKET"));
    assert_eq!(p.location.endpoint, env("KANREPO_TEST_S3_ENDPOINT"));
    assert_eq!(p.location.prefix, "kanctl/prefix");
    let kp = p.credential.key_pair.clone().unwrap();
    assert_eq!(p.credential.credential_type, "keyPair");
    assert_eq!((kp.id_field.as_str(), kp.secret_field.as_str()), ("aws_access_key_id", "aws_secret_access_key"));
    assert_eq!((kp.secret.name.as_str(), kp.secret.namespace.as_deref()), (secret.as_str(), Some(n)));
    let s = ns.block_on(ns.cl.secret(n, &secret)).unwrap();
    let ak = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, env("KANREPO_TEST_S3_ACCESS_KEY"));
    assert_eq!(s["data"]["aws_access_key_id"], ak.as_str());
    // The write check cleaned up after itself.
    let sample = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4"])
        .arg(format!("aws:amz:{}:s3", env("KANREPO_TEST_S3_REGION")))
        .arg("--user")
        .arg(format!("{}:{}", env("KANREPO_TEST_S3_ACCESS_KEY"), env("KANREPO_TEST_S3_SECRET_KEY")))
        .arg(format!("{}/{}/sample", env("KANREPO_TEST_S3_ENDPOINT"), env("KANREPO_TEST_S3_BUCKET")))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&sample.stdout), "404", "'sample' was deleted after the write check");

    // validate profile --name: every stage passes; --schema-validation-only skips the bucket.
    let out = ns.kanctl(&["validate", "profile", "--name", &profile, "--resource-namespace", n]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let want = "Passed the 'Validate Profile schema' check.. ✅\n\
        Passed the 'Validate bucket region specified in profile' check.. ✅\n\
        Passed the 'Validate read access to bucket specified in profile' check.. ✅\n\
        Passed the 'Validate write access to bucket specified in profile' check.. ✅\n\
        All checks passed.. ✅\n\n";
    assert_eq!(stdout(&out), want);
    let out =
        ns.kanctl(&["validate", "profile", "--name", &profile, "--resource-namespace", n, "--schema-validation-only"]);
    assert!(stdout(&out).contains("Skipping the 'Validate write access to bucket specified in profile' check.. 🚫"));
    // -f FILE: the same stages, the Secret read from the cluster.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profile.yaml");
    std::fs::write(&file, serde_json::to_string(&p).unwrap()).unwrap();
    let out = ns.kanctl(&["validate", "profile", "-f", file.to_str().unwrap()]);
    assert_eq!(stdout(&out), want, "{}", stderr(&out));
    let out = ns.kanctl(&["validate", "profile", "--name", "nope", "--resource-namespace", n]);
    assert!(
        !out.status.success() && stderr(&out).contains("profiles.cr.kanister.io 'nope' not found"),
        "{}",
        stderr(&out)
    );

    // A wrong secret key: the region check fails with the server's reason, the Secret is deleted.
    let before = ns.secrets();
    let out = s3_profile(&ns, "wrong-secret-key", &[]);
    assert!(!out.status.success());
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.contains("Failed the 'Validate bucket region specified in profile' check.. ❌"), "{text}");
    assert!(text.contains("validation failed, deleting secret 's3-secret-"), "{text}");
    assert!(err.contains("profile validation failed") && err.contains("the credentials were rejected"), "{err}");
    assert!(!err.contains("wrong-secret-key"), "no secret in messages: {err}");
    assert_eq!(ns.secrets(), before, "the failed profile's Secret was deleted");
    // --skip-validation keeps only the schema check: the profile is created.
    let out = s3_profile(&ns, "wrong-secret-key", &["--skip-validation"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // The same profile now fails `validate profile` at the region stage.
    let bad =
        stdout(&out).lines().find_map(|l| l.strip_prefix("profile '")?.strip_suffix("' created")).unwrap().to_string();
    let out = ns.kanctl(&["validate", "profile", "--name", &bad, "--resource-namespace", n]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("Failed the 'Validate bucket region specified in profile' check.. ❌"),
        "{}",
        stdout(&out)
    );
    // Schema failures create nothing.
    let before = ns.secrets();
    let out = ns.kanctl(&["create", "profile", "-b", "b", "s3compliant", "-a", "x", "-s", "y"]);
    assert!(!out.status.success() && stderr(&out).contains("Bucket region not specified"), "{}", stderr(&out));
    assert_eq!(ns.secrets(), before);
    // filestore: a Profile without a Secret.
    let out = ns.kanctl(&["create", "profile", "-p", "/backups/repo", "filestore"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("profile 'filestore-profile-"), "{}", stdout(&out));
}

#[test]
#[ignore = "needs the test Kubernetes API server (scripts/servers.sh; scripts/test.sh runs it)"]
fn cluster_validate_blueprint_by_name() {
    let ns = setup("vbp");
    let n = ns.name.as_str();
    ns.blueprint("good");
    let out = ns.kanctl(&["validate", "blueprint", "--name", "good", "--resource-namespace", n]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Passed the 'Blueprint validation' check: good\n");
    let text = std::fs::read_to_string(data("blueprints/postgres/postgres-blueprint.yaml")).unwrap().replacen(
        "func: KubeTask",
        "func: KubeTaskX",
        1,
    );
    let mut bp = kanister::load::blueprint(&text).unwrap();
    bp.metadata.name = Some("bad".into());
    ns.block_on(ns.cl.create(n, &bp)).unwrap();
    let out = ns.kanctl(&["validate", "blueprint", "--name", "bad", "--resource-namespace", n]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("KubeTaskX"), "{}", stderr(&out));
    // --resource-namespace defaults to `default`, as upstream.
    let out = ns.kanctl(&["validate", "blueprint", "--name", "good"]);
    assert!(
        stderr(&out).contains("blueprints.cr.kanister.io 'good' not found in namespace 'default'"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "needs the test Kubernetes API server (scripts/servers.sh; scripts/test.sh runs it)"]
fn cluster_errors_say_what_to_do() {
    let ns = setup("err");
    // Forbidden: a user without RBAC bindings.
    let out = Command::new(KANCTL)
        .args(["-n", &ns.name, "create", "actionset", "-a", "b", "-b", "b", "-t", "x/y", "--skip-validation"])
        .env("KUBECONFIG", env("KANREPO_TEST_KUBECONFIG_UNPRIVILEGED"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot create resource \"actionsets\"") && err.contains("403 Forbidden"), "{err}");
    // Rejected credentials.
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let text = std::fs::read_to_string(kubeconfig()).unwrap();
    let text: String = text
        .lines()
        .map(|l| if l.trim_start().starts_with("token:") { "    token: wrong\n".to_string() } else { format!("{l}\n") })
        .collect();
    std::fs::write(&kc, text).unwrap();
    let out =
        Command::new(KANCTL).args(["validate", "profile", "--name", "p"]).env("KUBECONFIG", &kc).output().unwrap();
    assert!(stderr(&out).contains("rejected the kubeconfig's credentials (401 Unauthorized)"), "{}", stderr(&out));
    // A Kanister resource type the server does not serve: apply the CRDs.
    #[derive(serde::Deserialize)]
    struct Missing {}
    impl kanister::types::Resource for Missing {
        const KIND: &'static str = "Missing";
        const LIST_KIND: &'static str = "MissingList";
        const PLURAL: &'static str = "missings";
        const SINGULAR: &'static str = "missing";
    }
    let e = ns.block_on(ns.cl.get::<Missing>(&ns.name, "x")).map(|_: Missing| ()).unwrap_err();
    assert!(matches!(e, ClusterError::NoResourceType(_)), "{e:?}");
    assert!(
        e.to_string().contains("the Kanister CRDs are not installed; apply them with 'kubectl apply -f deploy/crds/'"),
        "{e}"
    );
    // Creating in a namespace that does not exist names the namespace.
    let e = ns
        .block_on(ns.cl.create_secret(&json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "no-such-ns"}})))
        .unwrap_err();
    assert_eq!(e.to_string(), "namespaces 'no-such-ns' not found");
}

/// No server needed: an unreachable API server and a missing kubeconfig.
#[test]
fn cluster_unreachable_or_unconfigured() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n\
         users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: c\n  context: {cluster: c, user: u, namespace: ctx-ns}\n\
         current-context: c\n",
    )
    .unwrap();
    let out = Command::new(KANCTL)
        .args(["create", "actionset", "-a", "b", "-b", "b", "-t", "x/y"])
        .env("KUBECONFIG", &kc)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).starts_with("Error: cannot reach the Kubernetes API server at https://127.0.0.1:1: ")
            && stderr(&out).contains("Connection refused"),
        "{}",
        stderr(&out)
    );
    // A dry run stays offline, in the context's namespace.
    let out = Command::new(KANCTL)
        .args(["create", "--dry-run", "actionset", "-a", "b", "-b", "b", "-t", "x/y", "-p", "prof"])
        .env("KUBECONFIG", &kc)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("namespace: ctx-ns"), "{}", stdout(&out));
    let out = Command::new(KANCTL)
        .args(["validate", "profile", "--name", "p"])
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("no Kubernetes configuration") && stderr(&out).contains("set KUBECONFIG"),
        "{}",
        stderr(&out)
    );
}

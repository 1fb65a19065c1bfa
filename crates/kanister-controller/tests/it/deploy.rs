//! deploy/kanister-controller.yaml and the Helm chart deploy/helm/kanister-operator (rendered
//! by `helm template`) on the test control plane: the controller runs as the Deployment's pod
//! with nothing but its ServiceAccount (in-cluster config, the bound token of the file's
//! projected volume) and the file's RBAC. It applies the CRDs, takes its Lease,
//! runs an ActionSet whose phases exec into and start pods in an application namespace bound
//! to `edit` as the file's header says (the function pod gets the repository password: its
//! sha256 is compared), records events, and fails one in a namespace without that binding with
//! the API server's own "forbidden" message. The chart's rendering of non-default values and
//! its refusals are checked without a cluster.
//!
//! The file is applied as written except for what a shared test cluster needs: the namespace
//! (`kanister` → the test's), the cluster-scoped objects' names (suffixed), and the health port
//! (pods share the host network here); the chart gets those through its release name,
//! namespace and `healthCheckPort`, and the application namespace's binding through
//! `rbac.editNamespaces`.

use crate::support::{Ns, free_port, suffix};
use kanister::types::State;
use kube::api::{Api, DeleteParams, LogParams};
use serde_json::{Value as Json, json};
use std::time::{Duration, Instant};

const MANIFEST: &str = include_str!("../../../../deploy/kanister-controller.yaml");

const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 1
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - {name: app, image: busybox, command: [sleep, infinity]}
"#;

const BP: &str = r#"
apiVersion: cr.kanister.io/v1alpha1
kind: Blueprint
metadata: {name: deployed}
actions:
  run:
    phases:
    - func: KubeExec
      name: exec
      args:
        namespace: '{{ .Deployment.Namespace }}'
        pod: '{{ index .Deployment.Pods 0 }}'
        container: app
        command: [sh, -c, 'kando output who "$HOSTNAME"']
    - func: KubeTask
      name: task
      args:
        namespace: '{{ .Deployment.Namespace }}'
        image: busybox
        command: [sh, -c, 'kando output pwsum "$(printf %s "$KANDO_REPOSITORY_PASSWORD" | sha256sum | cut -c1-64)"']
"#;

/// The manifest's documents, adapted to this cluster (module docs).
fn documents(ns: &str, port: u16) -> Vec<Json> {
    let docs: Vec<Json> = serde_saphyr::from_str_multiple(MANIFEST).expect("deploy/kanister-controller.yaml is YAML");
    let cluster_name = format!("kanister-controller-{ns}");
    let mut out = Vec::new();
    for mut d in docs.into_iter().filter(|d| !d.is_null()) {
        let kind = d["kind"].as_str().unwrap().to_string();
        if kind == "Namespace" {
            continue; // the test's own
        }
        if d["metadata"]["namespace"] == json!("kanister") {
            d["metadata"]["namespace"] = json!(ns);
        }
        for s in d.get_mut("subjects").and_then(Json::as_array_mut).into_iter().flatten() {
            assert_eq!(s["namespace"], json!("kanister"), "{kind}: a subject outside the controller's namespace");
            s["namespace"] = json!(ns);
        }
        if kind == "ClusterRole" || kind == "ClusterRoleBinding" {
            d["metadata"]["name"] = json!(cluster_name);
        }
        if kind == "ClusterRoleBinding" {
            d["roleRef"]["name"] = json!(cluster_name);
        }
        if kind == "Deployment" {
            let c = &mut d["spec"]["template"]["spec"]["containers"][0];
            for e in c["env"].as_array_mut().unwrap() {
                if e["name"] == json!("HEALTH_CHECK_PORT") {
                    e["value"] = json!(port.to_string());
                }
            }
            c["ports"][0]["containerPort"] = json!(port);
            for probe in ["livenessProbe", "readinessProbe"] {
                c[probe]["httpGet"]["port"] = json!(port);
            }
        }
        out.push(d);
    }
    out
}

async fn controller_pod(ns: &Ns) -> Option<k8s_openapi::api::core::v1::Pod> {
    ns.pods("app=kanister-operator").await.into_iter().next()
}

fn ready(p: &k8s_openapi::api::core::v1::Pod) -> bool {
    let conds = p.status.as_ref().and_then(|s| s.conditions.as_ref());
    conds.into_iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The controller pod's conditions and whole log.
async fn controller_log(ns: &Ns) -> String {
    let Some(p) = controller_pod(ns).await else { return "no controller pod".into() };
    let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(ns.client.clone(), &ns.name);
    let name = p.metadata.name.unwrap_or_default();
    let log = api.logs(&name, &LogParams::default()).await;
    format!("pod {name} status: {:?}\nlog:\n{}", p.status.map(|s| s.conditions), log.unwrap_or_else(|e| e.to_string()))
}

/// sha256 of `s` in hex, by the same `sha256sum` the pods run.
fn sha256_hex(s: &str) -> String {
    use std::io::Write;
    let mut c = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// How a test installs the controller.
enum Install {
    /// deploy/kanister-controller.yaml, with the header's `edit` binding in the application
    /// namespace made by hand.
    Manifest,
    /// `helm template` of deploy/helm/kanister-operator, the application namespace in
    /// `rbac.editNamespaces`.
    Chart,
}

/// The chart rendered by helm (`KANREPO_TEST_HELM`, built by scripts/servers.sh) with `sets`.
fn helm_template(release: &str, ns: &str, sets: &[String]) -> Result<Vec<Json>, String> {
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/helm/kanister-operator");
    let mut cmd = std::process::Command::new(crate::support::env("KANREPO_TEST_HELM"));
    cmd.args(["template", release, chart, "--namespace", ns, "--include-crds"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let o = cmd.output().expect("run helm");
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let yaml = String::from_utf8(o.stdout).unwrap();
    let docs: Vec<Json> = serde_saphyr::from_str_multiple(&yaml).expect("helm's output is YAML");
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Install, then check what the module docs say; returns nothing, panics on any difference.
async fn installed_controller_runs_actionsets(install: Install) {
    let ns = Ns::new("deploy").await;
    let app = Ns::new("deploy-app").await;
    let denied = Ns::new("deploy-denied").await;
    let password = format!("pw-{}", suffix());
    ns.secret("kando-password", &[("password", &password)]).await;
    let port = free_port();
    let (docs, sa) = match install {
        Install::Manifest => (documents(&ns.name, port), "kanister-controller".to_string()),
        Install::Chart => {
            let release = format!("k{}", suffix());
            // The CRDs from the chart, and no CRD permission (kanisterio/kanister#1243); the
            // manifest's test covers the controller applying them.
            let sets = [
                format!("healthCheckPort={port}"),
                format!("rbac.editNamespaces={{{}}}", app.name),
                "controller.updateCRDs=false".into(),
            ];
            let docs = helm_template(&release, &ns.name, &sets).unwrap_or_else(|e| panic!("helm template: {e}"));
            (docs, format!("{release}-kanister-operator"))
        }
    };
    let cluster_scoped: Vec<(String, String)> = docs
        .iter()
        .filter(|d| d["kind"] == json!("ClusterRole") || d["kind"] == json!("ClusterRoleBinding"))
        .map(|d| (d["kind"].as_str().unwrap().to_string(), d["metadata"]["name"].as_str().unwrap().to_string()))
        .collect();
    for d in docs {
        ns.apply_one(d).await;
    }
    if let Install::Manifest = install {
        // The header's per-namespace binding, in the application namespace only.
        app.apply_one(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "kanister-controller-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns.name}],
        }))
        .await;
    }
    app.apply(APP).await;
    denied.apply(APP).await;
    ns.apply(BP).await;
    let t0 = Instant::now();
    while !controller_pod(&ns).await.is_some_and(|p| ready(&p)) {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "the controller pod is not Ready:\n{}",
            controller_log(&ns).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    crate::databases::wait_ready(&app, "Deployment", "app", 1, Duration::from_secs(60)).await;

    let actionset = |target: &str| {
        format!(
            "apiVersion: cr.kanister.io/v1alpha1\nkind: ActionSet\nmetadata: {{generateName: deployed-}}\nspec:\n  actions:\n  - name: run\n    blueprint: deployed\n    object: {{kind: Deployment, name: app, namespace: {target}}}\n"
        )
    };
    let ok = ns.create_actionset(&actionset(&app.name)).await;
    let a = ns.wait_done(&ok, Duration::from_secs(120)).await;
    let s = a.status.as_ref().unwrap();
    assert_eq!(s.state, State::Complete, "{}\n{}", s.error.message, controller_log(&ns).await);
    let out = |phase: usize, key: &str| s.actions[0].phases[phase].output.get(key).cloned();
    let who = out(0, "who").expect("KubeExec output");
    assert!(who.as_str().is_some_and(|w| w.starts_with("app-")), "{who:?}");
    assert_eq!(out(1, "pwsum"), Some(json!(sha256_hex(&password))), "KubeTask got the repository password");

    // Events are published best effort, after the status: the ClusterRole's events rule.
    let t0 = Instant::now();
    while !ns.events_of(&ok).await.iter().any(|e| e.1 == "Update Complete") {
        assert!(t0.elapsed() < Duration::from_secs(20), "no events: {:?}", ns.events_of(&ok).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let bad = ns.create_actionset(&actionset(&denied.name)).await;
    let a = ns.wait_done(&bad, Duration::from_secs(120)).await;
    let s = a.status.as_ref().unwrap();
    assert_eq!(s.state, State::Failed);
    let want = format!("system:serviceaccount:{}:{sa}", ns.name);
    assert!(
        s.error.message.contains("forbidden") && s.error.message.contains(&want),
        "want the API server's forbidden message for {want}, got {:?}",
        s.error.message
    );
    let log = controller_log(&ns).await;
    assert!(log.contains("acquired the leader lease"), "{log}");
    assert!(!log.contains(&password), "the password is in the controller's log");

    for n in [&ns, &app, &denied] {
        n.delete().await;
    }
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(ns.client.clone());
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(ns.client.clone());
    for (kind, name) in cluster_scoped {
        let _ = match kind.as_str() {
            "ClusterRole" => roles.delete(&name, &DeleteParams::default()).await.map(|_| ()),
            _ => bindings.delete(&name, &DeleteParams::default()).await.map(|_| ()),
        };
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn the_deploy_manifest_runs_the_controller_in_cluster_with_only_its_rbac() {
    installed_controller_runs_actionsets(Install::Manifest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn the_helm_chart_runs_the_controller_in_cluster_with_only_its_rbac() {
    installed_controller_runs_actionsets(Install::Chart).await;
}

#[test]
#[ignore = "needs helm: scripts/test.sh builds it"]
fn the_helm_chart_renders_upstreams_values_and_refuses_unsafe_ones_with_clear_errors() {
    let render = |sets: &[&str]| helm_template("k", "kns", &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let e = render(&["bpValidatingWebhook.enabled=true"]).unwrap_err();
    assert!(e.contains("this controller has no blueprint validating webhook"), "{e}");
    let e = render(&["repositoryPasswordSecret="]).unwrap_err();
    assert!(e.contains("repositoryPasswordSecret: the name of a Secret"), "{e}");
    // Binding the namespace's `default` ServiceAccount would hand these rights to every pod.
    let e = render(&["serviceAccount.create=false"]).unwrap_err();
    assert!(e.contains("serviceAccount.name: with serviceAccount.create=false"), "{e}");

    let kinds = |docs: &[Json]| {
        let kinds = docs.iter().map(|d| d["kind"].as_str().unwrap().to_string());
        kinds.filter(|k| k != "CustomResourceDefinition").collect::<Vec<_>>()
    };
    let docs = render(&[]).unwrap();
    // The chart ships deploy/crds (a symlink): installed by helm when the controller does not
    // apply them.
    let crds: Vec<_> = docs.iter().filter(|d| d["kind"] == json!("CustomResourceDefinition")).collect();
    assert_eq!(crds.len(), 4);
    for c in crds {
        let name = c["spec"]["names"]["plural"].as_str().unwrap();
        let path = format!("{}/../../deploy/crds/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
        let want: Json = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(*c, want);
    }
    assert_eq!(
        kinds(&docs),
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "Service",
            "Deployment"
        ]
    );
    let namespaced = |d: &&Json| {
        !d["kind"].as_str().unwrap().starts_with("Cluster") && d["kind"] != json!("CustomResourceDefinition")
    };
    for d in docs.iter().filter(namespaced) {
        assert_eq!(d["metadata"]["namespace"], json!("kns"), "{d}");
    }
    // Only Kanister's CRDs can be changed; none when the controller does not apply them.
    let role = docs.iter().find(|d| d["kind"] == json!("ClusterRole")).unwrap();
    for rule in role["rules"].as_array().unwrap() {
        if rule["resources"] == json!(["customresourcedefinitions"]) && rule["verbs"] != json!(["create"]) {
            assert_eq!(rule["resourceNames"].as_array().unwrap().len(), 4, "{rule}");
        }
    }
    let docs = render(&["controller.updateCRDs=false", "dataStore.parallelism.upload=4"]).unwrap();
    let role = docs.iter().find(|d| d["kind"] == json!("ClusterRole")).unwrap();
    assert!(!role.to_string().contains("customresourcedefinitions"), "{role}");
    let dep = docs.iter().find(|d| d["kind"] == json!("Deployment")).unwrap();
    assert!(dep.to_string().contains(r#"{"name":"CREATEORUPDATE_CRDS","value":"false"}"#), "{dep}");

    let docs = render(&["rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=mine"]).unwrap();
    assert_eq!(kinds(&docs), ["Service", "Deployment"]);
    let dep = docs.iter().find(|d| d["kind"] == json!("Deployment")).unwrap();
    assert_eq!(dep["spec"]["template"]["spec"]["serviceAccountName"], json!("mine"));

    // Annotations are strings, the user's win over the metrics ones.
    let docs =
        render(&["controller.metrics.enabled=true", "podAnnotations.prometheus\\.io/port=9999", "podAnnotations.a=1"])
            .unwrap();
    let ann = &docs.last().unwrap()["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(ann["prometheus.io/port"], json!("9999"));
    assert_eq!(ann["prometheus.io/scrape"], json!("true"));
    assert_eq!(ann["a"], json!("1"));
}

/// The probes' premise: health answers while the API server does not (yet), so a slow start
/// (connecting, applying the CRDs, reading the password) is never killed by liveness, and
/// readiness says 503 until the controller can work. The "API server" here accepts TCP
/// connections and never answers.
#[test]
fn health_answers_alive_and_not_ready_before_the_api_server_answers() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming().flatten() {
            held.push(c);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'https://127.0.0.1:{api_port}', insecure-skip-tls-verify: true}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(crate::support::CONTROLLER)
        .args(["--namespace", "x", "--health-port", &port.to_string(), "--health-address", "127.0.0.1"])
        .env("KUBECONFIG", &kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the controller");
    let t0 = Instant::now();
    let alive = loop {
        if let Some(r) = crate::support::http_get(port, "/v0/healthz") {
            break r;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no health answer while the API server is silent");
        std::thread::sleep(Duration::from_millis(100));
    };
    let ready = crate::support::http_get(port, "/v0/readyz").unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(alive.starts_with("HTTP/1.1 200") && alive.contains(r#""alive":true"#), "{alive}");
    assert!(ready.starts_with("HTTP/1.1 503") && ready.contains(r#""ready":false"#), "{ready}");
}

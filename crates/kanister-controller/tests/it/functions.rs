//! Each Kanister function this controller runs, on real workloads of the test cluster:
//! KubeExec and KubeExecAll into StatefulSet pods, ScaleWorkload down and back up, PrepareData
//! with the workload's PVCs, MultiContainerRun through a fifo, KubeOps create/patch/delete,
//! Wait and WaitV2 on the workload's status, LocationDelete of what kando pushed.

use crate::support::{Controller, Ns, phase, state};
use kanister::types::State;
use std::time::Duration;

const APP: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 7000}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  labels: {app.kubernetes.io/instance: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: db
        image: busybox
        command: [sh, -c, 'echo "data of $HOSTNAME" > /data/hello.txt; exec sleep infinity']
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;

const FUNCS_BP: &str = r#"
apiVersion: cr.kanister.io/v1alpha1
kind: Blueprint
metadata: {name: funcs}
actions:
  exec:
    phases:
    - func: KubeExec
      name: one
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        pod: '{{ index .StatefulSet.Pods 0 }}'
        container: db
        command: [sh, -c, 'echo "to stderr" >&2; kando output who "$HOSTNAME"; kando output pwlen "${#KANDO_REPOSITORY_PASSWORD}"']
    - func: KubeExecAll
      name: all
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        pods: '{{ range .StatefulSet.Pods }}{{ . }} {{ end }}'
        containers: db
        command: [sh, -c, 'kando output "from_$(echo $HOSTNAME | tr - _)" "$(cat /data/hello.txt)"']
    - func: KubeExec
      name: fails
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        pod: '{{ index .StatefulSet.Pods 1 }}'
        command: [sh, -c, 'echo partial; echo "bad thing" >&2; exit 7']
  scale:
    phases:
    - func: ScaleWorkload
      name: down
      args: {replicas: 0}
    - func: WaitV2
      name: gone
      args:
        timeout: 60s
        conditions:
          allOf:
          - condition: '{{ if eq (int .status.replicas) 0 }}true{{ else }}false{{ end }}'
            objectReference: {apiVersion: v1, group: apps, resource: statefulsets, name: '{{ .StatefulSet.Name }}', namespace: '{{ .StatefulSet.Namespace }}'}
    - func: ScaleWorkload
      name: up
      args: {replicas: '{{ .Phases.down.Output.originalReplicaCount }}'}
    - func: Wait
      name: ready
      args:
        timeout: 60s
        conditions:
          anyOf:
          - condition: '{{ if eq "{ $.status.readyReplicas }" "2" }}true{{ else }}false{{ end }}'
            objectReference: {apiVersion: v1, group: apps, resource: statefulsets, name: '{{ .StatefulSet.Name }}', namespace: '{{ .StatefulSet.Namespace }}'}
  prepare:
    phases:
    - func: PrepareData
      name: read
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        image: busybox
        failOnError: true
        command: [sh, -c, 'kando output file "$(cat /mnt/prepare_data/data-db-0/hello.txt)"']
  mcr:
    phases:
    - func: MultiContainerRun
      name: fifo
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        initImage: busybox
        initCommand: [sh, -c, 'mkfifo /tmp/data']
        backgroundImage: busybox
        backgroundCommand: [sh, -c, 'echo hello-through-the-fifo > /tmp/data']
        outputImage: busybox
        outputCommand: [sh, -c, 'kando output got "$(cat /tmp/data)"']
  kubeops:
    phases:
    - func: KubeOps
      name: create
      args:
        operation: create
        namespace: '{{ .StatefulSet.Namespace }}'
        spec: |-
          apiVersion: v1
          kind: ConfigMap
          metadata:
            generateName: made-by-kubeops-
          data:
            a: "1"
    - func: KubeOps
      name: patch
      args:
        operation: patch
        objectReference:
          apiVersion: '{{ .Phases.create.Output.apiVersion }}'
          group: '{{ .Phases.create.Output.group }}'
          resource: '{{ .Phases.create.Output.resource }}'
          name: '{{ .Phases.create.Output.name }}'
          namespace: '{{ .Phases.create.Output.namespace }}'
        spec: |-
          data:
            b: "2"
    - func: KubeExec
      name: check
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        pod: '{{ index .StatefulSet.Pods 0 }}'
        command: [sh, -c, 'kando output name "{{ .Phases.create.Output.name }}"']
    - func: KubeOps
      name: delete
      args:
        operation: delete
        objectReference:
          apiVersion: v1
          resource: configmaps
          name: '{{ .Phases.create.Output.name }}'
          namespace: '{{ .StatefulSet.Namespace }}'
  location:
    phases:
    - func: KubeTask
      name: push
      args:
        image: tools
        command: [bash, -o, pipefail, -c, "echo stored-bytes | kando location push --profile '{{ toJson .Profile }}' --path funcs/delete-me -"]
    - func: LocationDelete
      name: delete
      args: {artifact: funcs/delete-me}
    - func: KubeTask
      name: check
      args:
        image: tools
        command: [bash, -c, "if kando location pull --profile '{{ toJson .Profile }}' --path funcs/delete-me - ; then exit 1; else kando output gone yes; fi"]
"#;

async fn setup(tag: &str) -> (Ns, Controller) {
    let ns = Ns::new(tag).await;
    ns.secret("repo-password", &[("password", "funcs-password-42")]).await;
    ns.apply(APP).await;
    ns.apply(FUNCS_BP).await;
    let c = Controller::start(&ns, &["--repository-password-secret", "repo-password"]);
    c.ready().await;
    // Both pods of the StatefulSet running.
    let api = ns.api("apps/v1", "StatefulSet", "").await;
    let t0 = std::time::Instant::now();
    loop {
        let s = api.get("db").await.unwrap();
        if s.data.pointer("/status/readyReplicas").and_then(|v| v.as_i64()) == Some(2) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "StatefulSet db not ready: {:?}", s.data.get("status"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (ns, c)
}

async fn run(ns: &Ns, action: &str, profile: Option<&str>) -> kanister::types::ActionSet {
    let profile = profile.map(|p| format!("    profile: {{name: {p}, namespace: {}}}\n", ns.name)).unwrap_or_default();
    let yaml = format!(
        "apiVersion: cr.kanister.io/v1alpha1\nkind: ActionSet\nmetadata: {{generateName: {action}-}}\nspec:\n  actions:\n  - name: {action}\n    blueprint: funcs\n{profile}    object: {{kind: StatefulSet, name: db, namespace: {}}}\n",
        ns.name
    );
    let name = ns.create_actionset(&yaml).await;
    ns.wait_done(&name, Duration::from_secs(120)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn kubeexec_and_kubeexecall_parse_outputs_and_report_failures_as_upstream() {
    let (ns, c) = setup("fn-exec").await;
    let a = run(&ns, "exec", None).await;
    let (st, msg) = state(&a);
    assert_eq!(st, State::Failed, "the last phase exits 7: {}", c.logs());
    assert_eq!(phase(&a, 0, "one").output["who"], "db-0");
    assert_eq!(
        phase(&a, 0, "one").output["pwlen"],
        "funcs-password-42".len().to_string(),
        "the password reached the exec"
    );
    let all = &phase(&a, 0, "all").output;
    assert_eq!(all["from_db_0"], "data of db-0");
    assert_eq!(all["from_db_1"], "data of db-1");
    assert!(msg.starts_with("Failed to exec command in pod: command terminated with exit code 7."), "{msg}");
    assert!(msg.contains("stdout: partial") && msg.contains("stderr: bad thing"), "{msg}");
    assert!(!c.logs().contains("funcs-password-42"));
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn scaleworkload_wait_and_waitv2_scale_down_and_back_up() {
    let (ns, c) = setup("fn-scale").await;
    let a = run(&ns, "scale", None).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    assert_eq!(phase(&a, 0, "down").output["originalReplicaCount"], 2);
    let api = ns.api("apps/v1", "StatefulSet", "").await;
    let s = api.get("db").await.unwrap();
    assert_eq!(s.data.pointer("/spec/replicas").and_then(|v| v.as_i64()), Some(2));
    assert!(
        s.metadata
            .annotations
            .unwrap_or_default()
            .keys()
            .all(|k| !k.starts_with("kanister.kanrepo.io/original-replicas")),
        "the bookkeeping annotation is removed"
    );
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn preparedata_multicontainerrun_and_kubeops() {
    let (ns, c) = setup("fn-pods").await;
    let a = run(&ns, "prepare", None).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    assert_eq!(phase(&a, 0, "read").output["file"], "data of db-0");
    let a = run(&ns, "mcr", None).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    assert_eq!(phase(&a, 0, "fifo").output["got"], "hello-through-the-fifo");
    let a = run(&ns, "kubeops", None).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    let created = &phase(&a, 0, "create").output;
    assert_eq!((created["resource"].as_str(), created["apiVersion"].as_str()), (Some("configmaps"), Some("v1")));
    let name = created["name"].as_str().unwrap();
    assert!(name.starts_with("made-by-kubeops-"));
    assert_eq!(phase(&a, 0, "check").output["name"], name);
    let cms = ns.api("v1", "ConfigMap", "").await;
    assert!(cms.get_opt(name).await.unwrap().is_none(), "KubeOps delete removed it");
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn locationdelete_removes_what_kando_pushed() {
    let (ns, c) = setup("fn-loc").await;
    let profile = ns.s3_profile(&format!("funcs-{}", crate::support::suffix()));
    let a = run(&ns, "location", Some(&profile)).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    assert_eq!(phase(&a, 0, "check").output["gone"], "yes");
    ns.delete().await;
}

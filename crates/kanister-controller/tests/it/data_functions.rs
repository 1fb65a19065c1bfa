//! The restic data functions (BackupData, RestoreData, DeleteData) on the test cluster with
//! restic 0.16.5 (upstream kanister-tools' version, built by scripts/dbtools.sh) against the
//! test MinIO: a StatefulSet's PVC is backed up from its pod, damaged, restored byte for byte
//! from a new pod, and the snapshot deleted with its space reclaimed. The repository is the
//! one upstream would use (the prefix under the profile's bucket, upstream's default
//! password): restic on the host opens it with exactly that, as upstream Kanister would. A
//! restic that prints what it was given shows that credentials and the password are on no
//! command line and in no error, event or log.

use crate::databases::pod_bin_script;
use crate::support::{Controller, Ns, env, phase, state};
use kanister::types::State;
use std::time::Duration;

const APP: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: files}
spec:
  clusterIP: None
  selector: {app: files}
  ports: [{port: 7000}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: files
spec:
  replicas: 1
  serviceName: files
  selector: {matchLabels: {app: files}}
  template:
    metadata: {labels: {app: files}}
    spec:
      containers:
      - name: app
        image: busybox
        command: [sh, -c, 'exec sleep infinity']
        volumeMounts: [{name: data, mountPath: /srv/data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;

const BP: &str = r#"
apiVersion: cr.kanister.io/v1alpha1
kind: Blueprint
metadata: {name: restic-files}
actions:
  backup:
    outputArtifacts:
      files:
        keyValue:
          id: '{{ .Phases.backup.Output.backupID }}'
          tag: '{{ .Phases.backup.Output.backupTag }}'
    phases:
    - func: BackupData
      name: backup
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        pod: '{{ index .StatefulSet.Pods 0 }}'
        container: app
        includePath: /srv/data
        backupArtifactPrefix: 'restic-e2e/{{ .StatefulSet.Namespace }}'
  restore:
    inputArtifactNames: [files]
    phases:
    - func: RestoreData
      name: restore
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        image: ghcr.io/kanisterio/kanister-tools:0.117.0
        pod: '{{ index .StatefulSet.Pods 0 }}'
        backupArtifactPrefix: 'restic-e2e/{{ .StatefulSet.Namespace }}'
        backupIdentifier: '{{ .ArtifactsIn.files.KeyValue.id }}'
  restoreByTag:
    inputArtifactNames: [files]
    phases:
    - func: RestoreData
      name: restore
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        image: ghcr.io/kanisterio/kanister-tools:0.117.0
        volumes: {'data-{{ index .StatefulSet.Pods 0 }}': /restored}
        restorePath: /restored
        backupPath: /srv/data/sub
        backupArtifactPrefix: 'restic-e2e/{{ .StatefulSet.Namespace }}'
        backupTag: '{{ .ArtifactsIn.files.KeyValue.tag }}'
  delete:
    inputArtifactNames: [files]
    phases:
    - func: DeleteData
      name: delete
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        backupArtifactPrefix: 'restic-e2e/{{ .StatefulSet.Namespace }}'
        backupTag: '{{ .ArtifactsIn.files.KeyValue.tag }}'
        reclaimSpace: true
  slowDelete:
    phases:
    - func: DeleteData
      name: delete
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        backupArtifactPrefix: 'slow-probe/{{ .StatefulSet.Namespace }}'
        backupID: deadbeef
  leak:
    phases:
    - func: BackupData
      name: backup
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        pod: '{{ index .StatefulSet.Pods 0 }}'
        container: app
        includePath: /srv/data
        backupArtifactPrefix: 'leak-probe/{{ .StatefulSet.Namespace }}'
        encryptionKey: 'leak-key-{{ .StatefulSet.Namespace }}'
  wrongKey:
    phases:
    - func: BackupData
      name: backup
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        pod: '{{ index .StatefulSet.Pods 0 }}'
        container: app
        includePath: /srv/data
        backupArtifactPrefix: 'restic-e2e/{{ .StatefulSet.Namespace }}'
        encryptionKey: not-the-key
"#;

/// restic on the pods' PATH, as in upstream's kanister-tools image and sidecars. For a
/// repository whose path holds `leak-probe` it is a probe instead: it says whether the S3
/// secret or the password is on the command line of itself or its callers (the exec's
/// command), prints both to stdout and stderr, and fails, so that a test can check that
/// neither reaches a command line, an error, an event or a log. For `slow-probe` it sleeps a
/// minute and fails (a phase to kill the controller in).
fn restic_on_pod_path() {
    let script = format!(
        r#"#!/bin/sh
case "$RESTIC_REPOSITORY" in
*leak-probe*)
  clean=yes; p=$$
  for i in 1 2 3 4 5; do
    [ -r /proc/$p/cmdline ] || break
    for v in "$AWS_SECRET_ACCESS_KEY" "$RESTIC_PASSWORD"; do
      tr '\0' ' ' < /proc/$p/cmdline | grep -qF -- "$v" && clean=no
    done
    p=$(awk '/^PPid:/ {{ print $2 }}' /proc/$p/status)
  done
  echo "cmdline-clean=$clean"
  echo "leak: $AWS_SECRET_ACCESS_KEY $RESTIC_PASSWORD"
  echo "leak: $AWS_SECRET_ACCESS_KEY $RESTIC_PASSWORD" >&2
  exit 1 ;;
*slow-probe*)
  sleep 60; exit 1 ;;
esac
exec '{}' "$@"
"#,
        env("KANREPO_TEST_RESTIC_BIN")
    );
    pod_bin_script("restic", &script);
}

/// restic on the host, on the test MinIO, with upstream's default password.
fn host_restic(repository: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env("KANREPO_TEST_RESTIC_BIN"))
        .args(args)
        .env("RESTIC_REPOSITORY", format!("s3:{}/{repository}", env("KANREPO_TEST_S3_ENDPOINT").trim_end_matches('/')))
        .env("RESTIC_PASSWORD", kanister_controller::restic::DEFAULT_ENCRYPTION_KEY)
        .env("AWS_ACCESS_KEY_ID", env("KANREPO_TEST_S3_ACCESS_KEY"))
        .env("AWS_SECRET_ACCESS_KEY", env("KANREPO_TEST_S3_SECRET_KEY"))
        .output()
        .expect("run restic")
}

/// `sh -c script` in pod `pod` (container app), an exec through the API server; its stdout.
async fn in_pod(ns: &Ns, pod: &str, script: &str) -> String {
    use tokio::io::AsyncReadExt;
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(crate::support::client().await, &ns.name);
    let ap = kube::api::AttachParams::default().container("app").stdout(true).stderr(true);
    let mut p = api.exec(pod, ["sh", "-c", script], &ap).await.expect("exec");
    let (mut out, mut err) = (String::new(), String::new());
    let (mut so, mut se) = (p.stdout().unwrap(), p.stderr().unwrap());
    let status = p.take_status().unwrap();
    let (a, b) = tokio::join!(so.read_to_string(&mut out), se.read_to_string(&mut err));
    a.unwrap();
    b.unwrap();
    let st = status.await.unwrap();
    assert_eq!(st.status.as_deref(), Some("Success"), "{script}: {err} {st:?}");
    out
}

/// An ActionSet running action `name` of blueprint `bp` on the StatefulSet `files`, with
/// `artifacts` (YAML lines, or nothing).
fn actionset_yaml(ns: &Ns, bp: &str, profile: &str, name: &str, artifacts: &str) -> String {
    format!(
        "apiVersion: cr.kanister.io/v1alpha1\nkind: ActionSet\nmetadata: {{generateName: {}-}}\nspec:\n  actions:\n  - name: {name}\n    blueprint: {bp}\n    profile: {{name: {profile}, namespace: {ns}}}\n    object: {{kind: StatefulSet, name: files, namespace: {ns}}}\n{artifacts}",
        name.to_ascii_lowercase(),
        ns = ns.name
    )
}

/// Run that ActionSet to its end.
async fn action_of(ns: &Ns, bp: &str, profile: &str, name: &str, artifacts: &str) -> kanister::types::ActionSet {
    let a = ns.create_actionset(&actionset_yaml(ns, bp, profile, name, artifacts)).await;
    ns.wait_done(&a, Duration::from_secs(180)).await
}

/// An action of `restic-files`, with the artifact `files` (`from`: its keyValue, as YAML).
async fn action(ns: &Ns, profile: &str, name: &str, from: Option<&str>) -> kanister::types::ActionSet {
    let artifacts = from.map(|b| format!("    artifacts:\n      files:\n        keyValue: {b}\n")).unwrap_or_default();
    action_of(ns, "restic-files", profile, name, &artifacts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn backupdata_restoredata_deletedata_round_trip_through_restic_on_s3() {
    // restic on the pods' PATH, as in upstream's kanister-tools image and sidecars.
    restic_on_pod_path();
    let ns = Ns::new("restic").await;
    ns.apply(APP).await;
    ns.apply(BP).await;
    crate::databases::wait_ready(&ns, "StatefulSet", "files", 1, Duration::from_secs(90)).await;
    let profile = ns.s3_profile("ignored-by-restic");
    let c = Controller::start(&ns, &[]);
    c.ready().await;

    // Files of several sizes (one empty, one of 3 MB random), names with spaces.
    in_pod(
        &ns,
        "files-0",
        "mkdir -p '/srv/data/sub/a dir' && head -c 3000000 /dev/urandom > /srv/data/big.bin && \
         echo hello > '/srv/data/sub/a dir/hello.txt' && : > /srv/data/sub/empty && \
         seq 1 20000 > /srv/data/sub/numbers",
    )
    .await;
    let sums = async |dir: &str| {
        in_pod(&ns, "files-0", &format!("cd {dir} && find . -type f | sort | while read -r f; do md5sum \"$f\"; done"))
            .await
    };
    let before = sums("/srv/data").await;
    assert_eq!(before.lines().count(), 4, "{before}");

    let a = action(&ns, &profile, "backup", None).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    let out = &phase(&a, 0, "backup").output;
    let (id, tag) = (out["backupID"].as_str().unwrap().to_string(), out["backupTag"].as_str().unwrap().to_string());
    assert_eq!(id.len(), 8, "restic's short id: {out:?}");
    assert_eq!(tag.len(), 10, "{out:?}");
    assert_eq!(out["fileCount"], "4", "{out:?}");
    assert!(out["size"].as_str().unwrap().ends_with(" MiB"), "{out:?}");
    assert!(!out["phySize"].as_str().unwrap().is_empty(), "{out:?}");
    assert_eq!(out["version"], "v0.0.0");

    // Upstream's tools open this repository: the prefix under the bucket, the default password.
    let repository = format!("{}/restic-e2e/{}", env("KANREPO_TEST_S3_BUCKET"), ns.name);
    let listed = host_restic(&repository, &["snapshots", "--json"]);
    let listed_out = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(listed_out.contains(&format!("\"short_id\":\"{id}\"")) && listed_out.contains(&tag), "{listed_out}");

    // Damage the volume, then restore by id into the PVCs of the pod, at the pod's paths.
    in_pod(&ns, "files-0", "rm -rf /srv/data/sub && head -c 1000 /dev/zero > /srv/data/big.bin").await;
    assert_ne!(sums("/srv/data").await, before);
    let keyvalue = format!("{{id: '{id}', tag: '{tag}'}}");
    let a = action(&ns, &profile, "restore", Some(&keyvalue)).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    assert_eq!(sums("/srv/data").await, before, "restored byte for byte");

    // By tag, one path of the snapshot (`latest:/srv/data/sub`: its contents), into `volumes`
    // at another mount path: the files land at the root of the PVC.
    let a = action(&ns, &profile, "restoreByTag", Some(&keyvalue)).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    let want: String =
        before.lines().filter_map(|l| l.split_once("  ./sub/").map(|(sum, f)| format!("{sum}  ./{f}\n"))).collect();
    let got: String = sums("/srv/data")
        .await
        .lines()
        .filter(|l| !l.contains("./sub/") && !l.contains("./big.bin"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(got, want, "the subtree's files, byte for byte, at the PVC's root");

    // A key that does not open the repository: a clear failure, nothing initialised over it.
    let a = action(&ns, &profile, "wrongKey", None).await;
    let (st, msg) = state(&a);
    assert_eq!(st, State::Failed);
    assert!(msg.contains("Password is incorrect") && msg.contains("wrong password"), "{msg}");

    // A restic that prints the secrets it was given and fails (see restic_on_pod_path): they
    // were on no command line, and are in no error, event or log.
    let a = action(&ns, &profile, "leak", None).await;
    let (st, msg) = state(&a);
    assert_eq!(st, State::Failed);
    assert!(msg.contains("cmdline-clean=yes") && msg.contains("leak: <redacted> <redacted>"), "{msg}");
    let leak_key = format!("leak-key-{}", ns.name);
    let events = format!("{:?}", ns.events_of(a.metadata.name.as_deref().unwrap()).await);
    for secret in [env("KANREPO_TEST_S3_SECRET_KEY"), leak_key.clone()] {
        assert!(!msg.contains(&secret) && !events.contains(&secret), "{msg}\n{events}");
        assert!(!c.logs().contains(&secret), "a secret in the controller's log");
    }
    assert!(events.contains("<redacted>"), "the failure event carries the scrubbed error: {events}");

    // Delete by tag, reclaiming space: the snapshot is gone, and prune's bytes are reported.
    let a = action(&ns, &profile, "delete", Some(&keyvalue)).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    let freed = phase(&a, 0, "delete").output["spaceFreed"].as_str().unwrap().to_string();
    let bytes: u64 = freed.strip_suffix(" B").unwrap().parse().unwrap();
    assert!(bytes > 2_000_000, "the 3 MB of random data were freed: {freed}");
    let listed = host_restic(&repository, &["snapshots", "--json"]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "[]");

    // Nothing of the default key or the S3 secret in the controller's log.
    let logs = c.logs();
    for secret in [env("KANREPO_TEST_S3_SECRET_KEY"), kanister_controller::restic::DEFAULT_ENCRYPTION_KEY.to_string()] {
        assert!(!logs.contains(&secret), "a secret in the controller's log");
    }
    // Every function pod is gone (upstream deletes them when the function returns).
    let t0 = std::time::Instant::now();
    loop {
        let left: Vec<String> =
            ns.pods("").await.into_iter().filter_map(|p| p.metadata.name).filter(|n| n != "files-0").collect();
        if left.is_empty() {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "function pods left: {left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(c);
    ns.delete().await;
}

const BP_MORE: &str = r#"
apiVersion: cr.kanister.io/v1alpha1
kind: Blueprint
metadata: {name: restic-more}
actions:
  copy:
    phases:
    - func: CopyVolumeData
      name: copy
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        volume: 'data-{{ index .StatefulSet.Pods 0 }}'
        dataArtifactPrefix: 'restic-copy/{{ .StatefulSet.Namespace }}'
    - func: BackupDataStats
      name: stats
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        backupArtifactPrefix: '{{ .Phases.copy.Output.backupArtifactLocation }}'
        backupID: '{{ .Phases.copy.Output.backupID }}'
    - func: BackupDataStats
      name: raw
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        backupArtifactPrefix: '{{ .Phases.copy.Output.backupArtifactLocation }}'
        backupID: '{{ .Phases.copy.Output.backupID }}'
        statsMode: raw-data
    - func: CheckRepository
      name: ok
      args:
        backupArtifactPrefix: '{{ .Phases.copy.Output.backupArtifactLocation }}'
    - func: CheckRepository
      name: wrong
      args:
        backupArtifactPrefix: '{{ .Phases.copy.Output.backupArtifactLocation }}'
        encryptionKey: another-key
    - func: CheckRepository
      name: missing
      args:
        backupArtifactPrefix: 'nothing-here/{{ .StatefulSet.Namespace }}'
  restoreCopy:
    inputArtifactNames: [copy]
    phases:
    - func: RestoreData
      name: restore
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        image: ghcr.io/kanisterio/kanister-tools:0.117.0
        volumes: {'data-{{ index .StatefulSet.Pods 0 }}': '{{ .ArtifactsIn.copy.KeyValue.root }}'}
        backupArtifactPrefix: '{{ .ArtifactsIn.copy.KeyValue.location }}'
        backupIdentifier: '{{ .ArtifactsIn.copy.KeyValue.id }}'
  backupAll:
    phases:
    - func: BackupDataAll
      name: all
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        container: app
        includePath: /srv/data
        backupArtifactPrefix: 'restic-all/{{ .StatefulSet.Namespace }}'
  restoreAll:
    inputArtifactNames: [all]
    phases:
    - func: RestoreDataAll
      name: all
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        image: ghcr.io/kanisterio/kanister-tools:0.117.0
        backupArtifactPrefix: 'restic-all/{{ .StatefulSet.Namespace }}'
        backupInfo: '{{ .ArtifactsIn.all.KeyValue.info }}'
  deleteAll:
    inputArtifactNames: [all]
    phases:
    - func: DeleteDataAll
      name: all
      args:
        namespace: '{{ .StatefulSet.Namespace }}'
        backupArtifactPrefix: 'restic-all/{{ .StatefulSet.Namespace }}'
        backupInfo: '{{ .ArtifactsIn.all.KeyValue.info }}'
        reclaimSpace: true
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn copyvolumedata_stats_checkrepository_and_the_all_functions_on_two_pods() {
    restic_on_pod_path();
    let ns = Ns::new("restic-more").await;
    ns.apply(&APP.replace("replicas: 1", "replicas: 2")).await;
    ns.apply(BP_MORE).await;
    crate::databases::wait_ready(&ns, "StatefulSet", "files", 2, Duration::from_secs(90)).await;
    let profile = ns.s3_profile("ignored-by-restic");
    let c = Controller::start(&ns, &[]);
    c.ready().await;
    let sums = async |pod: &str| {
        in_pod(&ns, pod, "cd /srv/data && find . -type f | sort | while read -r f; do md5sum \"$f\"; done").await
    };
    for pod in ["files-0", "files-1"] {
        in_pod(
            &ns,
            pod,
            "mkdir -p /srv/data/d && head -c 2000000 /dev/urandom > /srv/data/d/r.bin && hostname > /srv/data/who",
        )
        .await;
    }
    let before = [sums("files-0").await, sums("files-1").await];
    assert_ne!(before[0], before[1]);

    // CopyVolumeData of files-0's PVC, its stats, and CheckRepository's three answers.
    let a = action_of(&ns, "restic-more", &profile, "copy", "").await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    let copy = phase(&a, 0, "copy").output.clone();
    let repository = format!("{}/restic-copy/{}", env("KANREPO_TEST_S3_BUCKET"), ns.name);
    assert_eq!(copy["backupArtifactLocation"], repository.as_str(), "{copy:?}");
    assert_eq!(copy["backupRoot"], "/mnt/vol_data/data-files-0");
    assert_eq!(copy["fileCount"], "2", "{copy:?}");
    let stats = &phase(&a, 0, "stats").output;
    assert_eq!(
        (stats["mode"].as_str(), stats["version"].as_str()),
        (Some("restore-size"), Some("v0.0.0")),
        "{stats:?}"
    );
    assert!(stats["size"].as_str().unwrap().ends_with("MiB"), "{stats:?}");
    assert!(stats["fileCount"].as_str().unwrap().parse::<u32>().unwrap() >= 2, "{stats:?}");
    assert_eq!(phase(&a, 0, "raw").output["mode"], "raw-data");
    let check = |p: &str| {
        let o = &phase(&a, 0, p).output;
        (o["passwordIncorrect"].as_str().unwrap().to_string(), o["repoUnavailable"].as_str().unwrap().to_string())
    };
    assert_eq!(check("ok"), ("false".into(), "false".into()));
    assert_eq!(check("wrong"), ("true".into(), "false".into()));
    assert_eq!(check("missing"), ("false".into(), "true".into()));
    let listed = host_restic(&repository, &["snapshots", "--json"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(copy["backupID"].as_str().unwrap()),
        "upstream's tools open it"
    );

    // Damage files-0's volume; RestoreData from what CopyVolumeData reported puts it back.
    in_pod(&ns, "files-0", "rm -rf /srv/data/d && echo changed > /srv/data/who").await;
    let kv = format!(
        "    artifacts:\n      copy:\n        keyValue: {{id: '{}', location: '{}', root: '{}'}}\n",
        copy["backupID"].as_str().unwrap(),
        copy["backupArtifactLocation"].as_str().unwrap(),
        copy["backupRoot"].as_str().unwrap()
    );
    let a = action_of(&ns, "restic-more", &profile, "restoreCopy", &kv).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    assert_eq!(sums("files-0").await, before[0], "restored byte for byte");

    // BackupDataAll of both pods, each into <prefix>/<pod>; damage both; RestoreDataAll.
    let a = action_of(&ns, "restic-more", &profile, "backupAll", "").await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    let info = phase(&a, 0, "all").output["BackupAllInfo"].as_str().unwrap().to_string();
    let parsed: serde_json::Value = serde_json::from_str(&info).unwrap();
    for pod in ["files-0", "files-1"] {
        assert_eq!(parsed[pod]["PodName"], pod, "{info}");
        let id = parsed[pod]["BackupID"].as_str().unwrap();
        let r = host_restic(
            &format!("{}/restic-all/{}/{pod}", env("KANREPO_TEST_S3_BUCKET"), ns.name),
            &["snapshots", "--json"],
        );
        assert!(String::from_utf8_lossy(&r.stdout).contains(id), "{pod}'s own repository holds its backup");
        in_pod(&ns, pod, "rm -rf /srv/data/d /srv/data/who").await;
    }
    let kv = format!("    artifacts:\n      all:\n        keyValue: {{info: '{info}'}}\n");
    let a = action_of(&ns, "restic-more", &profile, "restoreAll", &kv).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    assert_eq!([sums("files-0").await, sums("files-1").await], before, "each pod's own data back, byte for byte");

    // DeleteDataAll forgets both and prunes: the random data's space comes back.
    let a = action_of(&ns, "restic-more", &profile, "deleteAll", &kv).await;
    assert_eq!(state(&a).0, State::Complete, "{}\n{}", state(&a).1, c.logs());
    let freed = phase(&a, 0, "all").output["spaceFreed"].as_str().unwrap().to_string();
    assert!(freed.strip_suffix(" B").unwrap().parse::<u64>().unwrap() > 3_500_000, "{freed}");
    for pod in ["files-0", "files-1"] {
        let r = host_restic(
            &format!("{}/restic-all/{}/{pod}", env("KANREPO_TEST_S3_BUCKET"), ns.name),
            &["snapshots", "--json"],
        );
        assert_eq!(String::from_utf8_lossy(&r.stdout).trim(), "[]");
    }
    assert!(!c.logs().contains(&env("KANREPO_TEST_S3_SECRET_KEY")));
    drop(c);
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn a_controller_killed_during_deletedata_fails_the_phase_and_deletes_its_idle_pod() {
    restic_on_pod_path();
    let ns = Ns::new("restic-kill").await;
    ns.apply(APP).await;
    ns.apply(BP).await;
    let profile = ns.s3_profile("ignored-by-restic");
    let mut c = Controller::start(&ns, &[]);
    c.ready().await;
    let name = ns.create_actionset(&actionset_yaml(&ns, "restic-files", &profile, "slowDelete", "")).await;
    // The idle pod is up and restic (sleeping) runs in it: kill the controller.
    let t0 = std::time::Instant::now();
    let running =
        |p: &k8s_openapi::api::core::v1::Pod| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    while !ns.pods("createdBy=kanister").await.iter().any(running) {
        assert!(t0.elapsed() < Duration::from_secs(60), "DeleteData's pod never ran: {}", c.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.kill9();
    assert_eq!(ns.pods("createdBy=kanister").await.len(), 1, "the idle pod outlives the controller");
    c.restart();
    let a = ns.wait_done(&name, Duration::from_secs(90)).await;
    let (st, msg) = state(&a);
    assert_eq!(st, State::Failed);
    assert!(msg.contains("cannot be resumed safely"), "{msg}");
    let t0 = std::time::Instant::now();
    while !ns.pods("createdBy=kanister").await.is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(30), "the idle pod was left: {}", c.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(c);
    ns.delete().await;
}

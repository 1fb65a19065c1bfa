//! The ActionSet lifecycle on the test control plane (kanister-spec §7 and what we add):
//! phases in order, outputs, artifacts, events, failures with the pod's error, missing
//! objects, unsupported functions, deletion, timeouts, a controller killed mid-phase,
//! progress from kando, metrics, secrets kept out of everything observable.

use crate::support::{Controller, Ns, phase};
use kanister::types::State;
use std::time::Duration;

const IGNORE: &str = "needs the test cluster: scripts/test.sh starts it";
const PASSWORD: &str = "rEpo-pAss-0123456789-zz";

fn actionset(action: &str, blueprint: &str, ns: &str, extra: &str) -> String {
    format!(
        "apiVersion: cr.kanister.io/v1alpha1\nkind: ActionSet\nmetadata:\n  generateName: {action}-\n{extra}spec:\n  actions:\n  - name: {action}\n    blueprint: {blueprint}\n    object: {{kind: Namespace, name: {ns}, namespace: {ns}}}\n"
    )
}

const DEMO_BP: &str = r#"
apiVersion: cr.kanister.io/v1alpha1
kind: Blueprint
metadata: {name: demo}
actions:
  backup:
    outputArtifacts:
      out:
        keyValue:
          greeting: "{{ .Phases.hello.Output.greeting }}"
          echoed: "{{ .Phases.second.Output.echoed }}"
          cleaned: "{{ .DeferPhase.Output.cleaned }}"
    phases:
    - func: KubeTask
      name: hello
      args:
        image: busybox
        command: [sh, -c, 'echo working; kando output greeting "hello-$((1+2))"; kando output pwlen "${#KANDO_REPOSITORY_PASSWORD}"']
    - func: KubeTask
      name: second
      args:
        image: busybox
        command: [sh, -c, 'echo "got {{ .Phases.hello.Output.greeting }}"; kando output echoed "{{ .Phases.hello.Output.greeting }}!"']
    deferPhase:
      func: KubeTask
      name: cleanup
      args:
        image: busybox
        command: [sh, -c, 'kando output cleaned yes']
  fail:
    phases:
    - func: KubeTask
      name: dump
      args:
        image: busybox
        command: [sh, -c, 'echo line one; echo "pg_dump: error: connection refused" >&2; exit 3']
    - func: KubeTask
      name: never
      args: {image: busybox, command: [sh, -c, 'echo never']}
    deferPhase:
      func: KubeTask
      name: cleanup
      args: {image: busybox, command: [sh, -c, 'echo cleanup ran']}
  slow:
    phases:
    - func: KubeTask
      name: wait
      args: {image: busybox, command: [sh, -c, 'sleep 4; kando output done yes']}
  forever:
    phases:
    - func: KubeTask
      name: sleep
      args: {image: busybox, command: [sh, -c, 'sleep 300']}
    deferPhase:
      func: KubeTask
      name: cleanup
      args: {image: busybox, command: [sh, -c, 'kando output cleaned yes']}
  unsupported:
    phases:
    - func: KubeTask
      name: first
      args: {image: busybox, command: [sh, -c, 'echo should not run']}
    - func: CreateCSISnapshot
      name: snap
      args: {pvc: p, namespace: x, snapshotClass: c}
  badarg:
    phases:
    - func: KubeTask
      name: typo
      args: {image: busybox, command: [sh, -c, 'true'], nope: 1}
"#;

async fn setup(tag: &str) -> (Ns, Controller) {
    let ns = Ns::new(tag).await;
    ns.secret("repo-password", &[("password", PASSWORD)]).await;
    ns.apply(DEMO_BP).await;
    let c = Controller::start(&ns, &["--repository-password-secret", "repo-password"]);
    c.ready().await;
    (ns, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn phases_run_in_order_with_outputs_artifacts_events_and_no_secret_anywhere() {
    let _ = IGNORE;
    let (ns, c) = setup("life-ok").await;
    let name = ns.create_actionset(&actionset("backup", "demo", &ns.name, "")).await;
    let a = ns.wait_done(&name, Duration::from_secs(60)).await;
    let s = a.status.as_ref().unwrap();
    assert_eq!(s.state, State::Complete, "{}\n{}", s.error.message, c.logs());
    assert_eq!(phase(&a, 0, "hello").output["greeting"], "hello-3");
    // The repository password reached kando's environment (its length, not its value).
    assert_eq!(phase(&a, 0, "hello").output["pwlen"], PASSWORD.len().to_string());
    assert_eq!(phase(&a, 0, "second").output["echoed"], "hello-3!");
    let art = &s.actions[0].artifacts["out"].key_value;
    assert_eq!(
        (art["greeting"].as_str(), art["echoed"].as_str(), art["cleaned"].as_str()),
        ("hello-3", "hello-3!", "yes")
    );
    assert_eq!(s.actions[0].defer_phase.state, State::Complete);
    assert_eq!(s.progress.percent_completed, "100");
    assert!(s.progress.running_phase.is_empty());
    // Function pods are deleted when their phase ends.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let uid = a.metadata.uid.clone().unwrap();
    assert!(
        ns.pods(&format!("kanister.kanrepo.io/actionset-uid={uid}"))
            .await
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_some())
    );
    // Upstream's event reasons, in order.
    let reasons: Vec<String> = ns.events_of(&name).await.into_iter().map(|e| e.1).collect();
    for r in
        ["Started Action", "Started Phase", "Ended Phase", "Started deferPhase", "Ended deferPhase", "Update Complete"]
    {
        assert!(reasons.iter().any(|x| x == r), "missing event {r}: {reasons:?}");
    }
    // The password is nowhere: status, events, controller log, function pod specs.
    let json = serde_json::to_string(&a).unwrap();
    let events = format!("{:?}", ns.events_of(&name).await);
    for (what, text) in [("status", json), ("events", events), ("controller log", c.logs())] {
        assert!(!text.contains(PASSWORD), "the password leaked into the {what}");
    }
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn a_failing_phase_fails_the_actionset_with_the_pods_error_and_the_defer_phase_runs() {
    let (ns, c) = setup("life-fail").await;
    let name = ns.create_actionset(&actionset("fail", "demo", &ns.name, "")).await;
    // The ActionSet is failed as soon as the phase is; the deferPhase runs after that.
    let a = ns
        .wait_for(&name, Duration::from_secs(60), |a| {
            a.status.as_ref().is_some_and(|s| {
                s.state == State::Failed
                    && s.actions[0].defer_phase.state != State::Running
                    && s.actions[0].defer_phase.state != State::Pending
            })
        })
        .await;
    let s = a.status.as_ref().unwrap();
    assert_eq!(s.state, State::Failed, "{}", c.logs());
    let m = &s.error.message;
    assert!(
        m.contains("Failed while waiting for Pod to complete: Pod failed or did not transition into complete state"),
        "{m}"
    );
    assert!(m.contains("pg_dump: error: connection refused"), "the pod's own error text: {m}");
    assert!(m.contains("exited with code 3"), "{m}");
    assert_eq!(phase(&a, 0, "dump").state, State::Failed);
    assert_eq!(phase(&a, 0, "never").state, State::Pending);
    assert_eq!(phase(&a, 0, "cleanup").state, State::Complete);
    let ev = ns.events_of(&name).await;
    assert!(
        ev.iter()
            .any(|e| e.0 == "Warning" && e.1 == "ActionSetFailed Action: fail" && e.2.contains("connection refused")),
        "{ev:?}"
    );
    let line = "kanister_action_set_resolutions_total{resolution=\"failure\"} 1";
    let m = c.metrics_with(&[line]).await;
    assert!(m.contains(line), "{m}");
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn missing_blueprint_action_profile_and_bad_args_fail_with_upstreams_errors() {
    let (ns, _c) = setup("life-missing").await;
    let cases: Vec<(String, &str)> = vec![
        (actionset("backup", "no-such-bp", &ns.name, ""), "Failed to query blueprint: "),
        (
            actionset("restore", "demo", &ns.name, ""),
            "Action restore for object kind Namespace not found in blueprint demo",
        ),
        (
            actionset("backup", "demo", &ns.name, "")
                .replace("    object:", "    profile: {name: no-such-profile, namespace: NS}\n    object:")
                .replace("NS", &ns.name),
            "no-such-profile",
        ),
        (
            actionset("badarg", "demo", &ns.name, ""),
            "Checking supported args for function KubeTask.: argument nope is not supported",
        ),
    ];
    for (yaml, want) in cases {
        let name = ns.create_actionset(&yaml).await;
        let a = ns.wait_done(&name, Duration::from_secs(30)).await;
        let s = a.status.as_ref().unwrap();
        assert_eq!(s.state, State::Failed);
        assert!(s.error.message.contains(want), "want {want:?}, got {:?}", s.error.message);
    }
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn unsupported_functions_fail_before_any_phase_runs() {
    let (ns, _c) = setup("life-unsup").await;
    let name = ns.create_actionset(&actionset("unsupported", "demo", &ns.name, "")).await;
    let a = ns.wait_done(&name, Duration::from_secs(30)).await;
    let s = a.status.as_ref().unwrap();
    assert_eq!(s.state, State::Failed);
    assert!(s.error.message.contains("Kanister function CreateCSISnapshot is not supported"), "{}", s.error.message);
    let uid = a.metadata.uid.clone().unwrap();
    assert!(ns.pods(&format!("kanister.kanrepo.io/actionset-uid={uid}")).await.is_empty(), "a phase ran");
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn deleting_an_actionset_cancels_it_and_removes_its_pods() {
    let (ns, _c) = setup("life-del").await;
    let name = ns.create_actionset(&actionset("forever", "demo", &ns.name, "")).await;
    let a = ns
        .wait_for(&name, Duration::from_secs(30), |a| {
            a.status.as_ref().is_some_and(|s| s.actions[0].phases[0].state == State::Running)
        })
        .await;
    let sel = format!("kanister.kanrepo.io/actionset-uid={}", a.metadata.uid.unwrap());
    let t0 = std::time::Instant::now();
    while ns.pods(&sel).await.is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no pod started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ns.actionsets().delete(&name, &Default::default()).await.unwrap();
    let t0 = std::time::Instant::now();
    while !ns.pods(&sel).await.is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(20), "the pods of a deleted ActionSet are still there");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn an_action_timeout_fails_the_action_and_the_defer_phase_still_runs() {
    let (ns, _c) = setup("life-timeout").await;
    let extra = "  annotations: {kanister.kanrepo.io/action-timeout: 3s}\n";
    let name = ns.create_actionset(&actionset("forever", "demo", &ns.name, extra)).await;
    let t0 = std::time::Instant::now();
    let a = ns
        .wait_for(&name, Duration::from_secs(60), |a| {
            a.status
                .as_ref()
                .is_some_and(|s| s.state == State::Failed && s.actions[0].defer_phase.state == State::Complete)
        })
        .await;
    let s = a.status.as_ref().unwrap();
    assert_eq!(s.state, State::Failed);
    assert!(s.error.message.contains("action forever timed out after 3s"), "{}", s.error.message);
    assert_eq!(phase(&a, 0, "cleanup").state, State::Complete);
    assert!(t0.elapsed() < Duration::from_secs(30));
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn a_controller_killed_mid_phase_resumes_the_actionset_after_restart() {
    let (ns, mut c) = setup("life-resume").await;
    let name = ns.create_actionset(&actionset("slow", "demo", &ns.name, "")).await;
    let a = ns
        .wait_for(&name, Duration::from_secs(30), |a| {
            a.status.as_ref().is_some_and(|s| s.actions[0].phases[0].state == State::Running)
        })
        .await;
    let sel = format!("kanister.kanrepo.io/actionset-uid={}", a.metadata.uid.clone().unwrap());
    let t0 = std::time::Instant::now();
    while ns.pods(&sel).await.is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no pod started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.kill9();
    // Upstream would leave it `running` forever; ours comes back and finishes it.
    c.restart();
    let a = ns.wait_done(&name, Duration::from_secs(60)).await;
    let s = a.status.as_ref().unwrap();
    assert_eq!(s.state, State::Complete, "{}\n{}", s.error.message, c.logs());
    assert_eq!(phase(&a, 0, "wait").output["done"], "yes");
    assert!(c.logs().contains("re-attached to the pod of a resumed phase"), "{}", c.logs());
    assert!(ns.events_of(&name).await.iter().any(|e| e.1 == "Resumed"));
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn two_replicas_run_each_actionset_once_and_the_second_takes_over() {
    let (ns, mut first) = setup("life-ha").await;
    let second = Controller::start(&ns, &["--repository-password-secret", "repo-password"]);
    second.ready().await;
    let name = ns.create_actionset(&actionset("slow", "demo", &ns.name, "")).await;
    let a = ns
        .wait_for(&name, Duration::from_secs(30), |a| {
            a.status.as_ref().is_some_and(|s| s.actions[0].phases[0].state == State::Running)
        })
        .await;
    let sel = format!("kanister.kanrepo.io/actionset-uid={}", a.metadata.uid.clone().unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ns.pods(&sel).await.len(), 1, "exactly one replica runs the phase");
    // Which one leads? Kill it; the other takes the lease over and finishes the ActionSet.
    let first_leads = first.metrics().contains("kanister_controller_leader 1");
    let mut second = second;
    let (leader, follower) = if first_leads { (&mut first, &second) } else { (&mut second, &first) };
    leader.kill9();
    let a = ns.wait_done(&name, Duration::from_secs(60)).await;
    assert_eq!(a.status.as_ref().unwrap().state, State::Complete, "{}", follower.logs());
    assert!(follower.metrics().contains("kanister_controller_leader 1"));
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test.sh starts it"]
async fn progress_shows_the_bytes_kando_moves_while_the_phase_runs() {
    let (ns, c) = setup("life-progress").await;
    let profile = ns.s3_profile(&format!("progress-{}", crate::support::suffix()));
    ns.apply(
        r#"
apiVersion: cr.kanister.io/v1alpha1
kind: Blueprint
metadata: {name: progress}
actions:
  backup:
    phases:
    - func: KubeTask
      name: push
      args:
        image: kanister-tools
        command:
        - bash
        - -o
        - errexit
        - -o
        - pipefail
        - -c
        - |
          export KANDO_PROGRESS_INTERVAL=0.2
          for i in $(seq 1 10); do head -c 1000000 /dev/urandom; sleep 0.4; done | kando location push --profile '{{ toJson .Profile }}' --path progress/stream -
"#,
    )
    .await;
    let yaml = actionset("backup", "progress", &ns.name, "")
        .replace("    object:", &format!("    profile: {{name: {profile}, namespace: {}}}\n    object:", ns.name));
    let name = ns.create_actionset(&yaml).await;
    // While it runs, the phase and the ActionSet show bytes uploaded (upstream: always 0).
    let running = ns
        .wait_for(&name, Duration::from_secs(60), |a| {
            a.status
                .as_ref()
                .is_some_and(|s| s.state == State::Running && s.actions[0].phases[0].progress.size_uploaded_b > 0)
        })
        .await;
    let live = running.status.as_ref().unwrap().progress.size_uploaded_b;
    assert!(live > 0 && live < 10_000_000, "live {live}");
    let a = ns.wait_done(&name, Duration::from_secs(60)).await;
    let s = a.status.as_ref().unwrap();
    assert_eq!(s.state, State::Complete, "{}\n{}", s.error.message, c.logs());
    assert_eq!(s.actions[0].phases[0].progress.size_uploaded_b, 10_000_000);
    assert_eq!(s.progress.size_uploaded_b, 10_000_000);
    assert_eq!(s.actions[0].phases[0].progress.progress_percent, "100");
    let lines =
        ["kanister_bytes_uploaded_total 10000000", "kanister_phases_total{function=\"KubeTask\",result=\"success\"} 1"];
    let m = c.metrics_with(&lines).await;
    for l in lines {
        assert!(m.contains(l), "{m}");
    }
    ns.delete().await;
}

use super::*;
use kanister::types::{ActionSetSpec, ObjectReference};
use kanister::validate::validate_actionset;
use serde_json::json;

fn blueprint() -> Blueprint {
    kanister::load::blueprint(
        r#"
apiVersion: cr.kanister.io/v1alpha1
kind: Blueprint
metadata: {name: bp}
actions:
  backup:
    outputArtifacts:
      cloudObject:
        keyValue: {path: "{{ .Phases.dump.Output.path }}"}
    phases:
    - {func: KubeTask, name: dump, args: {image: x, command: [sh, -c, "true"]}}
    - {func: KubeTask, name: check, args: {image: x, command: [sh, -c, "true"]}}
    deferPhase: {func: KubeTask, name: cleanup, args: {image: x, command: [sh, -c, "true"]}}
"#,
    )
    .unwrap()
}

fn actionset(actions: &[(&str, &str)]) -> ActionSet {
    ActionSet {
        metadata: serde_json::from_value(json!({"name": "as", "namespace": "ns"})).unwrap(),
        spec: Some(ActionSetSpec {
            actions: actions
                .iter()
                .map(|(name, bp)| ActionSpec {
                    name: name.to_string(),
                    blueprint: bp.to_string(),
                    object: ObjectReference { kind: "StatefulSet".into(), name: "db".into(), ..Default::default() },
                    ..Default::default()
                })
                .collect(),
        }),
        ..ActionSet::default()
    }
}

fn lookup(name: &str) -> Result<Blueprint, String> {
    if name == "bp" { Ok(blueprint()) } else { Err(format!("blueprints.cr.kanister.io \"{name}\" not found")) }
}

#[test]
fn next_step_runs_new_and_pending_resumes_running_and_skips_the_rest() {
    let mut a = actionset(&[("backup", "bp")]);
    assert_eq!(next_step(&a, None), Step::Run);
    a.status = Some(initial_status(&a, lookup).unwrap());
    assert_eq!(next_step(&a, None), Step::Run);
    assert_eq!(next_step(&a, Some(Seen::Running)), Step::Ignore);
    a.status.as_mut().unwrap().state = State::Running;
    assert_eq!(next_step(&a, None), Step::Resume);
    assert_eq!(next_step(&a, Some(Seen::Done)), Step::Ignore);
    for s in [State::Complete, State::Failed] {
        a.status.as_mut().unwrap().state = s;
        assert_eq!(next_step(&a, None), Step::Done);
    }
}

#[test]
fn initial_status_is_upstreams() {
    let a = actionset(&[("backup", "bp"), ("backup", "bp")]);
    let s = initial_status(&a, lookup).unwrap();
    assert_eq!(s.state, State::Pending);
    assert_eq!(s.actions.len(), 2);
    let st = &s.actions[0];
    assert_eq!(st.phases.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["dump", "check"]);
    assert!(st.phases.iter().all(|p| p.state == State::Pending));
    assert_eq!((st.defer_phase.name.as_str(), &st.defer_phase.state), ("cleanup", &State::Pending));
    assert_eq!(st.artifacts["cloudObject"].key_value["path"], "{{ .Phases.dump.Output.path }}");
    let mut full = a.clone();
    full.status = Some(s);
    validate_actionset(&full).unwrap();
}

#[test]
fn initial_status_errors_name_what_is_missing() {
    let e = initial_status(&actionset(&[("backup", "")]), lookup).unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.reason.as_str()),
        ("Blueprint is not specified for action", "Blueprint not specified")
    );
    let e = initial_status(&actionset(&[("backup", "nope")]), lookup).unwrap_err();
    assert_eq!(e.message, "Failed to query blueprint: blueprints.cr.kanister.io \"nope\" not found");
    let e = initial_status(&actionset(&[("restore", "bp")]), lookup).unwrap_err();
    assert_eq!(e.message, "Action restore for object kind StatefulSet not found in blueprint bp");
    assert_eq!(e.reason, "ActionSetFailed Action: restore");
    let f = failed_status(&e);
    assert_eq!((f.state, f.error.message.as_str()), (State::Failed, e.message.as_str()));
}

fn with(a: &mut ActionSet, f: impl FnOnce(&mut ActionSetStatus)) {
    f(a.status.as_mut().unwrap());
    validate_actionset(a).unwrap();
}

#[test]
fn a_successful_run_passes_upstreams_status_checks_at_every_step() {
    let mut a = actionset(&[("backup", "bp"), ("backup", "bp")]);
    a.status = Some(initial_status(&a, lookup).unwrap());
    with(&mut a, |s| s.state = State::Running);
    for action in 0..2 {
        for i in 0..2 {
            with(&mut a, |s| {
                phase_running(s, action, PhaseRef::Main(i));
                assert_eq!(s.progress.running_phase, ["dump", "check"][i]);
            });
            let out = BTreeMap::from([("path".to_string(), json!("p"))]);
            with(&mut a, |s| {
                phase_complete(s, action, PhaseRef::Main(i), out, finished_progress(10, 0, 0, 0, "t1"), "t1")
            });
        }
        with(&mut a, |s| {
            phase_running(s, action, PhaseRef::Defer);
            phase_complete(s, action, PhaseRef::Defer, BTreeMap::new(), finished_progress(0, 0, 0, 0, "t2"), "t2");
            action_finished(s, action);
        });
        let expect = if action == 0 { State::Running } else { State::Complete };
        assert_eq!(a.status.as_ref().unwrap().state, expect, "after action {action}");
    }
    let s = a.status.as_ref().unwrap();
    assert_eq!(s.progress.percent_completed, "100");
    assert_eq!(s.progress.size_uploaded_b, 40);
    assert!(s.progress.running_phase.is_empty());
}

#[test]
fn a_failed_phase_fails_the_actionset_and_later_phases_stay_pending() {
    let mut a = actionset(&[("backup", "bp"), ("backup", "bp")]);
    a.status = Some(initial_status(&a, lookup).unwrap());
    with(&mut a, |s| {
        s.state = State::Running;
        phase_running(s, 0, PhaseRef::Main(0));
        phase_failed(s, 0, PhaseRef::Main(0), "pod failed: boom");
    });
    // The defer phase still runs and completes; the other action completes too.
    with(&mut a, |s| {
        phase_running(s, 0, PhaseRef::Defer);
        phase_complete(s, 0, PhaseRef::Defer, BTreeMap::new(), PhaseProgress::default(), "t");
        for i in 0..2 {
            phase_running(s, 1, PhaseRef::Main(i));
            phase_complete(s, 1, PhaseRef::Main(i), BTreeMap::new(), finished_progress(0, 0, 0, 0, "t"), "t");
        }
        action_finished(s, 1);
    });
    let s = a.status.as_ref().unwrap();
    assert_eq!(s.state, State::Failed);
    assert_eq!(s.error.message, "pod failed: boom");
    assert_eq!(s.actions[0].phases[1].state, State::Pending);
    assert_eq!(s.actions[0].defer_phase.state, State::Complete);
}

#[test]
fn progress_is_the_mean_over_phases_and_moves_only_on_change() {
    let mut a = actionset(&[("backup", "bp")]);
    a.status = Some(initial_status(&a, lookup).unwrap());
    let s = a.status.as_mut().unwrap();
    s.state = State::Running;
    phase_running(s, 0, PhaseRef::Main(0));
    let live = |pct: &str, up: i64| PhaseProgress {
        progress_percent: pct.into(),
        size_uploaded_b: up,
        estimated_upload_size_b: 1000,
        ..PhaseProgress::default()
    };
    assert!(set_phase_progress(s, 0, PhaseRef::Main(0), live("40", 400), "t1"));
    assert_eq!((s.progress.percent_completed.as_str(), s.progress.size_uploaded_b), ("20", 400));
    assert_eq!(s.progress.last_transition_time.as_deref(), Some("t1"));
    // Same values: no write, no new transition time.
    assert!(!set_phase_progress(s, 0, PhaseRef::Main(0), live("40", 400), "t2"));
    assert_eq!(s.progress.last_transition_time.as_deref(), Some("t1"));
    // A pending phase takes no progress.
    assert!(!set_phase_progress(s, 0, PhaseRef::Main(1), live("10", 1), "t3"));
}

#[test]
fn resume_points() {
    let mut a = actionset(&[("backup", "bp")]);
    a.status = Some(initial_status(&a, lookup).unwrap());
    let s = a.status.as_mut().unwrap();
    let rp = resume_point(&s.actions[0]);
    assert_eq!((rp.next, rp.was_running, rp.failed), (Some(0), false, false));
    phase_running(s, 0, PhaseRef::Main(0));
    phase_complete(s, 0, PhaseRef::Main(0), BTreeMap::from([("k".into(), json!("v"))]), PhaseProgress::default(), "t");
    phase_running(s, 0, PhaseRef::Main(1));
    let rp = resume_point(&s.actions[0]);
    assert_eq!((rp.next, rp.was_running, rp.failed), (Some(1), true, false));
    assert_eq!(
        completed_outputs(&s.actions[0]),
        vec![("dump".to_string(), BTreeMap::from([("k".into(), json!("v"))]))]
    );
    phase_failed(s, 0, PhaseRef::Main(1), "x");
    assert!(resume_point(&s.actions[0]).failed);
    assert_eq!(PhaseRef::Defer.label(), "defer");
}

//! Validation errors are upstream's, word for word.

use crate::yaml;
use kanister::functions;
use kanister::types::{ActionSet, Blueprint, Profile};
use kanister::validate::*;
use serde_json::json;

fn bp(text: &str) -> Blueprint {
    serde_json::from_value(yaml(text)).unwrap()
}

fn err(text: &str) -> String {
    validate_blueprint(&bp(text)).unwrap_err().to_string()
}

#[test]
fn unknown_function() {
    let e = err("actions:\n  backup:\n    phases:\n    - func: KubeTasks\n      name: p\n      args: {}\n");
    assert_eq!(e, "Failed to validate action backup: Requested function {KubeTasks} has not been registered");
    // Removed in 0.115.0: unknown.
    let e = err(
        "actions:\n  backup:\n    phases:\n    - func: CreateVolumeSnapshot\n      name: p\n      args: {namespace: x}\n",
    );
    assert_eq!(
        e,
        "Failed to validate action backup: Requested function {CreateVolumeSnapshot} has not been registered"
    );
}

#[test]
fn missing_required_arg() {
    let e = err(
        "actions:\n  backup:\n    phases:\n    - func: KubeTask\n      name: dump\n      args:\n        image: x\n",
    );
    assert_eq!(e, "Failed to validate phase dump in action backup: Required arg missing: command");
    // A required arg given as null is present, as upstream checks keys only.
    let ok = bp(
        "actions:\n  backup:\n    phases:\n    - func: KubeTask\n      name: dump\n      args:\n        image: x\n        command:\n",
    );
    assert_eq!(validate_blueprint(&ok), Ok(()));
}

#[test]
fn unsupported_arg() {
    let e = err(
        "actions:\n  backup:\n    phases:\n    - func: KubeExec\n      name: ex\n      args: {namespace: a, pod: b, command: [c], podLabels: {}}\n",
    );
    assert_eq!(e, "Failed to validate phase ex in action backup: argument podLabels is not supported");
    // Unsupported is checked before missing.
    let e = err("actions:\n  backup:\n    phases:\n    - func: KubeTask\n      name: t\n      args: {imagee: x}\n");
    assert_eq!(e, "Failed to validate phase t in action backup: argument imagee is not supported");
    let b = bp("actions:\n  backup:\n    phases:\n    - func: KubeTask\n      name: t\n      args: {imagee: x}\n");
    let ValidationError::Args { action, phase, source } = validate_blueprint(&b).unwrap_err() else { panic!() };
    assert_eq!((action.as_str(), phase.as_str(), source), ("backup", "t", ArgsError::Unsupported("imagee".into())));
}

#[test]
fn duplicate_phase_names_across_actions_and_defer() {
    let text = "actions:
  backup:
    phases:
    - {func: KubeTask, name: phaseone, args: {image: x, command: [y]}}
  restore:
    phases:
    - {func: KubeTask, name: phasetwo, args: {image: x, command: [y]}}
    deferPhase: {func: KubeTask, name: phaseone, args: {image: x, command: [y]}}
";
    assert_eq!(err(text), "Failed to validate: Duplicated phase name is not allowed. Violating phase 'phaseone'");
    assert_eq!(
        validate_blueprint(&bp(
            &text.replace("deferPhase: {func: KubeTask, name: phaseone", "deferPhase: {func: KubeTask, name: d")
        )),
        Ok(())
    );
    let same_action = "actions:\n  a:\n    phases:\n    - {func: KubeTask, name: p, args: {image: x, command: [y]}}\n    - {func: KubeTask, name: p, args: {image: x, command: [y]}}\n";
    assert_eq!(err(same_action), "Failed to validate: Duplicated phase name is not allowed. Violating phase 'p'");
}

#[test]
fn order_of_checks_is_upstreams() {
    // All functions of an action are resolved before any arguments are checked.
    let e = err("actions:
  backup:
    phases:
    - {func: KubeTask, name: a, args: {}}
    - {func: Nope, name: b, args: {}}
");
    assert_eq!(e, "Failed to validate action backup: Requested function {Nope} has not been registered");
    // The deferPhase's arguments are checked before the phases'.
    let e = err("actions:
  backup:
    phases:
    - {func: KubeTask, name: a, args: {}}
    deferPhase: {func: ScaleWorkload, name: d, args: {}}
");
    assert_eq!(e, "Failed to validate phase d in action backup: Required arg missing: replicas");
    // Argument errors come before duplicate names.
    let e = err("actions:
  backup:
    phases:
    - {func: KubeTask, name: a, args: {image: x, command: [y]}}
    - {func: KubeTask, name: a, args: {image: x}}
");
    assert_eq!(e, "Failed to validate phase a in action backup: Required arg missing: command");
}

#[test]
fn pod_labels_and_annotations() {
    let with = |extra: &str| {
        err(&format!(
            "actions:\n  backup:\n    phases:\n    - func: KubeTask\n      name: t\n      args:\n        image: x\n        command: [y]\n{extra}"
        ))
    };
    assert_eq!(
        with("        podLabels: {\"key$\": v}\n"),
        "Failed to validate phase t in action backup: Kanister function validation failed, while validating labels: \
         label key 'key$' failed validation. [name part must consist of alphanumeric characters, '-', '_' or '.', and \
         must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used \
         for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')]"
    );
    assert_eq!(
        with("        podLabels: {key: \"value$\"}\n"),
        "Failed to validate phase t in action backup: Kanister function validation failed, while validating labels: \
         label value 'value$' failed validation. [a valid label must be an empty string or consist of alphanumeric \
         characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or \
         'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')]"
    );
    assert_eq!(
        with("        podAnnotations: {\"key$\": \"any value$\"}\n"),
        "Failed to validate phase t in action backup: Kanister function validation failed, while validating \
         annotations: annotation key 'key$' failed validation. [name part must consist of alphanumeric characters, \
         '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
         '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')]"
    );
    assert_eq!(
        with("        podLabels: \"{{ .Options.labels }}\"\n"),
        "Failed to validate phase t in action backup: Kanister function validation failed, while getting pod labels \
         from function args: podLabels are not in correct format. Expected format is map[string]interface{}."
    );
    assert_eq!(
        with("        podAnnotations: [a]\n"),
        "Failed to validate phase t in action backup: Kanister function validation failed, while getting pod \
         annotations from function args: podAnnotations are not in correct format. expected format is map[string]string."
    );
    // Valid ones, null ones, and non-string values (skipped upstream) pass.
    let ok = |extra: &str| {
        validate_blueprint(&bp(&format!(
            "actions:\n  backup:\n    phases:\n    - func: KubeTask\n      name: t\n      args:\n        image: x\n        command: [y]\n{extra}"
        )))
    };
    assert_eq!(
        ok("        podLabels: {app.kubernetes.io/name: pg, empty: \"\"}\n        podAnnotations: {a/b: \"x y\"}\n"),
        Ok(())
    );
    assert_eq!(ok("        podLabels:\n        podAnnotations:\n"), Ok(()));
    assert_eq!(ok("        podLabels: {key: 1}\n"), Ok(()));
}

#[test]
fn function_versions() {
    let b = bp("actions:\n  backup:\n    phases:\n    - {func: KubeTask, name: t, args: {image: x, command: [y]}}\n");
    assert_eq!(validate_blueprint_version(&b, "v0.0.1"), Ok(()));
    assert_eq!(
        validate_blueprint_version(&b, "0.0.0").unwrap_err().to_string(),
        "Failed to validate action backup: Requested function {KubeTask} has not been registered with version {0.0.0}"
    );
    assert_eq!(
        validate_blueprint_version(&b, "next").unwrap_err().to_string(),
        "Failed to validate action backup: Failed to get function version: Failed to parse function version {next}: \
         Invalid Semantic Version"
    );
}

#[test]
fn exec_time_argument_check() {
    let kt = functions::lookup("KubeTask", "").unwrap();
    let args = |v: serde_json::Value| serde_json::from_value(v).unwrap();
    assert_eq!(
        check_rendered_args(kt, &args(json!({"image": "x", "bogus": 1}))).unwrap_err().to_string(),
        "Required args missing for function KubeTask: Required arg missing: command"
    );
    assert_eq!(
        check_rendered_args(kt, &args(json!({"image": "x", "command": [], "bogus": 1}))).unwrap_err().to_string(),
        "Checking supported args for function KubeTask.: argument bogus is not supported"
    );
    assert_eq!(check_rendered_args(kt, &args(json!({"image": "x", "command": []}))), Ok(()));
}

fn profile(v: serde_json::Value) -> Result<(), String> {
    validate_profile(&serde_json::from_value::<Profile>(v).unwrap()).map_err(|e| e.to_string())
}

#[test]
fn profile_schema() {
    let kp = json!({"type": "keyPair", "keyPair": {"idField": "id", "secretField": "s", "secret": {"name": "sec", "namespace": "ns"}}});
    let s3 = |bucket: &str, region: &str| json!({"type": "s3Compliant", "bucket": bucket, "region": region});
    assert_eq!(profile(json!({"location": s3("b", "r"), "credential": kp})), Ok(()));
    assert_eq!(profile(json!({"location": {"type": "gcs"}, "credential": kp})), Ok(()));
    assert_eq!(
        profile(
            json!({"location": {"type": "azure"}, "credential": {"type": "secret", "secret": {"name": "s", "namespace": "n"}}})
        ),
        Ok(())
    );
    let e = |loc: serde_json::Value, cred: serde_json::Value| {
        profile(json!({"location": loc, "credential": cred})).unwrap_err()
    };
    assert_eq!(e(json!({"type": "kopia"}), kp.clone()), "unknown or unsupported location type '%s': Validation Failed");
    assert_eq!(
        e(json!({"type": "filestore"}), kp.clone()),
        "unknown or unsupported location type '%s': Validation Failed"
    );
    assert_eq!(
        e(json!({"type": "S3Compliant"}), kp.clone()),
        "unknown or unsupported location type '%s': Validation Failed"
    );
    assert_eq!(e(s3("b", "r"), json!({"type": "kopia"})), "Unsupported credential type '%s': Validation Failed");
    assert_eq!(
        e(s3("b", "r"), json!({"type": "keyPair"})),
        "Secret for bucket credentials not specified: Validation Failed"
    );
    assert_eq!(
        e(s3("b", "r"), json!({"type": "keyPair", "keyPair": {"idField": "id", "secret": {"name": "s"}}})),
        "Secret field or id field empty: Validation Failed"
    );
    assert_eq!(
        e(s3("b", "r"), json!({"type": "secret", "secret": {"namespace": "n"}})),
        "Secret name is empty: Validation Failed"
    );
    assert_eq!(
        e(s3("b", "r"), json!({"type": "secret", "secret": {"name": "s"}})),
        "Secret namespace is empty: Validation Failed"
    );
    // Credentials are checked before the bucket.
    assert_eq!(e(s3("", ""), json!({"type": ""})), "Unsupported credential type '%s': Validation Failed");
    assert_eq!(e(s3("", "r"), kp.clone()), "Bucket not specified: Validation Failed");
    assert_eq!(e(s3("b", ""), kp.clone()), "Bucket region not specified: Validation Failed");
    let p: Profile = serde_json::from_value(json!({"location": {"type": "nfs"}})).unwrap();
    assert_eq!(validate_profile(&p), Err(ProfileValidationError::UnsupportedLocationType("nfs".into())));
}

fn actionset(v: serde_json::Value) -> Result<(), String> {
    validate_actionset(&serde_json::from_value::<ActionSet>(v).unwrap()).map_err(|e| e.to_string())
}

#[test]
fn actionset_invariants() {
    let spec = json!({"actions": [{"name": "backup", "object": {"kind": "StatefulSet", "name": "pg"}}]});
    let status = |state: &str, phases: &[&str]| {
        json!({"state": state, "actions": [{"name": "backup",
            "phases": phases.iter().map(|s| json!({"name": "p", "state": s})).collect::<Vec<_>>()}]})
    };
    assert_eq!(actionset(json!({"spec": spec})), Ok(()));
    assert_eq!(actionset(json!({})), Err("Spec must be non-nil: Validation Failed".into()));
    assert_eq!(
        actionset(json!({"spec": {"actions": [{"name": "backup", "object": {"kind": "Pod", "name": "x"}}]}})),
        Err("Not a known object Kind %s. Action %s must specify Resource name and API version: Validation Failed"
            .into())
    );
    assert_eq!(
        actionset(
            json!({"spec": {"actions": [{"name": "b", "object": {"kind": "Pod", "apiVersion": "v1", "resource": "pods"}}]}})
        ),
        Ok(())
    );
    assert_eq!(
        actionset(json!({"spec": spec, "status": status("running", &["complete", "running", "pending"])})),
        Ok(())
    );
    assert_eq!(actionset(json!({"spec": spec, "status": status("complete", &["complete", "complete"])})), Ok(()));
    assert_eq!(
        actionset(json!({"spec": spec, "status": {"state": "pending"}})),
        Err("Number of actions in status actions and spec must match: Validation Failed".into())
    );
    assert_eq!(
        actionset(json!({"spec": spec, "status": status("failed", &["failed", "complete"])})),
        Err("Phases after a %s one must be pending: Validation Failed".into())
    );
    assert_eq!(
        actionset(json!({"spec": spec, "status": status("running", &["done"])})),
        Err("Action has unknown state '%s': Validation Failed".into())
    );
    assert_eq!(
        actionset(json!({"spec": spec, "status": status("", &["complete"])})),
        Err("ActionSet has unknown state '%s': Validation Failed".into())
    );
    assert_eq!(
        actionset(json!({"spec": spec, "status": status("complete", &["complete", "pending"])})),
        Err("ActionSet cannot be complete if any actions are not complete: Validation Failed".into())
    );
}

//! The kanctl binary, offline: `create --dry-run`, `validate -f`, `render` (the cluster
//! half is in `cluster.rs`).

use super::{data, yaml_docs};
use kanister::types::ActionSet;
use std::process::{Command, Output};

const KANCTL: &str = env!("CARGO_BIN_EXE_kanctl");

/// kanctl with no kubeconfig (offline: the namespace defaults to `default`).
fn kanctl(args: &[&str]) -> Output {
    Command::new(KANCTL).args(args).env("KUBECONFIG", "/nonexistent/kubeconfig").output().unwrap()
}

/// `kanctl create --dry-run profile -b bkt [-r region] s3compliant -a AK -s SK …extra`.
fn create_s3_profile(region: Option<&str>, extra: &[&str]) -> Output {
    let mut args = vec!["create", "--dry-run", "profile", "-b", "bkt"];
    if let Some(r) = region {
        args.extend(["-r", r]);
    }
    args.extend(["s3compliant", "-a", "AK", "-s", "SK"]);
    args.extend(extra);
    kanctl(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn create_actionset_dry_run_prints_upstream_shape() {
    let o = kanctl(&[
        "create",
        "--dry-run",
        "actionset",
        "-a",
        "backup",
        "-b",
        "postgres-bp",
        "-t",
        "pg/db,pg/db2",
        "-p",
        "s3-profile",
        "-s",
        "creds=pg/secret1",
        "-o",
        "a=1,b=2",
        "--labels",
        "team = dba",
        "-n",
        "kanister",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let docs = yaml_docs(&stdout(&o));
    let a: ActionSet = serde_json::from_value(docs[0].clone()).unwrap();
    assert_eq!(a.kind, "ActionSet");
    assert_eq!(a.api_version, "cr.kanister.io/v1alpha1");
    let name = a.metadata.name.clone().unwrap();
    assert!(name.starts_with("backup-") && name.len() == "backup-".len() + 5, "{name}");
    assert_eq!(a.metadata.labels.as_ref().unwrap()["team"], "dba");
    let spec = a.spec.unwrap();
    assert_eq!(spec.actions.len(), 2, "one action per object");
    let x = &spec.actions[1];
    assert_eq!((x.object.kind.as_str(), x.object.name.as_str()), ("statefulset", "db2"));
    assert_eq!(x.profile.as_ref().unwrap().namespace.as_deref(), Some("kanister"), "profile defaults to -n");
    assert_eq!(x.secrets["creds"].name, "secret1");
    assert_eq!(x.options["b"], "2");
    // No-omitempty fields are present.
    assert!(docs[0]["spec"]["actions"][0].as_object().unwrap().contains_key("preferredVersion"));
    assert!(docs[0]["spec"]["actions"][0].as_object().unwrap().contains_key("podLabels"));
}

#[test]
fn create_actionset_errors_as_upstream() {
    let o = kanctl(&["create", "--dry-run", "actionset", "-b", "bp", "-t", "pg/db"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("action required to create new action set"), "{}", stderr(&o));
    let o = kanctl(&["create", "--dry-run", "actionset", "-a", "backup", "-b", "bp"]);
    assert!(stderr(&o).contains("no objects found to perform action set"), "{}", stderr(&o));
    let o = kanctl(&["create", "--dry-run", "actionset", "-a", "backup", "-b", "bp", "-t", "pg/db", "-s", "oops"]);
    assert!(stderr(&o).contains("Expected ref=namespace/name. Got oops"), "{}", stderr(&o));
    // Without --dry-run kanctl needs a cluster, and says how to do without one.
    let o = kanctl(&["create", "actionset", "-a", "backup", "-b", "bp", "-t", "pg/db"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("no Kubernetes configuration") && stderr(&o).contains("--dry-run"), "{}", stderr(&o));
}

#[test]
fn create_actionset_from_a_completed_parent_copies_its_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("parent.yaml");
    std::fs::write(
        &parent,
        r#"apiVersion: cr.kanister.io/v1alpha1
kind: ActionSet
metadata: {name: backup-abcde, namespace: kanister}
spec:
  actions:
  - name: backup
    blueprint: postgres-bp
    object: {kind: statefulset, name: db, namespace: pg}
    profile: {name: s3-profile, namespace: kanister}
    options: {keep: "1"}
status:
  state: complete
  actions:
  - name: backup
    blueprint: postgres-bp
    object: {kind: statefulset, name: db, namespace: pg}
    artifacts:
      cloudObject:
        keyValue: {backupLocation: pg_backups/pg/db/2026/backup.sql.gz}
"#,
    )
    .unwrap();
    let o = kanctl(&[
        "create",
        "--dry-run",
        "actionset",
        "-a",
        "restore",
        "--from-file",
        parent.to_str().unwrap(),
        "-o",
        "x=y",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a: ActionSet = serde_json::from_value(yaml_docs(&stdout(&o))[0].clone()).unwrap();
    assert!(a.metadata.name.unwrap().starts_with("restore-backup-abcde-"));
    let x = &a.spec.unwrap().actions[0];
    assert_eq!(x.name, "restore");
    assert_eq!(x.artifacts["cloudObject"].key_value["backupLocation"], "pg_backups/pg/db/2026/backup.sql.gz");
    assert_eq!((x.options["keep"].as_str(), x.options["x"].as_str()), ("1", "y"), "options merged");
    // A parent that has not completed is refused, as upstream.
    let text = std::fs::read_to_string(&parent).unwrap().replace("state: complete", "state: running");
    std::fs::write(&parent, text).unwrap();
    let o = kanctl(&["create", "--dry-run", "actionset", "--from-file", parent.to_str().unwrap()]);
    assert!(stderr(&o).contains("Request parent ActionSet backup-abcde has not been executed"), "{}", stderr(&o));
}

#[test]
fn create_profile_dry_run_prints_secret_and_profile() {
    let o = create_s3_profile(Some("us-east-1"), &["-n", "kanister"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let docs = yaml_docs(&stdout(&o));
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["kind"], "Secret");
    assert_eq!(docs[0]["stringData"]["aws_secret_access_key"], "SK");
    let secret_name = docs[0]["metadata"]["name"].as_str().unwrap();
    assert!(secret_name.starts_with("s3-secret-") && secret_name.len() == "s3-secret-".len() + 6);
    assert_eq!(docs[1]["kind"], "Profile");
    assert_eq!(docs[1]["metadata"]["generateName"], "s3-profile-");
    assert_eq!(docs[1]["credential"]["type"], "keyPair");
    assert_eq!(docs[1]["credential"]["keyPair"]["idField"], "aws_access_key_id");
    assert_eq!(docs[1]["credential"]["keyPair"]["secret"]["name"], secret_name);
    // With a role the credential is a typed Secret; without a region the schema check fails.
    let o = create_s3_profile(Some("us-east-1"), &["-R", "arn:role"]);
    let docs = yaml_docs(&stdout(&o));
    assert_eq!(docs[0]["type"], "secrets.kanister.io/aws");
    assert_eq!(docs[1]["credential"]["type"], "secret");
    let o = create_s3_profile(None, &[]);
    assert!(!o.status.success(), "a profile without a region must fail schema validation");
}

#[test]
fn validate_profile_schema_offline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profile.yaml");
    let profile = |region: &str| {
        format!(
            "apiVersion: cr.kanister.io/v1alpha1\nkind: Profile\nmetadata: {{name: p}}\n\
             location: {{type: s3Compliant, bucket: b, region: '{region}'}}\n\
             credential: {{type: keyPair, keyPair: {{idField: a, secretField: s, secret: {{name: creds, namespace: kanister}}}}}}\n"
        )
    };
    std::fs::write(&file, profile("us-east-1")).unwrap();
    let f = file.to_str().unwrap();
    let o = kanctl(&["validate", "profile", "-f", f, "--schema-validation-only"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("Passed the 'Validate Profile schema' check.. ✅\nSkipping the 'Validate bucket region")
    );
    // The bucket checks read the Secret: they need a cluster.
    let o = kanctl(&["validate", "profile", "-f", f]);
    assert!(!o.status.success() && stderr(&o).contains("no Kubernetes configuration"), "{}", stderr(&o));
    std::fs::write(&file, profile("")).unwrap();
    let o = kanctl(&["validate", "profile", "-f", f, "--schema-validation-only"]);
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "Failed the 'Validate Profile schema' check.. ❌\n");
    assert!(stderr(&o).contains("Bucket region not specified"), "{}", stderr(&o));
    let o = kanctl(&["validate", "profile"]);
    assert!(stderr(&o).contains("neither name nor filename specified"), "{}", stderr(&o));
}

#[test]
fn validate_blueprint_offline() {
    let good = data("blueprints/postgres/postgres-blueprint.yaml");
    let o = kanctl(&["validate", "blueprint", "-f", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(&good).unwrap().replacen("func: KubeTask", "func: KubeTaskX", 1);
    std::fs::write(&bad, text).unwrap();
    let o = kanctl(&["validate", "blueprint", "-f", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("KubeTaskX"), "{}", stderr(&o));
    let text = std::fs::read_to_string(&good).unwrap().replacen(
        "{{ .StatefulSet.Namespace }}",
        "{{ .StatefulSet.Namespace ",
        1,
    );
    std::fs::write(&bad, text).unwrap();
    let o = kanctl(&["validate", "blueprint", "-f", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("template: config:1:"), "{}", stderr(&o));
}

#[test]
fn render_prints_every_phase_with_args_rendered() {
    let bp = data("blueprints/postgres/postgres-blueprint.yaml");
    let o = kanctl(&[
        "render",
        "-f",
        bp.to_str().unwrap(),
        "-a",
        "backup",
        "--object",
        "statefulset/pg/db",
        "--time",
        "2026-11-23T10:00:00Z",
        "--phase-output",
        "pgDump.backupLocation=here",
        "-o",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["phases"][0]["name"], "pgDump");
    let cmd = v["phases"][0]["args"]["command"][6].as_str().unwrap();
    assert!(cmd.contains("BACKUP_LOCATION=pg_backups/pg/db/2026-11-23T10:00:00Z/backup.sql.gz"), "{cmd}");
    assert!(cmd.contains(r#"--profile '{"Location":{"type":"s3Compliant""#), "{cmd}");
    assert_eq!(v["outputArtifacts"]["cloudObject"]["keyValue"]["backupLocation"], "here");
    // restore without the artifact it reads: upstream's missing-key error, exit 1.
    let o = kanctl(&["render", "-f", bp.to_str().unwrap(), "-a", "restore", "--object", "statefulset/pg/db"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains(r#"Failed to render template: "cloudObject" not found"#), "{}", stderr(&o));
    let o = kanctl(&[
        "render",
        "-f",
        bp.to_str().unwrap(),
        "-a",
        "restore",
        "--object",
        "statefulset/pg/db",
        "--artifacts",
        "cloudObject.backupLocation=pg_backups/x.sql.gz",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("BACKUP_LOCATION=pg_backups/x.sql.gz"));
}

//! Rendering: every action of every upstream blueprint renders with zero template errors,
//! and golden tests pin the exact rendered backup commands of PostgreSQL, MySQL and MongoDB.
//!
//! The sample inputs of each action are derived from what its templates reference
//! (`.ArtifactsIn.a.KeyValue.k`, `.Phases.p.Output.k`, `.Object.metadata.labels.x`, Secret
//! data, options), so a template error (syntax, unknown function, wrong type, a field the
//! params do not have) is a failure, not a missing sample.

use super::data;
use kanister::params::{ParamsInput, ProfileParam, TemplateParams, Workload};
use kanister::render::{Simulation, render_action};
use kanister::types::{Artifact, Blueprint, ObjectReference};
use regex::Regex;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn blueprint_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            blueprint_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

fn sample_profile() -> ProfileParam {
    ProfileParam {
        location: [
            ("type", "s3Compliant"),
            ("bucket", "backups"),
            ("endpoint", "http://minio:9000"),
            ("prefix", "kanister"),
            ("region", "us-east-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        credential_type: "keyPair".into(),
        key_pair: Some(("AKIAEXAMPLE".into(), "s3cr3t/key".into())),
        secret: None,
        skip_ssl_verify: false,
    }
}

/// Set `path` (dot-separated) inside `v` to a string unless something is there.
fn put_path(v: &mut Json, path: &[&str], leaf: Json) {
    let Some((first, rest)) = path.split_first() else { return };
    if !v.is_object() {
        *v = json!({});
    }
    let m = v.as_object_mut().unwrap();
    if rest.is_empty() {
        m.entry(first.to_string()).or_insert(leaf);
    } else {
        put_path(m.entry(first.to_string()).or_insert(json!({})), rest, leaf);
    }
}

/// Inputs for one action, sampled from what the blueprint's templates reference.
fn sample(bp_text: &str, bp: &Blueprint, action: &str) -> (ParamsInput, Simulation) {
    let a = &bp.actions[action];
    let text = serde_json::to_string(&serde_json::to_value(a).unwrap()).unwrap();
    let kind = match a.kind.to_ascii_lowercase().as_str() {
        "" => {
            let order = [
                ("StatefulSet", "statefulset"),
                ("DeploymentConfig", "deploymentconfig"),
                ("Deployment", "deployment"),
                ("PVC", "pvc"),
            ];
            order
                .iter()
                .find(|(p, _)| text.contains(&format!(".{p}.")))
                .map(|(_, k)| *k)
                .unwrap_or("namespace")
                .to_string()
        }
        k => k.to_string(),
    };
    let object =
        ObjectReference { kind: kind.clone(), name: "app".into(), namespace: Some("ns".into()), ..Default::default() };
    let mut content =
        json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "app", "namespace": "ns", "labels": {}}});
    let field = r"[A-Za-z_][A-Za-z0-9_-]*";
    let mut artifacts: BTreeMap<String, Artifact> = BTreeMap::new();
    for c in Regex::new(&format!(r"\.ArtifactsIn\.({field})\.KeyValue\.({field})")).unwrap().captures_iter(bp_text) {
        artifacts.entry(c[1].to_string()).or_default().key_value.insert(c[2].to_string(), format!("sample-{}", &c[2]));
    }
    for c in
        Regex::new(&format!(r#"index \.ArtifactsIn\.({field})\.KeyValue "([^"]+)""#)).unwrap().captures_iter(bp_text)
    {
        artifacts.entry(c[1].to_string()).or_default().key_value.insert(c[2].to_string(), format!("sample-{}", &c[2]));
    }
    for c in Regex::new(&format!(r"\.ArtifactsIn\.({field})\.KopiaSnapshot")).unwrap().captures_iter(bp_text) {
        artifacts.entry(c[1].to_string()).or_default().kopia_snapshot = r#"{"id":"k1"}"#.into();
    }
    // Lists read with `(index .Object.path N).rest`: a list of one object holding `rest`.
    for c in Regex::new(r"\(index \.Object((?:\.[A-Za-z_][A-Za-z0-9_]*)+) \d+\)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
        .unwrap()
        .captures_iter(bp_text)
    {
        let path: Vec<&str> = c[1].trim_start_matches('.').split('.').collect();
        put_path(&mut content, &path, json!([{}]));
        let mut list = &mut content;
        for p in &path {
            list = &mut list[*p];
        }
        let rest: Vec<&str> = c[2].trim_start_matches('.').split('.').collect();
        put_path(&mut list[0], &rest, json!("sample"));
    }
    // Maps read with `index` first (their keys may hold dots), then plain field paths.
    for c in Regex::new(r#"index \.Object((?:\.[A-Za-z_][A-Za-z0-9_]*)+) "([^"]+)""#).unwrap().captures_iter(bp_text) {
        let mut path: Vec<&str> = c[1].trim_start_matches('.').split('.').collect();
        path.push(c.get(2).unwrap().as_str());
        put_path(&mut content, &path, json!("sample"));
    }
    for c in Regex::new(r"\.Object((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").unwrap().captures_iter(bp_text) {
        let path: Vec<&str> = c[1].trim_start_matches('.').split('.').collect();
        put_path(&mut content, &path, json!("sample"));
    }
    let mut sim = Simulation { missing_objects_empty: true, ..Default::default() };
    let mut options = BTreeMap::new();
    for c in Regex::new(&format!(r"\.Options\.({field})")).unwrap().captures_iter(bp_text) {
        options.insert(c[1].to_string(), "sample".to_string());
    }
    // Phase outputs: everything read as .Phases.p.Output.k or index … "k", plus kando output keys.
    for c in Regex::new(&format!(r"\.Phases\.({field})\.Output\.({field})")).unwrap().captures_iter(bp_text) {
        sim.outputs.entry(c[1].to_string()).or_default().insert(c[2].to_string(), json!(format!("sample-{}", &c[2])));
    }
    for c in Regex::new(&format!(r#"index \.Phases\.({field})\.Output "([^"]+)""#)).unwrap().captures_iter(bp_text) {
        sim.outputs.entry(c[1].to_string()).or_default().insert(c[2].to_string(), json!(format!("sample-{}", &c[2])));
    }
    for c in Regex::new(&format!(r"\.DeferPhase\.Output\.({field})")).unwrap().captures_iter(bp_text) {
        if let Some(d) = &a.defer_phase {
            sim.outputs.entry(d.name.clone()).or_default().insert(c[1].to_string(), json!("sample"));
        }
    }
    // ActionSet secrets / configmaps read by field.
    let mut secrets = BTreeMap::new();
    for c in Regex::new(&format!(r"\.Secrets\.({field})\.Data\.({field})")).unwrap().captures_iter(bp_text) {
        let s: &mut Json = secrets
            .entry(c[1].to_string())
            .or_insert_with(|| json!({"kind": "Secret", "metadata": {"name": &c[1], "namespace": "ns"}, "data": {}}));
        s["data"][&c[2]] = json!("c2FtcGxl");
    }
    for c in Regex::new(&format!(r"\.Secrets\.({field})")).unwrap().captures_iter(bp_text) {
        secrets
            .entry(c[1].to_string())
            .or_insert_with(|| json!({"kind": "Secret", "metadata": {"name": &c[1], "namespace": "ns"}, "data": {}}));
    }
    let mut config_maps = BTreeMap::new();
    for c in Regex::new(&format!(r"\.ConfigMaps\.({field})")).unwrap().captures_iter(bp_text) {
        config_maps.entry(c[1].to_string()).or_insert_with(
            || json!({"kind": "ConfigMap", "metadata": {"name": &c[1], "namespace": "ns"}, "data": {}}),
        );
    }
    for c in Regex::new(&format!(r"\.ConfigMaps\.({field})\.Data\.({field})")).unwrap().captures_iter(bp_text) {
        let s: &mut Json = config_maps.entry(c[1].to_string()).or_insert_with(
            || json!({"kind": "ConfigMap", "metadata": {"name": &c[1], "namespace": "ns"}, "data": {}}),
        );
        s["data"][&c[2]] = json!("sample");
    }
    for c in Regex::new(&format!(r"\.Phases\.({field})\.(Secrets|ConfigMaps)\.({field})\.Data\.({field})"))
        .unwrap()
        .captures_iter(bp_text)
    {
        let kind = if &c[2] == "Secrets" { "Secret" } else { "ConfigMap" };
        let value = if kind == "Secret" { json!("c2FtcGxl") } else { json!("sample") };
        let o = sim
            .phase_objects
            .entry(format!("{}/{}", &c[1], &c[3]))
            .or_insert_with(|| json!({"kind": kind, "metadata": {"name": &c[3]}, "data": {}}));
        o["data"][&c[4]] = value;
    }
    let input = ParamsInput {
        object,
        workload: Workload { pods: vec!["app-0".into()], containers: vec![vec!["main".into()]], pvcs: BTreeMap::new() },
        object_content: content,
        artifacts,
        secrets,
        config_maps,
        profile: Some(sample_profile()),
        options,
        time: "2026-11-23T10:00:00.123456789Z".into(),
        ..Default::default()
    };
    (input, sim)
}

#[test]
fn every_upstream_blueprint_action_renders_without_template_errors() {
    let mut files = Vec::new();
    blueprint_files(&data("blueprints"), &mut files);
    files.sort();
    let (mut actions, mut phases) = (0, 0);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let Ok(bp) = kanister::load::blueprint(&text) else { continue };
        for name in bp.actions.keys() {
            let (input, sim) = sample(&text, &bp, name);
            let r = render_action(&bp, name, TemplateParams::new(input), &sim)
                .unwrap_or_else(|e| panic!("{} action {name}: {e}", f.display()));
            actions += 1;
            phases += r.phases.len() + r.defer_phase.iter().count();
            // Nothing unrendered is left in the args of template-rendered functions.
            for p in r.phases.iter().chain(r.defer_phase.iter()) {
                if p.func != "Wait" && p.func != "WaitV2" {
                    let s = serde_json::to_string(&p.args).unwrap();
                    assert!(!s.contains("{{"), "{} {name}/{}: unrendered template left: {s}", f.display(), p.name);
                }
            }
        }
    }
    assert!(actions >= 80 && phases >= 120, "rendered {actions} actions / {phases} phases");
}

fn command_of(r: &kanister::render::RenderedAction, phase: &str) -> String {
    let p = r.phases.iter().find(|p| p.name == phase).unwrap();
    p.args["command"].as_array().unwrap().last().unwrap().as_str().unwrap().to_string()
}

const PROFILE_JSON: &str = r#"{"Location":{"type":"s3Compliant","bucket":"backups","endpoint":"http://minio:9000","prefix":"kanister","region":"us-east-1"},"Credential":{"Type":"keyPair","KeyPair":{"ID":"AKIAEXAMPLE","Secret":"s3cr3t/key"},"Secret":null,"KopiaServerSecret":null},"SkipSSLVerify":false}"#;

fn golden_input(kind: &str, labels: Json) -> ParamsInput {
    ParamsInput {
        object: ObjectReference {
            kind: kind.into(),
            name: "db".into(),
            namespace: Some("prod".into()),
            ..Default::default()
        },
        workload: Workload { pods: vec!["db-0".into()], containers: vec![vec!["db".into()]], pvcs: BTreeMap::new() },
        object_content: json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "prod", "labels": labels}}),
        profile: Some(sample_profile()),
        time: "2026-11-23T10:04:05.123456789Z".into(),
        ..Default::default()
    }
}

fn secret(ns: &str, name: &str, data: &[(&str, &str)]) -> (String, Json) {
    use base64::Engine;
    let d: serde_json::Map<String, Json> =
        data.iter().map(|(k, v)| (k.to_string(), json!(base64::engine::general_purpose::STANDARD.encode(v)))).collect();
    (
        format!("{ns}/{name}"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "data": d}),
    )
}

/// Hand-written from Go's semantics: `index` of labels, `toString` of Secret bytes,
/// `toDate … | date` with the reference layout, and `toJson .Profile` in struct order.
#[test]
fn golden_postgres_backup() {
    let text = std::fs::read_to_string(data("blueprints/postgres/postgres-blueprint.yaml")).unwrap();
    let bp = kanister::load::blueprint(&text).unwrap();
    let input = golden_input("statefulset", json!({"app.kubernetes.io/instance": "pg"}));
    let mut sim = Simulation::default();
    let (id, s) = secret("prod", "pg-postgresql", &[("postgres-password", "pa$$ 'w")]);
    sim.objects.insert(id, s);
    sim.outputs.insert("pgDump".into(), [("backupLocation".to_string(), json!("loc"))].into_iter().collect());
    let r = render_action(&bp, "backup", TemplateParams::new(input), &sim).unwrap();
    let want = format!(
        r#"export PGHOST='pg-postgresql.prod.svc.cluster.local'
export PGUSER='postgres'
export PGPASSWORD='pa$$ 'w'
BACKUP_LOCATION=pg_backups/prod/db/2026-11-23T10:04:05Z/backup.sql.gz
pg_dumpall --clean -U $PGUSER | gzip -c | kando location push --profile '{PROFILE_JSON}' --path "${{BACKUP_LOCATION}}" -
kando output backupLocation "${{BACKUP_LOCATION}}"
"#
    );
    assert_eq!(command_of(&r, "pgDump"), want);
    assert_eq!(r.phases[0].args["namespace"], json!("prod"));
    assert_eq!(r.phases[0].objects["pgSecret"].name, "pg-postgresql");
    assert_eq!(r.artifacts["cloudObject"].key_value["backupLocation"], "loc");
}

#[test]
fn golden_mysql_backup() {
    let text = std::fs::read_to_string(data("blueprints/mysql/mysql-blueprint.yaml")).unwrap();
    let bp = kanister::load::blueprint(&text).unwrap();
    let input = golden_input("statefulset", json!({"app.kubernetes.io/instance": "my"}));
    let mut sim = Simulation::default();
    // A password with characters Go's toString passes through untouched.
    let (id, s) = secret("prod", "my", &[("mysql-root-password", "r00t<&>")]);
    sim.objects.insert(id, s);
    sim.outputs.insert("dumpToObjectStore".into(), [("s3path".to_string(), json!("/p"))].into_iter().collect());
    let r = render_action(&bp, "backup", TemplateParams::new(input), &sim).unwrap();
    let want = format!(
        r#"s3_path="/mysql-backups/prod/my/2026-11-23T10-04-05/dump.sql.gz"
root_password="r00t<&>"
mysqldump --column-statistics=0 -u root --password=${{root_password}} -h my --single-transaction --all-databases | gzip - | kando location push --profile '{PROFILE_JSON}' --path ${{s3_path}} -
kando output s3path ${{s3_path}}
"#
    );
    assert_eq!(command_of(&r, "dumpToObjectStore"), want);
    assert_eq!(r.phases[0].objects["mysqlSecret"].name, "my");
    assert_eq!(r.artifacts["mysqlCloudDump"].key_value["s3path"], "/p");
}

#[test]
fn golden_mongodb_backup() {
    let text = std::fs::read_to_string(data("blueprints/mongodb/mongodb-blueprint.yaml")).unwrap();
    let bp = kanister::load::blueprint(&text).unwrap();
    let input = golden_input("statefulset", json!({}));
    let mut sim = Simulation::default();
    let (id, s) = secret("prod", "db", &[("mongodb-root-password", "m0ng0")]);
    sim.objects.insert(id, s);
    let r = render_action(&bp, "backup", TemplateParams::new(input), &sim).unwrap();
    let want = format!(
        r#"host='db-0.db-headless.prod.svc.cluster.local'
dbPassword='m0ng0'
dump_cmd="mongodump --oplog --gzip --archive --host ${{host}} -u root -p ${{dbPassword}}"
${{dump_cmd}} | kando location push --profile '{PROFILE_JSON}' --path '/mongodb-replicaset-backups/db/2026-11-23T10-04-05/rs_backup.gz' -
"#
    );
    assert_eq!(command_of(&r, "takeConsistentBackup"), want);
    assert_eq!(
        r.artifacts["cloudObject"].key_value["path"],
        "/mongodb-replicaset-backups/db/2026-11-23T10-04-05/rs_backup.gz"
    );
}

/// Errors as upstream words them: a missing key, an unknown function, a syntax error.
#[test]
fn render_errors_match_upstream() {
    let text = std::fs::read_to_string(data("blueprints/postgres/postgres-blueprint.yaml")).unwrap();
    let mut bp = kanister::load::blueprint(&text).unwrap();
    let input = golden_input("statefulset", json!({}));
    // restore reads .ArtifactsIn.cloudObject…, which this input lacks.
    let e = render_action(
        &bp,
        "restore",
        TemplateParams::new(input.clone()),
        &Simulation { missing_objects_empty: true, ..Default::default() },
    )
    .unwrap_err();
    assert!(e.to_string().ends_with(r#"Failed to render template: "cloudObject" not found"#), "{e}");
    let phase = &mut bp.actions.get_mut("backup").unwrap().phases[0];
    phase.args.insert("image".into(), json!("{{ nope .Time }}"));
    let e = kanister::render::check_templates(&bp).unwrap_err();
    assert!(e.to_string().ends_with(r#"template: config:1: function "nope" not defined"#), "{e}");
    let phase = &mut bp.actions.get_mut("backup").unwrap().phases[0];
    phase.args.insert("image".into(), json!("{{ if .Time }}x"));
    let e = kanister::render::check_templates(&bp).unwrap_err();
    assert!(e.to_string().ends_with("template: config:1: unexpected EOF"), "{e}");
    let e = render_action(&bp, "nosuch", TemplateParams::new(input), &Simulation::default()).unwrap_err();
    assert!(
        e.to_string().contains("Action nosuch for object kind statefulset not found in blueprint postgres-bp"),
        "{e}"
    );
}

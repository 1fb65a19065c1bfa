//! Every upstream example blueprint parses, round-trips and passes validation.

use crate::{data, yaml_docs};
use kanister::types::Blueprint;
use kanister::validate::validate_blueprint;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

/// `(file, document)` for every Blueprint document under `dir` (other kinds skipped).
fn blueprints_in(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut files = Vec::new();
    yaml_files(dir, &mut files);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in yaml_docs(&text) {
            if doc.get("kind").and_then(Value::as_str) == Some("Blueprint") {
                out.push((f.clone(), doc));
            }
        }
    }
    out
}

/// Upstream examples that upstream itself rejects (`kanctl validate blueprint`, and the
/// Blueprint validating webhook, enabled by default in the Helm chart), with the error.
const INVALID_UPSTREAM: &[(&str, &str)] = &[
    (
        // `restoreSnapshots` is a phase of both the restore and the delete action.
        "aws-rds-postgres/aws-rds-postgres-blueprint.yaml",
        "Failed to validate: Duplicated phase name is not allowed. Violating phase 'restoreSnapshots'",
    ),
    (
        // `setupNodeKeyStore` is a phase of the backup, restore and delete actions.
        "elasticsearch-incremental/elasticsearch-incremental-blueprint.yaml",
        "Failed to validate: Duplicated phase name is not allowed. Violating phase 'setupNodeKeyStore'",
    ),
];

fn check_all(dir: &Path) -> usize {
    let all = blueprints_in(dir);
    for (f, doc) in &all {
        let bp: Blueprint = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(!bp.actions.is_empty(), "{}: no actions", f.display());
        let rel = f.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
        match (validate_blueprint(&bp), INVALID_UPSTREAM.iter().find(|(p, _)| *p == rel)) {
            (Ok(()), None) => {}
            (Err(e), Some((_, want))) => assert_eq!(e.to_string(), *want, "{rel}"),
            (Err(e), None) => panic!("{rel}: {e}"),
            (Ok(()), Some(_)) => panic!("{rel}: passes, but upstream rejects it"),
        }
        // Everything the document says survives a round trip through the type (the
        // examples hold no null and no zero value Go would omit).
        let back = serde_json::to_value(&bp).unwrap();
        let again: Blueprint = serde_json::from_value(back.clone()).unwrap();
        assert_eq!(again, bp, "{}", f.display());
        assert_eq!(strip_defaults(doc.clone()), strip_defaults(back), "{}", f.display());
    }
    all.len()
}

/// Drop what Go adds on output: `null` (nil `args`, `creationTimestamp`) and `""` (the
/// non-omitempty strings of an ObjectReference or an action).
fn strip_defaults(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !(v.is_null() || v.as_str() == Some("")))
                .map(|(k, v)| (k, strip_defaults(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_defaults).collect()),
        v => v,
    }
}

#[test]
fn upstream_examples_parse_and_validate() {
    let n = check_all(&data("blueprints"));
    assert_eq!(n, 38, "blueprints in tests/data/blueprints");
}

/// When the shared compat directory is next to the repository (not in CI), check it too:
/// it may hold blueprints added since tests/data was copied.
#[test]
fn shared_compat_blueprints_when_present() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/compat/blueprints");
    if shared.is_dir() {
        assert!(check_all(&shared) >= 38);
    }
}

/// The project's own blueprints (`blueprints/`) validate as upstream would and every template
/// in them parses.
#[test]
fn our_blueprints_validate() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../blueprints");
    let found = blueprints_in(&dir);
    assert!(found.len() >= 3, "expected our postgres, mysql and mongodb blueprints, found {}", found.len());
    for (f, doc) in found {
        let bp: Blueprint = serde_json::from_value(doc).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        validate_blueprint(&bp).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        kanister::render::check_templates(&bp).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for a in bp.actions.values() {
            for p in a.phases.iter().chain(a.defer_phase.iter()) {
                let args = serde_json::to_string(&p.args).unwrap();
                assert!(!args.contains("gzip"), "{}: gzip in a pipe defeats deduplication", f.display());
            }
        }
    }
}

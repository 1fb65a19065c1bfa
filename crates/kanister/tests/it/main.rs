//! Integration tests of the `kanister` model crate: API types against upstream's wire format,
//! the generated CRDs, the function registry, blueprint/profile validation and rendering.
//! (kanctl's tests, offline and on a real API server, are in crates/kanctl.)
//!
//! Test data lives in `tests/data/` (upstream blueprints and CRDs, Apache-2.0), so the
//! tests never depend on anything outside the repository.

mod blueprints;
mod crd;
mod functions;
mod render;
mod types;
mod validate;

use serde_json::Value;
use std::path::PathBuf;

/// `crates/kanister/tests/data/<rel>`.
pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(rel)
}

/// Every document of a YAML (or JSON) text.
pub fn yaml_docs(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(text).expect("valid YAML");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// One YAML document.
pub fn yaml(text: &str) -> Value {
    let mut docs = yaml_docs(text);
    assert_eq!(docs.len(), 1, "expected one document");
    docs.remove(0)
}

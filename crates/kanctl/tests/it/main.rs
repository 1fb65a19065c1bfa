//! Integration tests of kanctl: offline (`kanctl`) and against a real API server (`cluster`,
//! `#[ignore]`d without one; scripts/test.sh starts it and runs them).
//!
//! Test data (upstream blueprints and CRDs, Apache-2.0) is the model crate's,
//! `crates/kanister/tests/data/`.

mod cluster;
mod kanctl;

use serde_json::Value;
use std::path::PathBuf;

/// `crates/kanister/tests/data/<rel>`.
pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../kanister/tests/data").join(rel)
}

/// Every document of a YAML (or JSON) text.
pub fn yaml_docs(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(text).expect("valid YAML");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

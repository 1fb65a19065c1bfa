//! The golden cases: templates and the output Go gives them, read from
//! `tests/data/template-golden.json` (its `about` field says how they were produced; the Go
//! program that produces the expectations is `tools/template-golden`). A case runs on a
//! JSON data set of the fixture (`DATA1`, `DATA2`, decoded with [`from_json`]) or on
//! `params`, the Go structs `params()` in `mod.rs` builds. Loading only: the checks are in
//! `mod.rs`.
//!
//! [`from_json`]: super::super::from_json

use serde::Deserialize;
use std::collections::BTreeMap;

/// The data set built in code rather than read from the fixture.
pub(super) const PARAMS: &str = "params";

const FIXTURE: &str = include_str!("../../../tests/data/template-golden.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Fixture {
    #[serde(rename = "about")]
    _about: Vec<String>,
    /// The JSON data sets by name.
    pub data: BTreeMap<String, serde_json::Value>,
    pub cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Case {
    /// A key of [`Fixture::data`], or [`PARAMS`].
    pub data: String,
    /// Needs the system tz database (named zones).
    #[serde(default)]
    pub zoned: bool,
    pub template: String,
    /// The output, `PARSEERR <error>` or `EXECERR <error>`.
    pub expected: String,
}

impl Fixture {
    /// The cases on data set `name` that do (or do not) need the tz database, as
    /// (template, expected) pairs.
    pub fn cases_on<'a>(&'a self, name: &'a str, zoned: bool) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.cases
            .iter()
            .filter(move |c| c.data == name && c.zoned == zoned)
            .map(|c| (c.template.as_str(), c.expected.as_str()))
    }
}

/// The fixture; every case names a data set it has.
pub(super) fn fixture() -> Fixture {
    let fx: Fixture = serde_json::from_str(FIXTURE).expect("tests/data/template-golden.json");
    for c in &fx.cases {
        assert!(c.data == PARAMS || fx.data.contains_key(&c.data), "case {:?}: no data set {:?}", c.template, c.data);
    }
    fx
}

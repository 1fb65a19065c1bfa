//! sprig's semver.go: `semver` (a `*semver.Version` struct that prints as its
//! `String()`) and `semverCompare`, on the Masterminds/semver v1.5.0 port.
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::s;
use crate::template::golibs::semver::{Constraints, Version};
use crate::template::gostd::json::push_string;
use crate::template::registry::{Registry, Ty::*};
use crate::template::value::{make_struct, with_stringer};
use gotmpl::Value;

/// Registers semver.go's functions.
pub(super) fn register(r: &mut Registry) {
    r.plain("semver", &[Str], None, |a| Version::parse(s(&a[0])).map(|v| semver_value(&v)));
    r.plain("semverCompare", &[Str, Str], None, |a| {
        let c = Constraints::parse(s(&a[0]))?;
        let v = Version::parse(s(&a[1]))?;
        Ok(Value::Bool(c.check(&v)))
    });
}

/// A `*semver.Version` (prints as its String()).
fn semver_value(v: &Version) -> Value {
    let fields = vec![
        ("Major".to_string(), Value::Int(v.major)),
        ("Minor".to_string(), Value::Int(v.minor)),
        ("Patch".to_string(), Value::Int(v.patch)),
        ("Prerelease".to_string(), Value::from(v.pre.as_str())),
        ("Metadata".to_string(), Value::from(v.metadata.as_str())),
        ("Original".to_string(), Value::from(v.original.as_str())),
    ];
    let mut json = String::new();
    push_string(&mut json, &v.to_string());
    let st = make_struct("*semver.Version", fields, json);
    with_stringer(st, &v.to_string())
}

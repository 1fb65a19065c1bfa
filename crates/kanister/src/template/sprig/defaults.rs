//! sprig's defaults.go: `default`, `empty`, `coalesce`, `ternary`, `toJson` and
//! `toPrettyJson` (on the `gostd::json` port; an encoding error gives `""`, as sprig).
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{empty, str_v};
use crate::template::gostd::json;
use crate::template::registry::{Registry, Ty::*};
use gotmpl::Value;

/// Registers defaults.go's functions.
pub(super) fn register(r: &mut Registry) {
    r.plain_iface("default", &[Any], Some(Any), |a| {
        let given = &a[1..];
        if given.is_empty() || empty(&given[0]) { Ok(a[0].clone()) } else { Ok(given[0].clone()) }
    });
    r.plain("empty", &[Any], None, |a| Ok(Value::Bool(empty(&a[0]))));
    r.plain_iface("coalesce", &[], Some(Any), |a| Ok(a.iter().find(|x| !empty(x)).cloned().unwrap_or(Value::Nil)));
    r.plain("toJson", &[Any], None, |a| str_v(json::marshal(&a[0]).unwrap_or_default()));
    r.plain("toPrettyJson", &[Any], None, |a| {
        str_v(json::marshal(&a[0]).map(|j| json::indent(&j)).unwrap_or_default())
    });
    r.plain_iface("ternary", &[Any, Any, Bool], None, |a| {
        Ok(if matches!(a[2], Value::Bool(true)) { a[0].clone() } else { a[1].clone() })
    });
}

//! Helpers shared by the sprig files: argument accessors and result builders, and the
//! conversions several sprig Go files share (`strval`/`strslice` from strings.go, `empty`
//! from defaults.go, `toInt64` from numeric.go). Imports only template values and
//! `gostd`; every sprig file may import it, it imports none of them.

use crate::template::gostd::fmt::sprint_value;
use crate::template::gostd::strconv::parse_int10;
use crate::template::gostd::unicode::lossy;
use crate::template::value::{StructView, View, classify, map_entries, truth};
use gotmpl::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A sprig function's result.
pub(super) type Res = Result<Value, String>;

/// The text of Go's nil-dereference panic, which sprig functions reach on a nil list.
pub(super) const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

/// A `string` argument (already checked by the executor).
pub(super) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// An integer argument (already checked by the executor).
pub(super) fn n(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Uint(u) => *u as i64,
        _ => 0,
    }
}

/// A string result.
pub(super) fn str_v(x: impl Into<String>) -> Res {
    Ok(Value::from(x.into()))
}

/// A `[]interface{}` value.
pub(super) fn list_v(items: Vec<Value>) -> Value {
    Value::List(items.into())
}

/// A `[]string` value.
pub(super) fn strs(items: impl IntoIterator<Item = String>) -> Value {
    list_v(items.into_iter().map(Value::from).collect())
}

/// A `map[string]interface{}` value.
pub(super) fn map_v(m: BTreeMap<Arc<str>, Value>) -> Value {
    Value::Map(Arc::new(m))
}

/// sprig's `strval`: strings, []byte and Stringers as text, the rest with `%v`.
pub(super) fn strval(v: &Value) -> String {
    match classify(v) {
        View::Str(x) => x.to_string(),
        View::Bytes(b) => lossy(&b),
        View::Time(t) => t.to_go_string(),
        View::Struct(st) if st_stringer(&st).is_some() => st_stringer(&st).unwrap_or_default(),
        _ => sprint_value(v),
    }
}

fn st_stringer(st: &StructView) -> Option<String> {
    st.stringer.clone()
}

/// sprig's `strslice`.
pub(super) fn strslice(v: &Value) -> Vec<String> {
    match classify(v) {
        View::List(l) => l.iter().filter(|x| !matches!(x, Value::Nil)).map(strval).collect(),
        View::Bytes(b) => b.iter().map(|x| x.to_string()).collect(),
        View::Nil => Vec::new(),
        _ => vec![strval(v)],
    }
}

/// sprig's `empty`.
pub(super) fn empty(v: &Value) -> bool {
    match classify(v) {
        View::Struct(_) | View::Time(_) => false,
        View::Func => false,
        _ => !truth(v),
    }
}

/// sprig's `toInt64` (cast-like: strings parsed base 10, floats truncated, bools 0/1).
pub(super) fn to_int64(v: &Value) -> i64 {
    match classify(v) {
        View::Str(x) => parse_int10(x).unwrap_or(0),
        View::Int(i) => i,
        View::Uint(u) => i64::try_from(u).unwrap_or(i64::MAX),
        View::Float(f) => {
            if f.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
                i64::MIN
            } else {
                f as i64
            }
        }
        View::Bool(b) => b as i64,
        _ => 0,
    }
}

/// The entries of a `map[string]interface{}` argument (a copy: Go would share the map).
pub(super) fn plain_map(v: &Value) -> BTreeMap<Arc<str>, Value> {
    match classify(v) {
        View::Map(m) => map_entries(m).map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => BTreeMap::new(),
    }
}

/// The error of the functions this port does not implement (certificates, rsa/ecdsa keys).
pub(super) fn unsupported(name: &str) -> String {
    format!("{name} is not supported by this implementation of Kanister templates")
}

//! Go values that [`Value`] has no variant for, carried as maps with one reserved key.
//!
//! A [`Value::Map`] holding the key [`HIDDEN`] is one of:
//!
//! * a **struct** (`go_struct`): the other keys are its fields (Go names); the hidden entry
//!   holds the Go type name, the field order and the struct's own `encoding/json` text;
//! * a **time.Time**: seconds, nanoseconds, zone offset and abbreviation (no other keys);
//! * a **[]byte**: the bytes (base64 in the hidden entry);
//! * a **typed nil pointer** (`*param.Profile(nil)`): its type name.
//!
//! Every place that looks inside a map (field access, `range`, `len`, `index`, `keys`,
//! `toJson`, printing, comparison) goes through [`classify`], so the hidden key never shows.
//!
//! Also Go's view of these values: `%T` type names, `reflect.Kind` names, truth and
//! `reflect.DeepEqual`. A leaf below everything that handles values: it imports only
//! `gostd::time`, never the executor, the function table or sprig.

use super::gostd::time::GoTime;
use base64::Engine;
use gotmpl::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The reserved key. It starts with U+0001, which no Go identifier or JSON key in
/// Kanister's data contains.
pub(crate) const HIDDEN: &str = "\u{1}go";

/// The ways a [`Value`] is seen by the engine.
pub(crate) enum View<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a str),
    List(&'a [Value]),
    /// A plain `map[string]interface{}`.
    Map(&'a BTreeMap<Arc<str>, Value>),
    Struct(StructView<'a>),
    Time(GoTime),
    Bytes(Vec<u8>),
    /// A nil pointer of the named type.
    TypedNil(String),
    Func,
}

/// A struct's fields, type name and JSON form.
pub(crate) struct StructView<'a> {
    pub map: &'a BTreeMap<Arc<str>, Value>,
    pub type_name: String,
    pub json: String,
    pub order: Vec<String>,
    /// What `String()` returns, for types that implement fmt.Stringer.
    pub stringer: Option<String>,
}

impl StructView<'_> {
    /// The fields in declaration order.
    pub fn fields(&self) -> Vec<(&str, &Value)> {
        self.order.iter().filter_map(|k| self.map.get_key_value(k.as_str()).map(|(k, v)| (k.as_ref(), v))).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        if name == HIDDEN { None } else { self.map.get(name) }
    }
}

fn meta_str(meta: &BTreeMap<Arc<str>, Value>, k: &str) -> String {
    meta.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string()
}

fn meta_int(meta: &BTreeMap<Arc<str>, Value>, k: &str) -> i64 {
    match meta.get(k) {
        Some(Value::Int(i)) => *i,
        _ => 0,
    }
}

/// How the engine sees `v`.
pub(crate) fn classify(v: &Value) -> View<'_> {
    match v {
        Value::Nil => View::Nil,
        Value::Bool(b) => View::Bool(*b),
        Value::Int(i) => View::Int(*i),
        Value::Uint(u) => View::Uint(*u),
        Value::Float(f) => View::Float(*f),
        Value::String(s) => View::Str(s),
        Value::List(l) => View::List(l),
        Value::Function(_) => View::Func,
        Value::Map(m) => match m.get(HIDDEN) {
            Some(Value::Map(meta)) => match meta.get("kind").and_then(|k| k.as_str()) {
                Some("struct") => View::Struct(StructView {
                    map: m,
                    type_name: meta_str(meta, "type"),
                    json: meta_str(meta, "json"),
                    order: match meta.get("order") {
                        Some(Value::List(l)) => l.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                        _ => Vec::new(),
                    },
                    stringer: meta.get("string").and_then(|x| x.as_str()).map(str::to_string),
                }),
                Some("time") => View::Time(GoTime {
                    sec: meta_int(meta, "sec"),
                    nsec: meta_int(meta, "nsec") as u32,
                    offset: meta_int(meta, "off") as i32,
                    zone: meta_str(meta, "zone"),
                }),
                Some("bytes") => View::Bytes(
                    base64::engine::general_purpose::STANDARD.decode(meta_str(meta, "data")).unwrap_or_default(),
                ),
                Some("nil") => View::TypedNil(meta_str(meta, "type")),
                _ => View::Map(m),
            },
            _ => View::Map(m),
        },
    }
}

fn meta(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(Arc::new(entries.into_iter().map(|(k, v)| (Arc::from(k), v)).collect()))
}

/// A struct value (see the module docs).
pub(crate) fn make_struct(type_name: &str, fields: Vec<(String, Value)>, json: String) -> Value {
    let order: Vec<Value> = fields.iter().map(|(k, _)| Value::from(k.as_str())).collect();
    let mut m: BTreeMap<Arc<str>, Value> = fields.into_iter().map(|(k, v)| (Arc::from(k), v)).collect();
    m.insert(
        Arc::from(HIDDEN),
        meta(vec![
            ("kind", Value::from("struct")),
            ("type", Value::from(type_name)),
            ("json", Value::from(json)),
            ("order", Value::List(order.into())),
        ]),
    );
    Value::Map(Arc::new(m))
}

/// A map of a named Go map type (`map[string]string`, `map[string][]uint8`, …).
pub(crate) fn make_typed_map(type_name: &str, entries: Vec<(String, Value)>) -> Value {
    let mut m: BTreeMap<Arc<str>, Value> = entries.into_iter().map(|(k, v)| (Arc::from(k), v)).collect();
    m.insert(Arc::from(HIDDEN), meta(vec![("kind", Value::from("map")), ("type", Value::from(type_name))]));
    Value::Map(Arc::new(m))
}

/// The Go type of a map built with [`make_typed_map`] (None: `map[string]interface {}`).
pub(crate) fn map_type(m: &BTreeMap<Arc<str>, Value>) -> Option<String> {
    match m.get(HIDDEN) {
        Some(Value::Map(meta)) if meta.get("kind").and_then(|k| k.as_str()) == Some("map") => {
            meta.get("type").and_then(|t| t.as_str()).map(str::to_string)
        }
        _ => None,
    }
}

/// The zero value of a Go element type, as far as templates can tell them apart.
pub(crate) fn zero_of(elem: &str) -> Option<Value> {
    Some(match elem {
        "string" => Value::from(""),
        "int" | "int8" | "int16" | "int32" | "int64" => Value::Int(0),
        "uint" | "uint8" | "uint16" | "uint32" | "uint64" => Value::Uint(0),
        "float32" | "float64" => Value::Float(0.0),
        "bool" => Value::Bool(false),
        "[]uint8" | "[]byte" => make_bytes(&[]),
        t if t.starts_with("map[") => make_typed_map(t, Vec::new()),
        t if t.starts_with("[]") => Value::List(Vec::new().into()),
        t if t.starts_with('*') => make_typed_nil(t),
        _ => return None,
    })
}

/// The element type of a map type name (`map[string]string` → `string`).
pub(crate) fn map_elem(type_name: &str) -> &str {
    match type_name.strip_prefix("map[").and_then(|r| r.split_once(']')) {
        Some((_, e)) => e,
        None => "interface {}",
    }
}

/// The struct `st` with a `String()` method returning `text`.
pub(crate) fn with_stringer(st: Value, text: &str) -> Value {
    let Value::Map(m) = st else { return st };
    let mut m = (*m).clone();
    if let Some(Value::Map(meta)) = m.get(HIDDEN) {
        let mut meta = (**meta).clone();
        meta.insert(Arc::from("string"), Value::from(text));
        m.insert(Arc::from(HIDDEN), Value::Map(Arc::new(meta)));
    }
    Value::Map(Arc::new(m))
}

/// A time.Time value.
pub(crate) fn make_time(t: &GoTime) -> Value {
    let mut m = BTreeMap::new();
    m.insert(
        Arc::from(HIDDEN),
        meta(vec![
            ("kind", Value::from("time")),
            ("sec", Value::Int(t.sec)),
            ("nsec", Value::Int(t.nsec as i64)),
            ("off", Value::Int(t.offset as i64)),
            ("zone", Value::from(t.zone.as_str())),
        ]),
    );
    Value::Map(Arc::new(m))
}

/// A []byte value.
pub(crate) fn make_bytes(b: &[u8]) -> Value {
    let mut m = BTreeMap::new();
    m.insert(
        Arc::from(HIDDEN),
        meta(vec![
            ("kind", Value::from("bytes")),
            ("data", Value::from(base64::engine::general_purpose::STANDARD.encode(b))),
        ]),
    );
    Value::Map(Arc::new(m))
}

/// A nil pointer of the named Go type.
pub(crate) fn make_typed_nil(type_name: &str) -> Value {
    let mut m = BTreeMap::new();
    m.insert(Arc::from(HIDDEN), meta(vec![("kind", Value::from("nil")), ("type", Value::from(type_name))]));
    Value::Map(Arc::new(m))
}

/// The entries of a plain map (never called with a special).
pub(crate) fn map_entries(m: &BTreeMap<Arc<str>, Value>) -> impl Iterator<Item = (&Arc<str>, &Value)> {
    m.iter().filter(|(k, _)| k.as_ref() != HIDDEN)
}

/// Go's `%T`: the dynamic type name.
pub(crate) fn type_name(v: &Value) -> String {
    match classify(v) {
        View::Nil => "<nil>".into(),
        View::Bool(_) => "bool".into(),
        View::Int(_) => "int".into(),
        View::Uint(_) => "uint".into(),
        View::Float(_) => "float64".into(),
        View::Str(_) => "string".into(),
        View::List(_) => "[]interface {}".into(),
        View::Map(m) => map_type(m).unwrap_or_else(|| "map[string]interface {}".into()),
        View::Struct(s) => {
            if s.type_name.is_empty() {
                "struct".into()
            } else {
                s.type_name
            }
        }
        View::Time(_) => "time.Time".into(),
        View::Bytes(_) => "[]uint8".into(),
        View::TypedNil(t) => t,
        View::Func => "func(...interface {}) interface {}".into(),
    }
}

/// `reflect.Kind.String()`.
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match classify(v) {
        View::Nil => "invalid",
        View::Bool(_) => "bool",
        View::Int(_) => "int",
        View::Uint(_) => "uint",
        View::Float(_) => "float64",
        View::Str(_) => "string",
        View::List(_) | View::Bytes(_) => "slice",
        View::Map(_) => "map",
        View::Struct(s) => {
            if s.type_name.starts_with('*') {
                "ptr"
            } else {
                "struct"
            }
        }
        View::Time(_) => "struct",
        View::TypedNil(_) => "ptr",
        View::Func => "func",
    }
}

/// text/template's `isTrue` (the second result is always `true` here: every value we carry
/// has a truth value).
pub(crate) fn truth(v: &Value) -> bool {
    match classify(v) {
        View::Nil | View::TypedNil(_) => false,
        View::Bool(b) => b,
        View::Int(i) => i != 0,
        View::Uint(u) => u != 0,
        View::Float(f) => f != 0.0,
        View::Str(s) => !s.is_empty(),
        View::List(l) => !l.is_empty(),
        View::Map(m) => map_entries(m).next().is_some(),
        View::Bytes(b) => !b.is_empty(),
        View::Struct(_) | View::Time(_) | View::Func => true,
    }
}

/// `reflect.DeepEqual` on two values.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (classify(a), classify(b)) {
        (View::Nil, View::Nil) => true,
        (View::Bool(x), View::Bool(y)) => x == y,
        (View::Int(x), View::Int(y)) => x == y,
        (View::Uint(x), View::Uint(y)) => x == y,
        (View::Float(x), View::Float(y)) => x == y,
        (View::Str(x), View::Str(y)) => x == y,
        (View::List(x), View::List(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q)),
        (View::Map(x), View::Map(y)) => {
            let xs: Vec<_> = map_entries(x).collect();
            let ys: Vec<_> = map_entries(y).collect();
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|((k1, v1), (k2, v2))| k1 == k2 && deep_equal(v1, v2))
        }
        (View::Struct(x), View::Struct(y)) => {
            x.type_name == y.type_name && {
                let xf = x.fields();
                let yf = y.fields();
                xf.len() == yf.len()
                    && xf.iter().zip(yf.iter()).all(|((k1, v1), (k2, v2))| k1 == k2 && deep_equal(v1, v2))
            }
        }
        (View::Time(x), View::Time(y)) => x == y,
        (View::Bytes(x), View::Bytes(y)) => x == y,
        (View::TypedNil(x), View::TypedNil(y)) => x == y,
        _ => false,
    }
}

/// serde_json → Value (see [`super::from_json`]).
pub(crate) fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::Uint(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(from_json).collect::<Vec<_>>().into()),
        serde_json::Value::Object(o) => {
            Value::Map(Arc::new(o.iter().map(|(k, v)| (Arc::from(k.as_str()), from_json(v))).collect()))
        }
    }
}

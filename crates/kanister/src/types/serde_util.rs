//! Serde helpers that reproduce Go `encoding/json` behaviour: `null` decodes to the zero
//! value, `omitempty` skips zero values, and `map[string]interface{}` prints its keys sorted.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// Decode like Go: an explicit `null` (or a missing field, with `#[serde(default)]`) leaves
/// the zero value.
pub(crate) fn nd<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An omitempty Go string held as `Option<String>`: `""` and `null` both decode to `None`.
pub(crate) fn opt_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

pub(crate) fn is_zero(v: &i64) -> bool {
    *v == 0
}

pub(crate) fn opt_zero(v: &Option<i64>) -> bool {
    v.is_none_or(|n| n == 0)
}

pub(crate) fn opt_map_empty<V>(v: &Option<BTreeMap<String, V>>) -> bool {
    v.as_ref().is_none_or(BTreeMap::is_empty)
}

pub(crate) fn opt_vec_empty<V>(v: &Option<Vec<V>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

/// A JSON value printed with every object's keys in sorted order, as Go prints
/// `map[string]interface{}` (our `serde_json` may preserve insertion order).
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Sorted<'_>> = m.iter().map(|(k, v)| (k, Sorted(v))).collect();
                sorted.serialize(s)
            }
            Value::Array(a) => s.collect_seq(a.iter().map(Sorted)),
            v => v.serialize(s),
        }
    }
}

/// A `map[string]interface{}` field (omitempty or not, the caller decides when to skip).
pub(crate) fn sorted_map<S: Serializer>(m: &BTreeMap<String, Value>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(m.iter().map(|(k, v)| (k, Sorted(v))))
}

/// A `map[string]interface{}` field *without* omitempty: Go prints a nil map as `null`.
/// An empty map is taken to be nil (the two decode identically).
pub(crate) fn sorted_map_or_null<S: Serializer>(m: &BTreeMap<String, Value>, s: S) -> Result<S::Ok, S::Error> {
    if m.is_empty() { s.serialize_none() } else { sorted_map(m, s) }
}

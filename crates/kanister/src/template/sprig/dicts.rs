//! sprig's dict.go: `dict`, `set`, `unset`, `hasKey`, `pluck`, `keys` (sorted here),
//! `pick`, `omit`, `merge`, `mergeOverwrite` (mergo's rules), `values`, `deepCopy`.
//! Go's maps are references; here `set`/`unset`/`merge` return the changed map and the
//! executor rebinds the variable they were called on.
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{empty, list_v, map_v, plain_map, s, strs, strval};
use crate::template::registry::{Registry, Ty::*};
use crate::template::value::{View, classify, map_entries};
use gotmpl::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers dict.go's functions.
pub(super) fn register(r: &mut Registry) {
    r.plain_iface("deepCopy", &[Any], None, |a| Ok(a[0].clone()));
    r.plain("dict", &[], Some(Any), |a| {
        let mut m = BTreeMap::new();
        let mut i = 0;
        while i < a.len() {
            let k: Arc<str> = Arc::from(strval(&a[i]));
            m.insert(k, a.get(i + 1).cloned().unwrap_or_else(|| Value::from("")));
            i += 2;
        }
        Ok(map_v(m))
    });
    r.plain("set", &[MapSA, Str, Any], None, |a| {
        let mut m = plain_map(&a[0]);
        m.insert(Arc::from(s(&a[1])), a[2].clone());
        Ok(map_v(m))
    });
    r.plain("unset", &[MapSA, Str], None, |a| {
        let mut m = plain_map(&a[0]);
        m.remove(s(&a[1]));
        Ok(map_v(m))
    });
    r.plain("hasKey", &[MapSA, Str], None, |a| Ok(Value::Bool(plain_map(&a[0]).contains_key(s(&a[1])))));
    r.plain("pluck", &[Str], Some(MapSA), |a| {
        Ok(list_v(a[1..].iter().filter_map(|d| plain_map(d).get(s(&a[0])).cloned()).collect()))
    });
    r.plain("keys", &[], Some(MapSA), |a| {
        Ok(strs(a.iter().flat_map(|d| plain_map(d).into_keys().map(|k| k.to_string()))))
    });
    r.plain("pick", &[MapSA], Some(Str), |a| {
        let m = plain_map(&a[0]);
        let mut out = BTreeMap::new();
        for k in &a[1..] {
            if let Some(v) = m.get(s(k)) {
                out.insert(Arc::from(s(k)), v.clone());
            }
        }
        Ok(map_v(out))
    });
    r.plain("omit", &[MapSA], Some(Str), |a| {
        let mut m = plain_map(&a[0]);
        for k in &a[1..] {
            m.remove(s(k));
        }
        Ok(map_v(m))
    });
    r.plain_iface("merge", &[MapSA], Some(MapSA), |a| {
        let mut dst = plain_map(&a[0]);
        for src in &a[1..] {
            merge_into(&mut dst, &plain_map(src), false);
        }
        Ok(map_v(dst))
    });
    r.plain_iface("mergeOverwrite", &[MapSA], Some(MapSA), |a| {
        let mut dst = plain_map(&a[0]);
        for src in &a[1..] {
            merge_into(&mut dst, &plain_map(src), true);
        }
        Ok(map_v(dst))
    });
    r.plain("values", &[MapSA], None, |a| Ok(list_v(plain_map(&a[0]).into_values().collect())));
}

/// goutils-free `mergo.Merge` / `MergeWithOverwrite` on `map[string]interface{}`.
fn merge_into(dst: &mut BTreeMap<Arc<str>, Value>, src: &BTreeMap<Arc<str>, Value>, overwrite: bool) {
    for (k, sv) in map_entries(src) {
        if matches!(sv, Value::Nil) {
            if overwrite {
                dst.insert(k.clone(), Value::Nil);
            }
            continue;
        }
        let src_is_map = matches!(classify(sv), View::Map(_));
        let src_is_map_or_slice = src_is_map || matches!(classify(sv), View::List(_) | View::Bytes(_));
        if src_is_map
            && let Some(Value::Map(dm)) = dst.get(k)
            && matches!(classify(&Value::Map(dm.clone())), View::Map(_))
            && let View::Map(sm) = classify(sv)
        {
            let mut inner = (**dm).clone();
            merge_into(&mut inner, sm, overwrite);
            dst.insert(k.clone(), Value::Map(Arc::new(inner)));
        }
        let dv = dst.get(k);
        if let Some(d) = dv
            && !empty(d)
            && src_is_map_or_slice
        {
            continue;
        }
        if overwrite || dv.is_none() || dv.is_some_and(empty) {
            dst.insert(k.clone(), sv.clone());
        }
    }
}

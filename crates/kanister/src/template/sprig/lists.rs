//! sprig's list.go: `list`/`tuple`, `append`/`push`, `prepend`, `first`, `last`,
//! `rest`, `initial`, `reverse`, `uniq`, `without`, `has`, `slice`, `concat`,
//! `compact`, `sortAlpha`, with sprig's panics (`Cannot find first on type string`) as
//! errors.
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{NIL_DEREF, Res, empty, list_v, strs, strslice, strval, to_int64};
use crate::template::registry::{Registry, Ty::*};
use crate::template::value::{View, classify, deep_equal, kind_name, type_name};
use gotmpl::Value;

/// Registers list.go's functions.
pub(super) fn register(r: &mut Registry) {
    r.plain("sortAlpha", &[Any], None, |a| {
        Ok(match classify(&a[0]) {
            View::List(_) | View::Bytes(_) => {
                let mut v = strslice(&a[0]);
                v.sort();
                strs(v)
            }
            _ => strs(vec![strval(&a[0])]),
        })
    });
    r.plain("compact", &[Any], None, |a| {
        Ok(list_v(items(&a[0], "Cannot compact on type %s")?.into_iter().filter(|x| !empty(x)).collect()))
    });
    r.plain("tuple", &[], Some(Any), |a| Ok(list_v(a.to_vec())));
    r.plain("list", &[], Some(Any), |a| Ok(list_v(a.to_vec())));
    r.plain("append", &[Any, Any], None, push);
    r.plain("push", &[Any, Any], None, push);
    r.plain("prepend", &[Any, Any], None, |a| {
        let mut l = vec![a[1].clone()];
        l.extend(items(&a[0], "Cannot prepend on type %s")?);
        Ok(list_v(l))
    });
    r.plain_iface("first", &[Any], None, |a| {
        Ok(items(&a[0], "Cannot find first on type %s")?.first().cloned().unwrap_or(Value::Nil))
    });
    r.plain_iface("last", &[Any], None, |a| {
        Ok(items(&a[0], "Cannot find last on type %s")?.last().cloned().unwrap_or(Value::Nil))
    });
    r.plain("rest", &[Any], None, |a| {
        let l = items(&a[0], "Cannot find rest on type %s")?;
        Ok(if l.is_empty() { Value::List(Vec::new().into()) } else { list_v(l[1..].to_vec()) })
    });
    r.plain("initial", &[Any], None, |a| {
        let l = items(&a[0], "Cannot find initial on type %s")?;
        Ok(if l.is_empty() { Value::List(Vec::new().into()) } else { list_v(l[..l.len() - 1].to_vec()) })
    });
    r.plain("reverse", &[Any], None, |a| {
        let mut l = items(&a[0], "Cannot find reverse on type %s")?;
        l.reverse();
        Ok(list_v(l))
    });
    r.plain("uniq", &[Any], None, |a| {
        let mut out: Vec<Value> = Vec::new();
        for x in items(&a[0], "Cannot find uniq on type %s")? {
            if !out.iter().any(|y| type_name(y) == type_name(&x) && deep_equal(y, &x)) {
                out.push(x);
            }
        }
        Ok(list_v(out))
    });
    r.plain("without", &[Any], Some(Any), |a| {
        let omit = &a[1..];
        Ok(list_v(
            items(&a[0], "Cannot find without on type %s")?
                .into_iter()
                .filter(|x| !omit.iter().any(|y| type_name(y) == type_name(x) && deep_equal(y, x)))
                .collect(),
        ))
    });
    r.plain("has", &[Any, Any], None, |a| {
        if matches!(a[1], Value::Nil) {
            return Ok(Value::Bool(false));
        }
        let l = items(&a[1], "Cannot find has on type %s")?;
        Ok(Value::Bool(l.iter().any(|x| type_name(x) == type_name(&a[0]) && deep_equal(x, &a[0]))))
    });
    r.plain_iface("slice", &[Any], Some(Any), |a| {
        let l = match classify(&a[0]) {
            View::Nil => return Err(NIL_DEREF.into()),
            View::List(_) | View::Bytes(_) => items(&a[0], "")?,
            _ => return Err(format!("list should be type of slice or array but {}", kind_of_type(&a[0]))),
        };
        if l.is_empty() {
            return Ok(Value::Nil);
        }
        let start = a.get(1).map(to_int64).unwrap_or(0);
        let end = if a.len() < 3 { l.len() as i64 } else { to_int64(&a[2]) };
        if start < 0 || end < start || end > l.len() as i64 {
            return Err("reflect.Value.Slice: slice index out of bounds".into());
        }
        Ok(list_v(l[start as usize..end as usize].to_vec()))
    });
    r.plain_iface("concat", &[], Some(Any), |a| {
        let mut out = Vec::new();
        for l in a {
            out.extend(items(l, "Cannot concat type %s as list")?);
        }
        Ok(list_v(out))
    });
}

/// The elements of a slice/array argument, or sprig's panic for other kinds.
fn items(v: &Value, what: &str) -> Result<Vec<Value>, String> {
    match classify(v) {
        View::List(l) => Ok(l.to_vec()),
        View::Bytes(b) => Ok(b.iter().map(|x| Value::Uint(*x as u64)).collect()),
        View::Nil => Err(NIL_DEREF.into()),
        _ => Err(what.replace("%s", kind_of_type(v))),
    }
}

/// `reflect.TypeOf(v).Kind()` as sprig prints it.
fn kind_of_type(v: &Value) -> &'static str {
    kind_name(v)
}

/// sprig's `push`/`append`.
fn push(a: &[Value]) -> Res {
    let mut l = items(&a[0], "Cannot push on type %s")?;
    l.push(a[1].clone());
    Ok(list_v(l))
}

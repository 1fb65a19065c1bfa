//! Go's text/template builtins (`text/template/funcs.go`): `and call eq ge gt html index js
//! le len lt ne not or print printf println urlquery`, with Go's comparison rules and error
//! texts, `HTMLEscapeString` and `JSEscapeString`. (`slice` is not registered here: sprig's
//! replaces it, as in Kanister.) Registers into [`Registry`]; must not import the executor,
//! the assembled table or sprig.

use crate::template::ev::Ev;
use crate::template::gostd::fmt::{sprint, sprintf, sprintln};
use crate::template::gostd::unicode::is_print;
use crate::template::gostd::url::query_escape;
use crate::template::registry::{Imp, Registry, Ty::*};
use crate::template::value::{
    HIDDEN, View, classify, deep_equal, kind_name, map_elem, map_entries, map_type, truth, type_name, zero_of,
};
use gotmpl::Value;

/// Registers Go's builtins.
pub(crate) fn register(r: &mut Registry) {
    // Go's builtins (text/template/funcs.go). sprig's `slice` replaces the builtin below.
    r.add("and", &[RValue], Some(RValue), false, Imp::And);
    r.add("or", &[RValue], Some(RValue), false, Imp::Or);
    r.add("call", &[RValue], Some(RValue), false, Imp::Call);
    r.add("html", &[], Some(Any), false, Imp::Plain(|a| Ok(Value::from(html_escape(&eval_args(a))))));
    r.add("js", &[], Some(Any), false, Imp::Plain(|a| Ok(Value::from(js_escape(&eval_args(a))))));
    r.add("urlquery", &[], Some(Any), false, Imp::Plain(|a| Ok(Value::from(query_escape(&eval_args(a))))));
    r.add("index", &[RValue], Some(RValue), false, Imp::Reflect(index));
    r.add("len", &[RValue], None, false, Imp::Reflect(length));
    r.add("not", &[RValue], None, false, Imp::Reflect(|a| Ok(Ev::Val(Value::Bool(!ev_truth(&a[0]))))));
    r.add("print", &[], Some(Any), false, Imp::Plain(|a| Ok(Value::from(sprint(a)))));
    r.add(
        "printf",
        &[Str],
        Some(Any),
        false,
        Imp::Plain(|a| Ok(Value::from(sprintf(a[0].as_str().unwrap_or(""), &a[1..])))),
    );
    r.add("println", &[], Some(Any), false, Imp::Plain(|a| Ok(Value::from(sprintln(a)))));
    r.add("eq", &[RValue], Some(RValue), false, Imp::Reflect(|a| cmp_eq(&a[0], &a[1..]).map(bool_ev)));
    r.add("ne", &[RValue, RValue], None, false, Imp::Reflect(|a| cmp_eq(&a[0], &a[1..2]).map(|b| bool_ev(!b))));
    r.add("lt", &[RValue, RValue], None, false, Imp::Reflect(|a| cmp_lt(&a[0], &a[1]).map(bool_ev)));
    r.add("le", &[RValue, RValue], None, false, Imp::Reflect(|a| cmp_le(&a[0], &a[1]).map(bool_ev)));
    r.add("gt", &[RValue, RValue], None, false, Imp::Reflect(|a| cmp_le(&a[0], &a[1]).map(|b| bool_ev(!b))));
    r.add("ge", &[RValue, RValue], None, false, Imp::Reflect(|a| cmp_lt(&a[0], &a[1]).map(|b| bool_ev(!b))));
}

fn bool_ev(b: bool) -> Ev {
    Ev::Val(Value::Bool(b))
}

fn ev_truth(e: &Ev) -> bool {
    match e.indirect_interface() {
        Ev::Invalid => false,
        x => truth(&x.value()),
    }
}

/// text/template's `evalArgs`: one string as is, otherwise `fmt.Sprint` (nil as `<no value>`).
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.to_string();
    }
    let printable: Vec<Value> =
        args.iter().map(|a| if matches!(a, Value::Nil) { Value::from("<no value>") } else { a.clone() }).collect();
    sprint(&printable)
}

/// `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_ascii() => out.push(c),
            c if is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}
/// Go's `index` builtin.
fn index(args: &[Ev]) -> Result<Ev, String> {
    let mut item = args[0].indirect_interface();
    if let Ev::Invalid = item {
        return Err("index of untyped nil".into());
    }
    for idx in &args[1..] {
        let idx = idx.indirect_interface();
        if let Ev::Iface(Value::Nil) = item {
            return Err("index of nil pointer".into());
        }
        let v = item.value();
        let view = classify(&v);
        if let View::TypedNil(_) = view {
            return Err("index of nil pointer".into());
        }
        let seq_len = match &view {
            View::List(l) => Some(l.len()),
            View::Str(s) => Some(s.len()),
            View::Bytes(b) => Some(b.len()),
            _ => None,
        };
        if let Some(len) = seq_len {
            let x = index_arg(&idx, len)?;
            item = match view {
                View::List(l) => match l.get(x) {
                    Some(e) => Ev::Iface(e.clone()),
                    None => return Err("reflect: slice index out of range".into()),
                },
                View::Str(s) => match s.as_bytes().get(x) {
                    Some(b) => Ev::Val(Value::Uint(*b as u64)),
                    None => return Err("reflect: string index out of range".into()),
                },
                View::Bytes(b) => match b.get(x) {
                    Some(b) => Ev::Val(Value::Uint(*b as u64)),
                    None => return Err("reflect: slice index out of range".into()),
                },
                _ => Ev::Invalid,
            };
            continue;
        }
        match view {
            View::Map(m) => {
                let key = match &idx {
                    Ev::Invalid => return Err("value is nil; should be of type string".into()),
                    other => match other.value() {
                        Value::String(s) => s,
                        v => return Err(format!("value has type {}; should be string", type_name(&v))),
                    },
                };
                let typed = map_type(m);
                item = match (m.get(key.as_ref()), &typed) {
                    (Some(e), None) if key.as_ref() != HIDDEN => Ev::Iface(e.clone()),
                    (Some(e), Some(_)) if key.as_ref() != HIDDEN => Ev::val(e.clone()),
                    (_, Some(t)) => match zero_of(map_elem(t)) {
                        Some(z) => Ev::Val(z),
                        None => Ev::Iface(Value::Nil),
                    },
                    (_, None) => Ev::Iface(Value::Nil),
                };
            }
            _ => return Err(format!("can't index item of type {}", type_name(&v).trim_start_matches('*'))),
        }
    }
    Ok(item)
}

fn index_arg(idx: &Ev, cap: usize) -> Result<usize, String> {
    let x: i64 = match idx {
        Ev::Invalid => return Err("cannot index slice/array with nil".into()),
        other => match other.value() {
            Value::Int(i) => i,
            Value::Uint(u) => u as i64,
            v => return Err(format!("cannot index slice/array with type {}", type_name(&v))),
        },
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

/// Go's `len` builtin.
fn length(args: &[Ev]) -> Result<Ev, String> {
    let item = &args[0];
    if let Ev::Iface(Value::Nil) = item {
        return Err("len of nil pointer".into());
    }
    if let Ev::Invalid = item {
        return Err("reflect: call of reflect.Value.Type on zero Value".into());
    }
    let v = item.value();
    let n = match classify(&v) {
        View::Str(s) => s.len(),
        View::List(l) => l.len(),
        View::Map(m) => map_entries(m).count(),
        View::Bytes(b) => b.len(),
        View::TypedNil(_) => return Err("len of nil pointer".into()),
        _ => return Err(format!("len of type {}", type_name(&v).trim_start_matches('*'))),
    };
    Ok(Ev::Val(Value::Int(n as i64)))
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum BasicKind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Uint,
}

fn basic_kind(e: &Ev) -> BasicKind {
    match e {
        Ev::Invalid => BasicKind::Invalid,
        other => match other.value() {
            Value::Bool(_) => BasicKind::Bool,
            Value::Int(_) => BasicKind::Int,
            Value::Uint(_) => BasicKind::Uint,
            Value::Float(_) => BasicKind::Float,
            Value::String(_) => BasicKind::Str,
            _ => BasicKind::Invalid,
        },
    }
}

fn is_nil(e: &Ev) -> bool {
    match e {
        Ev::Invalid => true,
        other => matches!(classify(&other.value()), View::Nil | View::TypedNil(_)),
    }
}

/// Whether values of this dynamic type can be compared with `==` in Go.
fn comparable(v: &Value) -> bool {
    match classify(v) {
        View::List(_) | View::Map(_) | View::Bytes(_) | View::Func => false,
        // A pointer compares as a pointer.
        View::Struct(s) if s.type_name.starts_with('*') => true,
        View::Struct(s) => s.fields().iter().all(|(_, f)| comparable(f)),
        _ => true,
    }
}

/// Go's `eq` builtin.
fn cmp_eq(a1: &Ev, rest: &[Ev]) -> Result<bool, String> {
    let a1 = a1.indirect_interface();
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(&a1);
    let v1 = a1.value();
    for a in rest {
        let a = a.indirect_interface();
        let k2 = basic_kind(&a);
        let v2 = a.value();
        let t = if k1 != k2 {
            match (&v1, &v2, k1, k2) {
                (Value::Int(i), Value::Uint(u), BasicKind::Int, BasicKind::Uint) => *i >= 0 && *i as u64 == *u,
                (Value::Uint(u), Value::Int(i), BasicKind::Uint, BasicKind::Int) => *i >= 0 && *u == *i as u64,
                _ => {
                    if !matches!(a1, Ev::Invalid) && !matches!(a, Ev::Invalid) {
                        return Err(format!(
                            "incompatible types for comparison: {} and {}",
                            type_name(&v1),
                            type_name(&v2)
                        ));
                    }
                    false
                }
            }
        } else {
            match (k1, &v1, &v2) {
                (BasicKind::Bool, Value::Bool(x), Value::Bool(y)) => x == y,
                (BasicKind::Float, Value::Float(x), Value::Float(y)) => x == y,
                (BasicKind::Int, Value::Int(x), Value::Int(y)) => x == y,
                (BasicKind::Str, Value::String(x), Value::String(y)) => x == y,
                (BasicKind::Uint, Value::Uint(x), Value::Uint(y)) => x == y,
                _ => {
                    let same_kind = kind_name(&v1) == kind_name(&v2);
                    if !same_kind && !matches!(a1, Ev::Invalid) && !matches!(a, Ev::Invalid) {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            sprintf("%s", std::slice::from_ref(&v1)),
                            type_name(&v1),
                            type_name(&v2),
                            sprintf("%v", std::slice::from_ref(&v2))
                        ));
                    }
                    if is_nil(&a1) || is_nil(&a) {
                        is_nil(&a1) == is_nil(&a)
                    } else {
                        if !comparable(&v2) {
                            return Err(format!(
                                "non-comparable type {}: {}",
                                sprintf("%s", std::slice::from_ref(&v2)),
                                type_name(&v2)
                            ));
                        }
                        type_name(&v1) == type_name(&v2) && deep_equal(&v1, &v2)
                    }
                }
            }
        };
        if t {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt` builtin.
fn cmp_lt(a1: &Ev, a2: &Ev) -> Result<bool, String> {
    let a1 = a1.indirect_interface();
    let a2 = a2.indirect_interface();
    let k1 = basic_kind(&a1);
    if k1 == BasicKind::Invalid {
        return Err("invalid type for comparison".into());
    }
    let k2 = basic_kind(&a2);
    if k2 == BasicKind::Invalid {
        return Err("invalid type for comparison".into());
    }
    let (v1, v2) = (a1.value(), a2.value());
    Ok(match (&v1, &v2) {
        (Value::Int(x), Value::Uint(y)) => *x < 0 || (*x as u64) < *y,
        (Value::Uint(x), Value::Int(y)) => *y >= 0 && *x < *y as u64,
        _ if k1 != k2 => {
            return Err(format!("incompatible types for comparison: {} and {}", type_name(&v1), type_name(&v2)));
        }
        (Value::Bool(_), _) => return Err("invalid type for comparison".into()),
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::String(x), Value::String(y)) => x < y,
        (Value::Uint(x), Value::Uint(y)) => x < y,
        _ => return Err("invalid type for comparison".into()),
    })
}

fn cmp_le(a1: &Ev, a2: &Ev) -> Result<bool, String> {
    if cmp_lt(a1, a2)? {
        return Ok(true);
    }
    cmp_eq(a1, std::slice::from_ref(a2))
}

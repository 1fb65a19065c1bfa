//! sprig's numeric.go and the arithmetic functions.go defines inline: `add`, `add1`,
//! `sub`, `mul`, `div`, `mod` (Go's wrapping int64 arithmetic and divide-by-zero
//! panic), `max`/`biggest`, `min`, `floor`, `ceil`, `round`, `until`, `untilStep`,
//! and the conversions `atoi`, `int`, `int64`, `float64`, `toDecimal`.
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{list_v, n, s, to_int64};
use crate::template::gostd::fmt::sprint_value;
use crate::template::gostd::strconv::{parse_float, parse_int10};
use crate::template::registry::{Registry, Ty::*};
use crate::template::value::{View, classify};
use gotmpl::Value;

/// Registers numeric.go's functions.
pub(super) fn register(r: &mut Registry) {
    r.plain("atoi", &[Str], None, |a| Ok(Value::Int(parse_int10(s(&a[0])).unwrap_or(0))));
    r.plain("int64", &[Any], None, |a| Ok(Value::Int(to_int64(&a[0]))));
    r.plain("int", &[Any], None, |a| Ok(Value::Int(to_int64(&a[0]))));
    r.plain("float64", &[Any], None, |a| Ok(Value::Float(to_float64(&a[0]))));
    r.plain("toDecimal", &[Any], None, |a| {
        let txt = sprint_value(&a[0]);
        let body = txt.strip_prefix(['+', '-']).unwrap_or(&txt);
        let ok = !body.is_empty() && body.bytes().all(|b| (b'0'..=b'7').contains(&b));
        Ok(Value::Int(if ok { i64::from_str_radix(&txt, 8).unwrap_or(0) } else { 0 }))
    });
    r.plain("until", &[Int], None, |a| {
        let c = n(&a[0]);
        Ok(until_step(0, c, if c < 0 { -1 } else { 1 }))
    });
    r.plain("untilStep", &[Int, Int, Int], None, |a| Ok(until_step(n(&a[0]), n(&a[1]), n(&a[2]))));
    r.plain("add1", &[Any], None, |a| Ok(Value::Int(to_int64(&a[0]).wrapping_add(1))));
    r.plain("add", &[], Some(Any), |a| Ok(Value::Int(a.iter().fold(0i64, |acc, x| acc.wrapping_add(to_int64(x))))));
    r.plain("sub", &[Any, Any], None, |a| Ok(Value::Int(to_int64(&a[0]).wrapping_sub(to_int64(&a[1])))));
    r.plain("div", &[Any, Any], None, |a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err(div_zero());
        }
        Ok(Value::Int(to_int64(&a[0]).wrapping_div(d)))
    });
    r.plain("mod", &[Any, Any], None, |a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err(div_zero());
        }
        Ok(Value::Int(to_int64(&a[0]).wrapping_rem(d)))
    });
    r.plain("mul", &[Any], Some(Any), |a| {
        Ok(Value::Int(a[1..].iter().fold(to_int64(&a[0]), |acc, x| acc.wrapping_mul(to_int64(x)))))
    });
    r.plain("biggest", &[Any], Some(Any), |a| Ok(Value::Int(a.iter().map(to_int64).max().unwrap_or(0))));
    r.plain("max", &[Any], Some(Any), |a| Ok(Value::Int(a.iter().map(to_int64).max().unwrap_or(0))));
    r.plain("min", &[Any], Some(Any), |a| Ok(Value::Int(a.iter().map(to_int64).min().unwrap_or(0))));
    r.plain("ceil", &[Any], None, |a| Ok(Value::Float(to_float64(&a[0]).ceil())));
    r.plain("floor", &[Any], None, |a| Ok(Value::Float(to_float64(&a[0]).floor())));
    r.plain("round", &[Any, Int], Some(Float), |a| {
        let round_on = a.get(2).and_then(Value::as_float).unwrap_or(0.5);
        let val = to_float64(&a[0]);
        let pow = 10f64.powf(n(&a[1]) as f64);
        let digit = pow * val;
        let frac = digit - digit.trunc();
        let r = if frac >= round_on { digit.ceil() } else { digit.floor() };
        Ok(Value::Float(r / pow))
    });
}

/// sprig's `toFloat64`.
fn to_float64(v: &Value) -> f64 {
    match classify(v) {
        View::Str(x) => parse_float(x).unwrap_or(0.0),
        View::Int(i) => i as f64,
        View::Uint(u) => u as f64,
        View::Float(f) => f,
        View::Bool(b) => b as i64 as f64,
        _ => 0.0,
    }
}

/// Go's integer-divide-by-zero panic text.
fn div_zero() -> String {
    "runtime error: integer divide by zero".into()
}

/// sprig's `untilStep`.
fn until_step(start: i64, stop: i64, step: i64) -> Value {
    let mut v = Vec::new();
    if stop < start {
        if step >= 0 {
            return list_v(v);
        }
        let mut i = start;
        while i > stop {
            v.push(Value::Int(i));
            i += step;
        }
        return list_v(v);
    }
    if step <= 0 {
        return list_v(v);
    }
    let mut i = start;
    while i < stop {
        v.push(Value::Int(i));
        i += step;
    }
    list_v(v)
}

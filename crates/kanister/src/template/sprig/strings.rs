//! sprig's strings.go and the string functions functions.go defines inline: case, trim,
//! substring, abbreviation, wrapping, quoting, joining and splitting, random strings,
//! `toString`/`toStrings`, and the base64/base32 encodings (errors are returned as the
//! result text, as sprig does).
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{map_v, n, s, str_v, strs, strslice, strval};
use crate::template::golibs::goutils::{
    abbreviate_full, crypto_random, delete_white_space, initials, swapcase, untitle, wrap_custom,
};
use crate::template::golibs::xstrings::{camelcase, shuffle, to_lower_case_with};
use crate::template::gostd::encoding::{b32_decode, b32_encode, b64_decode, b64_encode, illegal};
use crate::template::gostd::fmt::{sprint_value, sprintf};
use crate::template::gostd::strconv::quote_go;
use crate::template::gostd::strings::{go_lower, go_split, go_upper, title};
use crate::template::gostd::unicode::lossy;
use crate::template::registry::{Registry, Ty::*};
use gotmpl::Value;
use std::sync::Arc;

/// Registers strings.go's functions.
pub(super) fn register(r: &mut Registry) {
    r.plain("abbrev", &[Int, Str], None, |a| {
        if n(&a[0]) < 4 {
            return Ok(a[1].clone());
        }
        str_v(abbreviate_full(s(&a[1]), 0, n(&a[0])).unwrap_or_default())
    });
    r.plain("abbrevboth", &[Int, Int, Str], None, |a| {
        let (l, r) = (n(&a[0]), n(&a[1]));
        if r < 4 || (l > 0 && r < 7) {
            return Ok(a[2].clone());
        }
        str_v(abbreviate_full(s(&a[2]), l, r).unwrap_or_default())
    });
    r.plain("trunc", &[Int, Str], None, |a| {
        let (c, x) = (n(&a[0]), s(&a[1]));
        if x.len() as i64 <= c {
            return Ok(a[1].clone());
        }
        if c < 0 {
            return Err(format!("runtime error: slice bounds out of range [:{c}]"));
        }
        str_v(lossy(&x.as_bytes()[..c as usize]))
    });
    r.plain("trim", &[Str], None, |a| str_v(s(&a[0]).trim()));
    r.plain("upper", &[Str], None, |a| str_v(go_upper(s(&a[0]))));
    r.plain("lower", &[Str], None, |a| str_v(go_lower(s(&a[0]))));
    r.plain("title", &[Str], None, |a| str_v(title(s(&a[0]))));
    r.plain("untitle", &[Str], None, |a| str_v(untitle(s(&a[0]))));
    r.plain("substr", &[Int, Int, Str], None, |a| {
        let (start, end, x) = (n(&a[0]), n(&a[1]), s(&a[2]));
        let b = x.as_bytes();
        let len = b.len() as i64;
        let (lo, hi) = if start < 0 {
            (0, end)
        } else if end < 0 || end > len {
            (start, len)
        } else {
            (start, end)
        };
        if hi < 0 || hi > len {
            return Err(format!("runtime error: slice bounds out of range [:{hi}] with length {len}"));
        }
        if lo > hi {
            return Err(format!("runtime error: slice bounds out of range [{lo}:{hi}]"));
        }
        str_v(lossy(&b[lo as usize..hi as usize]))
    });
    r.plain("repeat", &[Int, Str], None, |a| {
        let c = n(&a[0]);
        if c < 0 {
            return Err("strings: negative Repeat count".into());
        }
        str_v(s(&a[1]).repeat(c as usize))
    });
    r.plain("trimall", &[Str, Str], None, |a| str_v(s(&a[1]).trim_matches(|c| s(&a[0]).contains(c))));
    r.plain("trimAll", &[Str, Str], None, |a| str_v(s(&a[1]).trim_matches(|c| s(&a[0]).contains(c))));
    r.plain("trimSuffix", &[Str, Str], None, |a| str_v(s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1]))));
    r.plain("trimPrefix", &[Str, Str], None, |a| str_v(s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1]))));
    r.plain("nospace", &[Str], None, |a| str_v(delete_white_space(s(&a[0]))));
    r.plain("initials", &[Str], None, |a| str_v(initials(s(&a[0]))));
    r.plain("randAlphaNum", &[Int], None, |a| str_v(crypto_random(n(&a[0]), 0, 0, true, true)));
    r.plain("randAlpha", &[Int], None, |a| str_v(crypto_random(n(&a[0]), 0, 0, true, false)));
    r.plain("randAscii", &[Int], None, |a| str_v(crypto_random(n(&a[0]), 32, 127, false, false)));
    r.plain("randNumeric", &[Int], None, |a| str_v(crypto_random(n(&a[0]), 0, 0, false, true)));
    r.plain("swapcase", &[Str], None, |a| str_v(swapcase(s(&a[0]))));
    r.plain("shuffle", &[Str], None, |a| str_v(shuffle(s(&a[0]))));
    r.plain("snakecase", &[Str], None, |a| str_v(to_lower_case_with(s(&a[0]), '_')));
    r.plain("camelcase", &[Str], None, |a| str_v(camelcase(s(&a[0]))));
    r.plain("kebabcase", &[Str], None, |a| str_v(to_lower_case_with(s(&a[0]), '-')));
    r.plain("wrap", &[Int, Str], None, |a| str_v(wrap_custom(s(&a[1]), n(&a[0]), "", false)));
    r.plain("wrapWith", &[Int, Str, Str], None, |a| str_v(wrap_custom(s(&a[2]), n(&a[0]), s(&a[1]), true)));
    r.plain("contains", &[Str, Str], None, |a| Ok(Value::Bool(s(&a[1]).contains(s(&a[0])))));
    r.plain("hasPrefix", &[Str, Str], None, |a| Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0])))));
    r.plain("hasSuffix", &[Str, Str], None, |a| Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0])))));
    r.plain("quote", &[], Some(Any), |a| {
        let parts: Vec<String> = a.iter().filter(|x| !matches!(x, Value::Nil)).map(|x| quote_go(&strval(x))).collect();
        str_v(parts.join(" "))
    });
    r.plain("squote", &[], Some(Any), |a| {
        let parts: Vec<String> =
            a.iter().filter(|x| !matches!(x, Value::Nil)).map(|x| format!("'{}'", sprint_value(x))).collect();
        str_v(parts.join(" "))
    });
    r.plain("cat", &[], Some(Any), |a| {
        let v: Vec<Value> = a.iter().filter(|x| !matches!(x, Value::Nil)).cloned().collect();
        let f = "%v ".repeat(v.len());
        str_v(sprintf(f.trim(), &v))
    });
    r.plain("indent", &[Int, Str], None, |a| str_v(indent(n(&a[0]), s(&a[1]))?));
    r.plain("nindent", &[Int, Str], None, |a| str_v(format!("\n{}", indent(n(&a[0]), s(&a[1]))?)));
    r.plain("replace", &[Str, Str, Str], None, |a| str_v(s(&a[2]).replace(s(&a[0]), s(&a[1]))));
    r.plain("plural", &[Str, Str, Int], None, |a| Ok(if n(&a[2]) == 1 { a[0].clone() } else { a[1].clone() }));
    r.plain("toString", &[Any], None, |a| str_v(strval(&a[0])));
    r.plain("split", &[Str, Str], None, |a| {
        let parts = go_split(s(&a[1]), s(&a[0]), -1);
        Ok(map_v(parts.into_iter().enumerate().map(|(i, x)| (Arc::from(format!("_{i}")), Value::from(x))).collect()))
    });
    r.plain("splitList", &[Str, Str], None, |a| Ok(strs(go_split(s(&a[1]), s(&a[0]), -1))));
    r.plain("splitn", &[Str, Int, Str], None, |a| {
        let parts = go_split(s(&a[2]), s(&a[0]), n(&a[1]));
        Ok(map_v(parts.into_iter().enumerate().map(|(i, x)| (Arc::from(format!("_{i}")), Value::from(x))).collect()))
    });
    r.plain("toStrings", &[Any], None, |a| Ok(strs(strslice(&a[0]))));
    r.plain("join", &[Str, Any], None, |a| str_v(strslice(&a[1]).join(s(&a[0]))));
    r.plain("b64enc", &[Str], None, |a| str_v(b64_encode(s(&a[0]).as_bytes())));
    r.plain("b64dec", &[Str], None, |a| {
        str_v(match b64_decode(s(&a[0]).as_bytes()) {
            Ok(b) => lossy(&b),
            Err(at) => illegal("base64", at),
        })
    });
    r.plain("b32enc", &[Str], None, |a| str_v(b32_encode(s(&a[0]).as_bytes())));
    r.plain("b32dec", &[Str], None, |a| {
        str_v(match b32_decode(s(&a[0]).as_bytes()) {
            Ok(b) => lossy(&b),
            Err(at) => illegal("base32", at),
        })
    });
}

/// sprig's `indent`.
fn indent(spaces: i64, v: &str) -> Result<String, String> {
    if spaces < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let pad = " ".repeat(spaces as usize);
    Ok(format!("{pad}{}", v.replace('\n', &format!("\n{pad}"))))
}

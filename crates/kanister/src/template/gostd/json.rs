//! Go's `encoding/json` output for template values: `json.Marshal` (sorted map keys, HTML
//! characters escaped, Go's float format, `[]byte` as base64, `time.Time` as RFC 3339) and
//! `json.MarshalIndent(v, "", "  ")`. Structs built with `go_struct` emit their own JSON.
//!
//! Operates on template values ([`crate::template::value`]); must not import the executor,
//! the function table or sprig.

use super::strconv::format_float;
use crate::template::value::{View, classify, map_entries};
use gotmpl::Value;

/// Appends a JSON string literal the way `encoding/json` writes it (with HTML escaping).
pub(crate) fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's float encoding: shortest digits, exponent form below 1e-6 and from 1e21 on.
pub(crate) fn float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format_float(f, 'e', -1);
        // Go trims "e-07" to "e-7".
        let (m, e) = s.split_once('e').unwrap_or((&s, "+00"));
        let (sign, digits) = e.split_at(1);
        let digits = digits.trim_start_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        return Some(format!("{m}e{sign}{digits}"));
    }
    Some(format_float(f, 'f', -1))
}

/// Re-escapes the HTML characters in a JSON text produced elsewhere (a struct's own JSON):
/// they can only occur inside strings, where Go writes them as `\u003c` etc.
fn html_escape_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `{"k":v,…}` in the order given.
fn encode_object<'a>(out: &mut String, entries: impl Iterator<Item = (&'a str, &'a Value)>) -> Result<(), String> {
    out.push('{');
    for (i, (k, x)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(out, k);
        out.push(':');
        encode(out, x)?;
    }
    out.push('}');
    Ok(())
}

fn encode(out: &mut String, v: &Value) -> Result<(), String> {
    match classify(v) {
        View::Nil | View::TypedNil(_) => out.push_str("null"),
        View::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        View::Int(i) => out.push_str(&i.to_string()),
        View::Uint(u) => out.push_str(&u.to_string()),
        View::Float(f) => out.push_str(&float(f).ok_or_else(|| format!("json: unsupported value: {f}"))?),
        View::Str(s) => push_string(out, s),
        View::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode(out, x)?;
            }
            out.push(']');
        }
        View::Map(m) => encode_object(out, map_entries(m).map(|(k, x)| (&**k, x)))?,
        View::Struct(s) => {
            if s.json.is_empty() {
                // No JSON given: Go's default, the exported fields by name in order.
                encode_object(out, s.fields().into_iter())?;
            } else {
                out.push_str(&html_escape_json(&s.json));
            }
        }
        View::Time(t) => {
            if !(0..=9999).contains(&t.year()) {
                return Err("Time.MarshalJSON: year outside of range [0,9999]".into());
            }
            push_string(out, &t.format("2006-01-02T15:04:05.999999999Z07:00"));
        }
        View::Bytes(b) => {
            use base64::Engine;
            push_string(out, &base64::engine::general_purpose::STANDARD.encode(b));
        }
        View::Func => return Err("json: unsupported type: func()".into()),
    }
    Ok(())
}

/// `json.Marshal(v)`.
pub(crate) fn marshal(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    encode(&mut out, v)?;
    Ok(out)
}

/// `json.Indent(compact, "", "  ")`: Go's layout (`{}`/`[]` stay closed, `": "` after keys).
pub(crate) fn indent(src: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    let mut need_indent = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    for c in src.chars() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        if need_indent && c != ']' && c != '}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                need_indent = true;
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => {
                out.push(c);
                out.push(' ');
            }
            '}' | ']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

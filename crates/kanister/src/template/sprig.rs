//! sprig v2.22.0's `TxtFuncMap` (the version Kanister pins), function by function, with the
//! behaviour of its Go implementation and of the libraries it calls (goutils, xstrings,
//! mergo, Masterminds/semver v1.5.0): panics surface as `error calling X: …` exactly where
//! Go's would, swallowed errors give the same fallback values.
//!
//! Kanister's `ksprig` replaces the FIPS-sensitive functions sprig v2.22 defines:
//! `derivePassword` always errors, `genPrivateKey` errors unless the type is `rsa`, `ecdsa`
//! or `ed25519`. (`bcrypt` and `htpasswd` are on ksprig's list too, but sprig v2.22 has
//! neither, and ksprig only replaces functions that exist: they stay undefined.)

use super::date::{GoTime, duration_round, duration_string, parse_duration};
use super::fmt::{quote_go, sprint_value, sprintf};
use super::funcs::{Imp, Ty, Ty::*};
use super::value::{
    StructView, View, classify, deep_equal, kind_name, make_struct, make_time, map_entries, truth, type_name,
};
use gotmpl::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

type Add<'a> = dyn FnMut(&'static str, &'static [Ty], Option<Ty>, bool, Imp) + 'a;
type Res = Result<Value, String>;

const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

/// Kanister's FIPS refusal (ksprig.UnsupportedSprigUsageErr).
fn fips(usage: &str) -> String {
    format!("sprig usage of '{usage}' is not allowed by kanister as it is not FIPS compatible")
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn n(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Uint(u) => *u as i64,
        _ => 0,
    }
}

fn str_v(x: impl Into<String>) -> Res {
    Ok(Value::from(x.into()))
}

fn list_v(items: Vec<Value>) -> Value {
    Value::List(items.into())
}

fn strs(items: impl IntoIterator<Item = String>) -> Value {
    list_v(items.into_iter().map(Value::from).collect())
}

fn map_v(m: BTreeMap<Arc<str>, Value>) -> Value {
    Value::Map(Arc::new(m))
}

/// sprig's `strval`: strings, []byte and Stringers as text, the rest with `%v`.
pub(crate) fn strval(v: &Value) -> String {
    match classify(v) {
        View::Str(x) => x.to_string(),
        View::Bytes(b) => super::value::lossy(&b),
        View::Time(t) => t.to_go_string(),
        View::Struct(st) if st_stringer(&st).is_some() => st_stringer(&st).unwrap_or_default(),
        _ => sprint_value(v),
    }
}

fn st_stringer(st: &StructView) -> Option<String> {
    st.stringer.clone()
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

/// sprig's `strslice`.
fn strslice(v: &Value) -> Vec<String> {
    match classify(v) {
        View::List(l) => l.iter().filter(|x| !matches!(x, Value::Nil)).map(strval).collect(),
        View::Bytes(b) => b.iter().map(|x| x.to_string()).collect(),
        View::Nil => Vec::new(),
        _ => vec![strval(v)],
    }
}

/// sprig's `empty`.
pub(crate) fn empty(v: &Value) -> bool {
    match classify(v) {
        View::Struct(_) | View::Time(_) => false,
        View::Func => false,
        _ => !truth(v),
    }
}

/// sprig's `toInt64` (cast-like: strings parsed base 10, floats truncated, bools 0/1).
pub(crate) fn to_int64(v: &Value) -> i64 {
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

/// `strconv.ParseInt(s, 10, 64)`.
fn parse_int10(x: &str) -> Option<i64> {
    let body = x.strip_prefix(['+', '-']).unwrap_or(x);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    x.parse::<i64>().ok()
}

/// `strconv.ParseFloat(s, 64)`.
fn parse_float(x: &str) -> Option<f64> {
    let lower = x.to_ascii_lowercase();
    let body = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    match body {
        "inf" | "infinity" => return Some(if lower.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY }),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    super::parse::parse_go_float(x).or_else(|| {
        if x.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
            x.parse::<f64>().ok()
        } else {
            None
        }
    })
}

/// sprig's `toFloat64`.
pub(crate) fn to_float64(v: &Value) -> f64 {
    match classify(v) {
        View::Str(x) => parse_float(x).unwrap_or(0.0),
        View::Int(i) => i as f64,
        View::Uint(u) => u as f64,
        View::Float(f) => f,
        View::Bool(b) => b as i64 as f64,
        _ => 0.0,
    }
}

fn div_zero() -> String {
    "runtime error: integer divide by zero".into()
}

fn go_upper(x: &str) -> String {
    x.chars().map(|c| single_case(c, true)).collect()
}

fn go_lower(x: &str) -> String {
    x.chars().map(|c| single_case(c, false)).collect()
}

/// Go's `unicode.ToUpper`/`ToLower`: one rune to one rune (no `ß` → `SS`).
fn single_case(c: char, upper: bool) -> char {
    let mut it: Box<dyn Iterator<Item = char>> =
        if upper { Box::new(c.to_uppercase()) } else { Box::new(c.to_lowercase()) };
    match (it.next(), it.next()) {
        (Some(x), None) => x,
        // Special casings with several runes; Go uses UnicodeData's single-rune mapping.
        (Some(x), Some(_)) if !upper => x,
        _ if upper => greek_iota_upper(c).unwrap_or(c),
        _ => c,
    }
}

/// The simple uppercase of the Greek letters with ypogegrammeni (ᾀ → ᾈ).
fn greek_iota_upper(c: char) -> Option<char> {
    let u = c as u32;
    let m = match u {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => u + 8,
        0x1FB3 => 0x1FBC,
        0x1FC3 => 0x1FCC,
        0x1FF3 => 0x1FFC,
        _ => return None,
    };
    char::from_u32(m)
}

/// Go's `unicode.IsTitle`.
fn is_title(c: char) -> bool {
    matches!(c as u32, 0x1C5 | 0x1C8 | 0x1CB | 0x1F2 | 0x1F88..=0x1F8F | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF | 0x1FBC | 0x1FCC | 0x1FFC)
}

/// Go's `unicode.ToTitle`: the uppercase, except for the Latin digraphs (ǆ → ǅ).
fn to_title(c: char) -> char {
    match c as u32 {
        0x1C4..=0x1C6 => '\u{1C5}',
        0x1C7..=0x1C9 => '\u{1C8}',
        0x1CA..=0x1CC => '\u{1CB}',
        0x1F1..=0x1F3 => '\u{1F2}',
        _ if is_title(c) => c,
        _ => single_case(c, true),
    }
}

fn is_go_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's `strings.Title`.
fn title(x: &str) -> String {
    let is_sep = |r: char| -> bool {
        if r.is_ascii() {
            return !(r.is_ascii_alphanumeric() || r == '_');
        }
        if r.is_alphabetic() || r.is_numeric() {
            return false;
        }
        is_go_space(r)
    };
    let mut prev = ' ';
    x.chars()
        .map(|r| {
            let out = if is_sep(prev) { to_title(r) } else { r };
            prev = r;
            out
        })
        .collect()
}

/// goutils.Uncapitalize.
fn untitle(x: &str) -> String {
    let mut next = true;
    x.chars()
        .map(|c| {
            if is_go_space(c) {
                next = true;
                c
            } else if next {
                next = false;
                single_case(c, false)
            } else {
                c
            }
        })
        .collect()
}

/// goutils.SwapCase.
fn swapcase(x: &str) -> String {
    let mut ws = true;
    x.chars()
        .map(|c| {
            if c.is_uppercase() || is_title(c) {
                ws = false;
                single_case(c, false)
            } else if c.is_lowercase() {
                let r = if ws { to_title(c) } else { single_case(c, true) };
                ws = false;
                r
            } else {
                ws = is_go_space(c);
                c
            }
        })
        .collect()
}

/// goutils.DeleteWhiteSpace: byte-wise, each byte taken as the rune of that value (so with
/// any space present, non-ASCII text comes out as Latin-1 mojibake, as in Go).
fn delete_white_space(x: &str) -> String {
    let is_space = |b: u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xA0);
    if !x.bytes().any(is_space) {
        return x.to_string();
    }
    x.bytes().filter(|b| !is_space(*b)).map(char::from).collect()
}

/// goutils.Initials (byte-wise, as goutils does).
fn initials(x: &str) -> String {
    let mut out = String::new();
    let mut gap = true;
    for b in x.bytes() {
        let c = b as char;
        if is_go_space(c) {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

/// goutils.AbbreviateFull (byte offsets, as goutils).
fn abbreviate_full(x: &str, offset: i64, max: i64) -> Result<String, String> {
    if x.is_empty() {
        return Ok(String::new());
    }
    if max < 4 {
        return Err("Minimum abbreviation width is 4".into());
    }
    let len = x.len() as i64;
    if len <= max {
        return Ok(x.to_string());
    }
    let mut offset = offset.min(len);
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    let bytes = x.as_bytes();
    let sub = |a: i64, b: i64| super::value::lossy(&bytes[a.max(0) as usize..b.max(0) as usize]);
    if offset <= 4 {
        return Ok(sub(0, max - 3) + "...");
    }
    if max < 7 {
        return Err("Minimum abbreviation width with offset is 7".into());
    }
    if offset + max - 3 < len {
        let inner = abbreviate_full(&sub(offset, len), 0, max - 3)?;
        return Ok(format!("...{inner}"));
    }
    Ok(format!("...{}", sub(len - (max - 3), len)))
}

/// goutils.WrapCustom.
fn wrap_custom(x: &str, wrap_len: i64, nl: &str, long_words: bool) -> String {
    if x.is_empty() {
        return String::new();
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    let wl = wrap_len.max(1) as usize;
    let b = x.as_bytes();
    let len = b.len();
    let mut offset = 0usize;
    let mut out: Vec<u8> = Vec::new();
    while len - offset > wl {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (wl + offset + 1).min(len);
        let space = b[offset..end].iter().rposition(|&c| c == b' ').map(|p| p + offset);
        if let Some(sp) = space {
            out.extend_from_slice(&b[offset..sp]);
            out.extend_from_slice(nl.as_bytes());
            offset = sp + 1;
        } else if long_words {
            out.extend_from_slice(&b[offset..wl + offset]);
            out.extend_from_slice(nl.as_bytes());
            offset += wl;
        } else {
            let end = wl + offset;
            match b[end..].iter().position(|&c| c == b' ') {
                None => {
                    out.extend_from_slice(&b[offset..]);
                    offset = len;
                }
                Some(i) => {
                    let sp = i + end;
                    out.extend_from_slice(&b[offset..sp]);
                    out.extend_from_slice(nl.as_bytes());
                    offset = sp + 1;
                }
            }
        }
    }
    out.extend_from_slice(&b[offset..]);
    super::value::lossy(&out)
}

/// xstrings.ToCamelCase.
fn camelcase(x: &str) -> String {
    let mut out = String::new();
    let mut chars = x.chars().peekable();
    let mut r0 = '\0';
    let mut got = false;
    for c in chars.by_ref() {
        r0 = c;
        if c != '_' {
            got = true;
            break;
        }
        out.push(c);
    }
    // xstrings returns what it has when nothing follows the first rune (so "x" → "").
    if !got || chars.peek().is_none() {
        return out;
    }
    r0 = single_case(r0, true);
    for c in chars {
        let r1 = r0;
        r0 = c;
        if r1 == '_' && r0 == '_' {
            out.push(r1);
            continue;
        }
        r0 = if r1 == '_' { single_case(r0, true) } else { single_case(r0, false) };
        if r1 != '_' {
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

/// xstrings' camelCaseToLowerCase (snakecase / kebabcase).
fn to_lower_case_with(x: &str, conn: char) -> String {
    if x.is_empty() {
        return String::new();
    }
    let is_num = |c: char| c.is_numeric();
    let chars: Vec<char> = x.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut r0 = conn;
    while i < chars.len() {
        let prev = r0;
        r0 = chars[i];
        i += 1;
        if r0 == '\u{FFFD}' {
            out.push(r0);
        } else if r0.is_uppercase() {
            if prev != conn && !is_num(prev) {
                out.push(conn);
            }
            out.push(single_case(r0, false));
            if i >= chars.len() {
                continue;
            }
            r0 = chars[i];
            i += 1;
            if !r0.is_uppercase() {
                out.push(r0);
                continue;
            }
            let mut r1;
            loop {
                if i >= chars.len() {
                    break;
                }
                r1 = r0;
                r0 = chars[i];
                i += 1;
                if r0 == '\u{FFFD}' {
                    out.push(single_case(r1, false));
                    out.push(r0);
                    break;
                }
                if !r0.is_uppercase() {
                    if r0 == '_' || r0 == ' ' || r0 == '-' {
                        r0 = conn;
                        out.push(single_case(r1, false));
                    } else if is_num(r0) {
                        out.push(single_case(r1, false));
                        out.push(conn);
                        out.push(r0);
                    } else {
                        out.push(conn);
                        out.push(single_case(r1, false));
                        out.push(r0);
                    }
                    break;
                }
                out.push(single_case(r1, false));
            }
            if i >= chars.len() || r0 == conn {
                out.push(single_case(r0, false));
            }
        } else if is_num(r0) {
            if prev != conn && !is_num(prev) {
                out.push(conn);
            }
            out.push(r0);
        } else {
            if r0 == ' ' || r0 == '-' || r0 == '_' {
                r0 = conn;
            }
            out.push(r0);
        }
    }
    out
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    let _ = getrandom::fill(&mut b);
    b
}

/// A uniformly random index below `n`.
fn random_below(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let b = random_bytes(8);
        let x = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        if x < limit {
            return x % n;
        }
    }
}

/// goutils.CryptoRandom for the sprig variants (ASCII ranges only).
fn crypto_random(count: i64, start: u32, end: u32, letters: bool, numbers: bool) -> String {
    if count <= 0 {
        return String::new();
    }
    let (start, end) = if start == 0 && end == 0 { (' ' as u32, 'z' as u32 + 1) } else { (start, end) };
    let mut out = Vec::with_capacity(count as usize);
    while out.len() < count as usize {
        let c = char::from_u32(start + random_below((end - start) as u64) as u32).unwrap_or(' ');
        if (letters && c.is_alphabetic()) || (numbers && c.is_ascii_digit()) || (!letters && !numbers) {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

fn uuidv4() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Go's `path.Clean`.
fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(l) if *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    path_clean(&p[..i])
}

fn path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_string();
        }
    }
    String::new()
}

/// `os.ExpandEnv`.
fn expand_env(x: &str) -> String {
    let b = x.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            out.push_str(&x[last..i]);
            let rest = &x[i + 1..];
            let (name, w) = shell_name(rest);
            if name.is_none() && w > 0 {
                // bad syntax like "${}": eaten
            } else if let Some(nm) = name {
                out.push_str(&std::env::var(nm).unwrap_or_default());
            } else {
                out.push('$');
            }
            i += 1 + w;
            last = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&x[last..]);
    out
}

/// `os.getShellName`: the variable name after `$` and the bytes consumed.
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && is_shell_special(b[1]) && b[2] == b'}' {
            return (Some(&s[1..2]), 3);
        }
        for i in 1..b.len() {
            if b[i] == b'}' {
                if i == 1 {
                    return (None, 2);
                }
                return (Some(&s[1..i]), i + 1);
            }
        }
        return (None, 1);
    }
    if is_shell_special(b[0]) {
        return (Some(&s[0..1]), 1);
    }
    let n = b.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
    if n == 0 { (None, 0) } else { (Some(&s[..n]), n) }
}

fn is_shell_special(c: u8) -> bool {
    matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-') || c.is_ascii_digit()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `base64.StdEncoding.DecodeString`, error offsets included.
fn b64_decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    let mut map = [0xffu8; 256];
    for (i, c) in B64.iter().enumerate() {
        map[*c as usize] = i as u8;
    }
    let mut dst = Vec::new();
    let mut si = 0;
    while si < src.len() {
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut j = 0usize;
        let mut err: Option<usize> = None;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(dst);
                }
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            let out = map[c as usize];
            if out != 0xff {
                dbuf[j] = out;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' {
                return Err(si - 1);
            }
            match j {
                0 | 1 => return Err(si - 1),
                2 => {
                    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(src.len());
                    }
                    if src[si] != b'=' {
                        return Err(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                err = Some(si);
            }
            dlen = j;
            break;
        }
        let val = (dbuf[0] as u32) << 18 | (dbuf[1] as u32) << 12 | (dbuf[2] as u32) << 6 | dbuf[3] as u32;
        let bytes = [(val >> 16) as u8, (val >> 8) as u8, val as u8];
        dst.extend_from_slice(&bytes[..dlen - 1]);
        if let Some(e) = err {
            return Err(e);
        }
    }
    Ok(dst)
}

fn b64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn b32_encode(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let v = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let nchars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for k in 0..8 {
            if k < nchars {
                out.push(B32[((v >> (35 - 5 * k)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `base32.StdEncoding.DecodeString` (newlines stripped first, as Go does).
fn b32_decode(input: &[u8]) -> Result<Vec<u8>, usize> {
    let src: Vec<u8> = input.iter().copied().filter(|c| *c != b'\n' && *c != b'\r').collect();
    let mut map = [0xffu8; 256];
    for (i, c) in B32.iter().enumerate() {
        map[*c as usize] = i as u8;
    }
    let olen = src.len();
    let mut rest: &[u8] = &src;
    let mut dst = Vec::new();
    let mut end = false;
    while !rest.is_empty() && !end {
        let mut dbuf = [0u8; 8];
        let mut dlen = 8;
        let mut j = 0;
        while j < 8 {
            if rest.is_empty() {
                return Err(olen - rest.len() - j);
            }
            let c = rest[0];
            rest = &rest[1..];
            if c == b'=' && j >= 2 && rest.len() < 8 {
                if rest.len() + j < 7 {
                    return Err(olen);
                }
                for k in 0..7 - j {
                    if rest.len() > k && rest[k] != b'=' {
                        return Err(olen - rest.len() + k - 1);
                    }
                }
                dlen = j;
                end = true;
                if dlen == 1 || dlen == 3 || dlen == 6 {
                    return Err(olen - rest.len() - 1);
                }
                break;
            }
            dbuf[j] = map[c as usize];
            if dbuf[j] == 0xff {
                return Err(olen - rest.len() - 1);
            }
            j += 1;
        }
        let d = dbuf;
        let bytes = [
            d[0] << 3 | d[1] >> 2,
            d[1] << 6 | d[2] << 1 | d[3] >> 4,
            d[3] << 4 | d[4] >> 1,
            d[4] << 7 | d[5] << 2 | d[6] >> 3,
            d[6] << 5 | d[7],
        ];
        let nout = match dlen {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => 0,
        };
        dst.extend_from_slice(&bytes[..nout]);
    }
    Ok(dst)
}

fn illegal(kind: &str, at: usize) -> String {
    format!("illegal {kind} data at input byte {at}")
}

/// Go regexps: RE2 syntax, with `\d \w \s \b` ASCII-only as in Go.
pub(crate) fn compile_regex(expr: &str) -> Result<regex::Regex, String> {
    let mut pat = String::with_capacity(expr.len() + 16);
    let mut chars = expr.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    pat.push('\\');
                    break;
                };
                match (e, in_class) {
                    ('d' | 'D' | 'w' | 'W' | 's' | 'S' | 'b' | 'B', false) => pat.push_str(&format!("(?-u:\\{e})")),
                    ('d', true) => pat.push_str("0-9"),
                    ('w', true) => pat.push_str("0-9A-Za-z_"),
                    ('s', true) => pat.push_str("\\t\\n\\f\\r "),
                    _ => {
                        pat.push('\\');
                        pat.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                pat.push(c);
                if chars.peek() == Some(&'^') {
                    pat.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    pat.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                pat.push(c);
                for x in chars.by_ref() {
                    pat.push(x);
                    if x == ']' {
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                pat.push(c);
            }
            c => pat.push(c),
        }
    }
    regex::Regex::new(&pat).map_err(|e| {
        let q = if expr.contains('`') { quote_go(expr) } else { format!("`{expr}`") };
        let msg = e.to_string();
        let last = msg.lines().rev().find(|l| l.trim_start().starts_with("error:")).unwrap_or("error: invalid syntax");
        let detail = last.trim_start().trim_start_matches("error: ");
        // Go's wording for the common mistakes.
        let detail = match detail {
            "unclosed group" => format!("missing closing ): `{expr}`"),
            "unopened group" => format!("unexpected ): `{expr}`"),
            "unclosed character class" => {
                format!("missing closing ]: `{}`", expr.rfind('[').map_or(expr, |i| &expr[i..]))
            }
            other => other.to_string(),
        };
        format!("regexp: Compile({q}): error parsing regexp: {detail}")
    })
}

/// Go's `Regexp.FindAllString(s, n)` match spans.
fn find_all(re: &regex::Regex, x: &str, n: i64) -> Vec<(usize, usize)> {
    if n == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut prev_end: Option<usize> = None;
    for m in re.find_iter(x) {
        if m.start() == m.end() && prev_end == Some(m.start()) {
            continue;
        }
        out.push((m.start(), m.end()));
        prev_end = Some(m.end());
        if n > 0 && out.len() as i64 >= n {
            break;
        }
    }
    out
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

fn plain_map(v: &Value) -> BTreeMap<Arc<str>, Value> {
    match classify(v) {
        View::Map(m) => map_entries(m).map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => BTreeMap::new(),
    }
}

fn date_in_zone(layout: &str, date: &Value, zone: &str) -> String {
    let t = match classify(date) {
        View::Time(t) => t,
        View::Int(i) => GoTime::unix(i),
        _ => GoTime::now(),
    };
    let t = t.in_zone(zone).or_else(|| t.in_zone("UTC")).unwrap_or(t);
    t.format(layout)
}

fn time_arg(v: &Value) -> GoTime {
    match classify(v) {
        View::Time(t) => t,
        _ => GoTime::zero(),
    }
}

/// A `*semver.Version` (prints as its String()).
fn semver_value(v: &super::semver::Version) -> Value {
    let fields = vec![
        ("Major".to_string(), Value::Int(v.major)),
        ("Minor".to_string(), Value::Int(v.minor)),
        ("Patch".to_string(), Value::Int(v.patch)),
        ("Prerelease".to_string(), Value::from(v.pre.as_str())),
        ("Metadata".to_string(), Value::from(v.metadata.as_str())),
        ("Original".to_string(), Value::from(v.original.as_str())),
    ];
    let mut json = String::new();
    super::json::push_string(&mut json, &v.to_string());
    let st = make_struct("*semver.Version", fields, json);
    super::value::with_stringer(st, &v.to_string())
}

fn unsupported(name: &str) -> String {
    format!("{name} is not supported by this implementation of Kanister templates")
}

fn aes_crypt(password: &str, data: &[u8], encrypt: bool, iv: &[u8]) -> Vec<u8> {
    use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
    let mut key = [0u8; 32];
    let pw = password.as_bytes();
    key[..pw.len().min(32)].copy_from_slice(&pw[..pw.len().min(32)]);
    let cipher = aes::Aes256::new(&key.into());
    let mut prev: [u8; 16] = iv.try_into().unwrap_or([0; 16]);
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(16) {
        let mut block = [0u8; 16];
        block[..chunk.len()].copy_from_slice(chunk);
        if encrypt {
            for (b, p) in block.iter_mut().zip(prev.iter()) {
                *b ^= p;
            }
            let mut blk = block.into();
            cipher.encrypt_block(&mut blk);
            let enc: [u8; 16] = blk.into();
            out.extend_from_slice(&enc);
            prev = enc;
        } else {
            let mut blk = block.into();
            cipher.decrypt_block(&mut blk);
            let mut dec: [u8; 16] = blk.into();
            for (b, p) in dec.iter_mut().zip(prev.iter()) {
                *b ^= p;
            }
            out.extend_from_slice(&dec);
            prev = block;
        }
    }
    out
}

fn encrypt_aes(a: &[Value]) -> Res {
    let plain = s(&a[1]).as_bytes();
    if plain.is_empty() {
        return str_v("");
    }
    let pad = 16 - plain.len() % 16;
    let mut content = plain.to_vec();
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let iv = random_bytes(16);
    let mut out = iv.clone();
    out.extend(aes_crypt(s(&a[0]), &content, true, &iv));
    str_v(b64_encode(&out))
}

fn decrypt_aes(a: &[Value]) -> Res {
    let c = s(&a[1]);
    if c.is_empty() {
        return str_v("");
    }
    let crypt = b64_decode(c.as_bytes()).map_err(|at| illegal("base64", at))?;
    if crypt.len() < 16 {
        return Err(format!("runtime error: slice bounds out of range [:16] with capacity {}", crypt.len()));
    }
    let (iv, body) = crypt.split_at(16);
    if body.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".into());
    }
    let dec = aes_crypt(s(&a[0]), body, false, iv);
    let Some(&last) = dec.last() else {
        return Err("runtime error: index out of range [-1]".into());
    };
    let cut = dec.len() as i64 - last as i64;
    if cut < 0 {
        return Err(format!("runtime error: slice bounds out of range [:{cut}]"));
    }
    str_v(super::value::lossy(&dec[..cut as usize]))
}

#[allow(clippy::too_many_lines)]
pub(crate) fn register(add: &mut Add) {
    // The functions whose Go result type is interface{}.
    const IFACE: &[&str] =
        &["default", "coalesce", "deepCopy", "ternary", "merge", "mergeOverwrite", "first", "last", "slice", "concat"];
    let mut p = |name: &'static str, params: &'static [Ty], variadic: Option<Ty>, f: super::funcs::PlainFn| {
        add(name, params, variadic, IFACE.contains(&name), Imp::Plain(f));
    };
    // Dates.
    p("date", &[Str, Any], None, |a| str_v(date_in_zone(s(&a[0]), &a[1], "Local")));
    p("date_in_zone", &[Str, Any, Str], None, |a| str_v(date_in_zone(s(&a[0]), &a[1], s(&a[2]))));
    p("dateInZone", &[Str, Any, Str], None, |a| str_v(date_in_zone(s(&a[0]), &a[1], s(&a[2]))));
    p("date_modify", &[Str, Time], None, date_modify);
    p("dateModify", &[Str, Time], None, date_modify);
    p("now", &[], None, |_| Ok(make_time(&GoTime::now())));
    p("htmlDate", &[Any], None, |a| str_v(date_in_zone("2006-01-02", &a[0], "Local")));
    p("htmlDateInZone", &[Any, Str], None, |a| str_v(date_in_zone("2006-01-02", &a[0], s(&a[1]))));
    p("ago", &[Any], None, |a| {
        let t = match classify(&a[0]) {
            View::Time(t) => t,
            View::Int(i) => GoTime::unix(i),
            _ => GoTime::now(),
        };
        let now = GoTime::now();
        let d =
            now.sec.saturating_sub(t.sec).saturating_mul(1_000_000_000).saturating_add(now.nsec as i64 - t.nsec as i64);
        str_v(duration_string(duration_round(d, 1_000_000_000)))
    });
    p("toDate", &[Str, Str], None, |a| {
        Ok(make_time(&super::date::parse(s(&a[0]), s(&a[1])).unwrap_or_else(GoTime::zero)))
    });
    p("unixEpoch", &[Time], None, |a| str_v(time_arg(&a[0]).sec.to_string()));

    // Strings.
    p("hello", &[], None, |_| str_v("Hello!"));
    p("abbrev", &[Int, Str], None, |a| {
        if n(&a[0]) < 4 {
            return Ok(a[1].clone());
        }
        str_v(abbreviate_full(s(&a[1]), 0, n(&a[0])).unwrap_or_default())
    });
    p("abbrevboth", &[Int, Int, Str], None, |a| {
        let (l, r) = (n(&a[0]), n(&a[1]));
        if r < 4 || (l > 0 && r < 7) {
            return Ok(a[2].clone());
        }
        str_v(abbreviate_full(s(&a[2]), l, r).unwrap_or_default())
    });
    p("trunc", &[Int, Str], None, |a| {
        let (c, x) = (n(&a[0]), s(&a[1]));
        if x.len() as i64 <= c {
            return Ok(a[1].clone());
        }
        if c < 0 {
            return Err(format!("runtime error: slice bounds out of range [:{c}]"));
        }
        str_v(super::value::lossy(&x.as_bytes()[..c as usize]))
    });
    p("trim", &[Str], None, |a| str_v(s(&a[0]).trim()));
    p("upper", &[Str], None, |a| str_v(go_upper(s(&a[0]))));
    p("lower", &[Str], None, |a| str_v(go_lower(s(&a[0]))));
    p("title", &[Str], None, |a| str_v(title(s(&a[0]))));
    p("untitle", &[Str], None, |a| str_v(untitle(s(&a[0]))));
    p("substr", &[Int, Int, Str], None, |a| {
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
        str_v(super::value::lossy(&b[lo as usize..hi as usize]))
    });
    p("repeat", &[Int, Str], None, |a| {
        let c = n(&a[0]);
        if c < 0 {
            return Err("strings: negative Repeat count".into());
        }
        str_v(s(&a[1]).repeat(c as usize))
    });
    p("trimall", &[Str, Str], None, |a| str_v(s(&a[1]).trim_matches(|c| s(&a[0]).contains(c))));
    p("trimAll", &[Str, Str], None, |a| str_v(s(&a[1]).trim_matches(|c| s(&a[0]).contains(c))));
    p("trimSuffix", &[Str, Str], None, |a| str_v(s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1]))));
    p("trimPrefix", &[Str, Str], None, |a| str_v(s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1]))));
    p("nospace", &[Str], None, |a| str_v(delete_white_space(s(&a[0]))));
    p("initials", &[Str], None, |a| str_v(initials(s(&a[0]))));
    p("randAlphaNum", &[Int], None, |a| str_v(crypto_random(n(&a[0]), 0, 0, true, true)));
    p("randAlpha", &[Int], None, |a| str_v(crypto_random(n(&a[0]), 0, 0, true, false)));
    p("randAscii", &[Int], None, |a| str_v(crypto_random(n(&a[0]), 32, 127, false, false)));
    p("randNumeric", &[Int], None, |a| str_v(crypto_random(n(&a[0]), 0, 0, false, true)));
    p("swapcase", &[Str], None, |a| str_v(swapcase(s(&a[0]))));
    p("shuffle", &[Str], None, |a| {
        let mut c: Vec<char> = s(&a[0]).chars().collect();
        for i in (1..c.len()).rev() {
            let j = random_below(i as u64 + 1) as usize;
            c.swap(i, j);
        }
        str_v(c.into_iter().collect::<String>())
    });
    p("snakecase", &[Str], None, |a| str_v(to_lower_case_with(s(&a[0]), '_')));
    p("camelcase", &[Str], None, |a| str_v(camelcase(s(&a[0]))));
    p("kebabcase", &[Str], None, |a| str_v(to_lower_case_with(s(&a[0]), '-')));
    p("wrap", &[Int, Str], None, |a| str_v(wrap_custom(s(&a[1]), n(&a[0]), "", false)));
    p("wrapWith", &[Int, Str, Str], None, |a| str_v(wrap_custom(s(&a[2]), n(&a[0]), s(&a[1]), true)));
    p("contains", &[Str, Str], None, |a| Ok(Value::Bool(s(&a[1]).contains(s(&a[0])))));
    p("hasPrefix", &[Str, Str], None, |a| Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0])))));
    p("hasSuffix", &[Str, Str], None, |a| Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0])))));
    p("quote", &[], Some(Any), |a| {
        let parts: Vec<String> = a.iter().filter(|x| !matches!(x, Value::Nil)).map(|x| quote_go(&strval(x))).collect();
        str_v(parts.join(" "))
    });
    p("squote", &[], Some(Any), |a| {
        let parts: Vec<String> =
            a.iter().filter(|x| !matches!(x, Value::Nil)).map(|x| format!("'{}'", sprint_value(x))).collect();
        str_v(parts.join(" "))
    });
    p("cat", &[], Some(Any), |a| {
        let v: Vec<Value> = a.iter().filter(|x| !matches!(x, Value::Nil)).cloned().collect();
        let f = "%v ".repeat(v.len());
        str_v(sprintf(f.trim(), &v))
    });
    p("indent", &[Int, Str], None, |a| str_v(indent(n(&a[0]), s(&a[1]))?));
    p("nindent", &[Int, Str], None, |a| str_v(format!("\n{}", indent(n(&a[0]), s(&a[1]))?)));
    p("replace", &[Str, Str, Str], None, |a| str_v(s(&a[2]).replace(s(&a[0]), s(&a[1]))));
    p("plural", &[Str, Str, Int], None, |a| Ok(if n(&a[2]) == 1 { a[0].clone() } else { a[1].clone() }));
    p("sha1sum", &[Str], None, |a| {
        use sha1::Digest;
        str_v(hex(&sha1::Sha1::digest(s(&a[0]).as_bytes())))
    });
    p("sha256sum", &[Str], None, |a| {
        use sha2::Digest;
        str_v(hex(&sha2::Sha256::digest(s(&a[0]).as_bytes())))
    });
    p("adler32sum", &[Str], None, |a| {
        let (mut x, mut y) = (1u32, 0u32);
        for b in s(&a[0]).bytes() {
            x = (x + b as u32) % 65521;
            y = (y + x) % 65521;
        }
        str_v(((y << 16) | x).to_string())
    });
    p("toString", &[Any], None, |a| str_v(strval(&a[0])));
    p("atoi", &[Str], None, |a| Ok(Value::Int(parse_int10(s(&a[0])).unwrap_or(0))));
    p("int64", &[Any], None, |a| Ok(Value::Int(to_int64(&a[0]))));
    p("int", &[Any], None, |a| Ok(Value::Int(to_int64(&a[0]))));
    p("float64", &[Any], None, |a| Ok(Value::Float(to_float64(&a[0]))));
    p("toDecimal", &[Any], None, |a| {
        let txt = sprint_value(&a[0]);
        let body = txt.strip_prefix(['+', '-']).unwrap_or(&txt);
        let ok = !body.is_empty() && body.bytes().all(|b| (b'0'..=b'7').contains(&b));
        Ok(Value::Int(if ok { i64::from_str_radix(&txt, 8).unwrap_or(0) } else { 0 }))
    });
    p("split", &[Str, Str], None, |a| {
        let parts = go_split(s(&a[1]), s(&a[0]), -1);
        Ok(map_v(parts.into_iter().enumerate().map(|(i, x)| (Arc::from(format!("_{i}")), Value::from(x))).collect()))
    });
    p("splitList", &[Str, Str], None, |a| Ok(strs(go_split(s(&a[1]), s(&a[0]), -1))));
    p("splitn", &[Str, Int, Str], None, |a| {
        let parts = go_split(s(&a[2]), s(&a[0]), n(&a[1]));
        Ok(map_v(parts.into_iter().enumerate().map(|(i, x)| (Arc::from(format!("_{i}")), Value::from(x))).collect()))
    });
    p("toStrings", &[Any], None, |a| Ok(strs(strslice(&a[0]))));
    p("until", &[Int], None, |a| {
        let c = n(&a[0]);
        Ok(until_step(0, c, if c < 0 { -1 } else { 1 }))
    });
    p("untilStep", &[Int, Int, Int], None, |a| Ok(until_step(n(&a[0]), n(&a[1]), n(&a[2]))));

    // Arithmetic.
    p("add1", &[Any], None, |a| Ok(Value::Int(to_int64(&a[0]).wrapping_add(1))));
    p("add", &[], Some(Any), |a| Ok(Value::Int(a.iter().fold(0i64, |acc, x| acc.wrapping_add(to_int64(x))))));
    p("sub", &[Any, Any], None, |a| Ok(Value::Int(to_int64(&a[0]).wrapping_sub(to_int64(&a[1])))));
    p("div", &[Any, Any], None, |a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err(div_zero());
        }
        Ok(Value::Int(to_int64(&a[0]).wrapping_div(d)))
    });
    p("mod", &[Any, Any], None, |a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err(div_zero());
        }
        Ok(Value::Int(to_int64(&a[0]).wrapping_rem(d)))
    });
    p("mul", &[Any], Some(Any), |a| {
        Ok(Value::Int(a[1..].iter().fold(to_int64(&a[0]), |acc, x| acc.wrapping_mul(to_int64(x)))))
    });
    p("biggest", &[Any], Some(Any), |a| Ok(Value::Int(a.iter().map(to_int64).max().unwrap_or(0))));
    p("max", &[Any], Some(Any), |a| Ok(Value::Int(a.iter().map(to_int64).max().unwrap_or(0))));
    p("min", &[Any], Some(Any), |a| Ok(Value::Int(a.iter().map(to_int64).min().unwrap_or(0))));
    p("ceil", &[Any], None, |a| Ok(Value::Float(to_float64(&a[0]).ceil())));
    p("floor", &[Any], None, |a| Ok(Value::Float(to_float64(&a[0]).floor())));
    p("round", &[Any, Int], Some(Float), |a| {
        let round_on = a.get(2).and_then(Value::as_float).unwrap_or(0.5);
        let val = to_float64(&a[0]);
        let pow = 10f64.powf(n(&a[1]) as f64);
        let digit = pow * val;
        let frac = digit - digit.trunc();
        let r = if frac >= round_on { digit.ceil() } else { digit.floor() };
        Ok(Value::Float(r / pow))
    });

    // String lists.
    p("join", &[Str, Any], None, |a| str_v(strslice(&a[1]).join(s(&a[0]))));
    p("sortAlpha", &[Any], None, |a| {
        Ok(match classify(&a[0]) {
            View::List(_) | View::Bytes(_) => {
                let mut v = strslice(&a[0]);
                v.sort();
                strs(v)
            }
            _ => strs(vec![strval(&a[0])]),
        })
    });

    // Defaults, JSON, reflection.
    p("default", &[Any], Some(Any), |a| {
        let given = &a[1..];
        if given.is_empty() || empty(&given[0]) { Ok(a[0].clone()) } else { Ok(given[0].clone()) }
    });
    p("empty", &[Any], None, |a| Ok(Value::Bool(empty(&a[0]))));
    p("coalesce", &[], Some(Any), |a| Ok(a.iter().find(|x| !empty(x)).cloned().unwrap_or(Value::Nil)));
    p("compact", &[Any], None, |a| {
        Ok(list_v(items(&a[0], "Cannot compact on type %s")?.into_iter().filter(|x| !empty(x)).collect()))
    });
    p("deepCopy", &[Any], None, |a| Ok(a[0].clone()));
    p("toJson", &[Any], None, |a| str_v(super::json::marshal(&a[0]).unwrap_or_default()));
    p("toPrettyJson", &[Any], None, |a| {
        str_v(super::json::marshal(&a[0]).map(|j| super::json::indent(&j)).unwrap_or_default())
    });
    p("ternary", &[Any, Any, Bool], None, |a| {
        Ok(if matches!(a[2], Value::Bool(true)) { a[0].clone() } else { a[1].clone() })
    });
    p("typeOf", &[Any], None, |a| str_v(type_name(&a[0])));
    p("typeIs", &[Str, Any], None, |a| Ok(Value::Bool(s(&a[0]) == type_name(&a[1]))));
    p("typeIsLike", &[Str, Any], None, |a| {
        let t = type_name(&a[1]);
        Ok(Value::Bool(s(&a[0]) == t || format!("*{}", s(&a[0])) == t))
    });
    p("kindOf", &[Any], None, |a| str_v(kind_name(&a[0])));
    p("kindIs", &[Str, Any], None, |a| Ok(Value::Bool(s(&a[0]) == kind_name(&a[1]))));
    p("deepEqual", &[Any, Any], None, |a| {
        Ok(Value::Bool(type_name(&a[0]) == type_name(&a[1]) && deep_equal(&a[0], &a[1])))
    });

    // OS, network, paths.
    p("env", &[Str], None, |a| str_v(std::env::var(s(&a[0])).unwrap_or_default()));
    p("expandenv", &[Str], None, |a| str_v(expand_env(s(&a[0]))));
    p("getHostByName", &[Str], None, |a| {
        use std::net::ToSocketAddrs;
        let addrs: Vec<String> =
            (s(&a[0]), 0).to_socket_addrs().map(|it| it.map(|x| x.ip().to_string()).collect()).unwrap_or_default();
        if addrs.is_empty() {
            return Err("invalid argument to Intn".into());
        }
        str_v(addrs[random_below(addrs.len() as u64) as usize].clone())
    });
    p("base", &[Str], None, |a| str_v(path_base(s(&a[0]))));
    p("dir", &[Str], None, |a| str_v(path_dir(s(&a[0]))));
    p("clean", &[Str], None, |a| str_v(path_clean(s(&a[0]))));
    p("ext", &[Str], None, |a| str_v(path_ext(s(&a[0]))));
    p("isAbs", &[Str], None, |a| Ok(Value::Bool(s(&a[0]).starts_with('/'))));

    // Encodings.
    p("b64enc", &[Str], None, |a| str_v(b64_encode(s(&a[0]).as_bytes())));
    p("b64dec", &[Str], None, |a| {
        str_v(match b64_decode(s(&a[0]).as_bytes()) {
            Ok(b) => super::value::lossy(&b),
            Err(at) => illegal("base64", at),
        })
    });
    p("b32enc", &[Str], None, |a| str_v(b32_encode(s(&a[0]).as_bytes())));
    p("b32dec", &[Str], None, |a| {
        str_v(match b32_decode(s(&a[0]).as_bytes()) {
            Ok(b) => super::value::lossy(&b),
            Err(at) => illegal("base32", at),
        })
    });

    // Lists and dicts.
    p("tuple", &[], Some(Any), |a| Ok(list_v(a.to_vec())));
    p("list", &[], Some(Any), |a| Ok(list_v(a.to_vec())));
    p("dict", &[], Some(Any), |a| {
        let mut m = BTreeMap::new();
        let mut i = 0;
        while i < a.len() {
            let k: Arc<str> = Arc::from(strval(&a[i]));
            m.insert(k, a.get(i + 1).cloned().unwrap_or_else(|| Value::from("")));
            i += 2;
        }
        Ok(map_v(m))
    });
    p("set", &[MapSA, Str, Any], None, |a| {
        let mut m = plain_map(&a[0]);
        m.insert(Arc::from(s(&a[1])), a[2].clone());
        Ok(map_v(m))
    });
    p("unset", &[MapSA, Str], None, |a| {
        let mut m = plain_map(&a[0]);
        m.remove(s(&a[1]));
        Ok(map_v(m))
    });
    p("hasKey", &[MapSA, Str], None, |a| Ok(Value::Bool(plain_map(&a[0]).contains_key(s(&a[1])))));
    p("pluck", &[Str], Some(MapSA), |a| {
        Ok(list_v(a[1..].iter().filter_map(|d| plain_map(d).get(s(&a[0])).cloned()).collect()))
    });
    p("keys", &[], Some(MapSA), |a| Ok(strs(a.iter().flat_map(|d| plain_map(d).into_keys().map(|k| k.to_string())))));
    p("pick", &[MapSA], Some(Str), |a| {
        let m = plain_map(&a[0]);
        let mut out = BTreeMap::new();
        for k in &a[1..] {
            if let Some(v) = m.get(s(k)) {
                out.insert(Arc::from(s(k)), v.clone());
            }
        }
        Ok(map_v(out))
    });
    p("omit", &[MapSA], Some(Str), |a| {
        let mut m = plain_map(&a[0]);
        for k in &a[1..] {
            m.remove(s(k));
        }
        Ok(map_v(m))
    });
    p("merge", &[MapSA], Some(MapSA), |a| {
        let mut dst = plain_map(&a[0]);
        for src in &a[1..] {
            merge_into(&mut dst, &plain_map(src), false);
        }
        Ok(map_v(dst))
    });
    p("mergeOverwrite", &[MapSA], Some(MapSA), |a| {
        let mut dst = plain_map(&a[0]);
        for src in &a[1..] {
            merge_into(&mut dst, &plain_map(src), true);
        }
        Ok(map_v(dst))
    });
    p("values", &[MapSA], None, |a| Ok(list_v(plain_map(&a[0]).into_values().collect())));
    p("append", &[Any, Any], None, push);
    p("push", &[Any, Any], None, push);
    p("prepend", &[Any, Any], None, |a| {
        let mut l = vec![a[1].clone()];
        l.extend(items(&a[0], "Cannot prepend on type %s")?);
        Ok(list_v(l))
    });
    p("first", &[Any], None, |a| {
        Ok(items(&a[0], "Cannot find first on type %s")?.first().cloned().unwrap_or(Value::Nil))
    });
    p("last", &[Any], None, |a| Ok(items(&a[0], "Cannot find last on type %s")?.last().cloned().unwrap_or(Value::Nil)));
    p("rest", &[Any], None, |a| {
        let l = items(&a[0], "Cannot find rest on type %s")?;
        Ok(if l.is_empty() { Value::List(Vec::new().into()) } else { list_v(l[1..].to_vec()) })
    });
    p("initial", &[Any], None, |a| {
        let l = items(&a[0], "Cannot find initial on type %s")?;
        Ok(if l.is_empty() { Value::List(Vec::new().into()) } else { list_v(l[..l.len() - 1].to_vec()) })
    });
    p("reverse", &[Any], None, |a| {
        let mut l = items(&a[0], "Cannot find reverse on type %s")?;
        l.reverse();
        Ok(list_v(l))
    });
    p("uniq", &[Any], None, |a| {
        let mut out: Vec<Value> = Vec::new();
        for x in items(&a[0], "Cannot find uniq on type %s")? {
            if !out.iter().any(|y| type_name(y) == type_name(&x) && deep_equal(y, &x)) {
                out.push(x);
            }
        }
        Ok(list_v(out))
    });
    p("without", &[Any], Some(Any), |a| {
        let omit = &a[1..];
        Ok(list_v(
            items(&a[0], "Cannot find without on type %s")?
                .into_iter()
                .filter(|x| !omit.iter().any(|y| type_name(y) == type_name(x) && deep_equal(y, x)))
                .collect(),
        ))
    });
    p("has", &[Any, Any], None, |a| {
        if matches!(a[1], Value::Nil) {
            return Ok(Value::Bool(false));
        }
        let l = items(&a[1], "Cannot find has on type %s")?;
        Ok(Value::Bool(l.iter().any(|x| type_name(x) == type_name(&a[0]) && deep_equal(x, &a[0]))))
    });
    p("slice", &[Any], Some(Any), |a| {
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
    p("concat", &[], Some(Any), |a| {
        let mut out = Vec::new();
        for l in a {
            out.extend(items(l, "Cannot concat type %s as list")?);
        }
        Ok(list_v(out))
    });

    // Crypto (with Kanister's FIPS replacements).
    p("genPrivateKey", &[Str], None, |a| match s(&a[0]) {
        "ed25519" => str_v("Unknown type ed25519"),
        "rsa" | "ecdsa" => Err(unsupported("genPrivateKey")),
        t => Err(fips(&format!("genPrivateKey for {t}"))),
    });
    p("derivePassword", &[Uint32, Str, Str, Str, Str], None, |_| Err(fips("derivePassword")));
    p("buildCustomCert", &[Str, Str], None, |_| Err(unsupported("buildCustomCert")));
    p("genCA", &[Str, Int], None, |_| Err(unsupported("genCA")));
    p("genSelfSignedCert", &[Str, Any, Any, Int], None, |_| Err(unsupported("genSelfSignedCert")));
    p("genSignedCert", &[Str, Any, Any, Int, Any], None, |_| Err(unsupported("genSignedCert")));
    p("encryptAES", &[Str, Str], None, encrypt_aes);
    p("decryptAES", &[Str, Str], None, decrypt_aes);
    p("uuidv4", &[], None, |_| str_v(uuidv4()));

    // SemVer.
    p("semver", &[Str], None, |a| super::semver::Version::parse(s(&a[0])).map(|v| semver_value(&v)));
    p("semverCompare", &[Str, Str], None, |a| {
        let c = super::semver::Constraints::parse(s(&a[0]))?;
        let v = super::semver::Version::parse(s(&a[1]))?;
        Ok(Value::Bool(c.check(&v)))
    });

    // Flow control.
    p("fail", &[Str], None, |a| Err(s(&a[0]).to_string()));

    // Regular expressions.
    p("regexMatch", &[Str, Str], None, |a| {
        Ok(Value::Bool(compile_regex(s(&a[0])).map(|r| r.is_match(s(&a[1]))).unwrap_or(false)))
    });
    p("regexFindAll", &[Str, Str, Int], None, |a| {
        let r = compile_regex(s(&a[0]))?;
        let x = s(&a[1]);
        Ok(strs(find_all(&r, x, n(&a[2])).into_iter().map(|(i, j)| x[i..j].to_string())))
    });
    p("regexFind", &[Str, Str], None, |a| {
        let r = compile_regex(s(&a[0]))?;
        str_v(r.find(s(&a[1])).map(|m| m.as_str().to_string()).unwrap_or_default())
    });
    p("regexReplaceAll", &[Str, Str, Str], None, |a| {
        let r = compile_regex(s(&a[0]))?;
        str_v(r.replace_all(s(&a[1]), s(&a[2])).into_owned())
    });
    p("regexReplaceAllLiteral", &[Str, Str, Str], None, |a| {
        let r = compile_regex(s(&a[0]))?;
        str_v(r.replace_all(s(&a[1]), regex::NoExpand(s(&a[2]))).into_owned())
    });
    p("regexSplit", &[Str, Str, Int], None, |a| {
        let r = compile_regex(s(&a[0]))?;
        let (x, cnt) = (s(&a[1]), n(&a[2]));
        if cnt == 0 {
            return Ok(Value::List(Vec::new().into()));
        }
        if !s(&a[0]).is_empty() && x.is_empty() {
            return Ok(strs(vec![String::new()]));
        }
        let mut out: Vec<String> = Vec::new();
        let (mut beg, mut end) = (0usize, 0usize);
        for (i, j) in find_all(&r, x, cnt) {
            if cnt > 0 && out.len() as i64 == cnt - 1 {
                break;
            }
            end = i;
            if j != 0 {
                out.push(x[beg..end].to_string());
            }
            beg = j;
        }
        if end != x.len() {
            out.push(x[beg..].to_string());
        }
        Ok(strs(out))
    });

    // URLs.
    p("urlParse", &[Str], None, |a| super::url::parse(s(&a[0])));
    p("urlJoin", &[MapSA], None, |a| super::url::join(&plain_map(&a[0])));
}

fn date_modify(a: &[Value]) -> Res {
    let t = time_arg(&a[1]);
    Ok(match parse_duration(s(&a[0])) {
        Some(d) => make_time(&t.add(d)),
        None => a[1].clone(),
    })
}

fn indent(spaces: i64, v: &str) -> Result<String, String> {
    if spaces < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let pad = " ".repeat(spaces as usize);
    Ok(format!("{pad}{}", v.replace('\n', &format!("\n{pad}"))))
}

fn push(a: &[Value]) -> Res {
    let mut l = items(&a[0], "Cannot push on type %s")?;
    l.push(a[1].clone());
    Ok(list_v(l))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Go's `strings.SplitN` (n < 0: all).
fn go_split(x: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = x.chars().map(String::from).collect();
        if n > 0 && chars.len() as i64 > n {
            let mut head: Vec<String> = chars[..(n - 1) as usize].to_vec();
            let used: usize = head.iter().map(String::len).sum();
            head.push(x[used..].to_string());
            return head;
        }
        return chars;
    }
    if n < 0 {
        return x.split(sep).map(str::to_string).collect();
    }
    x.splitn(n as usize, sep).map(str::to_string).collect()
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

/// `dictGetOrEmpty` for urlJoin.
pub(crate) fn dict_get_or_empty(d: &BTreeMap<Arc<str>, Value>, key: &str) -> Result<String, String> {
    match d.get(key) {
        None => Ok(String::new()),
        Some(Value::String(x)) => Ok(x.to_string()),
        Some(Value::Nil) => Err(NIL_DEREF.into()),
        Some(other) => {
            Err(format!("unable to parse {key} key, must be of type string, but {} found", kind_name(other)))
        }
    }
}

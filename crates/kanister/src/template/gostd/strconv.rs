//! Go's `strconv` as the ports need it: `Quote`/`QuoteRune` (and the ASCII-only and
//! backquoted variants `fmt` uses), `FormatFloat` for the `e E f g G x X` formats,
//! `Unquote`/`UnquoteChar` for template string literals, and `ParseInt`/`ParseUint`/
//! `ParseFloat` (base 0 for template number literals, base 10 for sprig's conversions).
//! Must not import anything but [`super::unicode`].

use super::unicode::is_print;

/// Appends `c` as `strconv.Quote` escapes it inside `quote`s (`ascii_only`: `QuoteToASCII`).
fn push_escaped(out: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if ascii_only {
        if c.is_ascii() && is_print(c) {
            out.push(c);
            return;
        }
    } else if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// `strconv.Quote`.
pub(crate) fn quote_go(s: &str) -> String {
    quote_with(s, '"', false)
}

pub(super) fn quote_with(s: &str, quote: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        push_escaped(&mut out, c, quote, ascii_only);
    }
    out.push(quote);
    out
}

/// `strconv.QuoteRune`.
pub(super) fn quote_rune(r: i64, ascii_only: bool) -> String {
    let c = u32::try_from(r).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
    quote_with(&c.to_string(), '\'', ascii_only)
}

pub(super) fn can_backquote(s: &str) -> bool {
    s.chars().all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
}

/// Decimal digits of |f| and the decimal-point position: `f = 0.d1d2… × 10^dp`.
/// `sig = None` gives the shortest digits that round-trip.
fn digits(f: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    let s = match sig {
        None => format!("{:e}", f.abs()),
        Some(n) => format!("{:.*e}", n.saturating_sub(1), f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    if sig.is_none() {
        while d.len() > 1 && d.last() == Some(&b'0') {
            d.pop();
        }
    }
    if d.iter().all(|&b| b == b'0') {
        return (vec![b'0'], 1);
    }
    (d, exp + 1)
}

fn fmt_e(neg: bool, d: &[u8], dp: i32, prec: usize, e: char) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push(d[0] as char);
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(*d.get(i).unwrap_or(&b'0') as char);
        }
    }
    s.push(e);
    let exp = if d == [b'0'] { 0 } else { dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    s.push_str(&a.to_string());
    s
}

fn fmt_f(neg: bool, d: &[u8], dp: i32, prec: usize) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if dp > 0 {
        for i in 0..dp as usize {
            s.push(*d.get(i).unwrap_or(&b'0') as char);
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec as i32 {
            let j = dp + i;
            let c = if j < 0 { b'0' } else { *d.get(j as usize).unwrap_or(&b'0') };
            s.push(c as char);
        }
    }
    s
}

/// `strconv.FormatFloat(f, fmt, prec, 64)` for fmt in `e E f g G` (prec -1 = shortest).
pub(super) fn format_float(f: f64, fmt: char, prec: i32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let neg = f.is_sign_negative();
    let shortest = prec < 0;
    match fmt {
        'x' | 'X' => hex_float(f, prec, fmt == 'X'),
        'e' | 'E' => {
            let (d, dp) = digits(f, if shortest { None } else { Some(prec as usize + 1) });
            let p = if shortest { d.len() - 1 } else { prec as usize };
            fmt_e(neg, &d, dp, p, fmt)
        }
        'f' | 'F' => {
            if shortest {
                let (d, dp) = digits(f, None);
                let p = (d.len() as i32 - dp).max(0) as usize;
                fmt_f(neg, &d, dp, p)
            } else {
                let s = format!("{:.*}", prec as usize, f.abs());
                if neg { format!("-{s}") } else { s }
            }
        }
        _ => {
            let upper = fmt == 'G';
            let mut prec = prec;
            if prec == 0 {
                prec = 1;
            }
            let (mut d, dp) = digits(f, if shortest { None } else { Some(prec as usize) });
            while d.len() > 1 && d.last() == Some(&b'0') {
                d.pop();
            }
            let nd = d.len() as i32;
            let mut eprec = if shortest { 6 } else { prec };
            if !shortest && eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                let mut p = if shortest { nd } else { prec };
                if p > nd {
                    p = nd;
                }
                return fmt_e(neg, &d, dp, (p - 1).max(0) as usize, if upper { 'E' } else { 'e' });
            }
            let mut p = if shortest { nd } else { prec };
            if p > dp {
                p = nd;
            }
            fmt_f(neg, &d, dp, (p - dp).max(0) as usize)
        }
    }
}

/// strconv's `%x` for floats: `-0x1.8p+01`.
fn hex_float(f: f64, prec: i32, upper: bool) -> String {
    let neg = f.is_sign_negative();
    let bits = f.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i32;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        if mant == 0 {
            exp = 0;
        } else {
            // Subnormal: normalise.
            exp = -1022;
            while mant & (1u64 << 52) == 0 {
                mant <<= 1;
                exp -= 1;
            }
            mant &= (1u64 << 52) - 1;
        }
    } else {
        exp -= 1023;
    }
    let zero = f == 0.0;
    // 52 fraction bits = 13 hex digits.
    let mut lead = if zero { 0u64 } else { 1 };
    let mut frac = mant;
    let mut digits = 13usize;
    if prec >= 0 && (prec as usize) < 13 {
        let drop = (13 - prec as usize) * 4;
        let full = (lead << 52) | frac;
        let half = 1u64 << (drop - 1);
        let rem = full & ((1u64 << drop) - 1);
        let mut kept = full >> drop;
        if rem > half || (rem == half && kept & 1 == 1) {
            kept += 1;
        }
        let fbits = 52 - drop;
        if kept >> fbits >= 2 {
            kept >>= 1;
            exp += 1;
        }
        lead = kept >> fbits;
        frac = (kept & ((1u64 << fbits) - 1)) << drop;
        digits = prec as usize;
    }
    let mut hex = format!("{frac:013x}");
    hex.truncate(digits.max(if prec > 13 { 13 } else { 0 }));
    if prec < 0 {
        while hex.ends_with('0') {
            hex.pop();
        }
    } else {
        while hex.len() < prec as usize {
            hex.push('0');
        }
    }
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push_str("0x");
    s.push_str(&lead.to_string());
    if !hex.is_empty() {
        s.push('.');
        s.push_str(&hex);
    }
    let e = if zero { 0 } else { exp };
    s.push('p');
    s.push(if e < 0 { '-' } else { '+' });
    let a = e.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    s.push_str(&a.to_string());
    if upper { s.to_uppercase() } else { s }
}

/// Go's `strconv.Unquote` for "…" and `…` literals; errors are `invalid syntax`.
pub(super) fn unquote(s: &str) -> Result<String, String> {
    let bad = || "invalid syntax".to_string();
    let b = s.as_bytes();
    if b.len() < 2 {
        return Err(bad());
    }
    match b[0] {
        b'`' => {
            if b[b.len() - 1] != b'`' || s[1..s.len() - 1].contains('`') {
                return Err(bad());
            }
            Ok(s[1..s.len() - 1].replace('\r', ""))
        }
        b'"' => {
            if b[b.len() - 1] != b'"' {
                return Err(bad());
            }
            let inner = &s[1..s.len() - 1];
            let mut out = String::new();
            let mut rest = inner;
            while !rest.is_empty() {
                let (c, tail) = unquote_char(rest, '"').ok_or_else(bad)?;
                out.push(c);
                rest = tail;
            }
            Ok(out)
        }
        _ => Err(bad()),
    }
}

/// Go's `strconv.UnquoteChar`: one (possibly escaped) character and the rest.
pub(super) fn unquote_char(s: &str, quote: char) -> Option<(char, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c == quote && (quote == '\'' || quote == '"') {
        return None;
    }
    if c != '\\' {
        return Some((c, chars.as_str()));
    }
    let e = chars.next()?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        '\'' | '"' => {
            if e != quote {
                return None;
            }
            Some(e)
        }
        _ => None,
    };
    if let Some(c) = simple {
        return Some((c, rest));
    }
    let hex = |n: usize| -> Option<(char, &str)> {
        if rest.len() < n || !rest.is_char_boundary(n) {
            return None;
        }
        let v = u32::from_str_radix(&rest[..n], 16).ok()?;
        if !rest[..n].bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some((char::from_u32(v)?, &rest[n..]))
    };
    match e {
        'x' => hex(2),
        'u' => hex(4),
        'U' => hex(8),
        '0'..='7' => {
            let digits = format!("{e}{}", rest.get(..2)?);
            if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return None;
            }
            let v = u32::from_str_radix(&digits, 8).ok()?;
            if v > 255 {
                return None;
            }
            Some((char::from_u32(v)?, &rest[2..]))
        }
        _ => None,
    }
}

/// Go's `underscoreOK`: underscores only between digits or after a base prefix.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = '^';
    let mut i = 0;
    if !b.is_empty() && (b[0] == b'-' || b[0] == b'+') {
        i = 1;
    }
    let mut hex = false;
    if b.len() - i >= 2 && b[i] == b'0' && matches!(b[i + 1] | 0x20, b'b' | b'o' | b'x') {
        hex = (b[i + 1] | 0x20) == b'x';
        i += 2;
        saw = '0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = '0';
        } else if c == b'_' {
            if saw != '0' {
                return false;
            }
            saw = '_';
        } else {
            if saw == '_' {
                return false;
            }
            saw = '!';
        }
        i += 1;
    }
    saw != '_'
}

/// `strconv.ParseUint(s, 0, 64)`.
pub(super) fn parse_go_uint(s: &str) -> Option<u64> {
    if s.is_empty() || s.starts_with(['+', '-']) {
        return None;
    }
    let (base, digits, prefixed) = if let Some(r) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, r, true)
    } else if let Some(r) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (8, r, true)
    } else if let Some(r) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (2, r, true)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..], true)
    } else {
        (10, s, false)
    };
    let _ = prefixed;
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() {
        return None;
    }
    u64::from_str_radix(&clean, base).ok()
}

/// `strconv.ParseInt(s, 0, 64)`.
pub(super) fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let u = parse_go_uint(body)?;
    if neg {
        if u <= i64::MAX as u64 + 1 { Some((u as i128).wrapping_neg() as i64) } else { None }
    } else if u <= i64::MAX as u64 {
        Some(u as i64)
    } else {
        None
    }
}

/// `strconv.ParseFloat(s, 64)` for the syntaxes the lexer lets through (decimal and hex floats).
pub(super) fn parse_go_float(s: &str) -> Option<f64> {
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        parse_hex_float(h)?
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        let v: f64 = body.parse().ok()?;
        if v.is_infinite() {
            return None;
        }
        v
    };
    Some(if neg { -v } else { v })
}

fn parse_hex_float(h: &str) -> Option<f64> {
    let (mant, exp) = match h.find(['p', 'P']) {
        Some(i) => (&h[..i], h[i + 1..].parse::<i32>().ok()?),
        None => return None,
    };
    let (ip, fp) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if ip.is_empty() && fp.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in ip.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in fp.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// `strconv.ParseInt(s, 10, 64)`.
pub(crate) fn parse_int10(x: &str) -> Option<i64> {
    let body = x.strip_prefix(['+', '-']).unwrap_or(x);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    x.parse::<i64>().ok()
}

/// `strconv.ParseFloat(s, 64)`.
pub(crate) fn parse_float(x: &str) -> Option<f64> {
    let lower = x.to_ascii_lowercase();
    let body = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    match body {
        "inf" | "infinity" => return Some(if lower.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY }),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    parse_go_float(x).or_else(|| {
        if x.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
            x.parse::<f64>().ok()
        } else {
            None
        }
    })
}

//! Go's `fmt` as templates see it: `%v` printing of every value (`map[a:1 b:2]`, `[x y]`,
//! `1e+06`, `<nil>`), `printf` with Go verbs, flags, widths, precisions and argument indexes
//! (and Go's `%!d(string=x)` complaints), `print` and `println`, and what an action prints.
//!
//! Operates on template values ([`crate::template::value`]); must not import the executor,
//! the function table or sprig.

use super::strconv::{can_backquote, format_float, quote_go, quote_rune, quote_with};
use super::unicode::{is_print, lossy};
use crate::template::value::{View, classify, map_entries, type_name};
use gotmpl::Value;

/// Formatting state for one operand (Go's `fmt` struct).
#[derive(Default, Clone)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

struct Printer {
    buf: String,
    f: Flags,
    /// text/template's printableValue: pointers are printed as what they point to.
    deref: bool,
}

impl Printer {
    fn new() -> Self {
        Printer { buf: String::new(), f: Flags::default(), deref: false }
    }

    fn pad(&mut self, s: &str) {
        let n = s.chars().count();
        let w = self.f.wid.unwrap_or(0);
        if w <= n {
            self.buf.push_str(s);
            return;
        }
        let fill = if self.f.zero && !self.f.minus { '0' } else { ' ' };
        let padding: String = std::iter::repeat_n(fill, w - n).collect();
        if self.f.minus {
            self.buf.push_str(s);
            self.buf.push_str(&padding);
        } else {
            self.buf.push_str(&padding);
            self.buf.push_str(s);
        }
    }

    fn bad_verb(&mut self, verb: char, v: Option<&Value>) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        match v {
            Some(v) if !matches!(v, Value::Nil) => {
                self.buf.push_str(&type_name(v));
                self.buf.push('=');
                let saved = std::mem::take(&mut self.f);
                self.print_value(v, 'v', 0);
                self.f = saved;
            }
            _ => self.buf.push_str("<nil>"),
        }
        self.buf.push(')');
    }

    fn fmt_integer(&mut self, neg: bool, mag: u64, verb: char, v: &Value) {
        let (base, upper) = match verb {
            'v' | 'd' => (10, false),
            'b' => (2, false),
            'o' | 'O' => (8, false),
            'x' => (16, false),
            'X' => (16, true),
            'c' => {
                let c = char::from_u32(mag as u32).filter(|_| !neg && mag <= 0x10FFFF).unwrap_or('\u{FFFD}');
                self.pad(&c.to_string());
                return;
            }
            'q' => {
                let r = if neg { -(mag as i64) } else { mag as i64 };
                let s = if self.f.sharp && u32::try_from(r).ok().and_then(char::from_u32).is_some_and(can_bq_rune) {
                    format!("'{}'", char::from_u32(r as u32).unwrap_or('\u{FFFD}'))
                } else {
                    quote_rune(r, self.f.plus)
                };
                self.pad(&s);
                return;
            }
            'U' => {
                let mut s = format!("U+{:04X}", mag);
                if self.f.sharp
                    && let Some(c) = char::from_u32(mag as u32).filter(|c| is_print(*c))
                {
                    s.push_str(&format!(" '{c}'"));
                }
                self.pad(&s);
                return;
            }
            _ => {
                self.bad_verb(verb, Some(v));
                return;
            }
        };
        let mut digits = match base {
            2 => format!("{mag:b}"),
            8 => format!("{mag:o}"),
            16 if upper => format!("{mag:X}"),
            16 => format!("{mag:x}"),
            _ => mag.to_string(),
        };
        let mut prec = self.f.prec;
        let mut zero_pad = false;
        if prec.is_none() && self.f.zero && !self.f.minus && self.f.wid.is_some() {
            let mut w = self.f.wid.unwrap_or(0);
            if neg || self.f.plus || self.f.space {
                w = w.saturating_sub(1);
            }
            prec = Some(w);
            zero_pad = true;
        }
        if let Some(p) = prec {
            if p == 0 && mag == 0 && !zero_pad {
                digits.clear();
            }
            while digits.len() < p {
                digits.insert(0, '0');
            }
        }
        let mut prefix = String::new();
        if self.f.sharp {
            match base {
                2 => prefix.push_str("0b"),
                8 if !digits.starts_with('0') => prefix.push('0'),
                16 => prefix.push_str(if upper { "0X" } else { "0x" }),
                _ => {}
            }
        }
        if verb == 'O' {
            prefix = "0o".into();
        }
        let sign = if neg {
            "-"
        } else if self.f.plus {
            "+"
        } else if self.f.space {
            " "
        } else {
            ""
        };
        let s = format!("{sign}{prefix}{digits}");
        let z = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = z;
    }

    fn fmt_float(&mut self, f: f64, verb: char, v: &Value) {
        let (fmt, prec) = match verb {
            'v' => ('g', -1),
            'g' | 'G' => (verb, -1),
            'e' | 'E' | 'f' => (verb, 6),
            'F' => ('f', 6),
            'x' | 'X' => (verb, -1),
            _ => {
                self.bad_verb(verb, Some(v));
                return;
            }
        };
        let prec = self.f.prec.map(|p| p as i32).unwrap_or(prec);
        let mut num = format_float(f, fmt, prec);
        if !num.starts_with(['-', '+']) {
            num.insert(0, '+');
        }
        if self.f.space && num.starts_with('+') && !self.f.plus {
            num.replace_range(0..1, " ");
        }
        if num[1..].starts_with(['I', 'N']) {
            let z = self.f.zero;
            self.f.zero = false;
            if num[1..].starts_with('N') && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            self.pad(&num);
            self.f.zero = z;
            return;
        }
        if self.f.plus || !num.starts_with('+') {
            if self.f.zero && !self.f.minus && self.f.wid.is_some_and(|w| w > num.len()) {
                let w = self.f.wid.unwrap_or(0);
                self.buf.push_str(&num[..1]);
                self.buf.push_str(&"0".repeat(w - num.len()));
                self.buf.push_str(&num[1..]);
                return;
            }
            self.pad(&num);
            return;
        }
        self.pad(&num[1..]);
    }

    fn fmt_string(&mut self, s: &str, verb: char, v: &Value) {
        let s = match self.f.prec {
            Some(p) if matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') => s.chars().take(p).collect::<String>(),
            _ => s.to_string(),
        };
        match verb {
            'v' if self.f.sharp_v => {
                let q = quote_go(&s);
                self.pad(&q)
            }
            'v' | 's' => self.pad(&s),
            'x' | 'X' => {
                let mut out = String::new();
                for (i, b) in s.bytes().enumerate() {
                    if i > 0 && self.f.space {
                        out.push(' ');
                    }
                    if self.f.sharp && (i == 0 || self.f.space) {
                        out.push_str(if verb == 'x' { "0x" } else { "0X" });
                    }
                    out.push_str(&if verb == 'x' { format!("{b:02x}") } else { format!("{b:02X}") });
                }
                self.pad(&out);
            }
            'q' => {
                let q = if self.f.sharp && can_backquote(&s) {
                    format!("`{s}`")
                } else if self.f.plus {
                    quote_with(&s, '"', true)
                } else {
                    quote_go(&s)
                };
                self.pad(&q);
            }
            _ => self.bad_verb(verb, Some(v)),
        }
    }

    /// Go's `printValue` (depth 0 = the operand itself).
    fn print_value(&mut self, v: &Value, verb: char, depth: usize) {
        match classify(v) {
            View::Nil => {
                if depth == 0 && !matches!(verb, 'v' | 'T') {
                    self.bad_verb(verb, None);
                } else {
                    self.pad("<nil>");
                }
            }
            View::Bool(b) => match verb {
                't' | 'v' => self.pad(if b { "true" } else { "false" }),
                _ => self.bad_verb(verb, Some(v)),
            },
            View::Int(i) => self.fmt_integer(i < 0, i.unsigned_abs(), verb, v),
            View::Uint(u) => self.fmt_integer(false, u, verb, v),
            View::Float(f) => self.fmt_float(f, verb, v),
            View::Str(s) => self.fmt_string(s, verb, v),
            View::Bytes(b) => match verb {
                's' | 'q' | 'x' | 'X' => self.fmt_string(&lossy(&b), verb, v),
                _ => {
                    self.buf.push('[');
                    for (i, x) in b.iter().enumerate() {
                        if i > 0 {
                            self.buf.push(' ');
                        }
                        self.fmt_integer(false, *x as u64, if verb == 'v' { 'd' } else { verb }, v);
                    }
                    self.buf.push(']');
                }
            },
            View::List(l) => {
                self.buf.push('[');
                for (i, x) in l.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.print_value(x, verb, depth + 1);
                }
                self.buf.push(']');
            }
            View::Map(m) => {
                self.buf.push_str("map[");
                for (i, (k, x)) in map_entries(m).enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.print_value(&Value::String(k.clone()), verb, depth + 1);
                    self.buf.push(':');
                    self.print_value(x, verb, depth + 1);
                }
                self.buf.push(']');
            }
            View::Struct(s) if s.stringer.is_some() && matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') => {
                let text = s.stringer.clone().unwrap_or_default();
                self.fmt_string(&text, verb, v);
            }
            View::Struct(s) => {
                // fmt prints a pointer to a struct as &{…} at the top, an address below
                // (we print {…} there); templates print what the pointer points to.
                if s.type_name.starts_with('*') && depth == 0 && !self.deref {
                    self.buf.push('&');
                }
                self.buf.push('{');
                for (i, (k, x)) in s.fields().into_iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    if self.f.plus_v || self.f.sharp_v {
                        self.buf.push_str(k);
                        self.buf.push(':');
                    }
                    if matches!(x, Value::Nil) {
                        self.pad("<nil>");
                    } else {
                        self.print_value(x, verb, depth + 1);
                    }
                }
                self.buf.push('}');
            }
            View::Time(t) => {
                let s = t.to_go_string();
                match verb {
                    'v' | 's' | 'x' | 'X' | 'q' => self.fmt_string(&s, verb, v),
                    _ => self.bad_verb(verb, Some(v)),
                }
            }
            View::TypedNil(_) => match verb {
                'v' => self.pad("<nil>"),
                _ => self.bad_verb(verb, Some(v)),
            },
            View::Func => self.pad("<func>"),
        }
    }

    fn print_arg(&mut self, v: &Value, verb: char) {
        if verb == 'T' {
            let t = type_name(v);
            self.fmt_string(&t, 's', v);
            return;
        }
        self.print_value(v, verb, 0);
    }
}

fn can_bq_rune(c: char) -> bool {
    c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control())
}

/// `fmt.Sprint(v)` of one value: what an action prints.
pub(crate) fn sprint_value(v: &Value) -> String {
    if let Value::String(s) = v {
        return s.to_string();
    }
    let mut p = Printer::new();
    p.print_arg(v, 'v');
    p.buf
}

/// What an action prints (text/template's `printValue`: pointers dereferenced, then
/// `fmt.Fprint`).
pub(crate) fn print_action(v: &Value) -> String {
    if let Value::String(s) = v {
        return s.to_string();
    }
    let mut p = Printer::new();
    p.deref = true;
    p.print_arg(v, 'v');
    p.buf
}

/// `fmt.Sprint(args...)`: spaces between operands when neither side is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        out.push_str(&sprint_value(a));
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln(args...)`.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(sprint_value).collect();
    let mut s = parts.join(" ");
    s.push('\n');
    s
}

fn parse_num(b: &[u8], mut i: usize, end: usize) -> (usize, bool, usize) {
    let start = i;
    let mut n = 0usize;
    while i < end && b[i].is_ascii_digit() {
        if n > 1_000_000 {
            return (0, false, end);
        }
        n = n * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    (n, i > start, i)
}

fn int_from_arg(args: &[Value], arg_num: usize) -> (i64, bool, usize) {
    if arg_num >= args.len() {
        return (0, false, arg_num);
    }
    let (n, ok) = match &args[arg_num] {
        Value::Int(n) => (*n, true),
        Value::Uint(u) if *u <= i64::MAX as u64 => (*u as i64, true),
        _ => (0, false),
    };
    if !(-1_000_000..=1_000_000).contains(&n) {
        return (0, false, arg_num + 1);
    }
    (n, ok, arg_num + 1)
}

/// `fmt.Sprintf(format, args...)`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printer::new();
    let b = format.as_bytes();
    let end = b.len();
    let mut arg_num = 0usize;
    let mut after_index;
    let mut reordered = false;
    let mut good_arg_num;
    // Go's argNumber: returns (argNum, i, found) and updates reordered/good_arg_num.
    let arg_number = |arg_num: usize, i: usize, reordered: &mut bool, good: &mut bool| -> (usize, usize, bool) {
        if i >= end || b[i] != b'[' {
            return (arg_num, i, false);
        }
        *reordered = true;
        let rest = &b[i..];
        let (index, wid, ok) = if rest.len() < 3 {
            (0usize, 1usize, false)
        } else {
            let mut r = (0usize, 1usize, false);
            for j in 1..rest.len() {
                if rest[j] == b']' {
                    let (n, isnum, newi) = parse_num(rest, 1, j);
                    r = if !isnum || newi != j { (0, j + 1, false) } else { (n.wrapping_sub(1), j + 1, true) };
                    break;
                }
            }
            r
        };
        if ok && index < args.len() {
            return (index, i + wid, true);
        }
        *good = false;
        (arg_num, i + wid, ok)
    };
    let mut i = 0usize;
    'format: while i < end {
        good_arg_num = true;
        let lasti = i;
        while i < end && b[i] != b'%' {
            i += 1;
        }
        if i > lasti {
            p.buf.push_str(&format[lasti..i]);
        }
        if i >= end {
            break;
        }
        i += 1;
        p.f = Flags::default();
        while i < end {
            let c = b[i];
            match c {
                b'#' => p.f.sharp = true,
                b'0' => p.f.zero = true,
                b'+' => p.f.plus = true,
                b'-' => p.f.minus = true,
                b' ' => p.f.space = true,
                _ => {
                    if c.is_ascii_lowercase() && arg_num < args.len() {
                        if c == b'v' {
                            p.f.sharp_v = p.f.sharp;
                            p.f.sharp = false;
                            p.f.plus_v = p.f.plus;
                            p.f.plus = false;
                        }
                        if p.f.minus {
                            p.f.zero = false;
                        }
                        let a = args[arg_num].clone();
                        if c == b'w' {
                            p.bad_verb('w', Some(&a));
                        } else {
                            p.print_arg(&a, c as char);
                        }
                        arg_num += 1;
                        i += 1;
                        continue 'format;
                    }
                    break;
                }
            }
            i += 1;
        }
        let (an, ni, found) = arg_number(arg_num, i, &mut reordered, &mut good_arg_num);
        arg_num = an;
        i = ni;
        after_index = found;
        if i < end && b[i] == b'*' {
            i += 1;
            let (w, ok, an) = int_from_arg(args, arg_num);
            arg_num = an;
            if !ok {
                p.buf.push_str("%!(BADWIDTH)");
            } else if w < 0 {
                p.f.wid = Some((-w) as usize);
                p.f.minus = true;
                p.f.zero = false;
            } else {
                p.f.wid = Some(w as usize);
            }
            after_index = false;
        } else {
            let (w, present, ni) = parse_num(b, i, end);
            i = ni;
            if present {
                p.f.wid = Some(w);
                if after_index {
                    good_arg_num = false;
                }
            }
        }
        if i + 1 < end && b[i] == b'.' {
            i += 1;
            if after_index {
                good_arg_num = false;
            }
            let (an, ni, found) = arg_number(arg_num, i, &mut reordered, &mut good_arg_num);
            arg_num = an;
            i = ni;
            after_index = found;
            if i < end && b[i] == b'*' {
                i += 1;
                let (pr, ok, an) = int_from_arg(args, arg_num);
                arg_num = an;
                if ok && pr >= 0 {
                    p.f.prec = Some(pr as usize);
                } else {
                    // A missing, non-integer or negative precision.
                    p.f.prec = None;
                    p.buf.push_str("%!(BADPREC)");
                }
                after_index = false;
            } else {
                let (pr, _, ni) = parse_num(b, i, end);
                i = ni;
                p.f.prec = Some(pr);
            }
        }
        if !after_index {
            let (an, ni, _) = arg_number(arg_num, i, &mut reordered, &mut good_arg_num);
            arg_num = an;
            i = ni;
        }
        if i >= end {
            p.buf.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().unwrap_or('?');
        i += verb.len_utf8();
        if p.f.minus {
            p.f.zero = false;
        }
        if verb == '%' {
            p.buf.push('%');
        } else if !good_arg_num {
            p.buf.push_str(&format!("%!{verb}(BADINDEX)"));
        } else if arg_num >= args.len() {
            p.buf.push_str(&format!("%!{verb}(MISSING)"));
        } else {
            if verb == 'v' {
                p.f.sharp_v = p.f.sharp;
                p.f.sharp = false;
                p.f.plus_v = p.f.plus;
                p.f.plus = false;
            }
            let a = args[arg_num].clone();
            if verb == 'w' {
                p.bad_verb('w', Some(&a));
            } else {
                p.print_arg(&a, verb);
            }
            arg_num += 1;
        }
    }
    if !reordered && arg_num < args.len() {
        p.f = Flags::default();
        p.buf.push_str("%!(EXTRA ");
        for (k, a) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                p.buf.push_str(", ");
            }
            if matches!(a, Value::Nil) {
                p.buf.push_str("<nil>");
            } else {
                p.buf.push_str(&type_name(a));
                p.buf.push('=');
                p.print_arg(a, 'v');
            }
        }
        p.buf.push(')');
    }
    p.buf
}

//! Go's `regexp` on the `regex` crate: RE2 syntax like Go's with `\d \w \s \b` kept ASCII as
//! in Go, Go's wording for the common compile errors, and `FindAllString`'s match spans
//! (empty matches right after a match skipped). Must not import anything outside `gostd`.

use super::strconv::quote_go;

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
pub(crate) fn find_all(re: &regex::Regex, x: &str, n: i64) -> Vec<(usize, usize)> {
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

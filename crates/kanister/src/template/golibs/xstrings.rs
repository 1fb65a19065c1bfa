//! huandu/xstrings v1.2.0 as sprig calls it: `ToCamelCase`, `ToSnakeCase`/`ToKebabCase` (one
//! camel-case splitter with a connector) and `Shuffle`. Imports only `gostd`; must not import
//! template values, the function table, the executor or sprig.

use crate::template::gostd::rand::random_below;
use crate::template::gostd::unicode::single_case;

/// xstrings.ToCamelCase.
pub(crate) fn camelcase(x: &str) -> String {
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
pub(crate) fn to_lower_case_with(x: &str, conn: char) -> String {
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

/// xstrings.Shuffle: the runes in random order.
pub(crate) fn shuffle(x: &str) -> String {
    let mut c: Vec<char> = x.chars().collect();
    for i in (1..c.len()).rev() {
        let j = random_below(i as u64 + 1) as usize;
        c.swap(i, j);
    }
    c.into_iter().collect::<String>()
}

//! Go's `strings` functions whose results differ from Rust's: `ToUpper`/`ToLower` (one rune
//! to one rune, no `ß` → `SS`), `Title`, and `SplitN` (an empty separator splits runes).
//! Must not import anything outside `gostd`.

use super::unicode::{is_go_space, single_case, to_title};

/// `strings.ToUpper`.
pub(crate) fn go_upper(x: &str) -> String {
    x.chars().map(|c| single_case(c, true)).collect()
}

/// `strings.ToLower`.
pub(crate) fn go_lower(x: &str) -> String {
    x.chars().map(|c| single_case(c, false)).collect()
}

/// Go's `strings.Title`.
pub(crate) fn title(x: &str) -> String {
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

/// Go's `strings.SplitN` (n < 0: all).
pub(crate) fn go_split(x: &str, sep: &str, n: i64) -> Vec<String> {
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

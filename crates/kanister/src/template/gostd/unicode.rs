//! Go's `unicode` and `unicode/utf8` as the ports need them: `unicode.IsPrint`, the
//! one-rune case mappings (`ToUpper`, `ToLower`, `ToTitle`, `IsTitle`), `unicode.IsSpace`,
//! and Go's decoding of invalid UTF-8 (one U+FFFD per bad byte). A leaf: must not import anything of the template engine.

/// Go's `unicode.IsPrint`, approximated without Unicode tables: everything but controls,
/// non-ASCII spaces, line/paragraph separators, format characters, private use and
/// non-characters.
pub(super) fn is_print(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xFDD0..=0xFDEF
        | 0x110BD | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F | 0xF0000..)
        && (u & 0xFFFE) != 0xFFFE
}

/// Go's `unicode.ToUpper`/`ToLower`: one rune to one rune (no `ß` → `SS`).
pub(crate) fn single_case(c: char, upper: bool) -> char {
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
pub(crate) fn is_title(c: char) -> bool {
    matches!(c as u32, 0x1C5 | 0x1C8 | 0x1CB | 0x1F2 | 0x1F88..=0x1F8F | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF | 0x1FBC | 0x1FCC | 0x1FFC)
}

/// Go's `unicode.ToTitle`: the uppercase, except for the Latin digraphs (ǆ → ǅ).
pub(crate) fn to_title(c: char) -> char {
    match c as u32 {
        0x1C4..=0x1C6 => '\u{1C5}',
        0x1C7..=0x1C9 => '\u{1C8}',
        0x1CA..=0x1CC => '\u{1CB}',
        0x1F1..=0x1F3 => '\u{1F2}',
        _ if is_title(c) => c,
        _ => single_case(c, true),
    }
}

/// Go's `unicode.IsSpace`.
pub(crate) fn is_go_space(c: char) -> bool {
    c.is_whitespace()
}

/// Bytes as text, each byte of an invalid UTF-8 sequence becoming U+FFFD (what Go's
/// `range` over a string and `encoding/json` make of Go's raw bytes).
pub(crate) fn lossy(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    let mut rest = b;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.push_str(std::str::from_utf8(&rest[..good]).unwrap_or_default());
                out.push('\u{FFFD}');
                rest = &rest[good + 1..];
            }
        }
    }
    out
}

//! Masterminds/goutils v1.1.1 as sprig calls it: `Uncapitalize`, `SwapCase`,
//! `DeleteWhiteSpace`, `Initials`, `AbbreviateFull`, `WrapCustom` and `CryptoRandom`, with
//! goutils' byte-wise handling of text. Imports only `gostd`; must not import template
//! values, the function table, the executor or sprig.

use crate::template::gostd::rand::random_below;
use crate::template::gostd::unicode::{is_go_space, is_title, lossy, single_case, to_title};

/// goutils.Uncapitalize.
pub(crate) fn untitle(x: &str) -> String {
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
pub(crate) fn swapcase(x: &str) -> String {
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
pub(crate) fn delete_white_space(x: &str) -> String {
    let is_space = |b: u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xA0);
    if !x.bytes().any(is_space) {
        return x.to_string();
    }
    x.bytes().filter(|b| !is_space(*b)).map(char::from).collect()
}

/// goutils.Initials (byte-wise, as goutils does).
pub(crate) fn initials(x: &str) -> String {
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
pub(crate) fn abbreviate_full(x: &str, offset: i64, max: i64) -> Result<String, String> {
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
    let sub = |a: i64, b: i64| lossy(&bytes[a.max(0) as usize..b.max(0) as usize]);
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
pub(crate) fn wrap_custom(x: &str, wrap_len: i64, nl: &str, long_words: bool) -> String {
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
    lossy(&out)
}

/// goutils.CryptoRandom for the sprig variants (ASCII ranges only).
pub(crate) fn crypto_random(count: i64, start: u32, end: u32, letters: bool, numbers: bool) -> String {
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

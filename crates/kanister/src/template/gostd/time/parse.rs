//! `time.ParseInLocation(layout, value, time.Local)` (Local = UTC): Go's layout-driven
//! parser (`time/format.go`'s `parse`), with its leniencies (fractional seconds after `05`,
//! `_2` days, `GMT+3` zones, day-of-year `002`) and its rejections. Builds on the rest of
//! `gostd::time`; must not import anything outside it.

use super::GoTime;
use super::calendar::{LONG_DAYS, LONG_MONTHS, days_from_civil, days_in, is_leap};
use super::layout::{Std, next_std_chunk};

fn is_digit(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

/// Go's `getnum`.
fn getnum(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if !is_digit(b, 0) {
        return None;
    }
    if !is_digit(b, 1) {
        if fixed {
            return None;
        }
        return Some(((b[0] - b'0') as i64, &s[1..]));
    }
    Some((((b[0] - b'0') * 10 + (b[1] - b'0')) as i64, &s[2..]))
}

fn getnum3(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    let mut n = 0i64;
    let mut i = 0;
    while i < 3 && is_digit(b, i) {
        n = n * 10 + (b[i] - b'0') as i64;
        i += 1;
    }
    if i == 0 || (fixed && i != 3) {
        return None;
    }
    Some((n, &s[i..]))
}

/// Go's `skip` (compared rune by rune, which on UTF-8 text is the same as Go's bytes).
fn skip<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let mut value = value;
    let mut prefix = prefix;
    while let Some(p) = prefix.chars().next() {
        if p == ' ' {
            if !value.is_empty() && !value.starts_with(' ') {
                return None;
            }
            prefix = prefix.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        let v = value.chars().next()?;
        if v != p {
            return None;
        }
        prefix = &prefix[p.len_utf8()..];
        value = &value[v.len_utf8()..];
    }
    Some(value)
}

fn lookup_name<'a>(tab: &[&str], val: &'a str, short: bool) -> Option<(usize, &'a str)> {
    for (i, v) in tab.iter().enumerate() {
        let v = if short { &v[..3] } else { v };
        if val.len() >= v.len() && val.as_bytes()[..v.len()].eq_ignore_ascii_case(v.as_bytes()) {
            return Some((i, &val[v.len()..]));
        }
    }
    None
}

fn parse_nanoseconds(value: &str, nbytes: usize) -> Option<u32> {
    let b = value.as_bytes();
    if !matches!(b.first(), Some(b'.' | b',')) {
        return None;
    }
    let digits = value.get(1..nbytes.min(value.len()))?;
    let digits = if digits.len() > 9 { &digits[..9] } else { digits };
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut ns: u32 = digits.parse().ok()?;
    for _ in digits.len()..9 {
        ns *= 10;
    }
    Some(ns)
}

fn parse_time_zone(value: &str) -> Option<usize> {
    let b = value.as_bytes();
    if b.len() < 3 {
        return None;
    }
    if value.starts_with("ChST") || value.starts_with("MeST") {
        return Some(4);
    }
    if let Some(rest) = value.strip_prefix("GMT") {
        return Some(3 + parse_signed_offset(rest));
    }
    if b[0] == b'+' || b[0] == b'-' {
        let n = parse_signed_offset(value);
        return if n > 0 { Some(n) } else { None };
    }
    let mut n = 0;
    while n < 6 && n < b.len() && b[n].is_ascii_uppercase() {
        n += 1;
    }
    match n {
        3 => Some(3),
        4 if b[3] == b'T' || value.starts_with("WITA") => Some(4),
        5 if b[4] == b'T' => Some(5),
        _ => None,
    }
}

fn parse_signed_offset(value: &str) -> usize {
    let b = value.as_bytes();
    if b.is_empty() || (b[0] != b'+' && b[0] != b'-') {
        return 0;
    }
    let digits = value[1..].bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return 0;
    }
    match value[1..1 + digits].parse::<u64>() {
        Ok(x) if x <= 23 => 1 + digits,
        _ => 0,
    }
}

/// `time.ParseInLocation(layout, value, time.Local)` with Local = UTC; None on any error.
pub(crate) fn parse(layout: &str, value: &str) -> Option<GoTime> {
    let mut layout = layout;
    let mut value = value;
    let (mut am, mut pm) = (false, false);
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0u32);
    let mut utc = false;
    let mut zone_offset: Option<i64> = None;
    let mut zone_name = String::new();
    loop {
        let (prefix, std, suffix) = next_std_chunk(layout);
        value = skip(value, prefix)?;
        let Some(std) = std else {
            if !value.is_empty() {
                return None;
            }
            break;
        };
        layout = suffix;
        match std {
            Std::Year => {
                let p = value.get(..2)?;
                value = &value[2..];
                if !p.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                year = p.parse().ok()?;
                year += if year >= 69 { 1900 } else { 2000 };
            }
            Std::LongYear => {
                if value.len() < 4 || !is_digit(value.as_bytes(), 0) {
                    return None;
                }
                let p = value.get(..4)?;
                value = &value[4..];
                if !p.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                year = p.parse().ok()?;
            }
            Std::Month | Std::LongMonth => {
                let (m, rest) = lookup_name(&LONG_MONTHS, value, std == Std::Month)?;
                month = m as i64 + 1;
                value = rest;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (m, rest) = getnum(value, std == Std::ZeroMonth)?;
                if !(1..=12).contains(&m) {
                    return None;
                }
                month = m;
                value = rest;
            }
            Std::WeekDay | Std::LongWeekDay => {
                let (_, rest) = lookup_name(&LONG_DAYS, value, std == Std::WeekDay)?;
                value = rest;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && value.starts_with(' ') {
                    value = &value[1..];
                }
                let (d, rest) = getnum(value, std == Std::ZeroDay)?;
                day = d;
                value = rest;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                for _ in 0..2 {
                    if std == Std::UnderYearDay && value.starts_with(' ') {
                        value = &value[1..];
                    }
                }
                let (d, rest) = getnum3(value, std == Std::ZeroYearDay)?;
                yday = d;
                value = rest;
            }
            Std::Hour => {
                let (h, rest) = getnum(value, false)?;
                if !(0..24).contains(&h) {
                    return None;
                }
                hour = h;
                value = rest;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (h, rest) = getnum(value, std == Std::ZeroHour12)?;
                if !(0..=12).contains(&h) {
                    return None;
                }
                hour = h;
                value = rest;
            }
            Std::Minute | Std::ZeroMinute => {
                let (m, rest) = getnum(value, std == Std::ZeroMinute)?;
                if !(0..60).contains(&m) {
                    return None;
                }
                min = m;
                value = rest;
            }
            Std::Second | Std::ZeroSecond => {
                let (s, rest) = getnum(value, std == Std::ZeroSecond)?;
                if !(0..60).contains(&s) {
                    return None;
                }
                sec = s;
                value = rest;
                let vb = value.as_bytes();
                if vb.len() >= 2 && matches!(vb[0], b'.' | b',') && vb[1].is_ascii_digit() {
                    let (_, next, _) = next_std_chunk(layout);
                    if !matches!(next, Some(Std::Frac0(..) | Std::Frac9(..))) {
                        let mut n = 2;
                        while n < vb.len() && vb[n].is_ascii_digit() {
                            n += 1;
                        }
                        nsec = parse_nanoseconds(value, n)?;
                        value = &value[n..];
                    }
                }
            }
            Std::PM | Std::Pm => {
                let p = value.get(..2)?;
                value = &value[2..];
                let (up, low) = if std == Std::PM { ("PM", "AM") } else { ("pm", "am") };
                if p == up {
                    pm = true;
                } else if p == low {
                    am = true;
                } else {
                    return None;
                }
            }
            Std::TZ => {
                if value.starts_with("UTC") {
                    utc = true;
                    value = &value[3..];
                } else {
                    let n = parse_time_zone(value)?;
                    zone_name = value[..n].to_string();
                    value = &value[n..];
                }
            }
            Std::Frac0(n, _) => {
                let nd = 1 + n;
                let head = value.get(..nd)?;
                nsec = parse_nanoseconds(head, nd)?;
                value = &value[nd..];
            }
            Std::Frac9(..) => {
                let vb = value.as_bytes();
                if vb.len() < 2 || !matches!(vb[0], b'.' | b',') || !vb[1].is_ascii_digit() {
                    continue;
                }
                let mut i = 0;
                while i + 1 < vb.len() && vb[i + 1].is_ascii_digit() {
                    i += 1;
                }
                nsec = parse_nanoseconds(value, 1 + i)?;
                value = &value[1 + i..];
            }
            tz => {
                let iso =
                    matches!(tz, Std::Iso | Std::IsoShort | Std::IsoColon | Std::IsoSeconds | Std::IsoColonSeconds);
                if iso && value.starts_with('Z') {
                    value = &value[1..];
                    utc = true;
                    continue;
                }
                let b = value.as_bytes();
                let (sign, hh, mm, ss, rest): (u8, &str, &str, &str, &str) = match tz {
                    Std::IsoColon | Std::NumColon => {
                        if b.len() < 6 || b[3] != b':' {
                            return None;
                        }
                        (b[0], value.get(1..3)?, value.get(4..6)?, "00", &value[6..])
                    }
                    Std::NumShort | Std::IsoShort => {
                        if b.len() < 3 {
                            return None;
                        }
                        (b[0], value.get(1..3)?, "00", "00", &value[3..])
                    }
                    Std::IsoColonSeconds | Std::NumColonSeconds => {
                        if b.len() < 9 || b[3] != b':' || b[6] != b':' {
                            return None;
                        }
                        (b[0], value.get(1..3)?, value.get(4..6)?, value.get(7..9)?, &value[9..])
                    }
                    Std::IsoSeconds | Std::NumSeconds => {
                        if b.len() < 7 {
                            return None;
                        }
                        (b[0], value.get(1..3)?, value.get(3..5)?, value.get(5..7)?, &value[7..])
                    }
                    _ => {
                        if b.len() < 5 {
                            return None;
                        }
                        (b[0], value.get(1..3)?, value.get(3..5)?, "00", &value[5..])
                    }
                };
                value = rest;
                let hr = getnum(hh, true)?.0;
                let mi = getnum(mm, true)?.0;
                let se = getnum(ss, true)?.0;
                if hr > 24 || mi > 60 || se > 60 {
                    return None;
                }
                let off = (hr * 60 + mi) * 60 + se;
                zone_offset = Some(match sign {
                    b'+' => off,
                    b'-' => -off,
                    _ => return None,
                });
            }
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let mut yd = yday;
        let mut m = 0;
        let mut d = 0;
        if is_leap(year) {
            if yd == 31 + 29 {
                m = 2;
                d = 29;
            } else if yd > 31 + 29 {
                yd -= 1;
            }
        }
        if !(1..=365).contains(&yd) {
            return None;
        }
        if m == 0 {
            let before = |m: i64| -> i64 { (1..m).map(|k| days_in(k, 2001)).sum() };
            m = (yd - 1) / 31 + 1;
            if before(m + 1) < yd {
                m += 1;
            }
            d = yd - before(m);
        }
        if month >= 0 && month != m {
            return None;
        }
        month = m;
        if day >= 0 && day != d {
            return None;
        }
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in(month, year) {
        return None;
    }
    let wall = days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
    let utc_time = |zone: &str, offset: i32, s: i64| GoTime { sec: s, nsec, offset, zone: zone.to_string() };
    if utc {
        return Some(utc_time("UTC", 0, wall));
    }
    if let Some(off) = zone_offset {
        let t = wall - off;
        // Local is UTC: an offset of zero with no (or a matching) name is Local.
        if off == 0 && (zone_name.is_empty() || zone_name == "UTC") {
            return Some(utc_time("UTC", 0, t));
        }
        return Some(utc_time(&zone_name, off as i32, t));
    }
    if !zone_name.is_empty() {
        let mut off = 0i64;
        if zone_name.len() > 3 && zone_name.starts_with("GMT") {
            off = zone_name[3..].parse::<i64>().unwrap_or(0) * 3600;
        }
        return Some(utc_time(&zone_name, off as i32, wall));
    }
    Some(utc_time("UTC", 0, wall))
}

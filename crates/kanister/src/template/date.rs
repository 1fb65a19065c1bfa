//! Go's `time` package as sprig uses it: `Time.Format` and `time.ParseInLocation` with Go's
//! reference-time layouts (`2006-01-02T15:04:05.999999999Z07:00`, `Jan _2`, `.000`, `MST`,
//! …), `Time.String()`, `time.ParseDuration` / `Duration.String()`, and zones from the
//! system tz database (`/usr/share/zoneinfo`, TZif files and their POSIX footer rules).
//!
//! Go's `time.Local` is UTC here (as in a container without `TZ` or `/etc/localtime`,
//! which is how the Kanister controller runs): `date`, `toDate` and `now` work in UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// A `time.Time`: an instant (Unix seconds + nanoseconds) and the zone it is shown in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoTime {
    pub sec: i64,
    pub nsec: u32,
    /// Seconds east of UTC.
    pub offset: i32,
    /// Zone abbreviation ("UTC", "EST", "" for an unnamed fixed offset).
    pub zone: String,
}

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month 1-12, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(m: i64, y: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Broken-down wall clock.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    yday: i64,
    wday: usize,
    hour: i64,
    min: i64,
    sec: i64,
}

impl GoTime {
    /// Go's zero Time (`0001-01-01 00:00:00 +0000 UTC`).
    pub fn zero() -> GoTime {
        GoTime { sec: -62135596800, nsec: 0, offset: 0, zone: "UTC".into() }
    }

    /// `time.Now()` in Local (UTC).
    pub fn now() -> GoTime {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        GoTime { sec: d.as_secs() as i64, nsec: d.subsec_nanos(), offset: 0, zone: "UTC".into() }
    }

    /// `time.Unix(sec, 0)` in Local (UTC).
    pub fn unix(sec: i64) -> GoTime {
        GoTime { sec, nsec: 0, offset: 0, zone: "UTC".into() }
    }

    pub fn is_zero(&self) -> bool {
        self.sec == -62135596800 && self.nsec == 0
    }

    fn civil(&self) -> Civil {
        let local = self.sec.saturating_add(self.offset as i64);
        let days = local.div_euclid(86400);
        let secs = local.rem_euclid(86400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            yday: days - days_from_civil(year, 1, 1) + 1,
            wday: (days + 4).rem_euclid(7) as usize,
            hour: secs / 3600,
            min: secs % 3600 / 60,
            sec: secs % 60,
        }
    }

    pub fn year(&self) -> i64 {
        self.civil().year
    }

    /// Accessors for the template methods (`.Year`, `.Month`, …).
    pub fn part(&self, what: &str) -> Option<gotmpl::Value> {
        use gotmpl::Value;
        let c = self.civil();
        Some(match what {
            "Year" => Value::Int(c.year),
            "Month" => Value::from(LONG_MONTHS[(c.month - 1) as usize]),
            "Day" => Value::Int(c.day),
            "Hour" => Value::Int(c.hour),
            "Minute" => Value::Int(c.min),
            "Second" => Value::Int(c.sec),
            "Nanosecond" => Value::Int(self.nsec as i64),
            "YearDay" => Value::Int(c.yday),
            "Weekday" => Value::from(LONG_DAYS[c.wday]),
            "Unix" => Value::Int(self.sec),
            "UnixMilli" => Value::Int(self.sec.wrapping_mul(1000).wrapping_add(self.nsec as i64 / 1_000_000)),
            "UnixMicro" => Value::Int(self.sec.wrapping_mul(1_000_000).wrapping_add(self.nsec as i64 / 1000)),
            "UnixNano" => Value::Int(self.sec.wrapping_mul(1_000_000_000).wrapping_add(self.nsec as i64)),
            "IsZero" => Value::Bool(self.is_zero()),
            "String" => Value::from(self.to_go_string()),
            _ => return None,
        })
    }

    /// `t.String()`.
    pub fn to_go_string(&self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    /// `t.In(zone)` for a zone loaded like `time.LoadLocation` (None when it can't be loaded).
    pub fn in_zone(&self, name: &str) -> Option<GoTime> {
        let (zone, offset) = match name {
            "" | "UTC" | "Local" => ("UTC".to_string(), 0),
            _ => load_zone(name)?.lookup(self.sec),
        };
        Some(GoTime { sec: self.sec, nsec: self.nsec, offset, zone })
    }

    /// `t.Add(d)`.
    pub fn add(&self, d: i64) -> GoTime {
        let total = self.nsec as i64 + d.rem_euclid(1_000_000_000);
        let sec = self.sec.saturating_add(d.div_euclid(1_000_000_000)).saturating_add(total / 1_000_000_000);
        GoTime { sec, nsec: (total % 1_000_000_000) as u32, offset: self.offset, zone: self.zone.clone() }
    }

    /// `t.Format(layout)`.
    pub fn format(&self, layout: &str) -> String {
        let c = self.civil();
        let mut b = String::new();
        let mut layout = layout;
        loop {
            let (prefix, std, suffix) = next_std_chunk(layout);
            b.push_str(prefix);
            let Some(std) = std else { break };
            layout = suffix;
            match std {
                Std::Year => append_int(&mut b, c.year.abs() % 100, 2),
                Std::LongYear => append_int(&mut b, c.year, 4),
                Std::Month => b.push_str(&LONG_MONTHS[(c.month - 1) as usize][..3]),
                Std::LongMonth => b.push_str(LONG_MONTHS[(c.month - 1) as usize]),
                Std::NumMonth => append_int(&mut b, c.month, 0),
                Std::ZeroMonth => append_int(&mut b, c.month, 2),
                Std::WeekDay => b.push_str(&LONG_DAYS[c.wday][..3]),
                Std::LongWeekDay => b.push_str(LONG_DAYS[c.wday]),
                Std::Day => append_int(&mut b, c.day, 0),
                Std::UnderDay => {
                    if c.day < 10 {
                        b.push(' ');
                    }
                    append_int(&mut b, c.day, 0);
                }
                Std::ZeroDay => append_int(&mut b, c.day, 2),
                Std::UnderYearDay => {
                    if c.yday < 100 {
                        b.push(' ');
                        if c.yday < 10 {
                            b.push(' ');
                        }
                    }
                    append_int(&mut b, c.yday, 0);
                }
                Std::ZeroYearDay => append_int(&mut b, c.yday, 3),
                Std::Hour => append_int(&mut b, c.hour, 2),
                Std::Hour12 | Std::ZeroHour12 => {
                    let hr = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
                    append_int(&mut b, hr, if std == Std::Hour12 { 0 } else { 2 });
                }
                Std::Minute => append_int(&mut b, c.min, 0),
                Std::ZeroMinute => append_int(&mut b, c.min, 2),
                Std::Second => append_int(&mut b, c.sec, 0),
                Std::ZeroSecond => append_int(&mut b, c.sec, 2),
                Std::PM => b.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
                Std::Pm => b.push_str(if c.hour >= 12 { "pm" } else { "am" }),
                Std::TZ => {
                    if !self.zone.is_empty() {
                        b.push_str(&self.zone);
                    } else {
                        let mut z = self.offset / 60;
                        if z < 0 {
                            b.push('-');
                            z = -z;
                        } else {
                            b.push('+');
                        }
                        append_int(&mut b, (z / 60) as i64, 2);
                        append_int(&mut b, (z % 60) as i64, 2);
                    }
                }
                Std::Frac0(n, sep) | Std::Frac9(n, sep) => {
                    let trim = matches!(std, Std::Frac9(..));
                    if trim && (n == 0 || self.nsec == 0) {
                        continue;
                    }
                    let mut s = format!("{:09}", self.nsec);
                    s.truncate(n.min(9));
                    if trim {
                        while s.ends_with('0') {
                            s.pop();
                        }
                        if s.is_empty() {
                            continue;
                        }
                    }
                    b.push(sep);
                    b.push_str(&s);
                }
                tz => {
                    let iso =
                        matches!(tz, Std::Iso | Std::IsoColon | Std::IsoSeconds | Std::IsoShort | Std::IsoColonSeconds);
                    if self.offset == 0 && iso {
                        b.push('Z');
                        continue;
                    }
                    let mut zone = self.offset / 60;
                    let mut absoff = self.offset;
                    if zone < 0 {
                        b.push('-');
                        zone = -zone;
                        absoff = -absoff;
                    } else {
                        b.push('+');
                    }
                    append_int(&mut b, (zone / 60) as i64, 2);
                    if matches!(tz, Std::IsoColon | Std::NumColon | Std::IsoColonSeconds | Std::NumColonSeconds) {
                        b.push(':');
                    }
                    if !matches!(tz, Std::NumShort | Std::IsoShort) {
                        append_int(&mut b, (zone % 60) as i64, 2);
                    }
                    if matches!(tz, Std::IsoSeconds | Std::NumSeconds | Std::NumColonSeconds | Std::IsoColonSeconds) {
                        if matches!(tz, Std::NumColonSeconds | Std::IsoColonSeconds) {
                            b.push(':');
                        }
                        append_int(&mut b, (absoff % 60) as i64, 2);
                    }
                }
            }
        }
        b
    }
}

fn append_int(b: &mut String, x: i64, width: usize) {
    if x < 0 {
        b.push('-');
    }
    let s = x.unsigned_abs().to_string();
    for _ in s.len()..width {
        b.push('0');
    }
    b.push_str(&s);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    Iso,
    IsoSeconds,
    IsoShort,
    IsoColon,
    IsoColonSeconds,
    Num,
    NumSeconds,
    NumShort,
    NumColon,
    NumColonSeconds,
    /// Fractional seconds: digits, separator; `0`s kept.
    Frac0(usize, char),
    /// Fractional seconds: digits, separator; trailing zeros dropped.
    Frac9(usize, char),
}

fn starts_with_lower(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// Go's `nextStdChunk`: (text before, the element, text after).
fn next_std_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let l = layout.as_bytes();
    let at = |i: usize, s: &str| layout.get(i..i + s.len()) == Some(s);
    for i in 0..l.len() {
        let hit = |std: Std, n: usize| (&layout[..i], Some(std), &layout[i + n..]);
        match l[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    return hit(Std::LongMonth, 7);
                }
                if !starts_with_lower(&layout[i + 3..]) {
                    return hit(Std::Month, 3);
                }
            }
            b'M' => {
                if at(i, "Mon") {
                    if at(i, "Monday") {
                        return hit(Std::LongWeekDay, 6);
                    }
                    if !starts_with_lower(&layout[i + 3..]) {
                        return hit(Std::WeekDay, 3);
                    }
                }
                if at(i, "MST") {
                    return hit(Std::TZ, 3);
                }
            }
            b'0' => {
                if i + 1 < l.len() && (b'1'..=b'6').contains(&l[i + 1]) {
                    let s =
                        [Std::ZeroMonth, Std::ZeroDay, Std::ZeroHour12, Std::ZeroMinute, Std::ZeroSecond, Std::Year]
                            [(l[i + 1] - b'1') as usize];
                    return hit(s, 2);
                }
                if at(i, "002") {
                    return hit(Std::ZeroYearDay, 3);
                }
            }
            b'1' => {
                if i + 1 < l.len() && l[i + 1] == b'5' {
                    return hit(Std::Hour, 2);
                }
                return hit(Std::NumMonth, 1);
            }
            b'2' => {
                if at(i, "2006") {
                    return hit(Std::LongYear, 4);
                }
                return hit(Std::Day, 1);
            }
            b'_' => {
                if i + 1 < l.len() && l[i + 1] == b'2' {
                    if at(i + 1, "2006") {
                        return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
                    }
                    return hit(Std::UnderDay, 2);
                }
                if at(i, "__2") {
                    return hit(Std::UnderYearDay, 3);
                }
            }
            b'3' => return hit(Std::Hour12, 1),
            b'4' => return hit(Std::Minute, 1),
            b'5' => return hit(Std::Second, 1),
            b'P' if i + 1 < l.len() && l[i + 1] == b'M' => return hit(Std::PM, 2),
            b'p' if i + 1 < l.len() && l[i + 1] == b'm' => return hit(Std::Pm, 2),
            b'-' => {
                for (s, std) in [
                    ("-070000", Std::NumSeconds),
                    ("-07:00:00", Std::NumColonSeconds),
                    ("-0700", Std::Num),
                    ("-07:00", Std::NumColon),
                    ("-07", Std::NumShort),
                ] {
                    if at(i, s) {
                        return hit(std, s.len());
                    }
                }
            }
            b'Z' => {
                for (s, std) in [
                    ("Z070000", Std::IsoSeconds),
                    ("Z07:00:00", Std::IsoColonSeconds),
                    ("Z0700", Std::Iso),
                    ("Z07:00", Std::IsoColon),
                    ("Z07", Std::IsoShort),
                ] {
                    if at(i, s) {
                        return hit(std, s.len());
                    }
                }
            }
            b'.' | b',' if i + 1 < l.len() && (l[i + 1] == b'0' || l[i + 1] == b'9') => {
                let ch = l[i + 1];
                let mut j = i + 1;
                while j < l.len() && l[j] == ch {
                    j += 1;
                }
                if !(j < l.len() && l[j].is_ascii_digit()) {
                    let n = j - (i + 1);
                    let sep = l[i] as char;
                    let std = if ch == b'0' { Std::Frac0(n, sep) } else { Std::Frac9(n, sep) };
                    return (&layout[..i], Some(std), &layout[j..]);
                }
            }
            _ => {}
        }
    }
    (layout, None, "")
}

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

/// `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let orig = s;
    let mut s = s;
    let mut neg = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+')
    {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return None;
        }
        let n_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let v: u64 = if n_len > 0 { s[..n_len].parse().ok()? } else { 0 };
        let pre = n_len > 0;
        s = &s[n_len..];
        let mut f: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.starts_with('.') {
            s = &s[1..];
            let fl = s.bytes().take_while(u8::is_ascii_digit).count();
            for c in s[..fl].bytes() {
                if f < (1 << 62) / 10 {
                    f = f * 10 + (c - b'0') as u64;
                    scale *= 10.0;
                }
            }
            post = fl > 0;
            s = &s[fl..];
        }
        if !pre && !post {
            return None;
        }
        let ul = s.bytes().take_while(|c| *c != b'.' && !c.is_ascii_digit()).count();
        if ul == 0 {
            let _ = orig;
            return None;
        }
        let unit: u64 = match &s[..ul] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        s = &s[ul..];
        if v > (1u64 << 63) / unit {
            return None;
        }
        let mut v = v * unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return None;
            }
        }
        d += v;
        if d > 1 << 63 {
            return None;
        }
    }
    if neg {
        return Some((d as i128).wrapping_neg() as i64);
    }
    if d > (1u64 << 63) - 1 {
        return None;
    }
    Some(d as i64)
}

/// `time.Duration.String()`.
pub(crate) fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, scale) = if u < 1_000 {
            ("ns", 1u64)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac(u, scale));
        out.push_str(unit);
    } else {
        let secs_part = frac(u % 60_000_000_000, 1_000_000_000);
        u /= 60_000_000_000;
        let mut s = format!("{secs_part}s");
        if u > 0 {
            s = format!("{}m{}", u % 60, s);
            u /= 60;
            if u > 0 {
                s = format!("{u}h{s}");
            }
        }
        out = s;
    }
    if neg { format!("-{out}") } else { out }
}

/// `v / scale` with the fraction, trailing zeros dropped ("1.5", "2").
fn frac(v: u64, scale: u64) -> String {
    let whole = v / scale;
    let mut f = v % scale;
    if f == 0 {
        return whole.to_string();
    }
    let mut digits = scale.to_string().len() - 1;
    while f.is_multiple_of(10) {
        f /= 10;
        digits -= 1;
    }
    format!("{whole}.{f:0digits$}")
}

/// `Duration.Round(m)` (Go's rounding: halves away from zero).
pub(crate) fn duration_round(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let mut r = d % m;
    if d < 0 {
        r = -r;
        if r + r < m {
            return d + r;
        }
        return d.checked_sub(m - r).unwrap_or(i64::MIN);
    }
    if r + r < m {
        return d - r;
    }
    d.checked_add(m - r).unwrap_or(i64::MAX)
}

/// A zone from the tz database.
struct Zone {
    transitions: Vec<(i64, usize)>,
    types: Vec<(i32, bool, String)>,
    footer: String,
}

fn load_zone(name: &str) -> Option<Zone> {
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') || name.contains(':') {
        return None;
    }
    let mut dirs: Vec<String> = Vec::new();
    if let Ok(z) = std::env::var("ZONEINFO") {
        dirs.push(z);
    }
    dirs.extend(
        ["/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo"].map(String::from),
    );
    for d in dirs {
        if let Ok(data) = std::fs::read(format!("{d}/{name}")) {
            return parse_tzif(&data);
        }
    }
    None
}

fn parse_tzif(data: &[u8]) -> Option<Zone> {
    let be32 = |b: &[u8], i: usize| -> Option<u32> { Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?)) };
    if data.get(..4)? != b"TZif" {
        return None;
    }
    let version = data[4];
    let counts = |off: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (k, slot) in c.iter_mut().enumerate() {
            *slot = be32(data, off + 20 + 4 * k)? as usize;
        }
        Some(c)
    };
    // counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    let c1 = counts(0)?;
    let v1_len = 44 + c1[3] * 5 + c1[4] * 6 + c1[5] + c1[2] * 8 + c1[1] + c1[0];
    let (base, c, tsize) = if version >= b'2' { (v1_len, counts(v1_len)?, 8usize) } else { (0, c1, 4usize) };
    let mut p = base + 44;
    let mut transitions = Vec::with_capacity(c[3]);
    let mut times = Vec::with_capacity(c[3]);
    for _ in 0..c[3] {
        let t = if tsize == 8 {
            i64::from_be_bytes(data.get(p..p + 8)?.try_into().ok()?)
        } else {
            be32(data, p)? as i32 as i64
        };
        times.push(t);
        p += tsize;
    }
    for t in times {
        transitions.push((t, *data.get(p)? as usize));
        p += 1;
    }
    let mut raw_types = Vec::new();
    for _ in 0..c[4] {
        let off = be32(data, p)? as i32;
        raw_types.push((off, data[p + 4] != 0, data[p + 5] as usize));
        p += 6;
    }
    let chars = data.get(p..p + c[5])?;
    p += c[5] + c[2] * (tsize + 4) + c[1] + c[0];
    let types = raw_types
        .into_iter()
        .map(|(off, dst, ai)| {
            let end = chars[ai.min(chars.len())..].iter().position(|&b| b == 0).map_or(chars.len(), |e| ai + e);
            (off, dst, String::from_utf8_lossy(&chars[ai.min(chars.len())..end]).into_owned())
        })
        .collect::<Vec<_>>();
    let footer = if version >= b'2' {
        let rest = data.get(p..).unwrap_or(&[]);
        let s = String::from_utf8_lossy(rest);
        s.trim().to_string()
    } else {
        String::new()
    };
    if types.is_empty() {
        return None;
    }
    Some(Zone { transitions, types, footer })
}

impl Zone {
    fn lookup(&self, sec: i64) -> (String, i32) {
        if self.transitions.is_empty() || sec < self.transitions[0].0 {
            // Go's lookupFirstZone: the first non-DST type (or type 0).
            let t = self.types.iter().find(|t| !t.1).unwrap_or(&self.types[0]);
            return (t.2.clone(), t.0);
        }
        let idx = match self.transitions.binary_search_by(|(t, _)| t.cmp(&sec)) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        if idx == self.transitions.len() - 1
            && !self.footer.is_empty()
            && let Some(r) = tzset(&self.footer, sec)
        {
            return r;
        }
        let t = &self.types[self.transitions[idx].1.min(self.types.len() - 1)];
        (t.2.clone(), t.0)
    }
}

fn tz_name(s: &str) -> Option<(String, &str)> {
    if let Some(r) = s.strip_prefix('<') {
        let e = r.find('>')?;
        return Some((r[..e].to_string(), &r[e + 1..]));
    }
    let n = s.bytes().take_while(|c| c.is_ascii_alphabetic()).count();
    if n < 3 {
        return None;
    }
    Some((s[..n].to_string(), &s[n..]))
}

fn tz_offset(s: &str) -> Option<(i64, &str)> {
    let (neg, mut s) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let num = |s: &str| -> Option<(i64, usize)> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        Some((s[..n].parse().ok()?, n))
    };
    let (h, n) = num(s)?;
    s = &s[n..];
    let mut off = h * 3600;
    if let Some(r) = s.strip_prefix(':') {
        let (m, n) = num(r)?;
        off += m * 60;
        s = &r[n..];
        if let Some(r) = s.strip_prefix(':') {
            let (x, n) = num(r)?;
            off += x;
            s = &r[n..];
        }
    }
    Some((if neg { -off } else { off }, s))
}

enum Rule {
    Julian(i64),
    Doy(i64),
    MonthWeekDay(i64, i64, i64),
}

fn leading_num(s: &str) -> Option<(i64, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

fn tz_rule(s: &str) -> Option<(Rule, i64, &str)> {
    let num = leading_num;
    let (rule, rest) = if let Some(r) = s.strip_prefix('J') {
        let (j, r) = num(r)?;
        (Rule::Julian(j), r)
    } else if let Some(r) = s.strip_prefix('M') {
        let (m, r) = num(r)?;
        let r = r.strip_prefix('.')?;
        let (w, r) = num(r)?;
        let r = r.strip_prefix('.')?;
        let (d, r) = num(r)?;
        (Rule::MonthWeekDay(m, w, d), r)
    } else {
        let (d, r) = num(s)?;
        (Rule::Doy(d), r)
    };
    if let Some(r) = rest.strip_prefix('/') {
        let (t, r) = tz_offset(r)?;
        return Some((rule, t, r));
    }
    Some((rule, 7200, rest))
}

/// Seconds since the start of `year` (UTC) at which the rule fires, for a zone at `off`.
fn rule_time(year: i64, r: &Rule, time: i64, off: i64) -> i64 {
    let day = match r {
        Rule::Julian(j) => {
            let mut s = (j - 1) * 86400;
            if is_leap(year) && *j >= 60 {
                s += 86400;
            }
            return s + time - off;
        }
        Rule::Doy(d) => *d,
        Rule::MonthWeekDay(m, w, d) => {
            let first = days_from_civil(year, *m, 1);
            let wday_first = (first + 4).rem_euclid(7);
            let mut dd = (d - wday_first).rem_euclid(7);
            for _ in 1..*w {
                if dd + 7 >= days_in(*m, year) {
                    break;
                }
                dd += 7;
            }
            first + dd - days_from_civil(year, 1, 1)
        }
    };
    day * 86400 + time - off
}

/// Go's `tzset`: the zone in effect at `sec` per a POSIX TZ string.
fn tzset(s: &str, sec: i64) -> Option<(String, i32)> {
    let (std_name, s) = tz_name(s)?;
    let (std_off, s) = tz_offset(s)?;
    let std_off = -std_off;
    if s.is_empty() || s.starts_with(',') {
        return Some((std_name, std_off as i32));
    }
    let (dst_name, mut s) = tz_name(s)?;
    let dst_off;
    if !s.is_empty() && !s.starts_with(',') {
        let (o, r) = tz_offset(s)?;
        dst_off = -o;
        s = r;
    } else {
        dst_off = std_off + 3600;
    }
    let s = if s.is_empty() { ",M3.2.0,M11.1.0" } else { s };
    let s = s.strip_prefix(',')?;
    let (start, start_t, s) = tz_rule(s)?;
    let s = s.strip_prefix(',')?;
    let (end, end_t, _) = tz_rule(s)?;
    let (year, _, _) = civil_from_days(sec.div_euclid(86400));
    let ysec = sec - days_from_civil(year, 1, 1) * 86400;
    let mut start_sec = rule_time(year, &start, start_t, std_off);
    let mut end_sec = rule_time(year, &end, end_t, dst_off);
    let (mut in_name, mut in_off, mut out_name, mut out_off) = (dst_name, dst_off, std_name, std_off);
    if end_sec < start_sec {
        std::mem::swap(&mut start_sec, &mut end_sec);
        std::mem::swap(&mut in_name, &mut out_name);
        std::mem::swap(&mut in_off, &mut out_off);
    }
    if ysec < start_sec || ysec >= end_sec {
        return Some((out_name, out_off as i32));
    }
    Some((in_name, in_off as i32))
}

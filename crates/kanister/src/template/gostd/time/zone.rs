//! Named zones for `Time.In` as `time.LoadLocation` finds them: TZif files from the system
//! tz database (`/usr/share/zoneinfo`) and the POSIX TZ rule in their footer (Go's `tzset`)
//! for instants past the last transition. Builds on [`super::calendar`]; must not import
//! [`GoTime`](super::GoTime) or anything outside `gostd::time`.

use super::calendar::{civil_from_days, days_from_civil, days_in, is_leap};

/// A zone from the tz database.
pub(super) struct Zone {
    transitions: Vec<(i64, usize)>,
    types: Vec<(i32, bool, String)>,
    footer: String,
}

pub(super) fn load_zone(name: &str) -> Option<Zone> {
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
    pub(super) fn lookup(&self, sec: i64) -> (String, i32) {
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

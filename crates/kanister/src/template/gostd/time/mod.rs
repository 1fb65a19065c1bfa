//! Go's `time` package as sprig and templates use it: the [`GoTime`] value (an instant and
//! the zone it is shown in), its calendar accessors (`.Year`, `.Month`, …), `Time.String()`,
//! `Time.In`, `Time.Add` and `Time.Format`. Parsing, durations, tz-database zones, layout
//! splitting and the calendar live in the submodules, which (but [`parse`]) do not import
//! this one.
//!
//! Go's `time.Local` is UTC here (as in a container without `TZ` or `/etc/localtime`,
//! which is how the Kanister controller runs): `date`, `toDate` and `now` work in UTC.
//!
//! A port of Go's standard library: it must not import anything of the template engine
//! (values, executor, sprig); only `gotmpl::Value` for the accessors' results.

mod calendar;
pub(crate) mod duration;
mod layout;
pub(crate) mod parse;
mod zone;

use calendar::{LONG_DAYS, LONG_MONTHS, civil_from_days, days_from_civil};
use layout::{Std, next_std_chunk};
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
            _ => zone::load_zone(name)?.lookup(self.sec),
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

//! sprig's date.go: `date`, `dateInZone`/`date_in_zone`, `dateModify`/`date_modify`,
//! `now`, `htmlDate`, `htmlDateInZone`, `ago`, `toDate`, `unixEpoch`, on the
//! `gostd::time` port (Local is UTC; named zones from the system tz database).
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{Res, s, str_v};
use crate::template::gostd::time::GoTime;
use crate::template::gostd::time::duration::{duration_round, duration_string, parse_duration};
use crate::template::gostd::time::parse::parse as parse_time;
use crate::template::registry::{Registry, Ty::*};
use crate::template::value::{View, classify, make_time};
use gotmpl::Value;

/// Registers date.go's functions.
pub(super) fn register(r: &mut Registry) {
    r.plain("date", &[Str, Any], None, |a| str_v(date_in_zone(s(&a[0]), &a[1], "Local")));
    r.plain("date_in_zone", &[Str, Any, Str], None, |a| str_v(date_in_zone(s(&a[0]), &a[1], s(&a[2]))));
    r.plain("dateInZone", &[Str, Any, Str], None, |a| str_v(date_in_zone(s(&a[0]), &a[1], s(&a[2]))));
    r.plain("date_modify", &[Str, Time], None, date_modify);
    r.plain("dateModify", &[Str, Time], None, date_modify);
    r.plain("now", &[], None, |_| Ok(make_time(&GoTime::now())));
    r.plain("htmlDate", &[Any], None, |a| str_v(date_in_zone("2006-01-02", &a[0], "Local")));
    r.plain("htmlDateInZone", &[Any, Str], None, |a| str_v(date_in_zone("2006-01-02", &a[0], s(&a[1]))));
    r.plain("ago", &[Any], None, |a| {
        let t = match classify(&a[0]) {
            View::Time(t) => t,
            View::Int(i) => GoTime::unix(i),
            _ => GoTime::now(),
        };
        let now = GoTime::now();
        let d =
            now.sec.saturating_sub(t.sec).saturating_mul(1_000_000_000).saturating_add(now.nsec as i64 - t.nsec as i64);
        str_v(duration_string(duration_round(d, 1_000_000_000)))
    });
    r.plain("toDate", &[Str, Str], None, |a| {
        Ok(make_time(&parse_time(s(&a[0]), s(&a[1])).unwrap_or_else(GoTime::zero)))
    });
    r.plain("unixEpoch", &[Time], None, |a| str_v(time_arg(&a[0]).sec.to_string()));
}

/// sprig's `dateInZone`: a time, Unix seconds or (anything else) now, shown in `zone`.
fn date_in_zone(layout: &str, date: &Value, zone: &str) -> String {
    let t = match classify(date) {
        View::Time(t) => t,
        View::Int(i) => GoTime::unix(i),
        _ => GoTime::now(),
    };
    let t = t.in_zone(zone).or_else(|| t.in_zone("UTC")).unwrap_or(t);
    t.format(layout)
}

/// A `time.Time` argument (already checked by the executor).
fn time_arg(v: &Value) -> GoTime {
    match classify(v) {
        View::Time(t) => t,
        _ => GoTime::zero(),
    }
}

/// sprig's `dateModify`: the time plus a Go duration, unchanged when the duration is bad.
fn date_modify(a: &[Value]) -> Res {
    let t = time_arg(&a[1]);
    Ok(match parse_duration(s(&a[0])) {
        Some(d) => make_time(&t.add(d)),
        None => a[1].clone(),
    })
}

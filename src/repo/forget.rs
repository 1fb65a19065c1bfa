//! Retention: which snapshots to forget, by id, by path, or by a keep policy applied to each
//! path separately (`keep-last`, `-hourly`, `-daily`, `-weekly`, `-monthly`, `-yearly`,
//! `-within`, restic's semantics: each rule keeps the newest snapshot of each of the N newest
//! periods that have one; a snapshot is kept if any rule keeps it). The last snapshot of a path
//! is never forgotten unless the caller allows it explicitly.
//!
//! [`plan`] is pure and unit-tested; [`Repository::forget`] deletes the snapshot objects the
//! plan names. Data is reclaimed by gc afterwards.

use super::{Repository, SnapshotEntry};
use crate::error::{Error, Result};
use crate::id::Id;
use std::collections::BTreeMap;
use std::time::Duration;

/// A keep policy. Zero / `None` rules keep nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeepPolicy {
    /// The N newest snapshots.
    pub last: usize,
    /// The newest snapshot of each of the N newest hours that have one.
    pub hourly: usize,
    /// … days (UTC).
    pub daily: usize,
    /// … ISO weeks.
    pub weekly: usize,
    /// … months.
    pub monthly: usize,
    /// … years.
    pub yearly: usize,
    /// Every snapshot younger than this, measured from the newest snapshot of the path.
    pub within: Option<Duration>,
}

impl KeepPolicy {
    /// True when no rule is set.
    pub fn is_empty(&self) -> bool {
        *self == KeepPolicy::default()
    }
}

/// What to forget.
#[derive(Debug, Clone)]
pub enum Selection {
    /// These snapshot ids (or unambiguous prefixes).
    Ids(Vec<String>),
    /// Every snapshot of these paths.
    Paths(Vec<String>),
    /// Apply the policy to every path (or only to `paths` when not empty).
    Policy(KeepPolicy, Vec<String>),
}

/// The decision for one snapshot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    /// Snapshot id (hex).
    pub id: String,
    /// Its path.
    pub path: String,
    /// Its time.
    pub time: String,
    /// Kept?
    pub keep: bool,
    /// Which rules keep it (or why it goes).
    pub reasons: Vec<String>,
}

fn unix(s: &SnapshotEntry) -> i64 {
    crate::time::parse_rfc3339(&s.snapshot.time).map(|t| t.0).unwrap_or(0)
}

/// ISO 8601 week (year, week) of a day number (days since 1970-01-01).
fn iso_week(days: i64) -> (i64, i64) {
    // 1970-01-01 was a Thursday; weekday 1 = Monday … 7 = Sunday.
    let weekday = (days + 3).rem_euclid(7) + 1;
    let thursday = days - weekday + 4;
    let (y, _, _) = crate::time::civil_from_days(thursday);
    let jan1 = days_of(y, 1, 1);
    (y, (thursday - jan1) / 7 + 1)
}

fn days_of(y: i64, m: u32, d: u32) -> i64 {
    // Inverse of civil_from_days, by search from an estimate (exact, cheap for a few dates).
    let mut z = (y - 1970) * 365 + (y - 1969).div_euclid(4) - (y - 1901).div_euclid(100) + (y - 1601).div_euclid(400);
    loop {
        let (yy, mm, dd) = crate::time::civil_from_days(z);
        match (yy, mm, dd).cmp(&(y, m, d)) {
            std::cmp::Ordering::Equal => return z,
            std::cmp::Ordering::Less => z += 1,
            std::cmp::Ordering::Greater => z -= 1,
        }
    }
}

/// Which snapshots a policy keeps, per path; newest first within a path.
pub fn plan(snaps: &[SnapshotEntry], sel: &Selection, allow_last: bool) -> Result<Vec<Decision>> {
    let mut by_path: BTreeMap<&str, Vec<&SnapshotEntry>> = BTreeMap::new();
    for s in snaps {
        by_path.entry(s.snapshot.path.as_str()).or_default().push(s);
    }
    // Explicit ids must all exist (prefixes unambiguous).
    let mut chosen: Vec<Id> = Vec::new();
    if let Selection::Ids(ids) = sel {
        for p in ids {
            let m: Vec<&SnapshotEntry> = snaps.iter().filter(|s| s.id.to_hex().starts_with(p.as_str())).collect();
            match (p.len() >= 6, m.len()) {
                (false, _) => {
                    return Err(Error::invalid(format!(
                        "snapshot id '{p}' is too short (give at least 6 hex characters)"
                    )));
                }
                (_, 0) => return Err(Error::new(crate::ErrorKind::NotFound, format!("no snapshot {p}"))),
                (_, 1) => chosen.push(m[0].id),
                (_, n) => return Err(Error::invalid(format!("snapshot id '{p}' is ambiguous ({n} matches)"))),
            }
        }
    }
    if let Selection::Paths(paths) = sel {
        for p in paths {
            if !by_path.contains_key(p.as_str()) {
                return Err(Error::new(crate::ErrorKind::NotFound, format!("no snapshot with path '{p}'")));
            }
        }
    }
    let mut out = Vec::new();
    for (path, mut list) in by_path {
        list.sort_by_key(|s| std::cmp::Reverse((unix(s), s.snapshot.time.clone())));
        let mut reasons: Vec<Vec<String>> = vec![Vec::new(); list.len()];
        let mut forget = vec![false; list.len()];
        match sel {
            Selection::Ids(_) => {
                for (i, s) in list.iter().enumerate() {
                    if chosen.contains(&s.id) {
                        forget[i] = true;
                        reasons[i].push("named".into());
                    }
                }
            }
            Selection::Paths(paths) => {
                if paths.iter().any(|p| p == path) {
                    forget.iter_mut().for_each(|f| *f = true);
                    reasons.iter_mut().for_each(|r| r.push("path named".into()));
                }
            }
            Selection::Policy(pol, paths) => {
                if !paths.is_empty() && !paths.iter().any(|p| p == path) {
                    continue;
                }
                let newest = list.first().map(|s| unix(s)).unwrap_or(0);
                let rules: [(&str, usize, &dyn Fn(i64) -> (i64, i64)); 5] = [
                    ("hourly", pol.hourly, &|t| (t.div_euclid(3600), 0)),
                    ("daily", pol.daily, &|t| (t.div_euclid(86_400), 0)),
                    ("weekly", pol.weekly, &|t| iso_week(t.div_euclid(86_400))),
                    ("monthly", pol.monthly, &|t| {
                        let (y, m, _) = crate::time::civil_from_days(t.div_euclid(86_400));
                        (y, m as i64)
                    }),
                    ("yearly", pol.yearly, &|t| (crate::time::civil_from_days(t.div_euclid(86_400)).0, 0)),
                ];
                for (i, _) in list.iter().enumerate().take(pol.last) {
                    reasons[i].push(format!("last {}", pol.last));
                }
                for (name, n, bucket) in rules {
                    let mut seen: Vec<(i64, i64)> = Vec::new();
                    for (i, s) in list.iter().enumerate() {
                        if seen.len() >= n {
                            break;
                        }
                        let b = bucket(unix(s));
                        if !seen.contains(&b) {
                            seen.push(b);
                            reasons[i].push(format!("{name} {n}"));
                        }
                    }
                }
                if let Some(w) = pol.within {
                    for (i, s) in list.iter().enumerate() {
                        if newest - unix(s) < w.as_secs() as i64 {
                            reasons[i].push(format!("within {}s of the newest", w.as_secs()));
                        }
                    }
                }
                for i in 0..list.len() {
                    forget[i] = reasons[i].is_empty();
                }
            }
        }
        // Never the last snapshot of a path unless asked.
        if !allow_last && !list.is_empty() && forget.iter().all(|f| *f) {
            forget[0] = false;
            reasons[0] = vec!["the last snapshot of its path (--allow-last to forget it)".into()];
        }
        for (i, s) in list.iter().enumerate() {
            out.push(Decision {
                id: s.id.to_hex(),
                path: path.to_string(),
                time: s.snapshot.time.clone(),
                keep: !forget[i],
                reasons: if forget[i] && matches!(sel, Selection::Policy(..)) {
                    vec!["no rule keeps it".into()]
                } else {
                    std::mem::take(&mut reasons[i])
                },
            });
        }
    }
    Ok(out)
}

impl Repository {
    /// Forget what `sel` selects (see [`plan`]); returns every decision. `dry_run` deletes
    /// nothing.
    pub async fn forget(&self, sel: &Selection, allow_last: bool, dry_run: bool) -> Result<Vec<Decision>> {
        let snaps = self.snapshots().await?;
        let decisions = plan(&snaps, sel, allow_last)?;
        if !dry_run {
            let keys: Vec<String> =
                decisions.iter().filter(|d| !d.keep).map(|d| format!("snapshots/{}", d.id)).collect();
            self.backend.delete_many(&keys).await.map_err(|e| e.context("deleting snapshot objects"))?;
        }
        Ok(decisions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::snapshot::Snapshot;

    fn snap(n: u8, path: &str, time: &str) -> SnapshotEntry {
        let s: Snapshot = serde_json::from_value(serde_json::json!({
            "version": 1, "path": path, "tags": [], "time": time, "hostname": "h", "size": 0,
            "blake3": "00", "root": "00", "stats": {"chunks": 0, "new_chunks": 0, "new_bytes": 0, "stored_bytes": 0},
            "program": "t"
        }))
        .unwrap();
        SnapshotEntry { id: Id([n; 32]), snapshot: s }
    }

    fn kept(d: &[Decision]) -> Vec<String> {
        d.iter().filter(|d| d.keep).map(|d| d.time[..13].to_string()).collect()
    }

    #[test]
    fn policies_keep_the_newest_of_each_period() {
        // Two snapshots a day for 10 days at 01:00 and 13:00, one path.
        let mut v = Vec::new();
        for d in 1..=10u8 {
            for h in [1, 13] {
                v.push(snap(d * 2 + (h / 13) as u8, "db", &format!("2026-11-{d:02}T{h:02}:00:00Z")));
            }
        }
        let pol = |p: KeepPolicy| plan(&v, &Selection::Policy(p, vec![]), false).unwrap();
        assert_eq!(
            kept(&pol(KeepPolicy { last: 3, ..Default::default() })),
            ["2026-11-10T13", "2026-11-10T01", "2026-11-09T13"]
        );
        assert_eq!(
            kept(&pol(KeepPolicy { daily: 3, ..Default::default() })),
            ["2026-11-10T13", "2026-11-09T13", "2026-11-08T13"]
        );
        // 2026-11-01 is a Sunday: weeks of Nov 2-8 and Nov 9-15, and the one ending Nov 1.
        assert_eq!(
            kept(&pol(KeepPolicy { weekly: 5, ..Default::default() })),
            ["2026-11-10T13", "2026-11-08T13", "2026-11-01T13"]
        );
        assert_eq!(kept(&pol(KeepPolicy { monthly: 2, yearly: 1, ..Default::default() })), ["2026-11-10T13"]);
        let within = pol(KeepPolicy { within: Some(Duration::from_secs(36 * 3600)), ..Default::default() });
        assert_eq!(kept(&within), ["2026-11-10T13", "2026-11-10T01", "2026-11-09T13"]);
        // Reasons name the rules; a forgotten one says so.
        let d = pol(KeepPolicy { last: 1, daily: 2, ..Default::default() });
        assert_eq!(d[0].reasons, ["last 1", "daily 2"]);
        assert_eq!(d[2].reasons, ["daily 2"]);
        assert_eq!(d[3].reasons, ["no rule keeps it"]);
    }

    #[test]
    fn the_last_snapshot_of_a_path_stays_unless_allowed() {
        let v = vec![
            snap(1, "a", "2026-01-01T00:00:00Z"),
            snap(2, "a", "2026-01-02T00:00:00Z"),
            snap(3, "b", "2026-01-01T00:00:00Z"),
        ];
        let d = plan(&v, &Selection::Paths(vec!["a".into()]), false).unwrap();
        assert_eq!(d.iter().filter(|d| d.keep).count(), 2, "a's newest and b");
        assert!(d.iter().any(|d| d.path == "a" && d.keep && d.reasons[0].contains("--allow-last")));
        let d = plan(&v, &Selection::Paths(vec!["a".into()]), true).unwrap();
        assert_eq!(d.iter().filter(|d| d.keep).count(), 1);
        let d = plan(&v, &Selection::Ids(vec![Id([1; 32]).to_hex()[..8].to_string()]), false).unwrap();
        assert_eq!(d.iter().filter(|d| !d.keep).count(), 1);
        assert!(plan(&v, &Selection::Ids(vec!["0303".into()]), false).is_err(), "too short");
        assert!(plan(&v, &Selection::Paths(vec!["zz".into()]), false).is_err(), "unknown path");
    }

    #[test]
    fn iso_weeks() {
        // 2026-01-01 is a Thursday: week 1 of 2026. 2021-01-03 (Sunday) is week 53 of 2020.
        assert_eq!(iso_week(days_of(2026, 1, 1)), (2026, 1));
        assert_eq!(iso_week(days_of(2021, 1, 3)), (2020, 53));
        assert_eq!(iso_week(days_of(2024, 12, 30)), (2025, 1));
    }
}

//! Automatic maintenance: the repository records a schedule, and a push or delete that finds
//! maintenance due runs it after its own work. Blueprints only ever call `kando location
//! push|pull|delete`, so this is how an unattended repository stops growing.
//!
//! - **quick** (default every 24 h): gc with the safe minimum age — marks what no snapshot
//!   needs, deletes what earlier runs marked, merges index objects.
//! - **full** (default every 7 days): quick, then compact within a byte budget.
//!
//! Objects (docs/format.md §12): `maintenance/settings/<id>` (sealed JSON, the newest by store
//! time wins; a change writes a new one, then deletes the older ones) and
//! `maintenance/runs/<kind>/<id>` (sealed JSON report of a finished run; the newest per kind
//! says when it last ran; older ones are pruned). Without a run record, the repository's
//! creation time counts as the last run, so a new repository is first maintained a period
//! after it was created.
//!
//! Due-ness is measured with the store's clock ([`lease::store_now`]). Two processes that find
//! it due at once race for the gc lease; the loser skips (its push has already succeeded).
//! This module decides and sequences; the work is gc's and compact's.

use super::compact::CompactOptions;
use super::gc::GcOptions;
use super::{Repository, lease, open_meta};
use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

const SETTINGS_MAGIC: &[u8; 8] = b"KRMSET01";
const RUN_MAGIC: &[u8; 8] = b"KRMRUN01";
const SETTINGS_PREFIX: &str = "maintenance/settings/";
const RUNS_PREFIX: &str = "maintenance/runs/";
/// Run records kept per kind.
const KEEP_RUNS: usize = 5;

/// The repository's maintenance settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Format version (1).
    pub version: u32,
    /// Run automatically after pushes and deletes.
    pub enabled: bool,
    /// Seconds between quick runs.
    pub quick_every_secs: u64,
    /// Seconds between full runs.
    pub full_every_secs: u64,
    /// gc's minimum mark age, seconds.
    pub min_age_secs: u64,
    /// compact's budget of old pack bytes read per run.
    pub max_repack_bytes: u64,
    /// An automatic run stops starting new work after this many seconds (the push that ran it
    /// has already succeeded; what is left waits for the next run).
    pub max_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            version: 1,
            enabled: true,
            quick_every_secs: 24 * 3600,
            full_every_secs: 7 * 24 * 3600,
            min_age_secs: super::gc::DEFAULT_MIN_AGE.as_secs(),
            max_repack_bytes: 1 << 30,
            max_secs: 15 * 60,
        }
    }
}

/// Which maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// gc (mark, sweep, index merge).
    Quick,
    /// gc then compact.
    Full,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Quick => "quick",
            Kind::Full => "full",
        }
    }
}

/// The record of a finished run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Which run.
    pub kind: Kind,
    /// Seconds it took.
    pub seconds: f64,
    /// Pack bytes deleted.
    pub deleted_bytes: u64,
    /// Packs marked.
    pub marked_packs: usize,
    /// Packs repacked (full runs).
    pub repacked_packs: usize,
    /// Whether it was started automatically.
    pub automatic: bool,
}

/// When each kind last ran and when it is next due (store time).
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    /// The settings in force.
    pub settings: Settings,
    /// Last quick (or full) run, or the repository's creation.
    pub last_quick: Option<SystemTime>,
    /// Last full run, or the repository's creation.
    pub last_full: Option<SystemTime>,
    /// The store's time now.
    pub now: SystemTime,
}

impl Schedule {
    /// What is due now, if anything (full wins over quick).
    pub fn due(&self) -> Option<Kind> {
        let s = &self.settings;
        let over = |last: Option<SystemTime>, every: u64| match last {
            None => true,
            Some(t) => self.now.duration_since(t).unwrap_or_default() >= Duration::from_secs(every),
        };
        if over(self.last_full, s.full_every_secs) {
            Some(Kind::Full)
        } else if over(self.last_quick, s.quick_every_secs) {
            Some(Kind::Quick)
        } else {
            None
        }
    }
}

/// What a maintenance run did.
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceReport {
    /// Which run.
    pub kind: Kind,
    /// gc's report.
    pub gc: super::gc::GcReport,
    /// compact's report (full runs).
    pub compact: Option<super::compact::CompactReport>,
    /// Seconds it took.
    pub seconds: f64,
}

impl Repository {
    /// The maintenance settings (defaults when none were ever written).
    pub async fn maintenance_settings(&self) -> Result<Settings> {
        let mut objs = self.backend.list(SETTINGS_PREFIX).await?;
        objs.sort_by_key(|o| (o.modified, o.key.clone()));
        let Some(o) = objs.pop() else { return Ok(Settings::default()) };
        let bytes = self.backend.get(&o.key).await?;
        let plain = open_meta(&self.keys, SETTINGS_MAGIC, &bytes, &o.key)?;
        serde_json::from_slice(&plain).map_err(|e| Error::corrupt(format!("{}: {e}", o.key)))
    }

    /// Store new settings (then remove the older objects).
    pub async fn set_maintenance_settings(&self, s: &Settings) -> Result<()> {
        if s.version != 1 {
            return Err(Error::invalid(format!("maintenance settings version {} is not supported", s.version)));
        }
        let old: Vec<String> = self.backend.list(SETTINGS_PREFIX).await?.into_iter().map(|o| o.key).collect();
        let plain = serde_json::to_vec(s).map_err(|e| Error::invalid(e.to_string()))?;
        let id = self.put_named(SETTINGS_PREFIX.trim_end_matches('/'), self.seal_meta(SETTINGS_MAGIC, &plain)).await?;
        let new = format!("{SETTINGS_PREFIX}{id}");
        let stale: Vec<String> = old.into_iter().filter(|k| *k != new).collect();
        self.backend.delete_many(&stale).await
    }

    /// When maintenance last ran and what is due.
    pub async fn maintenance_schedule(&self) -> Result<Schedule> {
        let settings = self.maintenance_settings().await?;
        let now = lease::store_now(self.backend.as_ref()).await?;
        let created =
            self.backend.list("config").await?.into_iter().find(|o| o.key == "config").and_then(|o| o.modified);
        let last = |kind: Kind| {
            let prefix = format!("{RUNS_PREFIX}{}/", kind.name());
            async move {
                let objs = self.backend.list(&prefix).await?;
                Ok::<_, Error>(objs.iter().filter_map(|o| o.modified).max())
            }
        };
        let last_full = last(Kind::Full).await?.or(created);
        let last_quick = last(Kind::Quick).await?.or(created).max(last_full);
        Ok(Schedule { settings, last_quick, last_full, now })
    }

    /// Run maintenance of `kind` now with the repository's settings, bounded by `max_secs`
    /// when `automatic`; records the run.
    pub async fn run_maintenance(&self, kind: Kind, automatic: bool) -> Result<MaintenanceReport> {
        let s = self.maintenance_settings().await?;
        let t0 = std::time::Instant::now();
        let deadline = automatic.then(|| t0 + Duration::from_secs(s.max_secs));
        let gc = self.gc(&GcOptions { min_age: Duration::from_secs(s.min_age_secs), ..GcOptions::default() }).await?;
        let compact = if kind == Kind::Full {
            let opts = CompactOptions { max_repack_bytes: s.max_repack_bytes, deadline, ..CompactOptions::default() };
            Some(self.compact(&opts).await?)
        } else {
            None
        };
        let seconds = t0.elapsed().as_secs_f64();
        let rec = RunRecord {
            kind,
            seconds,
            deleted_bytes: gc.deleted_bytes,
            marked_packs: gc.marked_packs,
            repacked_packs: compact.as_ref().map_or(0, |c| c.repacked_packs),
            automatic,
        };
        self.record_run(&rec).await?;
        Ok(MaintenanceReport { kind, gc, compact, seconds })
    }

    async fn record_run(&self, rec: &RunRecord) -> Result<()> {
        let prefix = format!("{RUNS_PREFIX}{}", rec.kind.name());
        let mut plain = serde_json::to_vec(rec).map_err(|e| Error::invalid(e.to_string()))?;
        // Distinct objects for identical reports: the time makes each record unique.
        plain.extend_from_slice(format!(" {:?}", SystemTime::now()).as_bytes());
        self.put_named(&prefix, self.seal_meta(RUN_MAGIC, &plain)).await?;
        let mut objs = self.backend.list(&format!("{prefix}/")).await?;
        objs.sort_by_key(|o| (o.modified, o.key.clone()));
        if objs.len() > KEEP_RUNS {
            let old: Vec<String> = objs[..objs.len() - KEEP_RUNS].iter().map(|o| o.key.clone()).collect();
            self.backend.delete_many(&old).await?;
        }
        Ok(())
    }

    /// After a push or delete: run what is due, if automatic maintenance is on. Never fails
    /// the caller's work: returns `Ok(None)` when nothing ran (not due, disabled, or another
    /// process holds the gc lease) and an error only for the caller to log.
    pub async fn maintain_if_due(&self) -> Result<Option<MaintenanceReport>> {
        let sched = self.maintenance_schedule().await?;
        if !sched.settings.enabled {
            return Ok(None);
        }
        let Some(kind) = sched.due() else { return Ok(None) };
        tracing::info!("automatic {} maintenance is due", kind.name());
        match self.run_maintenance(kind, true).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == ErrorKind::Busy => {
                tracing::info!("skipping automatic maintenance: {e}");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_wins_and_periods_count_from_the_last_run() {
        let t = |s: u64| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        let settings = Settings { quick_every_secs: 100, full_every_secs: 1000, ..Settings::default() };
        let at = |now: u64, q: Option<SystemTime>, f: Option<SystemTime>| {
            Schedule { settings: settings.clone(), last_quick: q, last_full: f, now: t(now).unwrap() }.due()
        };
        assert_eq!(at(50, t(0), t(0)), None);
        assert_eq!(at(100, t(0), t(0)), Some(Kind::Quick));
        assert_eq!(at(1000, t(950), t(0)), Some(Kind::Full));
        assert_eq!(at(1000, t(950), t(500)), None);
        assert_eq!(at(5, None, None), Some(Kind::Full));
    }
}

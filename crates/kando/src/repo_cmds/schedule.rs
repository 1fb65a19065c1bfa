//! `kando repository maintenance`: show or change the repository's automatic maintenance
//! schedule, or run maintenance now; and [`auto_maintain`], which `location push` and
//! `location delete` call after their own work. The schedule and what runs when are the
//! engine's (kanrepo::repo::maintenance); this file parses and prints.

use crate::args::RepoArgs;
use crate::commands::open;
use anyhow::{Result, bail};
use clap::Args;
use kanrepo::Repository;
use kanrepo::repo::maintenance::{Kind, MaintenanceReport, Schedule};
use std::time::{Duration, SystemTime};

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 0s, 90m, 1h, 7days)"))
}

/// `maintenance` arguments.
#[derive(Args, Debug)]
#[command(after_help = "Blueprints only call 'kando location push|pull|delete', so the repository itself records \
when maintenance is due, and a push or delete that finds it due runs it after its own work (its phase \
output is already printed; a maintenance failure is logged and never fails the push):
  quick  (every --quick-every, default 24h): gc with --min-age: marks packs no snapshot needs, deletes
         packs marked at least --min-age ago, merges index objects;
  full   (every --full-every, default 7d): quick, then compact (at most --max-repack-bytes of old packs).
An automatic run starts no new work after --max-duration. Two pushes that find it due at once: one runs
it, the other skips. Turn it off per command with --no-auto-maintenance (or KANDO_NO_AUTO_MAINTENANCE=1),
or for the repository with --disable.

Examples:
  kando repository maintenance --repo /backups/repo                       # show the schedule
  kando repository maintenance --repo /backups/repo --full-every 3d --disable
  kando repository maintenance --repo /backups/repo --run full")]
pub struct MaintenanceArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Turn automatic maintenance on.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Turn automatic maintenance off (commands still work).
    #[arg(long)]
    pub disable: bool,
    /// Time between quick runs.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub quick_every: Option<Duration>,
    /// Time between full runs.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub full_every: Option<Duration>,
    /// gc's minimum mark age in automatic and --run runs.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub min_age: Option<Duration>,
    /// compact's budget per full run (bytes of old packs read).
    #[arg(long, value_name = "BYTES")]
    pub max_repack_bytes: Option<u64>,
    /// An automatic run starts no new work after this long.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub max_duration: Option<Duration>,
    /// Run maintenance now with the repository's settings (and record it).
    #[arg(long, value_name = "quick|full", value_parser = ["quick", "full"])]
    pub run: Option<String>,
    /// Print as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn ago(now: SystemTime, t: Option<SystemTime>) -> String {
    match t {
        None => "never".into(),
        Some(t) => {
            let d = now.duration_since(t).unwrap_or_default();
            format!("{} ago", humantime::format_duration(Duration::from_secs(d.as_secs())))
        }
    }
}

fn print_schedule(s: &Schedule) {
    let st = &s.settings;
    let secs = |n: u64| humantime::format_duration(Duration::from_secs(n)).to_string();
    println!("automatic:       {}", if st.enabled { "on (after push and delete)" } else { "off" });
    println!("quick every:     {} (last: {})", secs(st.quick_every_secs), ago(s.now, s.last_quick));
    println!("full every:      {} (last: {})", secs(st.full_every_secs), ago(s.now, s.last_full));
    println!("gc min age:      {}", secs(st.min_age_secs));
    println!("repack budget:   {:.0} MB per full run", st.max_repack_bytes as f64 / 1e6);
    println!("time limit:      {} per automatic run", secs(st.max_secs));
    println!(
        "due now:         {}",
        match s.due() {
            Some(Kind::Full) => "full",
            Some(Kind::Quick) => "quick",
            None => "nothing",
        }
    );
}

/// One line per run, for stderr.
fn summary(r: &MaintenanceReport) -> String {
    let mut s = format!(
        "{} maintenance in {:.1} s: marked {} pack(s), deleted {} ({:.1} MB), index {} → {} object(s)",
        if r.kind == Kind::Full { "full" } else { "quick" },
        r.seconds,
        r.gc.marked_packs,
        r.gc.deleted_packs,
        r.gc.deleted_bytes as f64 / 1e6,
        r.gc.index_objects_before,
        r.gc.index_objects_after
    );
    if let Some(c) = &r.compact {
        s.push_str(&format!(", repacked {} pack(s) into {}", c.repacked_packs, c.new_packs));
    }
    s
}

/// Run what the schedule says is due (after a push or delete). Logs; never fails the caller.
pub async fn auto_maintain(r: &Repository, disabled: bool) {
    if disabled {
        return;
    }
    match r.maintain_if_due().await {
        Ok(Some(rep)) => eprintln!("kando: automatic {}", summary(&rep)),
        Ok(None) => {}
        Err(e) => eprintln!("kando: warning: automatic maintenance failed (the command itself succeeded): {e}"),
    }
}

/// Run `kando repository maintenance`.
pub async fn run(a: MaintenanceArgs) -> Result<()> {
    let r = open(&a.repo).await?;
    let mut st = r.maintenance_settings().await?;
    let before = st.clone();
    if a.enable {
        st.enabled = true;
    }
    if a.disable {
        st.enabled = false;
    }
    if let Some(d) = a.quick_every {
        st.quick_every_secs = d.as_secs();
    }
    if let Some(d) = a.full_every {
        st.full_every_secs = d.as_secs();
    }
    if let Some(d) = a.min_age {
        st.min_age_secs = d.as_secs();
    }
    if let Some(b) = a.max_repack_bytes {
        st.max_repack_bytes = b;
    }
    if let Some(d) = a.max_duration {
        if d.is_zero() {
            bail!("--max-duration must be more than 0");
        }
        st.max_secs = d.as_secs().max(1);
    }
    if st != before {
        r.set_maintenance_settings(&st).await?;
        eprintln!("kando: maintenance settings updated");
    }
    if let Some(kind) = a.run.as_deref() {
        let kind = if kind == "full" { Kind::Full } else { Kind::Quick };
        let rep = r.run_maintenance(kind, false).await?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&rep)?);
        } else {
            println!("{}", summary(&rep));
        }
        return Ok(());
    }
    let sched = r.maintenance_schedule().await?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "settings": sched.settings,
                "due": sched.due(),
                "last_quick_seconds_ago": sched.last_quick.map(|t| sched.now.duration_since(t).unwrap_or_default().as_secs()),
                "last_full_seconds_ago": sched.last_full.map(|t| sched.now.duration_since(t).unwrap_or_default().as_secs()),
            }))?
        );
    } else {
        print_schedule(&sched);
    }
    Ok(())
}

//! `kando repository forget|gc|compact`: retention and space reclamation. Arguments →
//! `Repository::forget|gc|compact` → a report on stdout (text, or `--json`), progress on
//! stderr. No engine logic here; the protocol that makes gc safe beside running pushes is in
//! docs/maintenance.md.

use crate::args::{ProgressMode, RepoArgs};
use crate::commands::open;
use crate::progress::mb;
use crate::progress::start_stages;
use anyhow::{Result, bail};
use clap::Args;
use kanrepo::repo::compact::CompactOptions;
use kanrepo::repo::forget::{Decision, KeepPolicy, Selection};
use kanrepo::repo::gc::GcOptions;
use std::io::Write;
use std::time::Duration;

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 0s, 90m, 1h, 7days)"))
}

fn bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let m: u64 = match mult.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return Err(format!("unknown unit '{mult}' (use B, KB, MB, GB, KiB, MiB, GiB)")),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("'{s}' is not a size (examples: 512MiB, 4GiB)"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("'{s}' is not a size"));
    }
    Ok((n * m as f64) as u64)
}

/// `forget` arguments.
#[derive(Args, Debug)]
#[command(after_help = "Each --keep-* rule keeps the newest snapshot of each of the N newest periods (hours, days, \
ISO weeks, months, years, in UTC) that have one, per path; a snapshot stays if any rule keeps it. Without \
--allow-last, the newest snapshot of a path always stays. Forget only removes snapshot objects: run \
'kando repository gc' (or let automatic maintenance run) to reclaim their space.

Examples:
  kando repository forget --repo /backups/repo --keep-daily 7 --keep-weekly 4 --dry-run
  kando repository forget --repo /backups/repo 3f2a9c01
  kando repository forget --repo /backups/repo --path db/old-cluster --allow-last")]
pub struct ForgetArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Snapshot ids (or unique prefixes of at least 6 hex characters) to forget.
    #[arg(value_name = "ID", conflicts_with_all = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "keep_within"])]
    pub ids: Vec<String>,
    /// Forget every snapshot of this path (repeatable); with --keep-* rules, apply them to
    /// these paths only.
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<String>,
    /// Keep the N newest snapshots of each path.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_last: usize,
    /// Keep the newest snapshot of each of the N newest hours.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_hourly: usize,
    /// … of each of the N newest days.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_daily: usize,
    /// … of each of the N newest ISO weeks.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_weekly: usize,
    /// … of each of the N newest months.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_monthly: usize,
    /// … of each of the N newest years.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_yearly: usize,
    /// Keep every snapshot younger than this, counted from the path's newest one (e.g. 14d).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub keep_within: Option<Duration>,
    /// Allow forgetting the last snapshot of a path.
    #[arg(long)]
    pub allow_last: bool,
    /// Show what would be forgotten and which rule keeps the rest; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Print every decision as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `gc` arguments.
#[derive(Args, Debug)]
#[command(after_help = "One run marks the packs no snapshot needs and deletes the packs that earlier runs marked, \
once those marks are --min-age old by the object store's clock and no push or pull that started before them \
is still running. Pushes are never blocked. With the default --min-age, space comes back one run after the \
data was forgotten and at least an hour later.

--min-age 0s deletes at once and is safe only when no other process uses the repository (one writer, tests).")]
pub struct GcArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Delete marked packs only once their mark is this old (store time).
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "1h")]
    pub min_age: Duration,
    /// Report what would be marked and deleted; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Progress display on stderr.
    #[arg(long, value_enum, env = "KANDO_PROGRESS", default_value = "auto")]
    pub progress: ProgressMode,
}

/// `compact` arguments.
#[derive(Args, Debug)]
#[command(after_help = "Repacked packs are marked, not deleted: a later 'kando repository gc' deletes them (with \
its --min-age), so a push or pull running now is never affected.")]
pub struct CompactArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Read at most this much of old packs in one run (the rest waits for the next run).
    #[arg(long, value_name = "SIZE", value_parser = bytes, default_value = "4GiB")]
    pub max_repack_bytes: u64,
    /// Repack packs of which less than this fraction (of raw chunk bytes) is still needed.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.5)]
    pub min_live_fraction: f64,
    /// Merge packs smaller than this (when there are at least two).
    #[arg(long, value_name = "SIZE", value_parser = bytes, default_value = "4MiB")]
    pub small_pack_bytes: u64,
    /// Report what would be repacked; change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Progress display on stderr.
    #[arg(long, value_enum, env = "KANDO_PROGRESS", default_value = "auto")]
    pub progress: ProgressMode,
}

fn print_decisions(ds: &[Decision], dry: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut path = "";
    for d in ds {
        if d.path != path {
            path = &d.path;
            writeln!(out, "{path}:")?;
        }
        let verb = match (d.keep, dry) {
            (true, _) => "keep  ",
            (false, true) => "forget (dry run)",
            (false, false) => "forgot",
        };
        writeln!(out, "  {} {:<30} {verb}  {}", &d.id[..10], d.time, d.reasons.join(", "))?;
    }
    let n = ds.iter().filter(|d| !d.keep).count();
    writeln!(
        out,
        "{n} of {} snapshot(s) {}{}",
        ds.len(),
        if dry { "would be forgotten" } else { "forgotten" },
        if n > 0 && !dry { "; 'kando repository gc' reclaims their space" } else { "" }
    )?;
    Ok(())
}

/// Run forget.
pub async fn forget(a: ForgetArgs) -> Result<()> {
    let policy = KeepPolicy {
        last: a.keep_last,
        hourly: a.keep_hourly,
        daily: a.keep_daily,
        weekly: a.keep_weekly,
        monthly: a.keep_monthly,
        yearly: a.keep_yearly,
        within: a.keep_within,
    };
    let sel = match (a.ids.is_empty(), a.paths.is_empty(), policy.is_empty()) {
        (false, true, true) => Selection::Ids(a.ids),
        (false, false, _) | (false, true, false) => {
            bail!("give snapshot ids, --path or --keep-* rules, not ids with either")
        }
        (true, _, false) => Selection::Policy(policy, a.paths),
        (true, false, true) => Selection::Paths(a.paths),
        (true, true, true) => {
            bail!("nothing to forget: give snapshot ids, --path PATH, or a --keep-* policy (see --help)")
        }
    };
    let r = open(&a.repo).await?;
    let ds = r.forget(&sel, a.allow_last, a.dry_run).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&ds)?);
    } else {
        print_decisions(&ds, a.dry_run)?;
    }
    Ok(())
}

/// Run gc.
pub async fn gc(a: GcArgs) -> Result<()> {
    let r = open(&a.repo).await?;
    let opts = GcOptions { min_age: a.min_age, dry_run: a.dry_run, ..GcOptions::default() };
    let rep = {
        let _p = start_stages(a.progress, "gc", opts.progress.clone());
        r.gc(&opts).await?
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(());
    }
    let dry = if a.dry_run { " (dry run: nothing changed)" } else { "" };
    println!("snapshots:    {} (their data is kept)", rep.snapshots);
    println!("packs:        {} indexed", rep.packs);
    println!("marked:       {} pack(s), {:.1} MB no snapshot needs{dry}", rep.marked_packs, mb(rep.marked_bytes));
    println!("deleted:      {} pack(s), {:.1} MB freed{dry}", rep.deleted_packs, mb(rep.deleted_bytes));
    if rep.unmarked_packs > 0 {
        println!("kept:         {} marked pack(s) needed again", rep.unmarked_packs);
    }
    println!("index:        {} → {} object(s)", rep.index_objects_before, rep.index_objects_after);
    if rep.hook_tables_before > 0 {
        println!(
            "hook tables:  {} → {} (dedup hints of live snapshots)",
            rep.hook_tables_before, rep.hook_tables_after
        );
    }
    if rep.locator_tables_before + rep.locator_tables_after > 0 {
        println!(
            "locators:     {} → {} table(s) (where live snapshots' chunks are, for pulls)",
            rep.locator_tables_before, rep.locator_tables_after
        );
    }
    if rep.pending_marks > 0 {
        println!("waiting:      {} mark(s) deleted by a later run:", rep.pending_marks);
        for w in &rep.waiting {
            println!("  {w}");
        }
    }
    Ok(())
}

/// Run compact.
pub async fn compact(a: CompactArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&a.min_live_fraction) {
        bail!("--min-live-fraction must be between 0 and 1, not {}", a.min_live_fraction);
    }
    let r = open(&a.repo).await?;
    let opts = CompactOptions {
        max_repack_bytes: a.max_repack_bytes,
        min_live_fraction: a.min_live_fraction,
        small_pack_bytes: a.small_pack_bytes,
        dry_run: a.dry_run,
        ..CompactOptions::default()
    };
    let rep = {
        let _p = start_stages(a.progress, "compact", opts.progress.clone());
        r.compact(&opts).await?
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(());
    }
    let dry = if a.dry_run { " (dry run: nothing changed)" } else { "" };
    println!("repacked:     {} pack(s), {:.1} MB read{dry}", rep.repacked_packs, mb(rep.repacked_bytes));
    println!(
        "written:      {} pack(s), {:.1} MB ({} blob(s) copied sealed, {} re-framed)",
        rep.new_packs,
        mb(rep.new_bytes),
        rep.blobs_copied,
        rep.blobs_reframed
    );
    if rep.deferred_packs > 0 {
        println!("deferred:     {} pack(s) over --max-repack-bytes, for the next run", rep.deferred_packs);
    }
    println!("index:        {} → {} object(s)", rep.index_objects_before, rep.index_objects_after);
    if rep.locator_tables > 0 {
        println!("locators:     {} table(s) written, pointing pulls at the new packs", rep.locator_tables);
    }
    if rep.repacked_packs > 0 && !a.dry_run {
        println!("the old packs are marked; 'kando repository gc' deletes them");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(super::bytes("4GiB").unwrap(), 4 << 30);
        assert_eq!(super::bytes("512 MiB").unwrap(), 512 << 20);
        assert_eq!(super::bytes("1.5GB").unwrap(), 1_500_000_000);
        assert_eq!(super::bytes("100").unwrap(), 100);
        assert!(super::bytes("4 parsecs").is_err());
        assert!(super::bytes("-1GiB").is_err());
        assert_eq!(super::duration("0s").unwrap(), std::time::Duration::ZERO);
        assert_eq!(super::duration("7days").unwrap().as_secs(), 7 * 86400);
        assert!(super::duration("soon").unwrap_err().contains("examples"));
    }
}

//! `kando repository repair index|snapshots`: rebuild the index from the packs; report, and on
//! request rewrite, snapshots that lost data. Arguments → `Repository::repair_*` → report on
//! stdout (text or `--json`). No engine logic here.

use crate::args::RepoArgs;
use crate::commands::open;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use kanrepo::repo::repair::{RepairIndexOptions, RepairSnapshotsOptions};
use std::io::Write;

/// `repair` arguments.
#[derive(Args, Debug)]
pub struct RepairArgs {
    #[command(subcommand)]
    pub cmd: RepairCmd,
}

/// What to repair.
#[derive(Subcommand, Debug)]
pub enum RepairCmd {
    /// Rebuild the index from the pack headers: write new index objects covering every pack
    /// whose header opens, then delete the old ones (an interruption leaves duplicates, never
    /// a gap). Packs whose header does not open are reported and left alone. Waits for no one:
    /// refuses to run beside a gc or compaction.
    Index {
        #[command(flatten)]
        repo: RepoArgs,
        /// Report what would be written and deleted; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Report the snapshots that reference data the repository no longer has, with the byte
    /// ranges lost (run `repair index` first). Changes nothing unless --rewrite-damaged.
    Snapshots {
        #[command(flatten)]
        repo: RepoArgs,
        /// Also read every snapshot through (as a pull would, so it reads all their data):
        /// chunks that are stored but damaged count as lost too. Without it only missing
        /// chunks and tree nodes are found.
        #[arg(long)]
        read_data: bool,
        /// Write a repaired copy of each damaged snapshot: the same stream with every lost range
        /// replaced by zero bytes (offsets stay right), tagged `repaired`,
        /// `repaired-from:<id>` and `lost:<offset>+<length>` per range. The copy sorts just
        /// before its original, so pulls by path keep failing on the original until it is
        /// deleted; pull the copy with --snapshot.
        #[arg(long)]
        rewrite_damaged: bool,
        /// After writing the repaired copies, delete the damaged originals.
        #[arg(long, requires = "rewrite_damaged")]
        delete_originals: bool,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Run repair.
pub async fn run(a: RepairArgs) -> Result<()> {
    match a.cmd {
        RepairCmd::Index { repo, dry_run, json } => {
            let r = open(&repo).await?;
            let rep = r.repair_index(&RepairIndexOptions { dry_run }).await?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&rep)?)?;
                return Ok(());
            }
            for u in &rep.unreadable_packs {
                writeln!(
                    out,
                    "warning: pack {}: the header does not open ({}); left alone, {}",
                    u.pack,
                    u.error,
                    if u.kept_from_old_index {
                        "its entries were kept from the old index"
                    } else {
                        "and no old index entry describes it: its data cannot be read"
                    }
                )?;
            }
            if !rep.dropped_missing_packs.is_empty() {
                writeln!(
                    out,
                    "note: dropped the entries of {} pack(s) that do not exist: {}",
                    rep.dropped_missing_packs.len(),
                    rep.dropped_missing_packs.join(", ")
                )?;
            }
            if !rep.damaged_index_objects.is_empty() {
                writeln!(
                    out,
                    "note: replaced {} damaged index object(s): {}",
                    rep.damaged_index_objects.len(),
                    rep.damaged_index_objects.join(", ")
                )?;
            }
            for k in &rep.ignored {
                writeln!(out, "note: {k} is not named like a pack; left alone")?;
            }
            if !rep.locator_tables_removed.is_empty() {
                writeln!(
                    out,
                    "note: {} {} locator table(s), which may name those packs (pulls scan the index instead until the next gc writes them again)",
                    if rep.dry_run { "would remove" } else { "removed" },
                    rep.locator_tables_removed.len()
                )?;
            }
            let verb = if rep.dry_run {
                ("would rebuild", "would write", "would delete")
            } else {
                ("rebuilt", "wrote", "deleted")
            };
            writeln!(
                out,
                "{} the index of {} from {} of {} pack header(s): {} {} index object(s) with {} record(s), {} {} old \
                 one(s){}",
                verb.0,
                r.location(),
                rep.packs_indexed,
                rep.packs,
                verb.1,
                rep.written.len(),
                rep.chunks,
                verb.2,
                rep.deleted.len(),
                if rep.dry_run { " (dry run: nothing changed)" } else { "" }
            )?;
            Ok(())
        }
        RepairCmd::Snapshots { repo, read_data, rewrite_damaged, delete_originals, json } => {
            let r = open(&repo).await?;
            let opts = RepairSnapshotsOptions { read_data, rewrite: rewrite_damaged, delete_originals };
            let rep = r.repair_snapshots(&opts).await?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&rep)?)?;
            } else {
                for n in &rep.notes {
                    writeln!(out, "note: {n}")?;
                }
                for d in &rep.damaged {
                    writeln!(
                        out,
                        "snapshot {} ({}, {}): {} of {} bytes lost in {} range(s):",
                        &d.id[..8],
                        d.path,
                        d.time,
                        d.lost_bytes,
                        d.size,
                        d.lost.len()
                    )?;
                    for l in &d.lost {
                        let more =
                            if l.pieces > 1 { format!(" (and {} more piece(s))", l.pieces - 1) } else { String::new() };
                        writeln!(
                            out,
                            "  bytes {}..{} ({} bytes): {}{more}",
                            l.offset,
                            l.offset + l.len,
                            l.len,
                            l.reason
                        )?;
                    }
                    match (&d.new_snapshot, &d.not_rewritten) {
                        (Some(n), None) => writeln!(
                            out,
                            "  repaired as snapshot {} (lost ranges zeroed, tagged repaired); original {}",
                            &n[..8],
                            if d.original_deleted { "deleted" } else { "kept (--delete-originals removes it)" }
                        )?,
                        (_, Some(why)) => writeln!(
                            out,
                            "  not rewritten: {why}{}",
                            if d.original_deleted { "; original deleted" } else { "" }
                        )?,
                        (None, None) => {}
                    }
                }
                writeln!(
                    out,
                    "{} snapshot(s) checked in {}: {} lost data{}",
                    rep.snapshots,
                    r.location(),
                    rep.damaged.len(),
                    if rewrite_damaged {
                        format!(
                            ", {} repaired copy(ies)",
                            rep.damaged.iter().filter(|d| d.new_snapshot.is_some()).count()
                        )
                    } else {
                        String::new()
                    }
                )?;
            }
            out.flush()?;
            if !rewrite_damaged && !rep.damaged.is_empty() {
                bail!(
                    "{} snapshot(s) lost data; nothing was changed (rerun with --rewrite-damaged to write copies with \
                     the lost ranges zeroed)",
                    rep.damaged.len()
                );
            }
            Ok(())
        }
    }
}

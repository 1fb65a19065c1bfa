//! `kando repository verify`: prove that the stored backups are intact, or name exactly what is
//! damaged and which snapshots it affects. Arguments → `Repository::verify_at` → report on
//! stdout (text or `--json`), progress on stderr; any problem exits 69. No engine logic here.

use crate::args::{ProgressMode, RepoArgs};
use crate::commands::{backend, password};
use crate::progress::mb;
use anyhow::{Result, bail};
use clap::Args;
use kanrepo::Repository;
use kanrepo::repo::verify::{ReadData, VerifyOptions, VerifyProgress, VerifyReport};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// `verify` arguments.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Also read every pack whole: check that it hashes to its name, open every blob
    /// (AES-GCM), decode every frame and check every chunk's keyed id. Reads the whole
    /// repository, a few packs at a time.
    #[arg(long, conflicts_with = "read_data_subset")]
    pub read_data: bool,
    /// Read only some packs whole: N/M reads the N-th of M fixed subsets (by pack id, so 1/M …
    /// M/M on successive runs cover every pack once), P% a random P percent of the packs.
    #[arg(long, value_name = "N/M|P%")]
    pub read_data_subset: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Progress display on stderr (verify shows a spinner on a terminal, else a line every
    /// 5 s; `json` prints those lines as JSON).
    #[arg(long, value_enum, env = "KANDO_PROGRESS", default_value = "auto")]
    pub progress: ProgressMode,
}

fn progress_line(p: &VerifyProgress) -> (String, serde_json::Value) {
    let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let stage = p.stage();
    let what = match stage {
        "pack headers" | "pack data" => format!("{}/{} packs", g(&p.packs_done), g(&p.packs_total)),
        "trees" => format!("{}/{} snapshots", g(&p.snapshots_done), g(&p.snapshots_total)),
        _ => format!("{} objects", g(&p.objects)),
    };
    (
        format!("verify: {stage}: {what}, {:.1} MB read, {} problem(s) so far", mb(g(&p.bytes_read)), g(&p.problems)),
        serde_json::json!({"op": "verify", "stage": stage, "packs_done": g(&p.packs_done), "packs_total": g(&p.packs_total),
            "snapshots_done": g(&p.snapshots_done), "snapshots_total": g(&p.snapshots_total),
            "bytes_read": g(&p.bytes_read), "problems": g(&p.problems)}),
    )
}

fn print_text(r: &VerifyReport, out: &mut impl Write) -> std::io::Result<()> {
    for p in &r.problems {
        writeln!(out, "problem: {p}")?;
    }
    if !r.damaged_snapshots.is_empty() {
        writeln!(out, "snapshots that cannot be restored in full:")?;
        for d in &r.damaged_snapshots {
            writeln!(
                out,
                "  {} {} {} ({} of {} bytes unreadable)",
                &d.snapshot.id[..8],
                d.snapshot.time,
                d.snapshot.path,
                d.unreadable_bytes,
                d.size
            )?;
        }
    }
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    let data = match r.read_data.as_str() {
        "none" => String::new(),
        _ => format!(", {} read whole: {} blobs, {} chunks", r.packs_read, r.blobs_read, r.chunks_read),
    };
    writeln!(
        out,
        "{} {}: {} key object(s), {} index object(s), {} snapshot(s), {} pack(s) ({} headers checked{data}), {} tree \
         node(s), {} chunk reference(s); {:.1} MB read in {:.1} s: {}",
        if r.complete { "verified" } else { "could not fully verify" },
        r.location,
        r.key_objects,
        r.index_objects,
        r.snapshots,
        r.packs,
        r.pack_headers_checked,
        r.tree_nodes,
        r.chunk_refs,
        mb(r.bytes_read),
        r.seconds,
        match r.problems.len() {
            0 => "no problems".to_string(),
            n => format!("{n} problem(s)"),
        }
    )
}

/// Run verify.
pub async fn run(a: VerifyArgs) -> Result<()> {
    let read_data = match (&a.read_data_subset, a.read_data) {
        (Some(s), _) => s.parse::<ReadData>()?,
        (None, true) => ReadData::All,
        (None, false) => ReadData::None,
    };
    let backend = backend(&a.repo)?;
    let location = backend.location();
    let opts = VerifyOptions { read_data, ..VerifyOptions::default() };
    let progress = Arc::new(VerifyProgress::default());
    let rep = {
        let p = progress.clone();
        crate::progress::start_lines(a.progress, move || progress_line(&p))
    };
    let res = Repository::verify_at(backend, &password(&a.repo)?, &opts, progress).await;
    drop(rep);
    let report = res.map_err(|e| anyhow::anyhow!(e).context(format!("verifying {location}")))?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_text(&report, &mut out)?;
    }
    out.flush()?;
    if !report.is_clean() {
        bail!(
            "verify found {} problem(s) in {location} (`kando repository repair index` rebuilds a damaged index; \
             `repair snapshots` reports, and with --rewrite-damaged rewrites, snapshots that lost data)",
            report.problems.len()
        );
    }
    Ok(())
}

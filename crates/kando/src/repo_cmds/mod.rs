//! `kando repository …`: working with a repository directly. One file per group of commands:
//! keys (`key add|list|remove|passwd`), verify, repair, maintenance (forget, gc, compact),
//! the automatic maintenance schedule;
//! this file dispatches and holds init, snapshots and stats.

mod keys;
mod maintain;
mod repair;
mod schedule;
mod verify;

pub use keys::KeyCmd;
pub use maintain::{CompactArgs, ForgetArgs, GcArgs};
pub use repair::RepairArgs;
pub use schedule::{MaintenanceArgs, auto_maintain};
pub use verify::VerifyArgs;

use crate::args::RepoCmd;
use crate::commands::{backend, open, password};
use anyhow::Result;
use kanrepo::chunker::ChunkerParams;
use kanrepo::crypto::keyfile::KdfParams;
use kanrepo::{InitOptions, Repository};
use std::io::Write;

pub async fn run(cmd: RepoCmd) -> Result<()> {
    match cmd {
        RepoCmd::Init { repo, avg_chunk, level, pack_mib, kdf_memory_mib, kdf_passes, kdf_lanes } => {
            let backend = backend(&repo)?;
            let avg = avg_chunk & !1;
            let opts = InitOptions {
                chunker: ChunkerParams {
                    min_size: avg / 2,
                    avg_size: avg,
                    max_size: avg.saturating_mul(8),
                    normalization: 1,
                },
                zstd: level.map_or(kanrepo::compress::Params::DATA, kanrepo::compress::Params::level),
                pack_target: pack_mib.saturating_mul(1 << 20),
                kdf: KdfParams { memory_kib: kdf_memory_mib * 1024, iterations: kdf_passes, parallelism: kdf_lanes },
                ..InitOptions::default()
            };
            let r = Repository::init(backend, &password(&repo)?, &opts).await?;
            eprintln!("kando: created repository {} at {}", r.config().id, r.location());
            Ok(())
        }
        RepoCmd::Snapshots { repo, json } => {
            let r = open(&repo).await?;
            let snaps = r.snapshots().await?;
            let mut out = std::io::stdout().lock();
            if json {
                let v: Vec<_> = snaps
                    .iter()
                    .map(|s| {
                        let mut j = serde_json::to_value(&s.snapshot).unwrap();
                        j["id"] = serde_json::Value::String(s.id.to_hex());
                        j
                    })
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                writeln!(out, "{:<10} {:<30} {:>14} {:>12}  path", "id", "time", "size", "stored")?;
                for s in &snaps {
                    writeln!(
                        out,
                        "{:<10} {:<30} {:>14} {:>12}  {}",
                        s.id.short(),
                        s.snapshot.time,
                        s.snapshot.size,
                        s.snapshot.stats.stored_bytes,
                        s.snapshot.path
                    )?;
                }
                writeln!(out, "{} snapshot(s)", snaps.len())?;
            }
            Ok(())
        }
        RepoCmd::Key { repo, cmd } => keys::run(&repo, cmd).await,
        RepoCmd::Verify(a) => verify::run(a).await,
        RepoCmd::Repair(a) => repair::run(a).await,
        RepoCmd::Forget(a) => maintain::forget(a).await,
        RepoCmd::Gc(a) => maintain::gc(a).await,
        RepoCmd::Compact(a) => maintain::compact(a).await,
        RepoCmd::Maintenance(a) => schedule::run(a).await,
        RepoCmd::Stats { repo, json, progress } => {
            let r = open(&repo).await?;
            let p = std::sync::Arc::new(kanrepo::StageProgress::default());
            let u = {
                let _rep = crate::progress::start_stages(progress, "stats", p.clone());
                r.usage(&p).await?
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&u)?);
            } else {
                print_usage(&r, &u)?;
            }
            Ok(())
        }
    }
}

fn print_usage(r: &Repository, u: &kanrepo::repo::usage::Usage) -> Result<()> {
    let s = &u.objects;
    let mb = |b: u64| b as f64 / 1e6;
    let mut out = std::io::stdout().lock();
    writeln!(out, "location:          {}", r.location())?;
    writeln!(out, "snapshots:         {} ({:.1} MB of streams)", s.snapshots, mb(s.logical_bytes))?;
    writeln!(
        out,
        "stored:            {:.1} MB in all ({:.1} MB in {} packs, {:.1} MB in {} index objects)",
        mb(s.total_bytes),
        mb(s.pack_bytes),
        s.packs,
        mb(s.index_bytes),
        s.index_objects
    )?;
    writeln!(
        out,
        "distinct data:     {} chunks and tree nodes in {} blobs, {:.1} MB before compression ({:.1} MB live)",
        u.chunks,
        u.blobs,
        mb(u.unique_raw_bytes),
        mb(u.live_raw_bytes)
    )?;
    writeln!(out, "deduplication:     {:.2}× (streams / distinct data)", u.dedup_ratio)?;
    writeln!(out, "compression:       {:.2}× (distinct data / stored blobs)", u.compression_ratio)?;
    writeln!(
        out,
        "overall:           {:.2}× (streams / stored)",
        if s.total_bytes > 0 { s.logical_bytes as f64 / s.total_bytes as f64 } else { 0.0 }
    )?;
    writeln!(out, "live:              {:.1} MB of blobs a snapshot needs", mb(u.live_bytes))?;
    writeln!(
        out,
        "duplicates:        {:.1} MB of live chunks stored more than once (before compression)",
        mb(u.duplicate_raw_bytes)
    )?;
    writeln!(
        out,
        "dead:              {:.1} MB ({} packs wholly dead, {} partly; gc and compact reclaim it)",
        mb(u.dead_bytes),
        u.dead_packs,
        u.partly_dead_packs
    )?;
    writeln!(out, "key objects:       {}", s.keys)?;
    if !u.paths.is_empty() {
        writeln!(
            out,
            "\n{:<40} {:>9} {:>14} {:>14} {:>16}  newest",
            "path", "snapshots", "streams MB", "newest MB", "only-here MB"
        )?;
        for (p, e) in &u.paths {
            writeln!(
                out,
                "{p:<40} {:>9} {:>14.1} {:>14.1} {:>16.1}  {}",
                e.snapshots,
                mb(e.logical_bytes),
                mb(e.latest_bytes),
                mb(e.exclusive_raw_bytes),
                e.latest_time
            )?;
        }
    }
    Ok(())
}

//! `kando`: the Kanister-compatible data mover. A thin shell: arguments → library calls.
//! Every error exits with code 69, as upstream kando does.

mod args;
mod commands;
mod output;
mod producer;
mod progress;

use clap::Parser;

/// Pin glibc's mmap threshold at 256 KiB. By default glibc raises the threshold after the
/// first multi-megabyte buffer is freed, after which 1 MiB read blocks, frames and 16 MiB
/// packs come from per-thread arenas that are never returned: peak RSS then creeps up with
/// stream length (measured: 121 MB for 256 MiB, 161 MB for 1.25 GiB). A fixed threshold
/// hands every large buffer back to the kernel on free, so the pipeline's ceiling holds.
#[allow(unsafe_code)]
fn pin_malloc_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable; it is called once, first thing in main,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
use std::process::ExitCode;

/// Upstream kando's exit code for every failure.
const EXIT_FAILURE: u8 = 69;

fn main() -> ExitCode {
    pin_malloc_mmap_threshold();
    let cli = match args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_FAILURE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.verbosity)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kando: error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

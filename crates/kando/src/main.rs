//! `kando`: the Kanister-compatible data mover. A thin shell: arguments → library calls.
//! Every error exits with code 69, as upstream kando does.

mod alloc;
mod args;
mod commands;
mod output;
mod producer;
mod progress;
mod repo_cmds;

use clap::Parser;
use std::process::ExitCode;

/// Upstream kando's exit code for every failure.
const EXIT_FAILURE: u8 = 69;

fn main() -> ExitCode {
    alloc::tune();
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
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kando: error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

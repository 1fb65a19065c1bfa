//! kanctl: create ActionSets and Profiles, validate blueprints and profiles, and render a
//! blueprint offline. Flags follow upstream kanctl 0.119; `render` is new.
//!
//! The binary is thin: parsing here, the work in the `kanister` library.

mod args;
mod create;
mod render_cmd;
mod validate_cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    let res = match cli.cmd {
        args::Cmd::Create(c) => create::run(&cli.global, c),
        args::Cmd::Validate(v) => validate_cmd::run(&cli.global, v),
        args::Cmd::Render(r) => render_cmd::run(r),
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Reading a YAML or JSON file (or `-` for stdin) as text.
pub(crate) fn read_input(path: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("reading stdin")?;
        return Ok(s);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
}

/// The message for operations that need a cluster.
pub(crate) const NEEDS_CLUSTER: &str = "talking to a Kubernetes API server is not in this build yet \
     (it comes with the controller); use --dry-run to print the objects, or -f FILE to work offline";

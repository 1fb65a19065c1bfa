//! kanctl: create ActionSets and Profiles, validate blueprints and profiles, and render a
//! blueprint offline. Flags follow upstream kanctl 0.119; `render` is new.
//!
//! The binary is thin: parsing here, the work in the `kanister` model crate and the
//! `kanister_kube` cluster client. kanctl (unlike the controller) may use the repository
//! engine: `create profile` and `validate profile` check the bucket with kando's own backends
//! ([`access`]).

mod access;
mod args;
mod create;
mod render_cmd;
mod validate_cmd;

use clap::Parser;
use kanister_kube::Cluster;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    let res = match cli.cmd {
        args::Cmd::Create(c) => block_on(create::run(&cli.global, c)),
        args::Cmd::Validate(v) => block_on(validate_cmd::run(&cli.global, v)),
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

/// Run a future on a fresh runtime: kanctl is a one-shot command.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
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

/// The cluster of the kubeconfig, in `-n` or the context's namespace; checked to answer.
pub(crate) async fn connect(g: &args::Global) -> anyhow::Result<Cluster> {
    let cl = Cluster::connect(g.namespace.as_deref()).await?;
    let version = cl.ping().await?;
    if g.verbose {
        eprintln!("Connected to {} (Kubernetes {version}), namespace '{}'", cl.server(), cl.namespace());
    }
    Ok(cl)
}

/// The namespace of an offline command: `-n`, else the kubeconfig context's if there is a
/// kubeconfig, else `default`.
pub(crate) async fn offline_namespace(g: &args::Global) -> String {
    match &g.namespace {
        Some(n) if !n.is_empty() => n.clone(),
        _ => Cluster::connect(None).await.map(|c| c.namespace().to_string()).unwrap_or_else(|_| "default".into()),
    }
}

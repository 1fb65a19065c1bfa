//! kanrepo-node-agent: a **test-only** stand-in for the kubelet, so the project's end-to-end
//! tests can run Pods on a real control plane (kube-apiserver, etcd, kube-controller-manager,
//! kube-scheduler) on a machine with no container runtime. It is never shipped in a release or
//! an image. Images are ignored: each container runs as host processes (the harness puts
//! freshly built `kando` / `kanctl` first on PATH) in its own mount + PID + UTS namespace, with
//! volumes bind-mounted, on the host network (127.0.0.1, shared by all pods: ports collide
//! across pods). See docs/test-cluster.md.
//!
//! What it does: registers a Node and keeps its Lease and Ready condition fresh (`node`),
//! provisions hostPath PVs for pending PVCs (`provisioner`), runs the pods bound to the node
//! (`pods`, `worker`, `container`, `process`, `init`), keeps a hosts file for Service and pod
//! names (`hosts`), and serves container logs and WebSocket exec to the API server (`server`,
//! `logs`, `exec`).

mod args;
mod cache;
mod command;
mod container;
mod ctx;
mod env;
mod exec;
mod hosts;
mod init;
mod logs;
mod node;
mod pods;
mod probe;
mod process;
mod procspec;
mod provisioner;
mod registry;
mod server;
mod status;
mod volumes;
mod worker;

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio_util::sync::CancellationToken;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    // The hidden re-exec entry points run before any thread or runtime exists.
    match argv.get(1).map(String::as_str) {
        Some("__container-init") => init::container_init(&argv[2..]),
        Some("__container-exec") => init::container_exec(&argv[2..]),
        _ => {}
    }
    let args = args::Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KANREPO_NODE_AGENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if let Err(e) = rt.block_on(run(args)) {
        tracing::error!("{e:#}");
        eprintln!("kanrepo-node-agent: error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: args::Args) -> anyhow::Result<()> {
    let state = args.state_dir.clone();
    let pods_dir = state.join("pods");
    let killed = process::kill_leftovers(&pods_dir);
    if killed > 0 {
        tracing::info!(killed, "killed container processes left by an earlier agent");
    }
    if pods_dir.exists() {
        std::fs::remove_dir_all(&pods_dir).with_context(|| format!("clearing {}", pods_dir.display()))?;
    }
    std::fs::create_dir_all(&pods_dir).with_context(|| format!("creating {}", pods_dir.display()))?;
    std::fs::create_dir_all(state.join("pvs"))?;
    let tools = process::Tools::discover()?;

    let kubeconfig = Kubeconfig::read_from(&args.kubeconfig)
        .with_context(|| format!("reading the kubeconfig {}", args.kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    let api_host = config.cluster_url.host().map(|h| (h.to_string(), config.cluster_url.port_u16().unwrap_or(443)));
    let client = kube::Client::try_from(config)?;
    let version = client.apiserver_version().await.context("reaching the API server")?.git_version;

    let acceptor = server::tls(&args.tls_cert, &args.tls_key)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{}", args.port))?;

    let info = node::NodeInfo { name: args.node_name.clone(), port: args.port, version };
    let since = node::register(&client, &info).await.context("registering the node")?;
    let cache = cache::Cache::start(&client).await?;
    let stop = CancellationToken::new();
    let ctx = Arc::new(ctx::Ctx {
        client: client.clone(),
        cache: cache.clone(),
        registry: Arc::new(registry::Registry::default()),
        tools: tools.clone(),
        node_name: args.node_name.clone(),
        state_dir: state.clone(),
        path_env: args.pod_path(),
        tool_dirs: args.pod_tool_dirs(),
        image_commands: args.image_commands.clone(),
        api_host,
    });
    hosts::write_in_place(&ctx.hosts_file(), &hosts::from_cache(&cache))?;
    tokio::spawn(hosts::keep_updated(cache.clone(), ctx.hosts_file(), stop.clone()));
    tokio::spawn(node::heartbeat(client.clone(), info, since, stop.clone()));
    tokio::spawn(provisioner::run(client.clone(), cache.clone(), ctx.pvs_dir(), stop.clone()));
    let sctx = Arc::new(server::ServerCtx { registry: ctx.registry.clone(), tools });
    tokio::spawn(server::serve(listener, acceptor, sctx, stop.clone()));
    let supervisor = tokio::spawn(pods::run(ctx.clone(), stop.clone()));
    tracing::info!(node = args.node_name, port = args.port, state = %state.display(), "node agent ready");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping every pod process"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping every pod process"),
    }
    stop.cancel();
    let _ = supervisor.await;
    tracing::info!("node agent stopped");
    Ok(())
}

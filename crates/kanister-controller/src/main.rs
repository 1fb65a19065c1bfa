//! `kanister-controller`: runs Kanister ActionSets. A thin binary: flags and environment →
//! settings → the library's controller loop, health server and leader election.

use clap::Parser;
use kanister_controller::context::{Ctx, Settings};
use kanister_controller::events::Events;
use kanister_controller::http::Health;
use kanister_controller::metrics::Metrics;
use kanister_controller::password::Password;
use kanister_kube::Cluster;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Runs Kanister ActionSets: Blueprint phases as Kanister functions (pods that run kando),
/// with status, outputs, artifacts, events, progress and metrics written back.
///
/// Runs in-cluster (service account) or, for development and tests, with KUBECONFIG.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Namespace whose ActionSets and Blueprints this controller runs (default: the pod's
    /// namespace, else the kubeconfig context's).
    #[arg(long, env = "POD_NAMESPACE")]
    namespace: Option<String>,
    /// Secret (in the controller's namespace) whose key `password` is the kando repository
    /// password; it is given to kando in every function pod and exec, never logged.
    #[arg(long, env = "KANISTER_REPOSITORY_PASSWORD_SECRET", value_name = "NAME")]
    repository_password_secret: Option<String>,
    /// Port of the health, readiness and metrics endpoints.
    #[arg(long, env = "HEALTH_CHECK_PORT", default_value_t = 8000)]
    health_port: u16,
    /// Address to listen on.
    #[arg(long, env = "HEALTH_CHECK_ADDRESS", default_value = "0.0.0.0")]
    health_address: std::net::IpAddr,
    /// Liveness path.
    #[arg(long, env = "LIVENESS_PATH", default_value = "/v0/healthz")]
    liveness_path: String,
    /// Readiness path.
    #[arg(long, env = "READINESS_PATH", default_value = "/v0/readyz")]
    readiness_path: String,
    /// Default timeout of each action (e.g. 2h); an ActionSet may set its own with the
    /// annotation kanister.kanrepo.io/action-timeout. None by default, as upstream.
    #[arg(long, env = "KANISTER_ACTION_TIMEOUT", value_name = "DURATION")]
    action_timeout: Option<String>,
    /// Image of pods that run kando for the controller itself (LocationDelete).
    #[arg(long, env = "KANISTER_TOOLS", default_value = "ghcr.io/kanrepo/kanister-tools:0.1.0")]
    tools_image: String,
    /// Minutes a function pod may stay Pending.
    #[arg(long, env = "TIMEOUT_WORKER_POD_READY", default_value_t = 15)]
    pod_ready_timeout_minutes: u64,
    /// Function pods run as service account `default` without a token.
    #[arg(long, env = "SECURE_DEFAULTS_FOR_JOB_PODS", default_value_t = false, action = clap::ArgAction::Set)]
    secure_defaults_for_job_pods: bool,
    /// Create or update the Kanister CRDs at start.
    #[arg(long, env = "CREATEORUPDATE_CRDS", default_value_t = true, action = clap::ArgAction::Set)]
    create_crds: bool,
    /// The controller's service account (function pods in its namespace use it).
    #[arg(long, env = "POD_SERVICE_ACCOUNT")]
    service_account: Option<String>,
    /// Hold a Lease so that only one replica runs ActionSets.
    #[arg(long, env = "KANISTER_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Seconds the leader lease lasts without renewal: how long a successor waits after a
    /// leader dies without releasing it.
    #[arg(long, env = "KANISTER_LEASE_SECONDS", default_value_t = 15)]
    lease_seconds: u64,
    /// Identity in the Lease and in events (default: the pod name, else host and pid).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// How often a running phase's progress is written to the ActionSet.
    #[arg(long, env = "KANISTER_PROGRESS_INTERVAL", default_value = "2s", value_name = "DURATION")]
    progress_interval: String,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Log format: json (as upstream's logrus) or text.
    #[arg(long, env = "LOG_FORMAT", default_value = "json")]
    log_format: String,
}

fn duration(s: &str, what: &str) -> anyhow::Result<Duration> {
    kanister_controller::jsonpath::parse_go_duration(s).map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

fn identity(a: &Args) -> String {
    a.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

async fn run(a: Args) -> anyhow::Result<()> {
    // Health first: alive (liveness) while it connects, applies the CRDs and reads the
    // password, which can take minutes on a slow API server; ready once it can work.
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health {
        ready: Default::default(),
        metrics: metrics.clone(),
        liveness: a.liveness_path.clone(),
        readiness: a.readiness_path.clone(),
    });
    let addr = std::net::SocketAddr::new(a.health_address, a.health_port);
    let h = health.clone();
    tokio::spawn(async move {
        if let Err(e) = kanister_controller::http::serve(addr, h).await {
            tracing::error!("{e}");
            std::process::exit(1);
        }
    });
    let cluster = Cluster::connect(a.namespace.as_deref()).await?;
    let version = cluster.ping().await?;
    let namespace = cluster.namespace().to_string();
    tracing::info!(server = cluster.server(), kubernetes = %version, %namespace, "connected");
    if a.create_crds {
        kanister_controller::controller::apply_crds(cluster.client()).await.map_err(anyhow::Error::msg)?;
    }
    let password = match &a.repository_password_secret {
        Some(name) => Some(Arc::new(Password::load(&cluster, &namespace, name).await.map_err(anyhow::Error::msg)?)),
        None => {
            tracing::warn!(
                "no --repository-password-secret: kando in function pods needs KANDO_REPOSITORY_PASSWORD from elsewhere"
            );
            None
        }
    };
    let settings = Settings {
        namespace: namespace.clone(),
        service_account: a.service_account.clone(),
        tools_image: a.tools_image.clone(),
        pod_ready_timeout: Duration::from_secs(a.pod_ready_timeout_minutes * 60),
        secure_job_pods: a.secure_defaults_for_job_pods,
        action_timeout: a.action_timeout.as_deref().map(|t| duration(t, "--action-timeout")).transpose()?,
        progress_interval: duration(&a.progress_interval, "--progress-interval")?,
    };
    let id = identity(&a);
    let pw = password.clone();
    let scrubber: Box<dyn Fn(&str) -> String + Send + Sync> =
        Box::new(move |s| pw.as_ref().map(|p| p.scrub(s)).unwrap_or_else(|| s.to_string()));
    let ctx = Arc::new(Ctx {
        events: Events::new(cluster.client().clone(), Some(id.clone()), scrubber),
        cluster: cluster.clone(),
        settings,
        metrics: metrics.clone(),
        password,
    });
    kanister_controller::controller::check_access(&ctx).await.map_err(anyhow::Error::msg)?;
    health.ready.store(true, Ordering::Relaxed);
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    if !a.leader_elect {
        metrics.leader(true);
        return kanister_controller::controller::run(ctx, shutdown).await.map_err(anyhow::Error::msg);
    }
    let contender = kanister_controller::leader::contend(cluster.client().clone(), &namespace, &id, a.lease_seconds)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut leader = contender.leader.clone();
    tracing::info!(identity = %id, "waiting for the leader lease");
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        if *leader.borrow_and_update() {
            break;
        }
        tokio::select! {
            _ = &mut shutdown => {
                contender.release().await;
                return Ok(());
            }
            r = leader.changed() => r.map_err(|_| anyhow::anyhow!("leader election stopped"))?,
        }
    }
    tracing::info!(identity = %id, "acquired the leader lease");
    metrics.leader(true);
    let lost = async move {
        loop {
            if leader.changed().await.is_err() || !*leader.borrow() {
                return;
            }
        }
    };
    let mut lost_flag = false;
    let stop = async {
        tokio::select! {
            _ = &mut shutdown => {}
            _ = lost => { lost_flag = true; }
        }
    };
    let res = kanister_controller::controller::run(ctx, stop).await.map_err(anyhow::Error::msg);
    contender.release().await;
    res?;
    if lost_flag {
        anyhow::bail!("lost the leader lease: exiting so that a restart resumes as a follower");
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let a = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&a.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if a.log_format == "text" {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    match rt.block_on(run(a)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("kanister-controller: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! Command-line flags (clap, each with an environment fallback). Parsing only.

use std::path::PathBuf;

use clap::Parser;

use crate::command::ImageCommand;

/// kanrepo-node-agent: plays kubelet for the test cluster with host processes (test only).
#[derive(Debug, Parser)]
#[command(name = "kanrepo-node-agent", version, about, long_about = None)]
pub struct Args {
    /// Admin kubeconfig.
    #[arg(long, env = "KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: PathBuf,
    /// Node name to register.
    #[arg(long, env = "KANREPO_NODE_NAME", default_value = "kanrepo-node")]
    pub node_name: String,
    /// HTTPS port (logs, exec) reported as the kubelet endpoint; served on 127.0.0.1.
    #[arg(long, env = "KANREPO_NODE_AGENT_PORT", default_value_t = 20250)]
    pub port: u16,
    /// Serving certificate (PEM).
    #[arg(long, env = "KANREPO_NODE_AGENT_TLS_CERT", value_name = "FILE")]
    pub tls_cert: PathBuf,
    /// Serving key (PEM).
    #[arg(long, env = "KANREPO_NODE_AGENT_TLS_KEY", value_name = "FILE")]
    pub tls_key: PathBuf,
    /// Pod directories, logs, volumes, the hosts file.
    #[arg(long, env = "KANREPO_NODE_AGENT_STATE_DIR", value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Colon-separated directories put first on every pod process's PATH.
    #[arg(long, env = "KANREPO_NODE_AGENT_PATH_PREPEND", value_name = "DIRS", default_value = "")]
    pub path_prepend: String,
    /// Default command (run with `sh -c`) for containers of images starting with IMAGE_PREFIX
    /// that set neither command nor args; otherwise such containers run `sleep infinity`.
    #[arg(long = "image-command", value_name = "IMAGE_PREFIX=COMMAND")]
    pub image_commands: Vec<ImageCommand>,
}

/// Where the `--path-prepend` directories appear inside every container: bound there after
/// the pod's volumes, so a volume mounted over a parent of a host directory (a shared emptyDir
/// at `/tmp`, say, with the repository checked out under `/tmp`) cannot hide the tools.
pub const POD_TOOLS_ROOT: &str = "/usr/local/lib/kanrepo-pod-path";

impl Args {
    /// The host directories put first on every pod process's PATH.
    pub fn pod_tool_dirs(&self) -> Vec<std::path::PathBuf> {
        self.path_prepend.split(':').filter(|d| !d.is_empty()).map(std::path::PathBuf::from).collect()
    }

    /// PATH for pod processes: the prepended dirs (as bound inside the container), then the
    /// agent's own PATH.
    pub fn pod_path(&self) -> String {
        let own = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        let mut dirs: Vec<String> = (0..self.pod_tool_dirs().len()).map(|i| format!("{POD_TOOLS_ROOT}/{i}")).collect();
        dirs.push(own);
        dirs.join(":")
    }
}

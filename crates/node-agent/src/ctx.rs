//! The agent-wide context every pod worker and the HTTPS server share: API client, caches,
//! registry, tool paths, state directory layout and the settings from the command line.
//! Plain data; it must not start anything.

use std::path::PathBuf;
use std::sync::Arc;

use kube::Client;

use crate::cache::Cache;
use crate::command::ImageCommand;
use crate::process::Tools;
use crate::registry::Registry;

/// Shared by all tasks.
pub struct Ctx {
    /// API client (admin kubeconfig).
    pub client: Client,
    /// Watch caches.
    pub cache: Cache,
    /// Running pods for the HTTPS server.
    pub registry: Arc<Registry>,
    /// unshare / nsenter / setpriv / the agent binary.
    pub tools: Tools,
    /// This node's name.
    pub node_name: String,
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// PATH of every pod process.
    pub path_env: String,
    /// Host directories bound at `POD_TOOLS_ROOT/<n>` in every container (on its PATH).
    pub tool_dirs: Vec<PathBuf>,
    /// `--image-command` defaults.
    pub image_commands: Vec<ImageCommand>,
    /// API server host and port for KUBERNETES_SERVICE_HOST / _PORT.
    pub api_host: Option<(String, u16)>,
}

impl Ctx {
    /// `STATE/pods`.
    pub fn pods_dir(&self) -> PathBuf {
        self.state_dir.join("pods")
    }
    /// `STATE/pods/<uid>`.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.pods_dir().join(uid)
    }
    /// `STATE/pvs`.
    pub fn pvs_dir(&self) -> PathBuf {
        self.state_dir.join("pvs")
    }
    /// `STATE/hosts`: every pod's /etc/hosts.
    pub fn hosts_file(&self) -> PathBuf {
        self.state_dir.join("hosts")
    }
}

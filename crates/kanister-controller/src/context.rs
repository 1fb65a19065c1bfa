//! What the controller's parts share: its settings ([`Settings`]), its clients, metrics and
//! event recorder ([`Ctx`]), and what one running phase hands its function ([`PhaseCtx`]:
//! the template params, the pod identity labels, the cancellation token, the progress sink).
//!
//! This module holds state; it makes no decisions and runs no function.

use crate::events::Events;
use crate::metrics::Metrics;
use crate::output::Transfer;
use crate::password::Password;
use kanister::params::TemplateParams;
use kanister_kube::Cluster;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Label upstream puts on every pod a function creates.
pub const CREATED_BY_LABEL: (&str, &str) = ("createdBy", "kanister");
/// Labels that tie a function pod to its ActionSet, action and phase, so a restarted
/// controller finds it again (values: the ActionSet's uid, the action index, the phase index
/// or `defer`).
pub const LABEL_ACTIONSET_UID: &str = "kanister.kanrepo.io/actionset-uid";
/// See [`LABEL_ACTIONSET_UID`].
pub const LABEL_ACTION: &str = "kanister.kanrepo.io/action";
/// See [`LABEL_ACTIONSET_UID`].
pub const LABEL_PHASE: &str = "kanister.kanrepo.io/phase";
/// Annotation on the ActionSet recording each action's `.Time` (a JSON list of RFC 3339
/// strings), so a resumed action renders the same paths.
pub const ANNOTATION_TIMES: &str = "kanister.kanrepo.io/action-times";
/// Optional per-ActionSet timeout of each action (a duration: `90s`, `30m`, `2h`).
pub const ANNOTATION_TIMEOUT: &str = "kanister.kanrepo.io/action-timeout";

/// Controller settings (flags and environment).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The namespace whose ActionSets and Blueprints this controller runs.
    pub namespace: String,
    /// The controller's service account (function pods in its namespace run as it).
    pub service_account: Option<String>,
    /// Default image of functions that run kando themselves (LocationDelete).
    pub tools_image: String,
    /// How long a function pod may take to leave `Pending` (upstream: 15 min).
    pub pod_ready_timeout: Duration,
    /// `SECURE_DEFAULTS_FOR_JOB_PODS`: function pods run as SA `default` without a token.
    pub secure_job_pods: bool,
    /// Default per-action timeout (none: upstream's behaviour).
    pub action_timeout: Option<Duration>,
    /// How often a running phase's progress is written.
    pub progress_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace: "default".into(),
            service_account: None,
            tools_image: "ghcr.io/kanisterio/kanister-tools:0.119.0".into(),
            pod_ready_timeout: Duration::from_secs(15 * 60),
            secure_job_pods: false,
            action_timeout: None,
            progress_interval: Duration::from_secs(2),
        }
    }
}

/// Shared by every part of the running controller.
pub struct Ctx {
    /// The API server.
    pub cluster: Cluster,
    /// Settings.
    pub settings: Settings,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Event recorder.
    pub events: Events,
    /// The repository password given to kando in function pods, if configured.
    pub password: Option<Arc<Password>>,
}

impl Ctx {
    /// The kube client.
    pub fn client(&self) -> kube::Client {
        self.cluster.client().clone()
    }
}

/// Why a phase was stopped before it finished.
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    token: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
}

impl Cancel {
    /// A fresh, uncancelled handle.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// A child: cancelled with its parent, or on its own.
    pub fn child(&self) -> Cancel {
        Cancel { token: self.token.child_token(), reason: Arc::new(Mutex::new(None)) }
    }

    /// Stop, saying why (the first reason wins).
    pub fn cancel(&self, reason: &str) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason.to_string());
        }
        self.token.cancel();
    }

    /// Resolves when cancelled (by this handle or a parent).
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Whether it was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The reason, for the phase's error.
    pub fn reason(&self) -> String {
        self.reason.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| "ActionSet was deleted".into())
    }
}

/// Which ActionSet, action and phase a function runs for: labels for its pods and fields for
/// its logs.
#[derive(Clone, Debug)]
pub struct PhaseIdentity {
    /// ActionSet namespace.
    pub actionset_namespace: String,
    /// ActionSet name.
    pub actionset: String,
    /// ActionSet uid.
    pub uid: String,
    /// Action index.
    pub action: usize,
    /// Phase label (`0`, `1`, …, `defer`).
    pub phase: String,
    /// Phase name (for logs).
    pub phase_name: String,
}

impl PhaseIdentity {
    /// The labels that find this phase's pods again.
    pub fn labels(&self) -> [(&'static str, String); 3] {
        [
            (LABEL_ACTIONSET_UID, self.uid.clone()),
            (LABEL_ACTION, self.action.to_string()),
            (LABEL_PHASE, self.phase.clone()),
        ]
    }

    /// A label selector for them.
    pub fn selector(&self) -> String {
        self.labels().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    }
}

/// Everything a function needs to run one phase.
pub struct PhaseCtx<'a> {
    /// The controller.
    pub ctx: &'a Ctx,
    /// The action's template params (`.PodOverride`, `.PodLabels`, the target workload, …).
    pub tp: &'a TemplateParams,
    /// The phase.
    pub id: PhaseIdentity,
    /// The phase was running when a previous controller stopped: re-attach to its pod.
    pub resume: bool,
    /// The phase was running when a previous controller stopped and runs again from the start
    /// (its earlier pods, if any, are left to delete).
    pub rerun: bool,
    /// Stops the phase (ActionSet deleted, action timed out).
    pub cancel: Cancel,
    /// Where kando's transfer figures go (the runner writes them into the status).
    pub progress: watch::Sender<Transfer>,
}

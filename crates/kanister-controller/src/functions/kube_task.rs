//! `KubeTask`: run `command` in a new pod of `image` (in `namespace`, else the controller's),
//! follow its log for phase outputs, and succeed when the pod does. Upstream's
//! `kube_task.go`: pod prefix `kanister-job-`, container `container`, `podOverride`,
//! `podLabels`/`podAnnotations` merged over the ActionSet's.
//!
//! Resume: re-attach to the phase's pod (its log is read again from the start).

use super::{Outputs, password_secret, pod_metadata, pod_override, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use crate::podrun::{IfGone, PodRun};
use crate::pods::{PodMeta, PodOptions, finalize, pod_namespace, single_container_spec};
use futures::FutureExt;
use futures::future::BoxFuture;

/// Upstream's `jobPrefix`.
pub const GENERATE_NAME: &str = "kanister-job-";

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let image = args::string(a, "image")?;
        let command = args::strings(a, "command")?;
        let namespace = args::opt_string(a, "namespace", "")?;
        let (labels, annotations) = pod_metadata(pc, a)?;
        let over = pod_override(pc, a)?;
        let opts = PodOptions { image, command, ..PodOptions::default() };
        let ns = pod_namespace(&namespace, &pc.ctx.settings);
        let secret = password_secret(pc, &ns).await?;
        let meta = PodMeta {
            namespace: &ns,
            generate_name: GENERATE_NAME,
            service_account: "",
            labels: &labels,
            annotations: &annotations,
            pod_override: over.as_ref(),
        };
        let pod = finalize(single_container_spec(&opts), &meta, &pc.ctx.settings, &pc.id, secret.as_deref());
        run_and_follow(pc, pod, IfGone::Fail).await
    }
    .boxed()
}

/// Start `pod`, wait for it to start, follow its main container's log for outputs, and wait
/// for it to succeed; the pod is deleted in every case.
pub(super) async fn run_and_follow(
    pc: &PhaseCtx<'_>,
    pod: serde_json::Value,
    if_gone: IfGone,
) -> Result<Outputs, String> {
    let run = PodRun::start(pc, pod, if_gone).await?;
    let main = run.containers.first().cloned().unwrap_or_else(|| crate::pods::DEFAULT_CONTAINER.into());
    let res = until_cancelled(pc, async {
        run.wait_started(pc.ctx.settings.pod_ready_timeout).await?;
        let out = run.follow(pc, &main).await?;
        run.wait_succeeded().await?;
        Ok(out)
    })
    .await;
    run.delete().await;
    res
}

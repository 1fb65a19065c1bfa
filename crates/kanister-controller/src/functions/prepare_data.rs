//! `PrepareData`: run `command` in a new pod of `image` that mounts PVCs (`volumes`: PVC →
//! mount path; by default every PVC of the target Deployment/StatefulSet at
//! `/mnt/prepare_data/<pvc>`), optionally as `serviceaccount`; outputs from its log. Unless
//! `failOnError` is true the pod's exit status is not checked, as upstream.
//!
//! Resume: re-attach to the phase's pod.

use super::{Outputs, password_secret, pod_metadata, pod_override, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use crate::podrun::{IfGone, PodRun};
use crate::pods::{PodMeta, PodOptions, finalize, single_container_spec};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::BTreeMap;

const GENERATE_NAME: &str = "prepare-data-job-";

/// Every PVC of the target workload at `/mnt/prepare_data/<pvc>` (upstream's `getVolumes`).
fn default_volumes(pc: &PhaseCtx<'_>) -> Result<BTreeMap<String, String>, String> {
    let kind = pc.tp.input.object.kind.to_ascii_lowercase();
    if kind != "deployment" && kind != "statefulset" {
        return Err("Failed to get volumes".into());
    }
    let vols: BTreeMap<String, String> = pc
        .tp
        .input
        .workload
        .pvcs
        .values()
        .flat_map(|m| m.keys())
        .map(|pvc| (pvc.clone(), format!("/mnt/prepare_data/{pvc}")))
        .collect();
    if vols.is_empty() {
        return Err("No volumes found".into());
    }
    Ok(vols)
}

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        let image = args::string(a, "image")?;
        let command = args::strings(a, "command")?;
        let mut volumes = args::opt_string_map(a, "volumes")?.unwrap_or_default();
        let service_account = args::opt_string(a, "serviceaccount", "")?;
        let (labels, annotations) = pod_metadata(pc, a)?;
        let fail_on_error = args::opt_bool(a, "failOnError", false)?;
        let over = pod_override(pc, a)?;
        if volumes.is_empty() {
            volumes = default_volumes(pc)?;
        }
        let opts = PodOptions { image, command, volumes, ..PodOptions::default() };
        let secret = password_secret(pc, &namespace).await?;
        let meta = PodMeta {
            namespace: &namespace,
            generate_name: GENERATE_NAME,
            service_account: &service_account,
            labels: &labels,
            annotations: &annotations,
            pod_override: over.as_ref(),
        };
        let pod = finalize(single_container_spec(&opts), &meta, &pc.ctx.settings, &pc.id, secret.as_deref());
        let run = PodRun::start(pc, pod, IfGone::Fail).await?;
        let res = until_cancelled(pc, async {
            run.wait_started(pc.ctx.settings.pod_ready_timeout).await?;
            let out = run.follow(pc, crate::pods::DEFAULT_CONTAINER).await.map_err(|e| {
                if e.starts_with("Failed to unmarshal") { format!("Failed to parse phase output: {e}") } else { e }
            })?;
            if fail_on_error {
                run.wait_succeeded().await?;
            }
            Ok(out)
        })
        .await;
        run.delete().await;
        res
    }
    .boxed()
}

//! `RestoreData`: restore a restic snapshot (by `backupIdentifier`, or the latest with
//! `backupTag`; exactly one) from the repository at `backupArtifactPrefix` into
//! `restorePath` (default `/`) of a new pod of `image` that mounts the PVCs of `pod` (at the
//! paths that pod mounts them) or `volumes` (PVC → path; exactly one of the two), as
//! upstream: the pod idles, the restore runs in it by exec (`restic restore <id>[:<backupPath>]
//! --target <restorePath>`), its stdout's phase outputs are the outputs. `image` must hold
//! restic and bash. Credentials reach restic over the exec's stdin (see `crate::restic`).
//!
//! Resume: never — the exec session ends with the controller that opened it.

use super::restic_run::{Repo, idle_pod, repo};
use super::{Outputs, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::BTreeMap;

const GENERATE_NAME: &str = "restore-data-";

/// The PVCs of `pod` of the target workload, at its mount paths (upstream's `FetchPodVolumes`).
pub(super) fn pod_volumes(pc: &PhaseCtx<'_>, pod: &str) -> Result<BTreeMap<String, String>, String> {
    let kind = pc.tp.input.object.kind.to_ascii_lowercase();
    if kind != "deployment" && kind != "statefulset" {
        return Err("Invalid Template Params".into());
    }
    pc.tp.input.workload.pvcs.get(pod).cloned().ok_or_else(|| format!("Failed to find volumes for the Pod: {pod}"))
}

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        let image = args::string(a, "image")?;
        let restore_path = args::opt_string(a, "restorePath", "/")?;
        let pod = args::opt_string(a, "pod", "")?;
        let vols = args::opt_string_map(a, "volumes")?.unwrap_or_default();
        if pod.is_empty() == vols.is_empty() {
            return Err("Require one argument: pod or volumes".into());
        }
        // Trimmed: upstream passes them through bash unquoted, which drops surrounding space.
        let tag = args::opt_string(a, "backupTag", "")?.trim().to_string();
        let id = args::opt_string(a, "backupIdentifier", "")?.trim().to_string();
        let backup_path = args::opt_string(a, "backupPath", "")?.trim().to_string();
        if tag.is_empty() == id.is_empty() {
            return Err("Require one argument: backupTag or backupIdentifier".into());
        }
        let r = repo(pc, a, "backupArtifactPrefix")?;
        let vols = if vols.is_empty() { pod_volumes(pc, &pod)? } else { vols };
        let snapshot =
            |base: &str| if backup_path.is_empty() { base.to_string() } else { format!("{base}:{backup_path}") };
        let target =
            if tag.is_empty() { vec![snapshot(&id)] } else { vec!["--tag".into(), tag.clone(), snapshot("latest")] };
        restore_in_pod(pc, a, &r, (&namespace, &image, GENERATE_NAME), vols, target, &restore_path).await
    }
    .boxed()
}

/// Restore `snapshot` (`<id>[:<path>]`, or `--tag <tag> latest[:<path>]`) of `r` into
/// `restore_path` of an idle pod (`namespace`, `image`, `generateName`) mounting `vols`;
/// the phase outputs its stdout printed. The pod is deleted in every case.
pub(super) async fn restore_in_pod(
    pc: &PhaseCtx<'_>,
    a: &Args,
    r: &Repo,
    (namespace, image, generate_name): (&str, &str, &str),
    vols: BTreeMap<String, String>,
    snapshot: Vec<String>,
    restore_path: &str,
) -> Result<Outputs, String> {
    let mut argv: Vec<&str> = vec!["restore"];
    argv.extend(snapshot.iter().map(String::as_str));
    argv.extend(["--target", restore_path]);
    let run = idle_pod(pc, a, namespace, image.to_string(), generate_name, vols).await?;
    let res = until_cancelled(pc, async {
        let at = (run.namespace.as_str(), run.name.as_str(), crate::pods::DEFAULT_CONTAINER);
        Ok(r.run(pc, at, &argv, "Failed to restore backup").await?.outputs)
    })
    .await;
    run.delete().await;
    res
}

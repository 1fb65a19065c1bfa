//! `RestoreDataAll`: RestoreData for each of `pods` (space-separated; default every pod of the
//! target Deployment/StatefulSet), at once: the backup `backupInfo` (BackupDataAll's
//! `BackupAllInfo`) names for that pod, from `<backupArtifactPrefix>/<pod>`, into
//! `restorePath` (default `/`) of a new pod of `image` that mounts that pod's PVCs at its
//! paths, as upstream. Outputs: every restore's stdout phase outputs, merged. Any pod's failure
//! fails the phase, with every failing pod's error.
//!
//! Resume: never — the exec sessions end with the controller that opened them.

use super::backup_data_all::{parse_backup_info, target_pods};
use super::restic_run::repo;
use super::restore_data::{pod_volumes, restore_in_pod};
use super::{Outputs, all_or_errors};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use futures::FutureExt;
use futures::future::BoxFuture;

const GENERATE_NAME: &str = "restore-data-all-";

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        let image = args::string(a, "image")?;
        let info = parse_backup_info(&args::string(a, "backupInfo")?)?;
        let restore_path = args::opt_string(a, "restorePath", "/")?;
        let r = repo(pc, a, "backupArtifactPrefix")?;
        let pods = target_pods(pc, a, "Unsupported workload type")?;
        let runs = pods.iter().map(|pod| {
            let (namespace, image, restore_path, r, info) = (&namespace, &image, &restore_path, &r, &info);
            async move {
                let vols = pod_volumes(pc, pod).map_err(|e| format!("Failed to get volumes of pod: {e}"))?;
                let id = info.get(pod).filter(|id| !id.is_empty()).ok_or("backupInfo names no backup of this pod")?;
                let sub = r.sub(pod)?;
                restore_in_pod(pc, a, &sub, (namespace, image, GENERATE_NAME), vols, vec![id.clone()], restore_path)
                    .await
            }
            .map(move |res| res.map_err(|e| format!("Failed to restore data for pod {pod}: {e}")))
        });
        // Not under until_cancelled: each restore stops on cancellation and deletes its pod.
        let results = futures::future::join_all(runs).await;
        Ok(all_or_errors(results)?.into_iter().flatten().collect())
    }
    .boxed()
}

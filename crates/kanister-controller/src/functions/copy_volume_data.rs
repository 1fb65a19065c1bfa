//! `CopyVolumeData`: back up the PVC `volume` with restic from a new pod of `image` (default
//! the tools image) that mounts it at `mountPath` (default `/mnt/vol_data/<pvc>`), into the
//! repository at `dataArtifactPrefix`, as upstream: the repository is created when there is
//! none, the snapshot gets a new random tag. Outputs `backupID`, `backupRoot` (the mount path,
//! which is the path inside the snapshot), `backupArtifactLocation` (the repository path, to
//! give RestoreData as `backupArtifactPrefix`), `backupTag`, `fileCount`, `size`, `phySize`,
//! `version`. A missing PVC fails at once instead of leaving a pod pending.
//!
//! Resume: never — the exec session ends with the controller that opened it.

use super::backup_data::backup_outputs;
use super::restic_run::{idle_pod, repo};
use super::{Outputs, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

const GENERATE_NAME: &str = "copy-vol-data-";

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        let pvc = args::string(a, "volume")?;
        let mount = args::opt_string(a, "mountPath", "")?;
        let image = args::opt_string(a, "image", &pc.ctx.settings.tools_image)?;
        let r = repo(pc, a, "dataArtifactPrefix")?;
        let mount = if mount.is_empty() { format!("/mnt/vol_data/{pvc}") } else { mount };
        let vols = [(pvc.clone(), mount.clone())].into_iter().collect();
        let run = idle_pod(pc, a, &namespace, image, GENERATE_NAME, vols).await?;
        let res = until_cancelled(pc, async {
            let at = (run.namespace.as_str(), run.name.as_str(), crate::pods::DEFAULT_CONTAINER);
            r.backup(pc, at, &mount).await
        })
        .await;
        run.delete().await;
        // BackupData's outputs, and where the snapshot's files are and its repository.
        let mut out = backup_outputs(res?);
        out.insert("backupRoot".into(), json!(mount));
        out.insert("backupArtifactLocation".into(), json!(r.path));
        Ok(out)
    }
    .boxed()
}

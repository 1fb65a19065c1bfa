//! `BackupData`: back up `includePath` of container `container` in the existing pod
//! `namespace/pod` with restic, into the repository at `backupArtifactPrefix` (under the
//! profile's bucket), as upstream: the repository is created when there is none, the
//! snapshot gets a new random tag, and the outputs are `backupID`, `backupTag`,
//! `fileCount`, `size`, `phySize` and `version` (`v0.0.0`). restic and bash must be in that
//! container (upstream's requirement too: usually a kanister-tools sidecar sharing the
//! volume). Credentials and password reach restic over the exec's stdin, never its command
//! line (see `crate::restic`).
//!
//! Resume: never — the exec session ends with the controller that opened it.

use super::restic_run::repo;
use super::{Outputs, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use crate::restic;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        let pod = args::string(a, "pod")?;
        let container = args::string(a, "container")?;
        let include = args::string(a, "includePath")?;
        let r = repo(pc, a, "backupArtifactPrefix")?;
        let at = (namespace.as_str(), pod.as_str(), container.as_str());
        let fail = |e: String| format!("Failed to backup data: {e}");
        until_cancelled(pc, async {
            r.get_or_create(pc, at).await.map_err(fail)?;
            let tag = restic::new_tag();
            let out = r
                .run(pc, at, &["backup", "--tag", &tag, &include], "Failed to create and upload backup")
                .await
                .map_err(fail)?;
            let id = restic::snapshot_id_from_backup_log(&out.stdout).ok_or_else(|| {
                fail(format!(
                    "Failed to parse the backup ID from logs, backup logs {}",
                    crate::podrun::log_tail(&out.stdout, crate::podrun::LOG_TAIL_LINES)
                ))
            })?;
            let (files, size, phy) = restic::stats_from_backup_log(&out.stdout);
            if files.is_empty() || size.is_empty() {
                tracing::debug!("could not parse backup stats from the backup log");
            }
            Ok([
                ("backupID", id),
                ("backupTag", tag),
                ("fileCount", files),
                ("size", size),
                ("phySize", phy),
                ("version", "v0.0.0".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect())
        })
        .await
    }
    .boxed()
}

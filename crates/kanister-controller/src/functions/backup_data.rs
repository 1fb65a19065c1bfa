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

use super::restic_run::Backup;
use super::restic_run::repo;
use super::{Outputs, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        let pod = args::string(a, "pod")?;
        let container = args::string(a, "container")?;
        // Trimmed: upstream passes it through bash unquoted, which drops surrounding space.
        let include = args::string(a, "includePath")?.trim().to_string();
        let r = repo(pc, a, "backupArtifactPrefix")?;
        let at = (namespace.as_str(), pod.as_str(), container.as_str());
        let b =
            until_cancelled(pc, r.backup(pc, at, &include)).await.map_err(|e| format!("Failed to backup data: {e}"))?;
        Ok(backup_outputs(b))
    }
    .boxed()
}

/// BackupData's outputs.
pub(super) fn backup_outputs(b: Backup) -> Outputs {
    [
        ("backupID", b.id),
        ("backupTag", b.tag),
        ("fileCount", b.file_count),
        ("size", b.size),
        ("phySize", b.phy_size),
        ("version", "v0.0.0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), json!(v)))
    .collect()
}

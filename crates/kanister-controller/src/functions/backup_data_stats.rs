//! `BackupDataStats`: `restic stats <backupID> --mode <statsMode>` (default `restore-size`;
//! also `raw-data`, `blobs-per-file`, `files-by-contents`) on the repository at
//! `backupArtifactPrefix`, from a new pod of `image` (default the tools image) in
//! `namespace`, as upstream. Outputs `mode`, `fileCount` (the blob count in raw-data mode),
//! `size` (restic's size string), `version`.
//!
//! Resume: run again (it only reads).

use super::restic_run::{idle_pod, repo};
use super::{Outputs, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use crate::restic;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

const GENERATE_NAME: &str = "backup-data-stats-";

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        let id = args::string(a, "backupID")?.trim().to_string();
        let mode = args::opt_string(a, "statsMode", "restore-size")?;
        let image = args::opt_string(a, "image", &pc.ctx.settings.tools_image)?;
        let mut r = repo(pc, a, "backupArtifactPrefix")?;
        // Upstream's stats command takes no --insecure-tls.
        r.insecure_tls = false;
        let run = idle_pod(pc, a, &namespace, image, GENERATE_NAME, Default::default()).await?;
        let res = until_cancelled(pc, async {
            let at = (run.namespace.as_str(), run.name.as_str(), crate::pods::DEFAULT_CONTAINER);
            r.run(pc, at, &["stats", &id, "--mode", &mode], "Failed to get backup stats").await
        })
        .await;
        run.delete().await;
        let (mode, count, size) = restic::stats_from_stats_log(&res?.stdout);
        if count.is_empty() || size.is_empty() {
            return Err("Failed to parse snapshot stats from logs".into());
        }
        Ok([("mode", mode), ("fileCount", count), ("size", size), ("version", "v0.0.0".to_string())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect())
    }
    .boxed()
}

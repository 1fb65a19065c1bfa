//! `DeleteData`: forget a restic snapshot (by `backupID`, or the one tagged `backupTag`;
//! exactly one) in the repository at `backupArtifactPrefix`, and with `reclaimSpace` prune
//! the repository, from a new pod of `image` (default the tools image), as upstream. Output
//! `spaceFreed`: the bytes prune reports freeing, `"N B"` (`"0 B"` without `reclaimSpace`).
//! restic ≥ 0.12 prints what prune frees as `total prune: … / X`, which upstream's parser
//! misses (it always reports 0 B with its own kanister-tools); this reads both forms.
//! Credentials reach restic over the exec's stdin (see `crate::restic`).
//!
//! Resume: never — the exec session ends with the controller that opened it.

use super::restic_run::{idle_pod, repo};
use super::{Outputs, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use crate::restic;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

const GENERATE_NAME: &str = "delete-data-";

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        // Trimmed: upstream passes them through bash unquoted, which drops surrounding space.
        let id = args::opt_string(a, "backupID", "")?.trim().to_string();
        let tag = args::opt_string(a, "backupTag", "")?.trim().to_string();
        let reclaim = args::opt_bool(a, "reclaimSpace", false)?;
        let image = args::opt_string(a, "image", &pc.ctx.settings.tools_image)?;
        if id.is_empty() == tag.is_empty() {
            return Err("Require one argument: backupID or backupTag".into());
        }
        let r = repo(pc, a, "backupArtifactPrefix")?;
        let run = idle_pod(pc, a, &namespace, image, GENERATE_NAME, Default::default()).await?;
        let res = until_cancelled(pc, async {
            let at = (run.namespace.as_str(), run.name.as_str(), crate::pods::DEFAULT_CONTAINER);
            let id = if tag.is_empty() {
                id.clone()
            } else {
                let what = format!("Failed to forget data, could not get snapshotID from tag {tag}");
                let out = r.run(pc, at, &["snapshots", "--tag", &tag, "--json"], &what).await?;
                restic::first_snapshot_short_id(&out.stdout).map_err(|e| format!("{what}: {e}"))?
            };
            let freed = r.forget(pc, at, &id, reclaim).await?;
            Ok(space_freed(freed))
        })
        .await;
        run.delete().await;
        res
    }
    .boxed()
}

/// DeleteData's output.
pub(super) fn space_freed(bytes: u64) -> Outputs {
    [("spaceFreed".to_string(), json!(format!("{bytes} B")))].into_iter().collect()
}

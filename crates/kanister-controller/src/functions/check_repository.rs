//! `CheckRepository`: whether the restic repository at `backupArtifactPrefix` is there and
//! opens with `encryptionKey`, from a new pod of `image` (default the tools image) in the
//! controller's namespace, as upstream: `restic snapshots --last --json`, then outputs
//! `passwordIncorrect` and `repoUnavailable` (`"true"`/`"false"`) and `version`. Any other
//! failure (an unreachable endpoint, bad credentials) fails the phase.
//!
//! Resume: run again (it only reads).

use super::restic_run::{idle_pod, repo};
use super::{Outputs, until_cancelled};
use crate::args::Args;
use crate::context::PhaseCtx;
use crate::restic;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

const GENERATE_NAME: &str = "check-repository-";

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let image = crate::args::opt_string(a, "image", &pc.ctx.settings.tools_image)?;
        let r = repo(pc, a, "backupArtifactPrefix")?;
        let ns = pc.ctx.settings.namespace.clone();
        let run = idle_pod(pc, a, &ns, image, GENERATE_NAME, Default::default()).await?;
        let res = until_cancelled(pc, async {
            let at = (run.namespace.as_str(), run.name.as_str(), crate::pods::DEFAULT_CONTAINER);
            r.run(pc, at, &["snapshots", "--last", "--json"], "Failed to list snapshots").await
        })
        .await;
        run.delete().await;
        let (wrong, missing) = match res {
            Ok(_) => (false, false),
            Err(e) if e.contains(restic::WRONG_PASSWORD) => (true, false),
            Err(e) if e.contains(restic::NO_REPOSITORY) => (false, true),
            Err(e) => return Err(e),
        };
        Ok([
            ("passwordIncorrect", wrong.to_string()),
            ("repoUnavailable", missing.to_string()),
            ("version", "v0.0.0".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect())
    }
    .boxed()
}

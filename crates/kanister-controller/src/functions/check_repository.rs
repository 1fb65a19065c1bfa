//! `CheckRepository`: whether the restic repository at `backupArtifactPrefix` is there and
//! opens with `encryptionKey`, from a new pod of `image` (default the tools image) in the
//! controller's namespace, as upstream: `restic snapshots --last --json`, then outputs
//! `passwordIncorrect` and `repoUnavailable` (`"true"`/`"false"`) and `version`. restic says
//! there is no repository whenever it cannot read the repository's config, so credentials
//! the store refuses also give `repoUnavailable: "true"` (as upstream); an unreachable
//! endpoint fails the phase.
//!
//! Resume: run again (it only reads).

use super::restic_run::{Probe, idle_pod, repo};
use super::{Outputs, until_cancelled};
use crate::args::Args;
use crate::context::PhaseCtx;
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
            r.probe(pc, at).await
        })
        .await;
        run.delete().await;
        let (wrong, missing) = match res? {
            Probe::Opens => (false, false),
            Probe::WrongPassword(_) => (true, false),
            Probe::NoRepository => (false, true),
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

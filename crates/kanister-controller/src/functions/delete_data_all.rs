//! `DeleteDataAll`: DeleteData of every backup `backupInfo` (BackupDataAll's `BackupAllInfo`)
//! names, each in its repository `<backupArtifactPrefix>/<pod>`, from one new pod of `image`
//! (default the tools image) in `namespace`, as upstream; with `reclaimSpace` each repository
//! is pruned after its forget. Output `spaceFreed` (`"N B"`, the sum).
//!
//! Resume: never — the exec session ends with the controller that opened it.

use super::backup_data_all::parse_backup_info;
use super::delete_data::space_freed;
use super::restic_run::{idle_pod, repo};
use super::{Outputs, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use futures::FutureExt;
use futures::future::BoxFuture;

const GENERATE_NAME: &str = "delete-data-all-";

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        let info = parse_backup_info(&args::string(a, "backupInfo")?)?;
        let reclaim = args::opt_bool(a, "reclaimSpace", false)?;
        let image = args::opt_string(a, "image", &pc.ctx.settings.tools_image)?;
        let r = repo(pc, a, "backupArtifactPrefix")?;
        if info.is_empty() {
            return Err("Require one argument: backupID or backupTag".into());
        }
        if let Some((pod, _)) = info.iter().find(|(_, id)| id.is_empty()) {
            return Err(format!("backupInfo names no backup ID for pod {pod}"));
        }
        let run = idle_pod(pc, a, &namespace, image, GENERATE_NAME, Default::default()).await?;
        let res = until_cancelled(pc, async {
            let at = (run.namespace.as_str(), run.name.as_str(), crate::pods::DEFAULT_CONTAINER);
            let mut freed = 0u64;
            for (pod, id) in &info {
                freed += r.sub(pod)?.forget(pc, at, id, reclaim).await?;
            }
            Ok(space_freed(freed))
        })
        .await;
        run.delete().await;
        res
    }
    .boxed()
}

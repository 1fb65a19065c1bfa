//! `KubeExecAll`: run `command` in every container of `containers` of every pod of `pods`
//! (both space-separated), concurrently; any failure fails the phase with every error, one per
//! line; the outputs of all runs are merged (upstream's `execAll`).
//!
//! Resume: never (see `KubeExec`).

use super::{Outputs, all_or_errors, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use crate::exec::exec_outputs;
use futures::FutureExt;
use futures::future::BoxFuture;

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        let pods = args::string(a, "pods")?;
        let containers = args::string(a, "containers")?;
        let command = args::strings(a, "command")?;
        let targets: Vec<(&str, &str)> =
            pods.split_whitespace().flat_map(|p| containers.split_whitespace().map(move |c| (p, c))).collect();
        let mut runs = Vec::with_capacity(targets.len());
        for (p, c) in &targets {
            runs.push(exec_outputs(pc, &namespace, p, c, &command));
        }
        let results = until_cancelled(pc, async { Ok(futures::future::join_all(runs).await) }).await?;
        Ok(all_or_errors(results)?.into_iter().flatten().collect())
    }
    .boxed()
}

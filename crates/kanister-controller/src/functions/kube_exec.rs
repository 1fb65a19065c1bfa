//! `KubeExec`: run `command` in container `container` (or the pod's default) of the existing
//! pod `namespace/pod`; its stdout's phase outputs are the phase's outputs (none: no output).
//!
//! Resume: never — the exec session ends with the controller that opened it, and running the
//! command a second time may not be safe.

use super::{Outputs, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use crate::exec::exec_outputs;
use futures::FutureExt;
use futures::future::BoxFuture;

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        let pod = args::string(a, "pod")?;
        let container = args::opt_string(a, "container", "")?;
        let command = args::strings(a, "command")?;
        until_cancelled(pc, exec_outputs(pc, &namespace, &pod, &container, &command)).await
    }
    .boxed()
}

//! Kanister functions as this controller runs them: one file per function, each an async
//! `run(phase, args) -> outputs`, plus how a phase of it is resumed after a controller
//! restart. Functions not implemented yet (CSI and RDS snapshots,
//! the kopia-server functions) are listed in [`UNSUPPORTED`] with the reason the ActionSet
//! fails with — before any phase runs, so nothing is left half-done and nothing hangs.
//!
//! Arguments arrive rendered and checked (required and allowed names) by the runner; each
//! function decodes them weakly (`crate::args`) with upstream's messages. Functions create
//! pods through `podrun`, exec through `exec`, and never write ActionSet status.

use crate::args::Args;
use crate::context::PhaseCtx;
use futures::future::BoxFuture;
use serde_json::Value as Json;
use std::collections::BTreeMap;

mod backup_data;
mod backup_data_all;
mod backup_data_stats;
mod check_repository;
mod copy_volume_data;
mod delete_data;
mod delete_data_all;
mod kube_exec;
mod kube_exec_all;
mod kube_ops;
mod kube_task;
mod location_delete;
mod multi_container_run;
mod prepare_data;
mod restic_run;
mod restore_data;
mod restore_data_all;
mod scale_workload;
mod wait;
mod wait_v2;

/// A phase's outputs (`.Phases.<name>.Output`).
pub type Outputs = BTreeMap<String, Json>;

/// A function's entry point.
pub type RunFn = for<'a> fn(&'a PhaseCtx<'a>, &'a Args) -> BoxFuture<'a, Result<Outputs, String>>;

/// What a restarted controller does with a phase of this function that was running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Find the phase's pod again by its labels and follow it from the start of its log
    /// (its outputs are re-read); fail if the pod is gone.
    Reattach,
    /// Run it again: the function is idempotent (scaling, waiting, deleting by path).
    Rerun,
    /// Fail the phase: the work was in an exec session that died with the controller, or
    /// running it twice is not safe.
    Never,
}

/// A function this controller runs.
pub struct Executor {
    /// The Kanister function name.
    pub name: &'static str,
    /// Its entry point.
    pub run: RunFn,
    /// How a running phase of it is resumed.
    pub resume: Resume,
}

/// Every function this controller runs.
pub static EXECUTORS: &[Executor] = &[
    Executor { name: "KubeTask", run: kube_task::run, resume: Resume::Reattach },
    Executor { name: "KubeExec", run: kube_exec::run, resume: Resume::Never },
    Executor { name: "KubeExecAll", run: kube_exec_all::run, resume: Resume::Never },
    Executor { name: "MultiContainerRun", run: multi_container_run::run, resume: Resume::Reattach },
    Executor { name: "ScaleWorkload", run: scale_workload::run, resume: Resume::Rerun },
    Executor { name: "PrepareData", run: prepare_data::run, resume: Resume::Reattach },
    Executor { name: "KubeOps", run: kube_ops::run, resume: Resume::Never },
    Executor { name: "Wait", run: wait::run, resume: Resume::Rerun },
    Executor { name: "WaitV2", run: wait_v2::run, resume: Resume::Rerun },
    Executor { name: "LocationDelete", run: location_delete::run, resume: Resume::Rerun },
    Executor { name: "BackupData", run: backup_data::run, resume: Resume::Never },
    Executor { name: "RestoreData", run: restore_data::run, resume: Resume::Never },
    Executor { name: "DeleteData", run: delete_data::run, resume: Resume::Never },
    Executor { name: "CopyVolumeData", run: copy_volume_data::run, resume: Resume::Never },
    Executor { name: "BackupDataAll", run: backup_data_all::run, resume: Resume::Never },
    Executor { name: "RestoreDataAll", run: restore_data_all::run, resume: Resume::Never },
    Executor { name: "DeleteDataAll", run: delete_data_all::run, resume: Resume::Never },
    Executor { name: "BackupDataStats", run: backup_data_stats::run, resume: Resume::Rerun },
    Executor { name: "CheckRepository", run: check_repository::run, resume: Resume::Rerun },
];

const CSI: &str = "CSI volume snapshots are not implemented by this controller yet";
const RDS: &str = "the AWS RDS functions are not implemented by this controller";
const KOPIA: &str =
    "the kopia repository server path (removed upstream after 0.119.0) is not implemented by this controller";

/// Registered upstream functions this controller does not run, and why.
pub static UNSUPPORTED: &[(&str, &str)] = &[
    ("CreateCSISnapshot", CSI),
    ("CreateCSISnapshotStatic", CSI),
    ("RestoreCSISnapshot", CSI),
    ("DeleteCSISnapshot", CSI),
    ("DeleteCSISnapshotContent", CSI),
    ("CreateRDSSnapshot", RDS),
    ("ExportRDSSnapshotToLocation", RDS),
    ("RestoreRDSSnapshot", RDS),
    ("DeleteRDSSnapshot", RDS),
    ("BackupDataUsingKopiaServer", KOPIA),
    ("RestoreDataUsingKopiaServer", KOPIA),
    ("DeleteDataUsingKopiaServer", KOPIA),
];

/// The executor of a (registered) function, or the error an ActionSet fails with.
pub fn executor(name: &str) -> Result<&'static Executor, String> {
    if let Some(e) = EXECUTORS.iter().find(|e| e.name == name) {
        return Ok(e);
    }
    match UNSUPPORTED.iter().find(|(n, _)| *n == name) {
        Some((_, why)) => Err(format!("Kanister function {name} is not supported: {why}")),
        None => Err(format!("Requested function {{{name}}} has not been registered")),
    }
}

/// The values of concurrent runs, or every failing run's error, one per line (upstream's
/// *All functions and KubeExecAll join them so).
pub(crate) fn all_or_errors<T>(results: Vec<Result<T, String>>) -> Result<Vec<T>, String> {
    let (ok, errs): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    if errs.is_empty() {
        Ok(ok.into_iter().flatten().collect())
    } else {
        Err(errs.into_iter().filter_map(Result::err).collect::<Vec<_>>().join("\n"))
    }
}

/// Labels or annotations.
pub(crate) type StringMap = BTreeMap<String, String>;

/// Upstream's pod labels/annotations for a function pod: the ActionSet's, overlaid by the
/// blueprint arg.
pub(crate) fn pod_metadata(pc: &PhaseCtx<'_>, args: &Args) -> Result<(StringMap, StringMap), String> {
    let bp_labels = crate::args::opt_string_map(args, kanister::functions::POD_LABELS_ARG)?;
    let bp_ann = crate::args::opt_string_map(args, kanister::functions::POD_ANNOTATIONS_ARG)?;
    Ok((
        crate::pods::merge_metadata(&pc.tp.input.pod_labels, bp_labels.as_ref()),
        crate::pods::merge_metadata(&pc.tp.input.pod_annotations, bp_ann.as_ref()),
    ))
}

/// The merged `podOverride` of a phase (blueprint arg, then the ActionSet's).
pub(crate) fn pod_override(pc: &PhaseCtx<'_>, args: &Args) -> Result<Option<Json>, String> {
    let bp = crate::args::opt_object(args, kanister::functions::POD_OVERRIDE_ARG)?;
    let aset = pc.tp.input.pod_override.as_ref().and_then(Json::as_object);
    Ok(crate::pod_override::merge_overrides(bp.as_ref(), aset))
}

/// The Secret holding the repository password in `namespace`, if one is configured.
pub(crate) async fn password_secret(pc: &PhaseCtx<'_>, namespace: &str) -> Result<Option<String>, String> {
    match &pc.ctx.password {
        Some(p) => p.secret_in(&pc.ctx.cluster, namespace).await.map(Some),
        None => Ok(None),
    }
}

/// Run `fut` unless the phase is cancelled first (then the cancellation's reason is the error).
pub(crate) async fn until_cancelled<T>(
    pc: &PhaseCtx<'_>,
    fut: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::select! {
        r = fut => r,
        _ = pc.cancel.cancelled() => Err(pc.cancel.reason()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_or_errors_keeps_every_error_in_order() {
        let ok: Vec<Result<u8, String>> = vec![Ok(1), Ok(2)];
        assert_eq!(all_or_errors(ok).unwrap(), [1, 2]);
        let bad: Vec<Result<u8, String>> = vec![Err("a failed".into()), Ok(2), Err("c failed".into())];
        assert_eq!(all_or_errors(bad).unwrap_err(), "a failed\nc failed");
    }

    #[test]
    fn every_registered_function_has_an_executor_or_a_reason() {
        for f in kanister::functions::registered() {
            let ok = EXECUTORS.iter().any(|e| e.name == f.name);
            let unsupported = UNSUPPORTED.iter().any(|(n, _)| *n == f.name);
            assert!(ok ^ unsupported, "{}: executor {ok}, unsupported {unsupported}", f.name);
            match executor(f.name) {
                Ok(e) => assert_eq!(e.name, f.name),
                Err(m) => assert!(m.contains("is not supported"), "{m}"),
            }
        }
        // Nothing here that upstream does not register.
        for name in EXECUTORS.iter().map(|e| e.name).chain(UNSUPPORTED.iter().map(|(n, _)| *n)) {
            assert!(kanister::functions::registered().any(|f| f.name == name), "{name} is not an upstream function");
        }
        assert_eq!(executor("Nope").err().unwrap(), "Requested function {Nope} has not been registered");
    }
}

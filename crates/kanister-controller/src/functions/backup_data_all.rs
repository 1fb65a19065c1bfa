//! `BackupDataAll`: BackupData of `includePath` in container `container` of each of `pods`
//! (space-separated; default every pod of the target Deployment/StatefulSet), at once, each
//! into its own repository `<backupArtifactPrefix>/<pod>`, as upstream. Output
//! `BackupAllInfo`: upstream's JSON map pod → `{"PodName","BackupID","BackupTag"}` (what
//! RestoreDataAll and DeleteDataAll take as `backupInfo`), and `version`. Any pod's failure
//! fails the phase, with every failing pod's error.
//!
//! Resume: never — the exec sessions end with the controller that opened them.

use super::restic_run::repo;
use super::{Outputs, all_or_errors, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;
use std::collections::BTreeMap;

/// The pods an *All function works on: `pods` (space-separated) or the target workload's.
pub(super) fn target_pods(pc: &PhaseCtx<'_>, a: &Args, none: &str) -> Result<Vec<String>, String> {
    let pods = args::opt_string(a, "pods", "")?;
    if !pods.is_empty() {
        return Ok(pods.split_whitespace().map(String::from).collect());
    }
    let kind = pc.tp.input.object.kind.to_ascii_lowercase();
    if kind != "deployment" && kind != "statefulset" {
        return Err(none.into());
    }
    Ok(pc.tp.input.workload.pods.clone())
}

/// Upstream's `BackupInfo` map as Go's encoding/json writes it (keys sorted, fields in
/// declaration order).
pub(super) fn backup_info_json(infos: &BTreeMap<String, (String, String)>) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let items: Vec<String> = infos
        .iter()
        .map(|(pod, (id, tag))| {
            format!("{}:{{\"PodName\":{},\"BackupID\":{},\"BackupTag\":{}}}", q(pod), q(pod), q(id), q(tag))
        })
        .collect();
    format!("{{{}}}", items.join(","))
}

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let namespace = args::string(a, "namespace")?;
        let container = args::string(a, "container")?;
        let include = args::string(a, "includePath")?.trim().to_string();
        let r = repo(pc, a, "backupArtifactPrefix")?;
        let pods = target_pods(pc, a, "Failed to get pods")?;
        let runs = pods.iter().map(|pod| {
            let (namespace, container, include, r) = (&namespace, &container, &include, &r);
            async move {
                let sub = r.sub(pod)?;
                let b = sub.backup(pc, (namespace, pod, container), include).await?;
                Ok::<_, String>((pod.clone(), (b.id, b.tag)))
            }
            .map(move |res| res.map_err(|e| format!("Failed to backup data for pod {pod}: {e}")))
        });
        let results = until_cancelled(pc, futures::future::join_all(runs).map(Ok)).await?;
        let infos: BTreeMap<String, (String, String)> = all_or_errors(results)?.into_iter().collect();
        Ok([("BackupAllInfo", backup_info_json(&infos)), ("version", "v0.0.0".to_string())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect())
    }
    .boxed()
}

/// Read a `backupInfo` argument (upstream's `BackupInfo` map; field names matched without
/// regard to case, as Go's encoding/json does): pod → backup id.
pub(super) fn parse_backup_info(text: &str) -> Result<BTreeMap<String, String>, String> {
    let v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("Could not decode JSON data: {e}"))?;
    let mut out = BTreeMap::new();
    for (pod, info) in v {
        let id = info
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("BackupID")))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("")
            .to_string();
        out.insert(pod, id);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_info_is_written_and_read_as_upstream() {
        let infos: BTreeMap<String, (String, String)> = [
            ("db-1".to_string(), ("bbbb2222".to_string(), "tagtwo".to_string())),
            ("db-0".to_string(), ("aaaa1111".to_string(), "tagone".to_string())),
        ]
        .into_iter()
        .collect();
        let j = backup_info_json(&infos);
        assert_eq!(
            j,
            r#"{"db-0":{"PodName":"db-0","BackupID":"aaaa1111","BackupTag":"tagone"},"db-1":{"PodName":"db-1","BackupID":"bbbb2222","BackupTag":"tagtwo"}}"#
        );
        let back = parse_backup_info(&j).unwrap();
        assert_eq!(back["db-0"], "aaaa1111");
        assert_eq!(parse_backup_info(r#"{"p":{"backupid":"x"}}"#).unwrap()["p"], "x", "case-insensitive like Go");
        assert!(parse_backup_info("not json").unwrap_err().starts_with("Could not decode JSON data"));
    }
}

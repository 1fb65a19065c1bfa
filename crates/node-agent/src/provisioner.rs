//! A tiny volume provisioner (there is no CSI driver): every Pending, unbound PVC gets a hostPath
//! PV `pvc-<uid>` at `STATE/pvs/<pvc-uid>` with the claim's size, access modes, storage class
//! and volume mode, pre-bound by `claimRef`; the controller-manager's PV binder then binds the
//! pair. PVs it made carry `pv.kubernetes.io/provisioned-by: kanrepo.io/node-agent`, so the PV
//! controller leaves their deletion to it: once such a PV is Released or Failed (its claim is
//! gone), it deletes the PV and its directory (reclaim policy Delete). It never touches other
//! PVs or any pod.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cache::Cache;

/// The provisioned-by annotation value of the agent's PVs.
pub const PROVISIONER: &str = "kanrepo.io/node-agent";

/// The PV (as JSON) for a claim; `None` for claims it cannot serve (block volumes, bound ones).
pub fn pv_for(pvc: &PersistentVolumeClaim, pvs_dir: &Path) -> Option<serde_json::Value> {
    let uid = pvc.metadata.uid.as_deref()?;
    let spec = pvc.spec.as_ref()?;
    if spec.volume_name.as_deref().is_some_and(|v| !v.is_empty()) || pvc.metadata.deletion_timestamp.is_some() {
        return None;
    }
    if spec.volume_mode.as_deref() == Some("Block") {
        return None;
    }
    let size = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map_or_else(|| "1Gi".to_string(), |q| q.0.clone());
    let modes = spec.access_modes.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| vec!["ReadWriteOnce".into()]);
    Some(json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {
            "name": format!("pvc-{uid}"),
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
            "labels": {"kanrepo.io/provisioned-by": "node-agent"},
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": modes,
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": spec.storage_class_name.clone().unwrap_or_default(),
            "volumeMode": spec.volume_mode.clone().unwrap_or_else(|| "Filesystem".into()),
            "hostPath": {"path": pvs_dir.join(uid), "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": pvc.metadata.namespace, "name": pvc.metadata.name, "uid": uid,
            },
        }
    }))
}

fn ours(pv: &PersistentVolume) -> bool {
    pv.metadata.annotations.as_ref().and_then(|a| a.get("pv.kubernetes.io/provisioned-by")).map(String::as_str)
        == Some(PROVISIONER)
}

/// Runs until cancelled.
pub async fn run(client: Client, cache: Cache, pvs_dir: PathBuf, stop: CancellationToken) {
    let pv_api: Api<PersistentVolume> = Api::all(client.clone());
    let mut pvc_rx = cache.pvcs.changed.clone();
    let mut pv_rx = cache.pvs.changed.clone();
    let mut created: HashSet<String> = HashSet::new();
    let mut deleting: HashSet<String> = HashSet::new();
    loop {
        for pvc in cache.pvcs.store.state() {
            let unbound = pvc.status.as_ref().and_then(|s| s.phase.as_deref()).is_none_or(|p| p == "Pending");
            let Some(pv) = pv_for(&pvc, &pvs_dir).filter(|_| unbound) else { continue };
            let name = pv["metadata"]["name"].as_str().unwrap_or_default().to_string();
            if created.contains(&name) || cache.pvs.store.get(&ObjectRef::new(&name)).is_some() {
                continue;
            }
            let obj: PersistentVolume = match serde_json::from_value(pv) {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!("building a PV: {e}");
                    continue;
                }
            };
            match pv_api.create(&PostParams::default(), &obj).await {
                Ok(_) => {
                    tracing::info!(
                        pvc = format!(
                            "{}/{}",
                            pvc.metadata.namespace.as_deref().unwrap_or(""),
                            pvc.metadata.name.as_deref().unwrap_or("")
                        ),
                        pv = name,
                        "provisioned a hostPath volume"
                    );
                    created.insert(name);
                }
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    created.insert(name);
                }
                Err(e) => tracing::warn!(pv = name, "creating the PV: {e}"),
            }
        }
        for pv in cache.pvs.store.state() {
            let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
            let name = pv.metadata.name.clone().unwrap_or_default();
            if !ours(&pv) || !(phase == "Released" || phase == "Failed") || deleting.contains(&name) {
                continue;
            }
            deleting.insert(name.clone());
            let dir = pv.spec.as_ref().and_then(|s| s.host_path.as_ref()).map(|h| PathBuf::from(&h.path));
            let res = match pv_api.delete(&name, &DeleteParams::default()).await {
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                r => r.map(|_| ()),
            };
            match res {
                Ok(()) => {
                    if let Some(dir) = dir.filter(|d| d.starts_with(&pvs_dir)) {
                        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
                    }
                    tracing::info!(pv = name, "deleted a released volume and its directory");
                }
                Err(e) => {
                    deleting.remove(&name);
                    tracing::warn!(pv = name, "deleting the released PV: {e}");
                }
            }
        }
        // Names matter only until the cache shows the PV (or its deletion).
        created.retain(|n| cache.pvs.store.get(&ObjectRef::new(n)).is_none());
        deleting.retain(|n| cache.pvs.store.get(&ObjectRef::new(n)).is_some());
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = pvc_rx.changed() => {}
            _ = pv_rx.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_mirrors_the_claim() {
        let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data-pg-0", "namespace": "pg", "uid": "abc"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                "resources": {"requests": {"storage": "2Gi"}}}
        }))
        .unwrap();
        let pv = pv_for(&pvc, Path::new("/state/pvs")).unwrap();
        assert_eq!(pv["metadata"]["name"], "pvc-abc");
        assert_eq!(pv["spec"]["capacity"]["storage"], "2Gi");
        assert_eq!(pv["spec"]["storageClassName"], "standard");
        assert_eq!(pv["spec"]["hostPath"]["path"], "/state/pvs/abc");
        assert_eq!(pv["spec"]["claimRef"]["uid"], "abc");
        assert_eq!(pv["spec"]["claimRef"]["name"], "data-pg-0");
        let pv: PersistentVolume = serde_json::from_value(pv).unwrap();
        assert!(ours(&pv));

        let mut bound = pvc.clone();
        bound.spec.as_mut().unwrap().volume_name = Some("other".into());
        assert!(pv_for(&bound, Path::new("/s")).is_none());
        let mut no_class = pvc;
        no_class.spec.as_mut().unwrap().storage_class_name = None;
        assert_eq!(pv_for(&no_class, Path::new("/s")).unwrap()["spec"]["storageClassName"], "");
    }
}

//! Building an action's template params from the cluster, as upstream's `param.New`: the
//! ActionSet's Secrets and ConfigMaps, its Profile (credentials resolved), the target object
//! (`.Object`) and, for a StatefulSet or Deployment, its running pods, their containers and
//! PVC mount paths; and a phase's `objects` (Secrets/ConfigMaps) for `.Phases.<name>`.
//!
//! Reads only; errors name the object that could not be read.

use crate::context::Ctx;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kanister::params::{ParamsInput, PhaseParams, Workload};
use kanister::types::{ActionSpec, ObjectReference, Profile};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// A kube error as a one-line message (the API server's own text when it has one).
pub fn kerr(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

async fn secret(ctx: &Ctx, r: &ObjectReference) -> Result<Json, String> {
    let ns = r.namespace.clone().unwrap_or_default();
    ctx.cluster.secret(&ns, &r.name).await.map_err(|e| e.to_string())
}

async fn config_map(ctx: &Ctx, r: &ObjectReference) -> Result<Json, String> {
    let ns = r.namespace.clone().unwrap_or_default();
    let api: Api<ConfigMap> = Api::namespaced(ctx.client(), &ns);
    let cm = api.get(&r.name).await.map_err(kerr)?;
    let mut j = serde_json::to_value(cm).map_err(|e| e.to_string())?;
    j["kind"] = "ConfigMap".into();
    j["apiVersion"] = "v1".into();
    Ok(j)
}

/// The Secrets and ConfigMaps a phase's (rendered) `objects` name.
pub async fn phase_params(ctx: &Ctx, objects: &BTreeMap<String, ObjectReference>) -> Result<PhaseParams, String> {
    let mut p = PhaseParams::default();
    for (k, r) in objects {
        match r.kind.to_ascii_lowercase().as_str() {
            "secret" => {
                p.secrets.insert(k.clone(), secret(ctx, r).await?);
            }
            "configmap" => {
                p.config_maps.insert(k.clone(), config_map(ctx, r).await?);
            }
            _ => {}
        }
    }
    Ok(p)
}

fn resource(group: &str, version: &str, plural: &str) -> ApiResource {
    let api_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version,
        kind: String::new(),
        plural: plural.into(),
    }
}

fn running_pods_owned_by(pods: Vec<Pod>, owner_uid: &str) -> Vec<Pod> {
    let mut v: Vec<Pod> = pods
        .into_iter()
        .filter(|p| {
            p.metadata.owner_references.as_ref().is_some_and(|o| o.iter().any(|o| o.uid == owner_uid))
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
        .collect();
    v.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    v
}

/// Pods, their containers (from container statuses) and PVC → mount path, as upstream.
fn workload_of(pods: &[Pod]) -> Workload {
    let mut w = Workload::default();
    for p in pods {
        let name = p.metadata.name.clone().unwrap_or_default();
        let containers: Vec<String> = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| cs.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        let spec = p.spec.clone().unwrap_or_default();
        let vol_to_pvc: BTreeMap<String, String> = spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| v.persistent_volume_claim.as_ref().map(|c| (v.name.clone(), c.claim_name.clone())))
            .collect();
        let mut pvcs = BTreeMap::new();
        for c in &spec.containers {
            for m in c.volume_mounts.iter().flatten() {
                if let Some(pvc) = vol_to_pvc.get(&m.name) {
                    pvcs.insert(pvc.clone(), m.mount_path.clone());
                }
            }
        }
        if !pvcs.is_empty() {
            w.pvcs.insert(name.clone(), pvcs);
        }
        w.pods.push(name);
        w.containers.push(containers);
    }
    w
}

async fn list_pods(ctx: &Ctx, ns: &str, selector: Option<&BTreeMap<String, String>>) -> Result<Vec<Pod>, String> {
    let api: Api<Pod> = Api::namespaced(ctx.client(), ns);
    let sel = selector.map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
    let lp = match &sel {
        Some(s) if !s.is_empty() => ListParams::default().labels(s),
        _ => ListParams::default(),
    };
    Ok(api.list(&lp).await.map_err(kerr)?.items)
}

async fn statefulset_workload(ctx: &Ctx, ns: &str, name: &str) -> Result<Workload, String> {
    let sts = Api::<StatefulSet>::namespaced(ctx.client(), ns).get(name).await.map_err(kerr)?;
    let uid = sts.metadata.uid.clone().unwrap_or_default();
    let sel = sts.spec.as_ref().and_then(|s| s.selector.match_labels.clone());
    Ok(workload_of(&running_pods_owned_by(list_pods(ctx, ns, sel.as_ref()).await?, &uid)))
}

async fn deployment_workload(ctx: &Ctx, ns: &str, name: &str) -> Result<Workload, String> {
    let d = Api::<Deployment>::namespaced(ctx.client(), ns).get(name).await.map_err(kerr)?;
    let uid = d.metadata.uid.clone().unwrap_or_default();
    const REV: &str = "deployment.kubernetes.io/revision";
    let rev = d.metadata.annotations.as_ref().and_then(|a| a.get(REV)).cloned().unwrap_or_default();
    let rss = Api::<ReplicaSet>::namespaced(ctx.client(), ns).list(&ListParams::default()).await.map_err(kerr)?;
    let rs = rss
        .items
        .into_iter()
        .find(|rs| {
            rs.metadata.owner_references.as_ref().is_some_and(|o| o.iter().any(|o| o.uid == uid))
                && rs.metadata.annotations.as_ref().and_then(|a| a.get(REV)) == Some(&rev)
        })
        .ok_or_else(|| format!("Could not find a ReplicaSet of Deployment {ns}/{name} at revision {rev}"))?;
    let rs_uid = rs.metadata.uid.clone().unwrap_or_default();
    let sel = d.spec.as_ref().and_then(|s| s.selector.match_labels.clone());
    Ok(workload_of(&running_pods_owned_by(list_pods(ctx, ns, sel.as_ref()).await?, &rs_uid)))
}

/// The ActionSet action's template params input (`time` is the action's `.Time`).
pub async fn build_input(ctx: &Ctx, spec: &ActionSpec, time: String) -> Result<ParamsInput, String> {
    let mut secrets = BTreeMap::new();
    for (k, r) in &spec.secrets {
        secrets.insert(k.clone(), secret(ctx, r).await?);
    }
    let mut config_maps = BTreeMap::new();
    for (k, r) in &spec.config_maps {
        config_maps.insert(k.clone(), config_map(ctx, r).await?);
    }
    let profile = match &spec.profile {
        None => None,
        Some(r) => {
            let ns = r.namespace.clone().unwrap_or_default();
            let p: Profile = ctx.cluster.profile(&ns, &r.name).await.map_err(|e| e.to_string())?;
            Some(kanister_kube::resolve_profile(&ctx.cluster, &p).await?)
        }
    };
    let o = &spec.object;
    let ns = o.namespace.clone().unwrap_or_default();
    let kind = o.kind.to_ascii_lowercase();
    let (workload, ar, obj_ns) = match kind.as_str() {
        "statefulset" => {
            (statefulset_workload(ctx, &ns, &o.name).await?, resource("apps", "v1", "statefulsets"), ns.clone())
        }
        "deployment" => {
            (deployment_workload(ctx, &ns, &o.name).await?, resource("apps", "v1", "deployments"), ns.clone())
        }
        "deploymentconfig" => {
            (Workload::default(), resource("apps.openshift.io", "v1", "deploymentconfigs"), ns.clone())
        }
        "pvc" => (Workload::default(), resource("", "v1", "persistentvolumeclaims"), ns.clone()),
        "namespace" => (Workload::default(), resource("", "v1", "namespaces"), String::new()),
        _ => (Workload::default(), resource(&o.group, &o.api_version, &o.resource), ns.clone()),
    };
    let api: Api<DynamicObject> = if obj_ns.is_empty() {
        Api::all_with(ctx.client(), &ar)
    } else {
        Api::namespaced_with(ctx.client(), &obj_ns, &ar)
    };
    let obj_name = o.name.clone();
    let obj = api.get(&obj_name).await.map_err(|e| {
        format!(
            "could not fetch object name: {}, namespace: {obj_ns}, group: {}, version: {}, resource: {}: {}",
            obj_name,
            ar.group,
            ar.version,
            ar.plural,
            kerr(e)
        )
    })?;
    let object_content = serde_json::to_value(&obj).map_err(|e| e.to_string())?;
    Ok(ParamsInput {
        object: o.clone(),
        workload,
        object_content,
        artifacts: spec.artifacts.clone(),
        config_maps,
        secrets,
        profile,
        options: spec.options.clone(),
        time,
        pod_override: if spec.pod_override.is_empty() {
            None
        } else {
            Some(Json::Object(spec.pod_override.clone().into_iter().collect()))
        },
        pod_labels: spec.pod_labels.clone().unwrap_or_default(),
        pod_annotations: spec.pod_annotations.clone().unwrap_or_default(),
    })
}

//! `ScaleWorkload`: set a StatefulSet's, Deployment's or DeploymentConfig's replicas (the
//! ActionSet's target by default) and, unless `waitForReady: false`, wait until exactly that
//! many pods exist and are ready. Output `originalReplicaCount` (an int), as upstream.
//!
//! Resume: run again. So that a second run still reports the count from before the first,
//! the original count is recorded on the workload itself (annotation
//! `kanister.kanrepo.io/original-replicas.<uid>.<action>.<phase>`) in the same patch that
//! scales it, and removed when the phase ends.

use super::{Outputs, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use futures::FutureExt;
use futures::future::BoxFuture;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::wait::await_condition;
use serde_json::{Value as Json, json};

fn resource(kind: &str) -> Option<ApiResource> {
    let (group, version, kind, plural) = match kind {
        "statefulset" => ("apps", "v1", "StatefulSet", "statefulsets"),
        "deployment" => ("apps", "v1", "Deployment", "deployments"),
        "deploymentconfig" => ("apps.openshift.io", "v1", "DeploymentConfig", "deploymentconfigs"),
        _ => return None,
    };
    Some(ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    })
}

/// `replicas` as upstream accepts it: an integer, or a decimal string.
fn replicas(a: &Args) -> Result<i64, String> {
    match a.get("replicas") {
        None => Err("Argument missing replicas".into()),
        Some(Json::Number(n)) => n.as_i64().ok_or_else(|| "Invalid arg type float64 for Arg replicas ".to_string()),
        Some(Json::String(s)) => s
            .parse::<i32>()
            .map(i64::from)
            .map_err(|e| format!("Cannot convert {s} to int: strconv.ParseInt: parsing {s:?}: {}", go_num_err(&e))),
        Some(other) => Err(format!("Invalid arg type {} for Arg replicas ", go_type(other))),
    }
}

fn go_num_err(e: &std::num::ParseIntError) -> &'static str {
    match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => "value out of range",
        _ => "invalid syntax",
    }
}

fn go_type(v: &Json) -> &'static str {
    match v {
        Json::Bool(_) => "bool",
        Json::Array(_) => "[]interface {}",
        Json::Object(_) => "map[string]interface {}",
        _ => "<nil>",
    }
}

fn annotation_key(pc: &PhaseCtx<'_>) -> String {
    format!("kanister.kanrepo.io/original-replicas.{}.{}.{}", pc.id.uid, pc.id.action, pc.id.phase)
}

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let want = replicas(a)?;
        let obj = &pc.tp.input.object;
        let target_kind = obj.kind.to_ascii_lowercase();
        let defaults = matches!(target_kind.as_str(), "statefulset" | "deployment" | "deploymentconfig");
        let named = a.contains_key("namespace") && a.contains_key("name") && a.contains_key("kind");
        if !defaults && !named {
            return Err("Workload information not available via defaults or namespace/name/kind parameters".into());
        }
        let (dns, dname, dkind) = if defaults {
            (obj.namespace.clone().unwrap_or_default(), obj.name.clone(), target_kind)
        } else {
            Default::default()
        };
        let namespace = args::opt_string(a, "namespace", &dns)?;
        let name = args::opt_string(a, "name", &dname)?;
        let kind = args::opt_string(a, "kind", &dkind)?.to_ascii_lowercase();
        let wait = args::opt_bool(a, "waitForReady", true)?;
        let ar = resource(&kind).ok_or_else(|| format!("Workload type not supported {kind}"))?;
        let api: Api<DynamicObject> = Api::namespaced_with(pc.ctx.client(), &namespace, &ar);
        let key = annotation_key(pc);
        let cur = api.get(&name).await.map_err(|e| format!("Failed to get {kind} {namespace}/{name}: {e}"))?;
        let current = cur.data.pointer("/spec/replicas").and_then(Json::as_i64).unwrap_or(1);
        let recorded = cur.metadata.annotations.as_ref().and_then(|m| m.get(&key)).and_then(|v| v.parse::<i64>().ok());
        let original = recorded.unwrap_or(current);
        let patch = json!({"metadata": {"annotations": {&key: original.to_string()}}, "spec": {"replicas": want}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| format!("Failed to scale {kind} {namespace}/{name} to {want} replicas: {e}"))?;
        tracing::info!(%kind, %namespace, %name, from = original, to = want, "scaling workload");
        let res = if wait {
            let cond = move |o: Option<&DynamicObject>| {
                o.is_some_and(|o| {
                    let n = |p: &str| o.data.pointer(p).and_then(Json::as_i64).unwrap_or(0);
                    let generation = o.metadata.generation.unwrap_or(0);
                    n("/status/observedGeneration") >= generation
                        && n("/status/replicas") == want
                        && n("/status/readyReplicas") == want
                        && (want == 0 || n("/status/updatedReplicas") == want || kind == "deploymentconfig")
                })
            };
            until_cancelled(pc, async {
                await_condition(api.clone(), &name, cond)
                    .await
                    .map_err(|e| {
                        format!("Failed while waiting for {namespace}/{name} to have {want} ready replicas: {e}")
                    })?
                    .ok_or_else(|| format!("{namespace}/{name} was deleted while being scaled"))
                    .map(|_| ())
            })
            .await
        } else {
            Ok(())
        };
        let clear = json!({"metadata": {"annotations": {&key: null}}});
        if let Err(e) = api.patch(&name, &PatchParams::default(), &Patch::Merge(&clear)).await {
            tracing::warn!(%name, error = %e, "could not remove the original-replicas annotation");
        }
        res?;
        Ok(Outputs::from([("originalReplicaCount".to_string(), json!(original))]))
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_read_as_upstream() {
        let a = |v: Json| -> Args { serde_json::from_value(json!({"replicas": v})).unwrap() };
        assert_eq!(replicas(&a(json!(3))).unwrap(), 3);
        assert_eq!(replicas(&a(json!("0"))).unwrap(), 0);
        assert_eq!(
            replicas(&a(json!("x"))).unwrap_err(),
            "Cannot convert x to int: strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(replicas(&a(json!(true))).unwrap_err(), "Invalid arg type bool for Arg replicas ");
    }
}

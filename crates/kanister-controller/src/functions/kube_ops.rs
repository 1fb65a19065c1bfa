//! `KubeOps`: `create` the object(s) in `spec` (YAML, in `namespace`, default `default`),
//! `delete` the object named by `objectReference` and wait until it is gone, or `patch` it
//! with `spec` (a strategic-merge patch, as upstream). Output: the object's reference
//! (`apiVersion`, `group`, `resource`, `kind`, `name`, `namespace`) as upstream prints it.
//!
//! Resume: never — a second `create` would make a second object.

use super::{Outputs, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use futures::FutureExt;
use futures::future::BoxFuture;
use kanister::types::ObjectReference;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use serde_json::Value as Json;

fn outputs(r: &ObjectReference) -> Result<Outputs, String> {
    match serde_json::to_value(r).map_err(|e| e.to_string())? {
        Json::Object(m) => Ok(m.into_iter().collect()),
        _ => Ok(Outputs::new()),
    }
}

fn gvr(r: &ObjectReference) -> ApiResource {
    let api_version = if r.group.is_empty() { r.api_version.clone() } else { format!("{}/{}", r.group, r.api_version) };
    ApiResource {
        group: r.group.clone(),
        version: r.api_version.clone(),
        api_version,
        kind: String::new(),
        plural: r.resource.clone(),
    }
}

fn api(pc: &PhaseCtx<'_>, ar: &ApiResource, ns: &str) -> Api<DynamicObject> {
    if ns.is_empty() { Api::all_with(pc.ctx.client(), ar) } else { Api::namespaced_with(pc.ctx.client(), ns, ar) }
}

async fn create(pc: &PhaseCtx<'_>, spec: &str, namespace: &str) -> Result<ObjectReference, String> {
    if spec.is_empty() {
        return Err("spec cannot be empty for create operation".into());
    }
    let docs: Vec<Json> = serde_saphyr::from_str_multiple(spec).map_err(|e| format!("error parsing spec: {e}"))?;
    let mut last = None;
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let obj: DynamicObject = serde_json::from_value(doc).map_err(|e| format!("error parsing spec: {e}"))?;
        let tm = obj.types.clone().ok_or("Object 'Kind' is missing in the spec")?;
        let gvk = GroupVersionKind::try_from(&tm).map_err(|e| e.to_string())?;
        let (ar, caps) = kube::discovery::pinned_kind(&pc.ctx.client(), &gvk)
            .await
            .map_err(|e| format!("no matches for kind \"{}\" in version \"{}\": {e}", tm.kind, tm.api_version))?;
        let ns = match caps.scope {
            kube::discovery::Scope::Namespaced => {
                obj.metadata.namespace.clone().unwrap_or_else(|| namespace.to_string())
            }
            kube::discovery::Scope::Cluster => String::new(),
        };
        let created = api(pc, &ar, &ns)
            .create(&PostParams { field_manager: Some("kanister-create".into()), ..PostParams::default() }, &obj)
            .await
            .map_err(|e| e.to_string())?;
        last = Some(ObjectReference {
            api_version: ar.version.clone(),
            group: ar.group.clone(),
            resource: ar.plural.clone(),
            name: created.metadata.name.clone().unwrap_or_default(),
            namespace: created.metadata.namespace.clone(),
            ..ObjectReference::default()
        });
    }
    last.ok_or_else(|| "spec cannot be empty for create operation".into())
}

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let spec = args::opt_string(a, "spec", "")?;
        let op = args::string(a, "operation")?;
        let namespace = args::opt_string(a, "namespace", "default")?;
        let objref: ObjectReference = match a.get("objectReference") {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| format!("Failed to decode arg `objectReference`: {e}"))?,
            None => ObjectReference::default(),
        };
        let r = match op.as_str() {
            "create" => create(pc, &spec, &namespace).await?,
            "delete" => {
                if objref.name.is_empty() || objref.api_version.is_empty() || objref.resource.is_empty() {
                    return Err("missing one or more required fields name/namespace/group/apiVersion/resource in objectReference for delete operation".into());
                }
                let ns = objref.namespace.clone().filter(|n| !n.is_empty()).unwrap_or(if namespace.is_empty() { "default".into() } else { namespace });
                let api = api(pc, &gvr(&objref), &ns);
                api.delete(&objref.name, &DeleteParams::default()).await.map_err(|e| e.to_string())?;
                until_cancelled(pc, async {
                    await_condition(api.clone(), &objref.name, |o: Option<&DynamicObject>| o.is_none())
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
                .await?;
                objref
            }
            "patch" => {
                if spec.is_empty() {
                    return Err("spec cannot be empty for patch operation".into());
                }
                let patch: Json = serde_saphyr::from_str(&spec).map_err(|e| e.to_string())?;
                let ns = objref.namespace.clone().unwrap_or_default();
                api(pc, &gvr(&objref), &ns)
                    .patch(&objref.name, &PatchParams::default(), &Patch::Strategic(&patch))
                    .await
                    .map_err(|e| e.to_string())?;
                objref
            }
            other => return Err(format!("invalid operation '{other}'")),
        };
        outputs(&r)
    }
    .boxed()
}

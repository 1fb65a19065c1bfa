//! `LocationDelete`: delete what is stored at `artifact` (the bucket name stripped from its
//! front, as upstream) in the ActionSet's Profile. Upstream deletes the objects from inside
//! the controller; this controller does not link the repository engine, so it runs
//! `kando location delete --path <artifact>` in a pod of the tools image (`KANISTER_TOOLS`),
//! in its own namespace, with the profile (credentials included) passed through a short-lived
//! Secret (`KANDO_PROFILE` from a `secretKeyRef`) that is deleted with the pod.
//!
//! Resume: run again (deleting by path is idempotent).

use super::kube_task::run_and_follow;
use super::{Outputs, password_secret};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use crate::podrun::IfGone;
use crate::pods::{PodMeta, PodOptions, finalize, single_container_spec};
use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let artifact = args::string(a, "artifact")?;
        let profile = pc.tp.input.profile.as_ref().ok_or("Failed to validate Profile: Profile cannot be nil")?;
        let bucket = profile.location.get("bucket").cloned().unwrap_or_default();
        let path = artifact.strip_prefix(bucket.as_str()).unwrap_or(&artifact).to_string();
        let ns = pc.ctx.settings.namespace.clone();
        let secrets: Api<Secret> = Api::namespaced(pc.ctx.client(), &ns);
        let s: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"generateName": "kanister-location-delete-", "namespace": ns,
                         "labels": {crate::context::LABEL_ACTIONSET_UID: pc.id.uid}},
            "type": "Opaque",
            "stringData": {"profile": profile.to_go_json()},
        }))
        .map_err(|e| e.to_string())?;
        let created = secrets
            .create(&PostParams::default(), &s)
            .await
            .map_err(|e| format!("Failed to create the profile Secret: {e}"))?;
        let sname = created.metadata.name.clone().unwrap_or_default();
        let res = async {
            let opts = PodOptions {
                image: pc.ctx.settings.tools_image.clone(),
                command: vec!["kando".into(), "location".into(), "delete".into(), "--path".into(), path.clone()],
                ..PodOptions::default()
            };
            let mut spec = single_container_spec(&opts);
            spec["containers"][0]["env"] =
                json!([{"name": "KANDO_PROFILE", "valueFrom": {"secretKeyRef": {"name": sname, "key": "profile"}}}]);
            let secret = password_secret(pc, &ns).await?;
            let empty = BTreeMap::new();
            let meta = PodMeta {
                namespace: &ns,
                generate_name: "kanister-location-delete-",
                service_account: "",
                labels: &empty,
                annotations: &empty,
                pod_override: None,
            };
            let pod = finalize(spec, &meta, &pc.ctx.settings, &pc.id, secret.as_deref());
            run_and_follow(pc, pod, IfGone::Create).await
        }
        .await;
        if let Err(e) = secrets.delete(&sname, &DeleteParams::default()).await {
            tracing::warn!(secret = %sname, error = %e, "could not delete the profile Secret");
        }
        res.map(|_| Outputs::new())
    }
    .boxed()
}

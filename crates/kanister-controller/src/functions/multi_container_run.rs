//! `MultiContainerRun`: one pod with an optional `init` container, then a `background` and an
//! `output` container sharing an emptyDir `shared` at `sharedVolumeDir` (default `/tmp/`;
//! `sharedVolumeMedium`, `sharedVolumeSizeLimit`); outputs come from the `output` container's
//! log, and the phase succeeds when the pod does (both containers exit 0). An ActionSet
//! `podOverride` of container `container` applies to all three containers, as upstream's
//! `prepareActionSetPodSpecOverride` does.
//!
//! Resume: re-attach to the phase's pod.

use super::kube_task::{GENERATE_NAME, run_and_follow};
use super::{Outputs, password_secret, pod_metadata};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use crate::pod_override::merge_overrides;
use crate::podrun::IfGone;
use crate::pods::{PodMeta, finalize, pod_namespace};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value as Json, json};

const SHARED: &str = "shared";

/// Expand an ActionSet override's generic `container` entry to `init`, `background` and
/// `output` (unless those are overridden by name).
fn expand_actionset_override(o: &Map<String, Json>, with_init: bool) -> Map<String, Json> {
    let Some(cs) = o.get("containers").and_then(Json::as_array) else { return o.clone() };
    let Some(generic) = cs.iter().find(|c| c["name"] == "container") else { return o.clone() };
    let named = |n: &str| cs.iter().any(|c| c["name"] == n);
    let as_named = |n: &str| {
        let mut c = generic.clone();
        c["name"] = json!(n);
        c
    };
    let mut containers: Vec<Json> = cs.iter().filter(|c| c["name"] != "container").cloned().collect();
    for n in ["background", "output"] {
        if !named(n) {
            containers.push(as_named(n));
        }
    }
    let mut out = o.clone();
    out.insert("containers".into(), Json::Array(containers));
    if with_init {
        let mut inits: Vec<Json> = o.get("initContainers").and_then(Json::as_array).cloned().unwrap_or_default();
        if !inits.iter().any(|c| c["name"] == "init") {
            inits.push(as_named("init"));
        }
        out.insert("initContainers".into(), Json::Array(inits));
    }
    out
}

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let background_image = args::string(a, "backgroundImage")?;
        let output_image = args::string(a, "outputImage")?;
        let init_image = args::opt_string(a, "initImage", "")?;
        let background_command = args::strings(a, "backgroundCommand")?;
        let output_command = args::strings(a, "outputCommand")?;
        let init_command = if a.contains_key("initCommand") { args::strings(a, "initCommand")? } else { Vec::new() };
        let namespace = pod_namespace(&args::opt_string(a, "namespace", "")?, &pc.ctx.settings);
        let medium = args::opt_string(a, "sharedVolumeMedium", "")?;
        let size = args::opt_string(a, "sharedVolumeSizeLimit", "")?;
        let dir = args::opt_string(a, "sharedVolumeDir", "/tmp/")?;
        let (labels, mut annotations) = pod_metadata(pc, a)?;
        annotations.insert("kubectl.kubernetes.io/default-container".into(), "output".into());
        let mount = json!([{"name": SHARED, "mountPath": dir}]);
        let mut empty_dir = json!({});
        if !medium.is_empty() {
            empty_dir["medium"] = json!(medium);
        }
        if !size.is_empty() {
            empty_dir["sizeLimit"] = json!(size);
        }
        let mut spec = json!({
            "restartPolicy": "Never",
            "volumes": [{"name": SHARED, "emptyDir": empty_dir}],
            "containers": [
                {"name": "output", "image": output_image, "command": output_command, "volumeMounts": mount},
                {"name": "background", "image": background_image, "command": background_command, "volumeMounts": mount},
            ],
        });
        if !init_image.is_empty() {
            spec["initContainers"] =
                json!([{"name": "init", "image": init_image, "command": init_command, "volumeMounts": mount}]);
        }
        let aset = pc
            .tp
            .input
            .pod_override
            .as_ref()
            .and_then(Json::as_object)
            .map(|o| expand_actionset_override(o, !init_image.is_empty()));
        let bp = args::opt_object(a, kanister::functions::POD_OVERRIDE_ARG)?;
        let over = merge_overrides(bp.as_ref(), aset.as_ref());
        let secret = password_secret(pc, &namespace).await?;
        let meta = PodMeta {
            namespace: &namespace,
            generate_name: GENERATE_NAME,
            service_account: "",
            labels: &labels,
            annotations: &annotations,
            pod_override: over.as_ref(),
        };
        let mut pod = finalize(spec, &meta, &pc.ctx.settings, &pc.id, secret.as_deref());
        // The output container first (it is the one whose log carries the outputs).
        if let Some(cs) = pod["spec"]["containers"].as_array_mut() {
            cs.sort_by_key(|c| c["name"] != "output");
        }
        run_and_follow(pc, pod, IfGone::Fail).await
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generic_container_override_reaches_all_three() {
        let o = json!({"containers": [{"name": "container", "resources": {"limits": {"cpu": "1"}}}], "nodeName": "n"});
        let e = expand_actionset_override(o.as_object().unwrap(), true);
        let names: Vec<&str> =
            e["containers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["background", "output"]);
        assert_eq!(e["initContainers"][0]["name"], "init");
        assert_eq!(e["initContainers"][0]["resources"]["limits"]["cpu"], "1");
        assert_eq!(e["nodeName"], "n");
        // A named override is kept as given.
        let o = json!({"containers": [{"name": "container", "image": "a"}, {"name": "output", "image": "b"}]});
        let e = expand_actionset_override(o.as_object().unwrap(), false);
        let imgs: Vec<(&str, &str)> = e["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap(), c["image"].as_str().unwrap()))
            .collect();
        assert_eq!(imgs, [("output", "b"), ("background", "a")]);
        assert!(e.get("initContainers").is_none());
    }
}

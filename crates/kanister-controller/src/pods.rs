//! Function pod manifests, as upstream's `kube.PodOptions` builds them: `generateName`, label
//! `createdBy=kanister`, restart `Never`, main container `container` first with
//! `imagePullPolicy: IfNotPresent`, PVCs mounted as `vol-N`, the controller's namespace and
//! service account when none is given, `SECURE_DEFAULTS_FOR_JOB_PODS`, then the `podOverride`
//! strategic merge; labels and annotations from the ActionSet overlaid by the blueprint's.
//!
//! Beyond upstream, every pod also gets: the labels that tie it to its ActionSet, action and
//! phase (so a restarted controller finds it), `KANDO_REPOSITORY_PASSWORD` from a Secret
//! reference when a repository password is configured, and `KANDO_PROGRESS=kanister` so kando
//! reports bytes moved.
//!
//! Pure: JSON in, JSON out. Creating and watching pods is `podrun`.

use crate::context::{CREATED_BY_LABEL, PhaseIdentity, Settings};
use crate::password::Password;
use crate::pod_override::merge_pod_spec;
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;

/// Upstream's default container name.
pub const DEFAULT_CONTAINER: &str = "container";

/// What a function asks for (a subset of upstream's `PodOptions`).
#[derive(Clone, Debug, Default)]
pub struct PodOptions {
    /// Namespace; empty means the controller's.
    pub namespace: String,
    /// `generateName` prefix.
    pub generate_name: String,
    /// Image of the main container.
    pub image: String,
    /// Command of the main container.
    pub command: Vec<String>,
    /// PVC name → mount path in the main container.
    pub volumes: BTreeMap<String, String>,
    /// Service account (else the controller's in its own namespace).
    pub service_account: String,
    /// The merged `podOverride`.
    pub pod_override: Option<Json>,
    /// Pod labels (ActionSet's overlaid by the blueprint's).
    pub labels: BTreeMap<String, String>,
    /// Pod annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Upstream's `MergeBPLabels`/`MergeBPAnnotations`: the ActionSet's values, overlaid by the
/// blueprint's.
pub fn merge_metadata(
    actionset: &BTreeMap<String, String>,
    blueprint: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut out = actionset.clone();
    if let Some(b) = blueprint {
        out.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// The PodSpec of a one-container function pod.
pub fn single_container_spec(o: &PodOptions) -> Json {
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    for (i, (pvc, path)) in o.volumes.iter().enumerate() {
        let name = format!("vol-{i}");
        mounts.push(json!({"name": name, "mountPath": path}));
        volumes.push(json!({"name": name, "persistentVolumeClaim": {"claimName": pvc}}));
    }
    let mut c =
        json!({"name": DEFAULT_CONTAINER, "image": o.image, "command": o.command, "imagePullPolicy": "IfNotPresent"});
    if !mounts.is_empty() {
        c["volumeMounts"] = Json::Array(mounts);
    }
    let mut spec = json!({"containers": [c], "restartPolicy": "Never"});
    if !volumes.is_empty() {
        spec["volumes"] = Json::Array(volumes);
    }
    spec
}

/// Where a pod goes and what it is tied to.
pub struct PodMeta<'a> {
    /// Namespace asked for (empty: the controller's).
    pub namespace: &'a str,
    /// `generateName`.
    pub generate_name: &'a str,
    /// Service account asked for.
    pub service_account: &'a str,
    /// Labels.
    pub labels: &'a BTreeMap<String, String>,
    /// Annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// The merged `podOverride`.
    pub pod_override: Option<&'a Json>,
}

/// The namespace a pod asked for resolves to.
pub fn pod_namespace(asked: &str, settings: &Settings) -> String {
    if asked.is_empty() { settings.namespace.clone() } else { asked.to_string() }
}

/// Finish a function pod: namespace and service account defaults, secure defaults, the
/// override, the main container first, labels, annotations, kando's environment.
/// `password_secret` is the Secret (in the pod's namespace) holding the repository password.
pub fn finalize(
    spec: Json,
    meta: &PodMeta<'_>,
    settings: &Settings,
    id: &PhaseIdentity,
    password_secret: Option<&str>,
) -> Json {
    let ns = pod_namespace(meta.namespace, settings);
    let mut spec = spec;
    let sa = if !meta.service_account.is_empty() {
        Some(meta.service_account.to_string())
    } else if ns == settings.namespace {
        settings.service_account.clone()
    } else {
        None
    };
    if let Some(sa) = sa {
        spec["serviceAccountName"] = json!(sa);
    }
    if settings.secure_job_pods {
        spec["automountServiceAccountToken"] = json!(false);
        spec["serviceAccountName"] = json!("default");
    }
    if let Some(o) = meta.pod_override {
        spec = merge_pod_spec(&spec, o);
    }
    if let Some(cs) = spec.get_mut("containers").and_then(Json::as_array_mut) {
        // The main container first (a stable sort keeps the others' order).
        cs.sort_by_key(|c| c.get("name").and_then(Json::as_str) != Some(DEFAULT_CONTAINER));
    }
    for list in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Json::as_array_mut) {
            for c in cs {
                inject_env(c, password_secret);
            }
        }
    }
    let mut labels: Map<String, Json> = Map::new();
    labels.insert(CREATED_BY_LABEL.0.into(), json!(CREATED_BY_LABEL.1));
    for (k, v) in meta.labels {
        labels.insert(k.clone(), json!(v));
    }
    for (k, v) in id.labels() {
        labels.insert(k.into(), json!(v));
    }
    let mut metadata = json!({"generateName": meta.generate_name, "namespace": ns, "labels": labels});
    if !meta.annotations.is_empty() {
        metadata["annotations"] = json!(meta.annotations);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}

fn inject_env(container: &mut Json, password_secret: Option<&str>) {
    let Some(obj) = container.as_object_mut() else { return };
    let env = obj.entry("env").or_insert_with(|| json!([]));
    let Some(list) = env.as_array_mut() else { return };
    let has = |list: &Vec<Json>, name: &str| list.iter().any(|e| e.get("name").and_then(Json::as_str) == Some(name));
    if let Some(s) = password_secret
        && !has(list, crate::password::ENV)
    {
        list.push(Password::env_var(s));
    }
    if !has(list, "KANDO_PROGRESS") {
        list.push(json!({"name": "KANDO_PROGRESS", "value": "kanister"}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> PhaseIdentity {
        PhaseIdentity {
            actionset_namespace: "kanister".into(),
            actionset: "backup-x".into(),
            uid: "u-1".into(),
            action: 0,
            phase: "1".into(),
            phase_name: "dump".into(),
        }
    }

    fn settings() -> Settings {
        Settings { namespace: "kanister".into(), service_account: Some("kanister-sa".into()), ..Settings::default() }
    }

    #[test]
    fn a_kubetask_pod_is_upstreams_plus_our_labels_and_env() {
        let o = PodOptions {
            image: "tools".into(),
            command: vec!["sh".into(), "-c".into(), "echo".into()],
            volumes: BTreeMap::from([("data".into(), "/mnt/data".into())]),
            ..PodOptions::default()
        };
        let labels = merge_metadata(
            &BTreeMap::from([("a".into(), "1".into()), ("b".into(), "1".into())]),
            Some(&BTreeMap::from([("b".into(), "2".into())])),
        );
        let ann = BTreeMap::new();
        let ov = json!({"containers": [{"name": "container", "resources": {"limits": {"memory": "1Gi"}}}]});
        let meta = PodMeta {
            namespace: "",
            generate_name: "kanister-job-",
            service_account: "",
            labels: &labels,
            annotations: &ann,
            pod_override: Some(&ov),
        };
        let pod = finalize(single_container_spec(&o), &meta, &settings(), &id(), Some("pw"));
        assert_eq!(pod["metadata"]["namespace"], "kanister");
        assert_eq!(pod["metadata"]["generateName"], "kanister-job-");
        let l = &pod["metadata"]["labels"];
        assert_eq!(
            (l["createdBy"].as_str(), l["a"].as_str(), l["b"].as_str()),
            (Some("kanister"), Some("1"), Some("2"))
        );
        assert_eq!(l["kanister.kanrepo.io/actionset-uid"], "u-1");
        assert_eq!(l["kanister.kanrepo.io/phase"], "1");
        let spec = &pod["spec"];
        assert_eq!(spec["serviceAccountName"], "kanister-sa");
        assert_eq!(spec["restartPolicy"], "Never");
        let c = &spec["containers"][0];
        assert_eq!((c["name"].as_str(), c["imagePullPolicy"].as_str()), (Some("container"), Some("IfNotPresent")));
        assert_eq!(c["resources"]["limits"]["memory"], "1Gi");
        assert_eq!(c["volumeMounts"][0], json!({"name": "vol-0", "mountPath": "/mnt/data"}));
        assert_eq!(spec["volumes"][0]["persistentVolumeClaim"]["claimName"], "data");
        let env = c["env"].as_array().unwrap();
        assert!(env.contains(&json!({"name": "KANDO_REPOSITORY_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pw", "key": "password"}}})));
        assert!(env.contains(&json!({"name": "KANDO_PROGRESS", "value": "kanister"})));
        // The password value itself never appears in a pod.
        assert!(!pod.to_string().contains("hunter2"));
    }

    #[test]
    fn other_namespaces_and_secure_defaults() {
        let o = PodOptions { image: "i".into(), command: vec!["true".into()], ..PodOptions::default() };
        let (l, a) = (BTreeMap::new(), BTreeMap::new());
        let meta = PodMeta {
            namespace: "app",
            generate_name: "g-",
            service_account: "",
            labels: &l,
            annotations: &a,
            pod_override: None,
        };
        let pod = finalize(single_container_spec(&o), &meta, &settings(), &id(), None);
        assert!(pod["spec"].get("serviceAccountName").is_none());
        assert_eq!(pod["spec"]["containers"][0]["env"], json!([{"name": "KANDO_PROGRESS", "value": "kanister"}]));
        let secure = Settings { secure_job_pods: true, ..settings() };
        let pod = finalize(single_container_spec(&o), &meta, &secure, &id(), None);
        assert_eq!(
            (pod["spec"]["serviceAccountName"].as_str(), pod["spec"]["automountServiceAccountToken"].as_bool()),
            (Some("default"), Some(false))
        );
        // An override that adds a sidecar first keeps the main container first.
        let ov = json!({"containers": [{"name": "aaa", "image": "s"}]});
        let meta = PodMeta { pod_override: Some(&ov), ..meta };
        let pod = finalize(single_container_spec(&o), &meta, &settings(), &id(), None);
        assert_eq!(pod["spec"]["containers"][0]["name"], "container");
    }
}

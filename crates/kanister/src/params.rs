//! TemplateParams: the `.` that blueprint templates see, built exactly as upstream's
//! `param.TemplateParams` (field names, which fields are nil, what `toJson` prints).
//!
//! Go structs become [`go_struct_named`] values carrying their Go type names (for Go's error
//! texts): fields by their Go names (`.Profile.Location.Type`), `toJson` by their
//! `encoding/json` form (`{"type":"s3Compliant",…}`). Nil pointers are typed nils, typed maps
//! (`map[string]string`) keep Go's type rules, and Secret `Data` values are `[]byte`, so
//! templates need `toString` exactly as upstream.
//!
//! This module builds values only; it fetches nothing from a cluster (the controller and
//! kanctl do that and hand the objects in).

use crate::template::{Value, from_json, go_bytes, go_map, go_nil, go_struct_named};
use crate::types::{Artifact, ObjectReference};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

/// Pods, containers and volumes of a StatefulSet, Deployment or DeploymentConfig.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workload {
    /// Pod names.
    pub pods: Vec<String>,
    /// Container names per pod (from the pods' container statuses).
    pub containers: Vec<Vec<String>>,
    /// Per pod: PVC name → mount path.
    pub pvcs: BTreeMap<String, BTreeMap<String, String>>,
}

/// `.Profile` as the controller resolves it (credentials in plaintext).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileParam {
    /// `type`, `bucket`, `endpoint`, `prefix`, `region`.
    pub location: BTreeMap<String, String>,
    /// `keyPair`, `secret` or `kopia`.
    pub credential_type: String,
    /// `KeyPair.ID` / `KeyPair.Secret` for `keyPair`.
    pub key_pair: Option<(String, String)>,
    /// The Secret object (Kubernetes JSON, `data` base64) for `secret`.
    pub secret: Option<Json>,
    /// Skip TLS verification.
    pub skip_ssl_verify: bool,
}

impl ProfileParam {
    /// Offline stand-in for a Profile object: the location as written, the credentials as
    /// placeholders naming where the controller would read them (`<aws_access_key_id of
    /// secret ns/name>`).
    pub fn placeholder(p: &crate::types::Profile) -> ProfileParam {
        let l = &p.location;
        let location = [
            ("type", l.location_type.clone()),
            ("bucket", l.bucket.clone()),
            ("endpoint", l.endpoint.clone()),
            ("prefix", l.prefix.clone()),
            ("region", l.region.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let c = &p.credential;
        let key_pair = c.key_pair.as_ref().map(|kp| {
            let at = format!("secret {}/{}", kp.secret.namespace.as_deref().unwrap_or(""), kp.secret.name);
            (format!("<{} of {at}>", kp.id_field), format!("<{} of {at}>", kp.secret_field))
        });
        let secret = c.secret.as_ref().map(|r| {
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": r.name, "namespace": r.namespace.as_deref().unwrap_or("")}, "data": {}})
        });
        ProfileParam {
            location,
            credential_type: c.credential_type.clone(),
            key_pair,
            secret,
            skip_ssl_verify: p.skip_ssl_verify,
        }
    }

    /// The Go `encoding/json` form of `param.Profile` (struct field order, Go names, Location's
    /// json tags), which `toJson .Profile` prints and kando parses.
    pub fn to_go_json(&self) -> String {
        let loc =
            |k: &str| serde_json::to_string(self.location.get(k).map(|s| s.as_str()).unwrap_or("")).unwrap_or_default();
        let key_pair = match &self.key_pair {
            Some((i, s)) => format!(r#"{{"ID":{},"Secret":{}}}"#, quote(i), quote(s)),
            None => "null".into(),
        };
        let secret = self.secret.as_ref().map(k8s_json).unwrap_or_else(|| "null".into());
        format!(
            r#"{{"Location":{{"type":{},"bucket":{},"endpoint":{},"prefix":{},"region":{}}},"Credential":{{"Type":{},"KeyPair":{key_pair},"Secret":{secret},"KopiaServerSecret":null}},"SkipSSLVerify":{}}}"#,
            loc("type"),
            loc("bucket"),
            loc("endpoint"),
            loc("prefix"),
            loc("region"),
            quote(&self.credential_type),
            self.skip_ssl_verify
        )
    }

    fn location_json(&self) -> String {
        let loc =
            |k: &str| serde_json::to_string(self.location.get(k).map(|s| s.as_str()).unwrap_or("")).unwrap_or_default();
        format!(
            r#"{{"type":{},"bucket":{},"endpoint":{},"prefix":{},"region":{}}}"#,
            loc("type"),
            loc("bucket"),
            loc("endpoint"),
            loc("prefix"),
            loc("region")
        )
    }

    fn value(&self) -> Value {
        let loc = |k: &str| Value::from(self.location.get(k).cloned().unwrap_or_default());
        let location = go_struct_named(
            "v1alpha1.Location",
            vec![
                ("Type".into(), loc("type")),
                ("Bucket".into(), loc("bucket")),
                ("Endpoint".into(), loc("endpoint")),
                ("Prefix".into(), loc("prefix")),
                ("Region".into(), loc("region")),
            ],
            self.location_json(),
        );
        let key_pair = match &self.key_pair {
            Some((i, s)) => go_struct_named(
                "*param.KeyPair",
                vec![("ID".into(), Value::from(i.clone())), ("Secret".into(), Value::from(s.clone()))],
                format!(r#"{{"ID":{},"Secret":{}}}"#, quote(i), quote(s)),
            ),
            None => go_nil("*param.KeyPair"),
        };
        let secret =
            self.secret.as_ref().map(|s| secret_value(s, "*v1.Secret")).unwrap_or_else(|| go_nil("*v1.Secret"));
        let credential = go_struct_named(
            "param.Credential",
            vec![
                ("Type".into(), Value::from(self.credential_type.clone())),
                ("KeyPair".into(), key_pair),
                ("Secret".into(), secret),
                ("KopiaServerSecret".into(), go_nil("*param.KopiaServerCreds")),
            ],
            credential_json(&self.to_go_json()),
        );
        go_struct_named(
            "*param.Profile",
            vec![
                ("Location".into(), location),
                ("Credential".into(), credential),
                ("SkipSSLVerify".into(), Value::Bool(self.skip_ssl_verify)),
            ],
            self.to_go_json(),
        )
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The `Credential` member of a profile's Go JSON.
fn credential_json(profile_json: &str) -> String {
    let start = profile_json.find(r#""Credential":"#).map(|i| i + 13).unwrap_or(0);
    let end = profile_json.rfind(r#","SkipSSLVerify""#).unwrap_or(profile_json.len());
    profile_json[start..end].to_string()
}

/// A Kubernetes object's JSON in Go's field order (`kind`, `apiVersion`, `metadata`, …; map
/// members sorted), as `encoding/json` prints a corev1 object.
pub fn k8s_json(obj: &Json) -> String {
    fn ordered(v: &Json, order: &[&str], nested: &dyn Fn(&str, &Json) -> String) -> String {
        let Some(m) = v.as_object() else { return v.to_string() };
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort_by_key(|k| (order.iter().position(|o| o == k).unwrap_or(order.len()), k.as_str()));
        let parts: Vec<String> = keys.iter().map(|k| format!("{}:{}", quote(k), nested(k, &m[k.as_str()]))).collect();
        format!("{{{}}}", parts.join(","))
    }
    const TOP: &[&str] = &["kind", "apiVersion", "metadata", "immutable", "data", "stringData", "binaryData", "type"];
    const META: &[&str] = &[
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    ];
    ordered(obj, TOP, &|k, v| if k == "metadata" { ordered(v, META, &|_, x| x.to_string()) } else { v.to_string() })
}

/// A phase's entry in `.Phases`, `.CurrentPhase` or `.DeferPhase`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseParams {
    /// Secrets named in the phase's `objects`, by their key there.
    pub secrets: BTreeMap<String, Json>,
    /// ConfigMaps named in the phase's `objects`.
    pub config_maps: BTreeMap<String, Json>,
    /// The phase's outputs (values are strings unless a function says otherwise).
    pub output: BTreeMap<String, Json>,
}

impl PhaseParams {
    fn value(&self) -> Value {
        let secrets = self.secrets.iter().map(|(k, v)| (k.clone(), secret_value(v, "v1.Secret"))).collect();
        let cms = self.config_maps.iter().map(|(k, v)| (k.clone(), config_map_value(v))).collect();
        let output = from_json(&Json::Object(self.output.clone().into_iter().collect()));
        let json = json!({"Secrets": self.secrets, "ConfigMaps": self.config_maps, "Output": self.output});
        go_struct_named(
            "*param.Phase",
            vec![
                ("Secrets".into(), go_map("map[string]v1.Secret", secrets)),
                ("ConfigMaps".into(), go_map("map[string]v1.ConfigMap", cms)),
                ("Output".into(), output),
            ],
            json.to_string(),
        )
    }
}

/// Everything TemplateParams is built from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamsInput {
    /// The ActionSet's target object.
    pub object: ObjectReference,
    /// Pods, containers, PVCs when the target is a StatefulSet, Deployment or DeploymentConfig.
    pub workload: Workload,
    /// The target object's content (`.Object`), as the API server returns it.
    pub object_content: Json,
    /// Input artifacts (`.ArtifactsIn`).
    pub artifacts: BTreeMap<String, Artifact>,
    /// ConfigMaps of the ActionSet (`.ConfigMaps`), Kubernetes JSON.
    pub config_maps: BTreeMap<String, Json>,
    /// Secrets of the ActionSet (`.Secrets`), Kubernetes JSON (`data` base64).
    pub secrets: BTreeMap<String, Json>,
    /// The profile, if the ActionSet names one.
    pub profile: Option<ProfileParam>,
    /// `.Options`.
    pub options: BTreeMap<String, String>,
    /// Action start time, RFC 3339 with nanoseconds, UTC (`.Time`).
    pub time: String,
    /// `.PodOverride`.
    pub pod_override: Option<Json>,
    /// `.PodLabels`.
    pub pod_labels: BTreeMap<String, String>,
    /// `.PodAnnotations`.
    pub pod_annotations: BTreeMap<String, String>,
}

/// TemplateParams at one point of an action: the fixed input plus the phases so far.
#[derive(Debug, Clone, Default)]
pub struct TemplateParams {
    /// What the action was started with.
    pub input: ParamsInput,
    /// `.Phases`: every phase that has started.
    pub phases: BTreeMap<String, PhaseParams>,
    /// `.CurrentPhase`.
    pub current: Option<PhaseParams>,
    /// `.DeferPhase` (upstream starts it as an empty phase, never nil).
    pub defer: PhaseParams,
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    go_map("map[string]string", m.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect())
}

fn meta_fields(obj: &Json) -> Vec<(String, Value)> {
    let meta = obj.get("metadata").cloned().unwrap_or(Json::Null);
    let s = |v: &Json, k: &str| Value::from(v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string());
    let object_meta = go_struct_named(
        "v1.ObjectMeta",
        vec![
            ("Name".into(), s(&meta, "name")),
            ("Namespace".into(), s(&meta, "namespace")),
            ("Labels".into(), from_json(meta.get("labels").unwrap_or(&json!({})))),
            ("Annotations".into(), from_json(meta.get("annotations").unwrap_or(&json!({})))),
            ("UID".into(), s(&meta, "uid")),
        ],
        meta.to_string(),
    );
    vec![
        ("Kind".into(), s(obj, "kind")),
        ("APIVersion".into(), s(obj, "apiVersion")),
        // Embedded ObjectMeta: its fields are promoted, as in Go.
        ("Name".into(), s(&meta, "name")),
        ("Namespace".into(), s(&meta, "namespace")),
        ("Labels".into(), from_json(meta.get("labels").unwrap_or(&json!({})))),
        ("Annotations".into(), from_json(meta.get("annotations").unwrap_or(&json!({})))),
        ("ObjectMeta".into(), object_meta),
    ]
}

/// A corev1.Secret (`type_name` `v1.Secret` or `*v1.Secret`): `.Data.key` is `[]byte`.
pub fn secret_value(obj: &Json, type_name: &str) -> Value {
    use base64::Engine;
    let mut data = BTreeMap::new();
    if let Some(m) = obj.get("data").and_then(|d| d.as_object()) {
        for (k, v) in m {
            let raw = v.as_str().unwrap_or("");
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(raw).unwrap_or_else(|_| raw.as_bytes().to_vec());
            data.insert(k.clone(), go_bytes(&bytes));
        }
    }
    let mut fields = meta_fields(obj);
    fields.push(("Data".into(), go_map("map[string][]uint8", data.into_iter().collect())));
    fields.push(("StringData".into(), from_json(obj.get("stringData").unwrap_or(&json!({})))));
    fields.push(("Type".into(), Value::from(obj.get("type").and_then(|t| t.as_str()).unwrap_or("").to_string())));
    go_struct_named(type_name, fields, k8s_json(obj))
}

/// A corev1.ConfigMap: `.Data.key` is the text.
pub fn config_map_value(obj: &Json) -> Value {
    let mut fields = meta_fields(obj);
    let data = obj.get("data").and_then(|d| d.as_object()).cloned().unwrap_or_default();
    let data = data.into_iter().map(|(k, v)| (k, Value::from(v.as_str().unwrap_or("").to_string()))).collect();
    fields.push(("Data".into(), go_map("map[string]string", data)));
    fields.push(("BinaryData".into(), from_json(obj.get("binaryData").unwrap_or(&json!({})))));
    go_struct_named("v1.ConfigMap", fields, k8s_json(obj))
}

fn artifact_value(a: &Artifact) -> Value {
    go_struct_named(
        "v1alpha1.Artifact",
        vec![
            ("KeyValue".into(), string_map(&a.key_value)),
            ("KopiaSnapshot".into(), Value::from(a.kopia_snapshot.clone())),
        ],
        serde_json::to_string(a).unwrap_or_else(|_| "{}".into()),
    )
}

fn workload_value(type_name: &str, name: &str, ns: &str, w: &Workload) -> Value {
    let json = json!({"Name": name, "Namespace": ns, "Pods": w.pods, "Containers": w.containers,
                      "PersistentVolumeClaims": w.pvcs});
    go_struct_named(
        type_name,
        vec![
            ("Name".into(), Value::from(name.to_string())),
            ("Namespace".into(), Value::from(ns.to_string())),
            ("Pods".into(), from_json(&json["Pods"])),
            ("Containers".into(), from_json(&json["Containers"])),
            ("PersistentVolumeClaims".into(), from_json(&json["PersistentVolumeClaims"])),
        ],
        json.to_string(),
    )
}

fn name_ns(type_name: &str, name: &str, ns: &str) -> Value {
    go_struct_named(
        type_name,
        vec![("Name".into(), Value::from(name.to_string())), ("Namespace".into(), Value::from(ns.to_string()))],
        json!({"Name": name, "Namespace": ns}).to_string(),
    )
}

impl TemplateParams {
    /// Params at the start of an action.
    pub fn new(input: ParamsInput) -> TemplateParams {
        TemplateParams { input, ..TemplateParams::default() }
    }

    /// The template value (`.`).
    pub fn value(&self) -> Value {
        let i = &self.input;
        let (name, ns) = (i.object.name.as_str(), i.object.namespace.as_deref().unwrap_or(""));
        let kind = i.object.kind.to_ascii_lowercase();
        let workload = |k: &str, t: &str| {
            if kind == k { workload_value(t, name, ns, &i.workload) } else { go_nil(t) }
        };
        let mut m: Vec<(String, Value)> = Vec::new();
        m.push(("StatefulSet".into(), workload("statefulset", "*param.StatefulSetParams")));
        m.push(("DeploymentConfig".into(), workload("deploymentconfig", "*param.DeploymentConfigParams")));
        m.push(("Deployment".into(), workload("deployment", "*param.DeploymentParams")));
        m.push((
            "PVC".into(),
            if kind == "pvc" { name_ns("*param.PVCParams", name, ns) } else { go_nil("*param.PVCParams") },
        ));
        // Kind namespace: both fields come from object.namespace, as upstream.
        m.push((
            "Namespace".into(),
            if kind == "namespace" {
                name_ns("*param.NamespaceParams", ns, ns)
            } else {
                go_nil("*param.NamespaceParams")
            },
        ));
        m.push((
            "ArtifactsIn".into(),
            go_map(
                "map[string]v1alpha1.Artifact",
                i.artifacts.iter().map(|(k, a)| (k.clone(), artifact_value(a))).collect(),
            ),
        ));
        m.push((
            "ConfigMaps".into(),
            go_map(
                "map[string]v1.ConfigMap",
                i.config_maps.iter().map(|(k, v)| (k.clone(), config_map_value(v))).collect(),
            ),
        ));
        m.push((
            "Secrets".into(),
            go_map(
                "map[string]v1.Secret",
                i.secrets.iter().map(|(k, v)| (k.clone(), secret_value(v, "v1.Secret"))).collect(),
            ),
        ));
        m.push(("Time".into(), Value::from(i.time.clone())));
        m.push(("Profile".into(), i.profile.as_ref().map(|p| p.value()).unwrap_or_else(|| go_nil("*param.Profile"))));
        m.push(("Options".into(), string_map(&i.options)));
        m.push(("Object".into(), from_json(&i.object_content)));
        m.push((
            "CurrentPhase".into(),
            self.current.as_ref().map(|p| p.value()).unwrap_or_else(|| go_nil("*param.Phase")),
        ));
        m.push((
            "Phases".into(),
            go_map("map[string]*param.Phase", self.phases.iter().map(|(k, p)| (k.clone(), p.value())).collect()),
        ));
        m.push(("DeferPhase".into(), self.defer.value()));
        m.push((
            "PodOverride".into(),
            i.pod_override.as_ref().map(from_json).unwrap_or_else(|| go_nil("v1alpha1.JSONMap")),
        ));
        m.push(("PodAnnotations".into(), string_map(&i.pod_annotations)));
        m.push(("PodLabels".into(), string_map(&i.pod_labels)));
        // TemplateParams is never printed whole by a sane template; its JSON is informational.
        go_struct_named("param.TemplateParams", m, "{}".into())
    }
}

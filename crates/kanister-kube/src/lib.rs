//! Talking to a Kubernetes API server for kanctl and the controller, with the `kube` crate and
//! the normal kubeconfig rules: `KUBECONFIG` or `~/.kube/config` (then the in-cluster service
//! account), the current context's namespace as the default namespace.
//!
//! Kanister objects travel as JSON through kube's dynamic API and are decoded into
//! [`kanister::types`]; core objects use `k8s-openapi`. Every failure becomes a
//! [`ClusterError`] that says what to do: an unreachable server names its URL, a missing
//! Kanister resource type says to apply `deploy/crds/`, a missing object names kind,
//! namespace and name, a refused request names the user's permissions.
//!
//! This crate must not depend on the repository engine (`kanrepo`): the controller builds on
//! it and runs kando only inside pods. Checks that need the engine (a Profile's bucket access)
//! live in kanctl.

mod profile;

pub use profile::resolve_profile;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret};
use kanister::types::{ActionSet, Blueprint, ObjectReference, Profile, RepositoryServer, Resource};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

/// Why a cluster operation failed. `Display` is a complete, actionable message.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable kubeconfig (and not running in a pod).
    #[error(
        "no Kubernetes configuration: {0} (set KUBECONFIG or create ~/.kube/config; use --dry-run to print objects offline)"
    )]
    Config(String),
    /// The API server could not be reached.
    #[error("cannot reach the Kubernetes API server at {server}: {reason}")]
    Unreachable {
        /// Its URL.
        server: String,
        /// The root cause.
        reason: String,
    },
    /// The credentials were rejected (HTTP 401).
    #[error(
        "the Kubernetes API server at {server} rejected the kubeconfig's credentials (401 Unauthorized): {message}"
    )]
    Unauthorized {
        /// Its URL.
        server: String,
        /// The server's message.
        message: String,
    },
    /// RBAC refused the request (HTTP 403).
    #[error("{message} (403 Forbidden: the kubeconfig's user lacks this RBAC permission)")]
    Forbidden {
        /// The server's message.
        message: String,
    },
    /// The server does not serve the resource type: for Kanister types, the CRDs are missing.
    #[error("{0}")]
    NoResourceType(String),
    /// The object does not exist.
    #[error("{kind} '{name}' not found{}", ns_suffix(namespace))]
    NotFound {
        /// Resource (plural) or kind.
        kind: String,
        /// Namespace, empty for cluster-scoped objects.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Another answer from the API server (conflict, invalid object, …).
    #[error("{reason} ({code}): {message}")]
    Api {
        /// HTTP status.
        code: u16,
        /// The Status reason (`AlreadyExists`, `Invalid`, …).
        reason: String,
        /// The server's message.
        message: String,
    },
    /// The object the server returned does not decode, or ours does not encode.
    #[error("{0}")]
    Decode(String),
}

fn ns_suffix(ns: &str) -> String {
    if ns.is_empty() { String::new() } else { format!(" in namespace '{ns}'") }
}

impl ClusterError {
    /// True for [`ClusterError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClusterError::NotFound { .. })
    }

    /// True when the API server answered `AlreadyExists`.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, ClusterError::Api { reason, .. } if reason == "AlreadyExists")
    }
}

/// Result of a cluster operation.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// An error and its causes in one line, each message once (hyper, tower and kube wrap the
/// useful part, often repeating it).
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !out.contains(&m) {
            out = format!("{out}: {m}");
        }
        src = s.source();
    }
    out
}

/// Which object an operation is about, for messages.
struct Target<'a> {
    /// `blueprints.cr.kanister.io`, `statefulsets.apps`, `secrets`, …
    resource: String,
    namespace: &'a str,
    name: &'a str,
    /// A Kanister (custom) resource, whose absence means the CRDs are not applied.
    custom: bool,
}

/// A connection to the API server and the namespace kanctl works in.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    namespace: String,
    server: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("server", &self.server).field("namespace", &self.namespace).finish()
    }
}

/// The API resource of a Kanister kind (`cr.kanister.io/v1alpha1`).
pub fn api_resource<T: Resource>() -> ApiResource {
    ApiResource {
        group: kanister::types::GROUP.into(),
        version: kanister::types::VERSION.into(),
        api_version: kanister::types::API_VERSION.into(),
        kind: T::KIND.into(),
        plural: T::PLURAL.into(),
    }
}

impl Cluster {
    /// Connect with the kubeconfig (`KUBECONFIG`, `~/.kube/config`, or in-cluster). The
    /// namespace is `namespace` if given, else the context's (else `default`). No request
    /// is made yet.
    pub async fn connect(namespace: Option<&str>) -> Result<Cluster> {
        let config = match kube::Config::infer().await {
            Ok(c) => c,
            // Outside a pod, why the kubeconfig did not load is the point, not the in-cluster fallback.
            Err(e) if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() => {
                let why = match kube::Config::from_kubeconfig(&kube::config::KubeConfigOptions::default()).await {
                    Err(k) => root_cause(&k),
                    Ok(_) => root_cause(&e),
                };
                return Err(ClusterError::Config(why));
            }
            Err(e) => return Err(ClusterError::Config(root_cause(&e))),
        };
        Self::with_config(config, namespace)
    }

    /// Connect with the kubeconfig file at `path` (its current context).
    pub async fn connect_with(path: &std::path::Path, namespace: Option<&str>) -> Result<Cluster> {
        let at = |e: &dyn std::error::Error| ClusterError::Config(format!("{}: {}", path.display(), root_cause(e)));
        let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| at(&e))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| at(&e))?;
        Self::with_config(config, namespace)
    }

    fn with_config(config: kube::Config, namespace: Option<&str>) -> Result<Cluster> {
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
        let ns = namespace.filter(|n| !n.is_empty()).map(str::to_string).unwrap_or(config.default_namespace.clone());
        let client = kube::Client::try_from(config)
            .map_err(|e| ClusterError::Config(format!("cannot build a client for {server}: {}", root_cause(&e))))?;
        Ok(Cluster { client, namespace: ns, server })
    }

    /// Ask the API server for its version: fails early, with one clear error, when the server
    /// cannot be reached or refuses the credentials. Returns e.g. `v1.33.13`.
    pub async fn ping(&self) -> Result<String> {
        let t = Target { resource: "version".into(), namespace: "", name: "", custom: false };
        let v = self.client.apiserver_version().await.map_err(|e| self.map_err(e, &t))?;
        Ok(v.git_version)
    }

    /// The namespace commands default to: `-n`, else the kubeconfig context's.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The API server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The underlying kube client (tests use it to set up objects).
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    fn map_err(&self, e: kube::Error, t: &Target<'_>) -> ClusterError {
        match e {
            kube::Error::Api(s) => {
                let parsed = s.reason != "Failed to parse error data";
                match s.code {
                    404 if !parsed
                        || (s.reason == "NotFound" && s.details.as_ref().is_none_or(|d| d.name.is_empty())) =>
                    {
                        let what = if t.custom {
                            format!(
                                "the API server at {} does not serve {} (cr.kanister.io/v1alpha1): the Kanister CRDs are not installed; apply them with 'kubectl apply -f deploy/crds/'",
                                self.server, t.resource
                            )
                        } else {
                            format!("the API server at {} does not serve {}", self.server, t.resource)
                        };
                        ClusterError::NoResourceType(what)
                    }
                    404 => {
                        // The object named in the answer: a create in a missing namespace
                        // names the namespace, not the object.
                        let d = s.details.as_ref();
                        let (kind, name) = match d.filter(|d| !d.kind.is_empty() && !d.name.is_empty()) {
                            Some(d) if d.group.is_empty() => (d.kind.clone(), d.name.clone()),
                            Some(d) => (format!("{}.{}", d.kind, d.group), d.name.clone()),
                            None => (t.resource.clone(), t.name.to_string()),
                        };
                        let namespace = if kind == "namespaces" { String::new() } else { t.namespace.to_string() };
                        ClusterError::NotFound { kind, namespace, name }
                    }
                    401 => ClusterError::Unauthorized { server: self.server.clone(), message: s.message.clone() },
                    403 => ClusterError::Forbidden { message: s.message.clone() },
                    code => ClusterError::Api { code, reason: s.reason.clone(), message: s.message.clone() },
                }
            }
            kube::Error::SerdeError(e) => {
                ClusterError::Decode(format!("decoding {} from the API server: {e}", t.resource))
            }
            kube::Error::Auth(e) => {
                ClusterError::Config(format!("the kubeconfig's credentials cannot be used: {}", root_cause(&e)))
            }
            other => ClusterError::Unreachable { server: self.server.clone(), reason: root_cause(&other) },
        }
    }

    fn dyn_api(&self, ar: &ApiResource, ns: &str) -> Api<DynamicObject> {
        if ns.is_empty() {
            Api::all_with(self.client.clone(), ar)
        } else {
            Api::namespaced_with(self.client.clone(), ns, ar)
        }
    }

    fn custom_target<'a, T: Resource>(ns: &'a str, name: &'a str) -> Target<'a> {
        Target { resource: format!("{}.{}", T::PLURAL, kanister::types::GROUP), namespace: ns, name, custom: true }
    }

    /// Read a Kanister object (`ActionSet`, `Blueprint`, `Profile`, `RepositoryServer`).
    pub async fn get<T: Resource + DeserializeOwned>(&self, ns: &str, name: &str) -> Result<T> {
        let t = Self::custom_target::<T>(ns, name);
        let obj = self.dyn_api(&api_resource::<T>(), ns).get(name).await.map_err(|e| self.map_err(e, &t))?;
        decode(&obj, &t)
    }

    /// Create a Kanister object in `ns`; returns it as stored (with its generated name).
    pub async fn create<T: Resource + Serialize + DeserializeOwned>(&self, ns: &str, obj: &T) -> Result<T> {
        let json = serde_json::to_value(obj).map_err(|e| ClusterError::Decode(format!("encoding {}: {e}", T::KIND)))?;
        let name = json.pointer("/metadata/name").and_then(Json::as_str).unwrap_or("").to_string();
        let t = Self::custom_target::<T>(ns, &name);
        let d: DynamicObject =
            serde_json::from_value(json).map_err(|e| ClusterError::Decode(format!("encoding {}: {e}", T::KIND)))?;
        let created = self
            .dyn_api(&api_resource::<T>(), ns)
            .create(&PostParams::default(), &d)
            .await
            .map_err(|e| self.map_err(e, &t))?;
        decode(&created, &t)
    }

    /// Replace a Kanister object (its `metadata.resourceVersion` guards against lost updates).
    pub async fn replace<T: Resource + Serialize + DeserializeOwned>(
        &self,
        ns: &str,
        name: &str,
        obj: &T,
    ) -> Result<T> {
        let t = Self::custom_target::<T>(ns, name);
        let d: DynamicObject = serde_json::to_value(obj)
            .and_then(serde_json::from_value)
            .map_err(|e| ClusterError::Decode(format!("encoding {}: {e}", T::KIND)))?;
        let r = self
            .dyn_api(&api_resource::<T>(), ns)
            .replace(name, &PostParams::default(), &d)
            .await
            .map_err(|e| self.map_err(e, &t))?;
        decode(&r, &t)
    }

    /// Delete a Kanister object.
    pub async fn delete<T: Resource>(&self, ns: &str, name: &str) -> Result<()> {
        let t = Self::custom_target::<T>(ns, name);
        self.dyn_api(&api_resource::<T>(), ns)
            .delete(name, &DeleteParams::default())
            .await
            .map_err(|e| self.map_err(e, &t))?;
        Ok(())
    }

    /// Read an ActionSet.
    pub async fn actionset(&self, ns: &str, name: &str) -> Result<ActionSet> {
        self.get(ns, name).await
    }

    /// Read a Blueprint.
    pub async fn blueprint(&self, ns: &str, name: &str) -> Result<Blueprint> {
        self.get(ns, name).await
    }

    /// Read a Profile.
    pub async fn profile(&self, ns: &str, name: &str) -> Result<Profile> {
        self.get(ns, name).await
    }

    /// Read a RepositoryServer.
    pub async fn repository_server(&self, ns: &str, name: &str) -> Result<RepositoryServer> {
        self.get(ns, name).await
    }

    /// Read a Secret as Kubernetes JSON (`data` values base64, as the API sends them).
    pub async fn secret(&self, ns: &str, name: &str) -> Result<Json> {
        let t = Target { resource: "secrets".into(), namespace: ns, name, custom: false };
        let s: Secret = Api::namespaced(self.client.clone(), ns).get(name).await.map_err(|e| self.map_err(e, &t))?;
        let mut j = serde_json::to_value(&s).map_err(|e| ClusterError::Decode(format!("encoding a Secret: {e}")))?;
        // k8s-openapi leaves the type metadata out of a decoded object; the controller's has it.
        j["apiVersion"] = "v1".into();
        j["kind"] = "Secret".into();
        Ok(j)
    }

    /// Create a Secret from its Kubernetes JSON (`stringData` or `data`); returns its name.
    pub async fn create_secret(&self, secret: &Json) -> Result<String> {
        let ns = secret.pointer("/metadata/namespace").and_then(Json::as_str).unwrap_or(&self.namespace).to_string();
        let name = secret.pointer("/metadata/name").and_then(Json::as_str).unwrap_or("").to_string();
        let t = Target { resource: "secrets".into(), namespace: &ns, name: &name, custom: false };
        let s: Secret = serde_json::from_value(secret.clone())
            .map_err(|e| ClusterError::Decode(format!("encoding a Secret: {e}")))?;
        let created = Api::<Secret>::namespaced(self.client.clone(), &ns)
            .create(&PostParams::default(), &s)
            .await
            .map_err(|e| self.map_err(e, &t))?;
        Ok(created.metadata.name.unwrap_or(name))
    }

    /// Delete a Secret.
    pub async fn delete_secret(&self, ns: &str, name: &str) -> Result<()> {
        let t = Target { resource: "secrets".into(), namespace: ns, name, custom: false };
        Api::<Secret>::namespaced(self.client.clone(), ns)
            .delete(name, &DeleteParams::default())
            .await
            .map_err(|e| self.map_err(e, &t))?;
        Ok(())
    }

    /// Check that a ConfigMap exists.
    pub async fn config_map_exists(&self, ns: &str, name: &str) -> Result<()> {
        let t = Target { resource: "configmaps".into(), namespace: ns, name, custom: false };
        Api::<ConfigMap>::namespaced(self.client.clone(), ns)
            .get_metadata(name)
            .await
            .map_err(|e| self.map_err(e, &t))?;
        Ok(())
    }

    /// Check that a Secret exists.
    pub async fn secret_exists(&self, ns: &str, name: &str) -> Result<()> {
        let t = Target { resource: "secrets".into(), namespace: ns, name, custom: false };
        Api::<Secret>::namespaced(self.client.clone(), ns).get_metadata(name).await.map_err(|e| self.map_err(e, &t))?;
        Ok(())
    }

    /// Check that an ActionSet's target exists: a StatefulSet, Deployment,
    /// DeploymentConfig, PVC or Namespace by kind, any other object by its
    /// group/version/resource (upstream's `--objects` keep a trailing '/' on the group).
    pub async fn object_exists(&self, o: &ObjectReference) -> Result<()> {
        let ns = o.namespace.as_deref().unwrap_or("");
        let (ar, custom) = match o.kind.to_ascii_lowercase().as_str() {
            "statefulset" => (ApiResource::erase::<StatefulSet>(&()), false),
            "deployment" => (ApiResource::erase::<Deployment>(&()), false),
            "pvc" => (ApiResource::erase::<PersistentVolumeClaim>(&()), false),
            "namespace" => {
                let t = Target { resource: "namespaces".into(), namespace: "", name: &o.name, custom: false };
                Api::<Namespace>::all(self.client.clone())
                    .get_metadata(&o.name)
                    .await
                    .map_err(|e| self.map_err(e, &t))?;
                return Ok(());
            }
            "deploymentconfig" => (deployment_config(), false),
            _ => {
                let group = o.group.trim_end_matches('/');
                let api_version =
                    if group.is_empty() { o.api_version.clone() } else { format!("{group}/{}", o.api_version) };
                let ar = ApiResource {
                    group: group.into(),
                    version: o.api_version.clone(),
                    api_version,
                    kind: o.kind.clone(),
                    plural: o.resource.clone(),
                };
                (ar, false)
            }
        };
        let resource = if ar.group.is_empty() { ar.plural.clone() } else { format!("{}.{}", ar.plural, ar.group) };
        let t = Target { resource, namespace: ns, name: &o.name, custom };
        self.dyn_api(&ar, ns).get_metadata(&o.name).await.map_err(|e| self.map_err(e, &t))?;
        Ok(())
    }

    /// `(namespace, name)` of every object of `kind` (`deployment`, `statefulset`,
    /// `deploymentconfig`, `pvc`, `namespace`) matching the label `selector`, in `ns` (all
    /// namespaces when empty). A cluster without OpenShift's DeploymentConfigs has none
    /// (upstream fails there).
    pub async fn select(&self, kind: &str, ns: &str, selector: &str) -> Result<Vec<(String, String)>> {
        let lp = ListParams::default().labels(selector);
        let (ar, resource) = match kind {
            "deployment" => (ApiResource::erase::<Deployment>(&()), "deployments.apps"),
            "statefulset" => (ApiResource::erase::<StatefulSet>(&()), "statefulsets.apps"),
            "pvc" => (ApiResource::erase::<PersistentVolumeClaim>(&()), "persistentvolumeclaims"),
            "namespace" => (ApiResource::erase::<Namespace>(&()), "namespaces"),
            "deploymentconfig" => (deployment_config(), "deploymentconfigs.apps.openshift.io"),
            other => return Err(ClusterError::Decode(format!("unsupported or unknown object kind '{other}'"))),
        };
        let ns = if kind == "namespace" { "" } else { ns };
        let t = Target { resource: resource.into(), namespace: ns, name: "", custom: false };
        let list = match self.dyn_api(&ar, ns).list_metadata(&lp).await {
            Ok(l) => l,
            Err(e) => match self.map_err(e, &t) {
                ClusterError::NoResourceType(_) if kind == "deploymentconfig" => return Ok(vec![]),
                e => return Err(e),
            },
        };
        Ok(list
            .items
            .into_iter()
            .map(|o| (o.metadata.namespace.unwrap_or_default(), o.metadata.name.unwrap_or_default()))
            .collect())
    }
}

/// OpenShift's `apps.openshift.io/v1` DeploymentConfig.
fn deployment_config() -> ApiResource {
    ApiResource {
        group: "apps.openshift.io".into(),
        version: "v1".into(),
        api_version: "apps.openshift.io/v1".into(),
        kind: "DeploymentConfig".into(),
        plural: "deploymentconfigs".into(),
    }
}

fn decode<T: DeserializeOwned>(obj: &DynamicObject, t: &Target<'_>) -> Result<T> {
    serde_json::to_value(obj)
        .and_then(serde_json::from_value)
        .map_err(|e| ClusterError::Decode(format!("decoding {} '{}' from the API server: {e}", t.resource, t.name)))
}

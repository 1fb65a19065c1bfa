//! A container's environment, resolved as the kubelet does: the base variables (PATH with the
//! harness's directories first, HOSTNAME, KUBERNETES_SERVICE_*), then `envFrom` in order, then
//! `env` (later wins; `$(VAR)` expands earlier ones), then HOME if still unset. Pure: the
//! ConfigMaps and Secrets it reads are fetched beforehand ([`Sources`]); it must not do I/O.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Container, EnvVarSource, Pod};

use crate::command::expand;

/// ConfigMaps and Secrets a container references, fetched beforehand (`None`: not found).
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// ConfigMap name → its `data`.
    pub config_maps: HashMap<String, Option<BTreeMap<String, String>>>,
    /// Secret name → its decoded `data`.
    pub secrets: HashMap<String, Option<BTreeMap<String, Vec<u8>>>>,
}

/// Names of the ConfigMaps and Secrets the container's env and envFrom read.
pub fn referenced(c: &Container) -> (Vec<String>, Vec<String>) {
    let (mut cms, mut secrets) = (Vec::new(), Vec::new());
    for e in c.env_from.iter().flatten() {
        if let Some(r) = &e.config_map_ref {
            cms.push(r.name.clone());
        }
        if let Some(r) = &e.secret_ref {
            secrets.push(r.name.clone());
        }
    }
    for e in c.env.iter().flatten() {
        if let Some(src) = &e.value_from {
            if let Some(r) = &src.config_map_key_ref {
                cms.push(r.name.clone());
            }
            if let Some(r) = &src.secret_key_ref {
                secrets.push(r.name.clone());
            }
        }
    }
    cms.sort();
    cms.dedup();
    secrets.sort();
    secrets.dedup();
    (cms, secrets)
}

/// An ordered environment with replace-in-place semantics.
#[derive(Debug, Default, Clone)]
struct Env(Vec<(String, String)>);

impl Env {
    fn set(&mut self, k: &str, v: String) {
        match self.0.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v,
            None => self.0.push((k.to_string(), v)),
        }
    }
    fn get(&self, k: &str) -> Option<String> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }
}

/// Inputs besides the container and the fetched objects.
#[derive(Debug, Clone)]
pub struct Base {
    /// PATH: the `--path-prepend` dirs, then the agent's own PATH.
    pub path: String,
    /// The pod's hostname (spec.hostname or the pod name).
    pub hostname: String,
    /// `KUBERNETES_SERVICE_HOST` / `_PORT` from the agent's kubeconfig.
    pub api_host: Option<(String, u16)>,
    /// HOME when the env sets none (the user's home from /etc/passwd, `/root` for root).
    pub home: String,
}

/// Resolves the environment; `Err` is the message of a `CreateContainerConfigError`.
pub fn resolve(pod: &Pod, c: &Container, src: &Sources, base: &Base) -> Result<Vec<(String, String)>, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut env = Env::default();
    env.set("PATH", base.path.clone());
    env.set("HOSTNAME", base.hostname.clone());
    if let Some((host, port)) = &base.api_host {
        env.set("KUBERNETES_SERVICE_HOST", host.clone());
        env.set("KUBERNETES_SERVICE_PORT", port.to_string());
        env.set("KUBERNETES_SERVICE_PORT_HTTPS", port.to_string());
    }
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or("");
        if let Some(r) = &from.config_map_ref {
            match src.config_maps.get(&r.name).cloned().flatten() {
                Some(data) => data.into_iter().for_each(|(k, v)| env.set(&format!("{prefix}{k}"), v)),
                None if r.optional == Some(true) => {}
                None => return Err(format!("configmap \"{}\" not found", r.name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            match src.secrets.get(&r.name).cloned().flatten() {
                Some(data) => data
                    .into_iter()
                    .for_each(|(k, v)| env.set(&format!("{prefix}{k}"), String::from_utf8_lossy(&v).into_owned())),
                None if r.optional == Some(true) => {}
                None => return Err(format!("secret \"{}\" not found", r.name)),
            }
        }
    }
    for var in c.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (_, Some(from)) => match value_from(pod, c, ns, from, src)? {
                Some(v) => v,
                None => continue,
            },
            (Some(v), None) => {
                let snapshot = env.clone();
                expand(v, &|n| snapshot.get(n))
            }
            (None, None) => String::new(),
        };
        env.set(&var.name, value);
    }
    if env.get("HOME").is_none() {
        env.set("HOME", base.home.clone());
    }
    Ok(env.0)
}

fn value_from(
    pod: &Pod,
    c: &Container,
    ns: &str,
    from: &EnvVarSource,
    src: &Sources,
) -> Result<Option<String>, String> {
    if let Some(r) = &from.config_map_key_ref {
        let optional = r.optional == Some(true);
        return match src.config_maps.get(&r.name).cloned().flatten() {
            Some(data) => match data.get(&r.key) {
                Some(v) => Ok(Some(v.clone())),
                None if optional => Ok(None),
                None => Err(format!("couldn't find key {} in ConfigMap {ns}/{}", r.key, r.name)),
            },
            None if optional => Ok(None),
            None => Err(format!("configmap \"{}\" not found", r.name)),
        };
    }
    if let Some(r) = &from.secret_key_ref {
        let optional = r.optional == Some(true);
        return match src.secrets.get(&r.name).cloned().flatten() {
            Some(data) => match data.get(&r.key) {
                Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
                None if optional => Ok(None),
                None => Err(format!("couldn't find key {} in Secret {ns}/{}", r.key, r.name)),
            },
            None if optional => Ok(None),
            None => Err(format!("secret \"{}\" not found", r.name)),
        };
    }
    if let Some(f) = &from.field_ref {
        return field_value(pod, &f.field_path).map(Some);
    }
    if let Some(r) = &from.resource_field_ref {
        let res = c.resources.as_ref();
        let q = match r.resource.split_once('.') {
            Some(("limits", k)) => res.and_then(|r| r.limits.as_ref()).and_then(|m| m.get(k)),
            Some(("requests", k)) => res.and_then(|r| r.requests.as_ref()).and_then(|m| m.get(k)),
            _ => None,
        };
        return Ok(Some(q.map(|q| q.0.clone()).unwrap_or_else(|| "0".into())));
    }
    Ok(None)
}

/// A downward-API field of the pod (env `fieldRef` and downwardAPI volume items).
pub fn field_value(pod: &Pod, path: &str) -> Result<String, String> {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let keyed = |prefix: &str, map: Option<&BTreeMap<String, String>>| -> Option<String> {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(map.and_then(|m| m.get(key)).cloned().unwrap_or_default())
    };
    let flat = |map: Option<&BTreeMap<String, String>>| -> String {
        map.into_iter().flatten().map(|(k, v)| format!("{k}={v:?}\n")).collect()
    };
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => flat(m.labels.as_ref()),
        "metadata.annotations" => flat(m.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.podIP" | "status.hostIP" | "status.podIPs" | "status.hostIPs" => "127.0.0.1".into(),
        p => {
            if let Some(v) = keyed("metadata.labels['", m.labels.as_ref()) {
                v
            } else if let Some(v) = keyed("metadata.annotations['", m.annotations.as_ref()) {
                v
            } else {
                return Err(format!("unsupported fieldRef {p:?}"));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "pg", "uid": "u1", "labels": {"app": "pg"}},
            "spec": {"nodeName": "kanrepo-node", "containers": []}
        }))
        .unwrap()
    }
    fn base() -> Base {
        Base { path: "/pod-bin:/usr/bin".into(), hostname: "web-0".into(), api_host: None, home: "/root".into() }
    }
    fn container(v: serde_json::Value) -> Container {
        serde_json::from_value(v).unwrap()
    }
    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn values_refs_and_order() {
        let c = container(json!({"name": "c", "envFrom": [
                {"configMapRef": {"name": "cm"}, "prefix": "CM_"},
                {"secretRef": {"name": "missing", "optional": true}}],
            "env": [
                {"name": "A", "value": "one"},
                {"name": "B", "value": "$(A)-two $(NOPE)"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
                {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nokey", "optional": true}}},
                {"name": "PATH", "value": "/custom:$(PATH)"}]}));
        let mut src = Sources::default();
        src.config_maps.insert("cm".into(), Some([("x".to_string(), "1".to_string())].into()));
        src.secrets.insert("s".into(), Some([("password".to_string(), b"hunter2".to_vec())].into()));
        src.secrets.insert("missing".into(), None);
        let env = resolve(&pod(), &c, &src, &base()).unwrap();
        assert_eq!(get(&env, "CM_x"), Some("1"));
        assert_eq!(get(&env, "B"), Some("one-two $(NOPE)"));
        assert_eq!(get(&env, "POD"), Some("web-0"));
        assert_eq!(get(&env, "NS"), Some("pg"));
        assert_eq!(get(&env, "IP"), Some("127.0.0.1"));
        assert_eq!(get(&env, "APP"), Some("pg"));
        assert_eq!(get(&env, "PW"), Some("hunter2"));
        assert_eq!(get(&env, "OPT"), None);
        assert_eq!(get(&env, "PATH"), Some("/custom:/pod-bin:/usr/bin"));
        assert_eq!(get(&env, "HOME"), Some("/root"));
        assert_eq!(get(&env, "HOSTNAME"), Some("web-0"));
        assert_eq!(env[0].0, "PATH", "overridden variables keep their place");
    }

    #[test]
    fn missing_required_refs_fail() {
        let src = Sources::default();
        let c = container(
            json!({"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
        );
        assert_eq!(resolve(&pod(), &c, &src, &base()).unwrap_err(), "secret \"s\" not found");
        let mut src = Sources::default();
        src.config_maps.insert("cm".into(), Some(BTreeMap::new()));
        let c = container(
            json!({"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}),
        );
        assert_eq!(resolve(&pod(), &c, &src, &base()).unwrap_err(), "couldn't find key k in ConfigMap pg/cm");
        let c = container(json!({"name": "c", "envFrom": [{"configMapRef": {"name": "gone"}}]}));
        assert!(resolve(&pod(), &c, &Sources::default(), &base()).is_err());
    }

    #[test]
    fn home_kept_when_set_and_referenced_names() {
        let c = container(json!({"name": "c", "env": [{"name": "HOME", "value": "/data"},
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s2", "key": "k"}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s2", "key": "j"}}}],
            "envFrom": [{"configMapRef": {"name": "cm1"}}]}));
        assert_eq!(referenced(&c), (vec!["cm1".to_string()], vec!["s2".to_string()]));
        let mut src = Sources::default();
        src.secrets.insert("s2".into(), Some([("k".to_string(), vec![]), ("j".to_string(), vec![])].into()));
        src.config_maps.insert("cm1".into(), Some(BTreeMap::new()));
        let env = resolve(&pod(), &c, &src, &base()).unwrap();
        assert_eq!(get(&env, "HOME"), Some("/data"));
    }
}

//! A pod's volumes as host directories: emptyDir → `STATE/pods/<uid>/volumes/<name>`, hostPath →
//! its path, persistentVolumeClaim → the bound PV's hostPath (the agent's provisioner makes
//! them), configMap / secret / downwardAPI / projected → files written into the pod dir
//! (service-account tokens by a TokenRequest, best effort). Then each container's volumeMounts
//! become bind mounts ([`mounts`]) and volume ownership follows runAsUser / fsGroup.
//! Other volume types fail the pod with a clear message; nothing here starts processes.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, KeyToPath, PersistentVolume, PersistentVolumeClaim, Pod, Secret,
    ServiceAccount, Volume,
};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};

use crate::env::field_value;
use crate::procspec::MountSpec;

/// A resolved volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolPath {
    /// Host path.
    pub path: PathBuf,
    /// The volume is read-only for every mount (PVC readOnly, configMap, secret, ...).
    pub read_only: bool,
    /// The agent owns the directory (emptyDir, PV, written files): chowned for runAsUser / fsGroup.
    pub owned: bool,
}

/// Why a pod's volumes are not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolError {
    /// Not yet (a PVC not bound, a ConfigMap not created): retried.
    Wait(String),
    /// Never (an unsupported volume type): the pod fails.
    Fatal(String),
}

/// What volume resolution reads besides the pod.
pub struct VolCtx<'a> {
    /// API client.
    pub client: &'a kube::Client,
    /// PVC cache.
    pub pvcs: &'a Store<PersistentVolumeClaim>,
    /// PV cache.
    pub pvs: &'a Store<PersistentVolume>,
}

/// Resolves (and creates, writes) every volume of the pod.
pub async fn resolve(ctx: &VolCtx<'_>, pod: &Pod, pod_dir: &Path) -> Result<HashMap<String, VolPath>, VolError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let io = |what: &str, e: std::io::Error| VolError::Wait(format!("{what}: {e}"));
    let mut out = HashMap::new();
    for v in pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        let own_dir = pod_dir.join("volumes").join(&v.name);
        let resolved = if v.empty_dir.is_some() {
            std::fs::create_dir_all(&own_dir).map_err(|e| io("emptyDir", e))?;
            VolPath { path: own_dir, read_only: false, owned: true }
        } else if let Some(hp) = &v.host_path {
            let p = PathBuf::from(&hp.path);
            match hp.type_.as_deref().unwrap_or("") {
                "" | "DirectoryOrCreate" => std::fs::create_dir_all(&p).map_err(|e| io("hostPath", e))?,
                "FileOrCreate" => {
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| io("hostPath", e))?;
                    }
                    std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(|e| io("hostPath", e))?;
                }
                t => {
                    if !p.exists() {
                        return Err(VolError::Wait(format!("hostPath type check failed: {} is not a {t}", hp.path)));
                    }
                }
            }
            VolPath { path: p, read_only: false, owned: false }
        } else if let Some(claim) = &v.persistent_volume_claim {
            let pvc = ctx
                .pvcs
                .get(&ObjectRef::new(&claim.claim_name).within(ns))
                .ok_or_else(|| VolError::Wait(format!("persistentvolumeclaim \"{}\" not found", claim.claim_name)))?;
            let bound = pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
            let pv_name = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).unwrap_or_default();
            if !bound || pv_name.is_empty() {
                return Err(VolError::Wait(format!("persistentvolumeclaim \"{}\" is not bound yet", claim.claim_name)));
            }
            let pv = ctx
                .pvs
                .get(&ObjectRef::new(&pv_name))
                .ok_or_else(|| VolError::Wait(format!("persistentvolume \"{pv_name}\" not found")))?;
            let Some(hp) = pv.spec.as_ref().and_then(|s| s.host_path.as_ref()) else {
                return Err(VolError::Fatal(format!(
                    "volume {}: persistentvolume {pv_name} is not a hostPath volume (only hostPath PVs can be mounted here)",
                    v.name
                )));
            };
            let p = PathBuf::from(&hp.path);
            std::fs::create_dir_all(&p).map_err(|e| io("persistent volume", e))?;
            VolPath { path: p, read_only: claim.read_only == Some(true), owned: true }
        } else if v.config_map.is_some() || v.secret.is_some() || v.downward_api.is_some() || v.projected.is_some() {
            let files = files_of(ctx, pod, ns, v).await?;
            write_files(&own_dir, &files).map_err(|e| io(&format!("writing volume {}", v.name), e))?;
            VolPath { path: own_dir, read_only: true, owned: true }
        } else {
            return Err(VolError::Fatal(format!(
                "volume {}: unsupported volume type (the test node agent supports emptyDir, hostPath, \
                 persistentVolumeClaim, configMap, secret, downwardAPI and projected)",
                v.name
            )));
        };
        out.insert(v.name.clone(), resolved);
    }
    Ok(out)
}

/// (relative path, bytes, mode) of a file volume.
type File = (String, Vec<u8>, u32);

async fn files_of(ctx: &VolCtx<'_>, pod: &Pod, ns: &str, v: &Volume) -> Result<Vec<File>, VolError> {
    let mut files = Vec::new();
    if let Some(cm) = &v.config_map {
        let mode = cm.default_mode.unwrap_or(0o644) as u32;
        if let Some(data) = config_map(ctx, ns, &cm.name, cm.optional == Some(true)).await? {
            files.extend(keyed_files(data, cm.items.as_deref(), mode, &cm.name, cm.optional == Some(true))?);
        }
    }
    if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let mode = s.default_mode.unwrap_or(0o644) as u32;
        if let Some(data) = secret(ctx, ns, &name, s.optional == Some(true)).await? {
            files.extend(keyed_files(data, s.items.as_deref(), mode, &name, s.optional == Some(true))?);
        }
    }
    if let Some(d) = &v.downward_api {
        let mode = d.default_mode.unwrap_or(0o644) as u32;
        files.extend(downward_files(pod, d.items.as_deref().unwrap_or_default(), mode)?);
    }
    if let Some(p) = &v.projected {
        let mode = p.default_mode.unwrap_or(0o644) as u32;
        for src in p.sources.iter().flatten() {
            if let Some(cm) = &src.config_map
                && let Some(data) = config_map(ctx, ns, &cm.name, cm.optional == Some(true)).await?
            {
                files.extend(keyed_files(data, cm.items.as_deref(), mode, &cm.name, cm.optional == Some(true))?);
            }
            if let Some(s) = &src.secret
                && let Some(data) = secret(ctx, ns, &s.name, s.optional == Some(true)).await?
            {
                files.extend(keyed_files(data, s.items.as_deref(), mode, &s.name, s.optional == Some(true))?);
            }
            if let Some(d) = &src.downward_api {
                files.extend(downward_files(pod, d.items.as_deref().unwrap_or_default(), mode)?);
            }
            if let Some(t) = &src.service_account_token
                && let Some(token) = token(ctx, pod, ns, t.audience.clone(), t.expiration_seconds).await
            {
                files.push((t.path.clone(), token.into_bytes(), mode));
            }
        }
    }
    Ok(files)
}

async fn config_map(
    ctx: &VolCtx<'_>,
    ns: &str,
    name: &str,
    optional: bool,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, VolError> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(cm)) => {
            let mut data: BTreeMap<String, Vec<u8>> =
                cm.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
            data.extend(cm.binary_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)));
            Ok(Some(data))
        }
        Ok(None) if optional => Ok(None),
        Ok(None) => Err(VolError::Wait(format!("configmap \"{name}\" not found"))),
        Err(e) => Err(VolError::Wait(format!("reading configmap {name}: {e}"))),
    }
}

async fn secret(
    ctx: &VolCtx<'_>,
    ns: &str,
    name: &str,
    optional: bool,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, VolError> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(s)) => Ok(Some(s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect())),
        Ok(None) if optional => Ok(None),
        Ok(None) => Err(VolError::Wait(format!("secret \"{name}\" not found"))),
        Err(e) => Err(VolError::Wait(format!("reading secret {name}: {e}"))),
    }
}

/// A bound service-account token for the pod; `None` (and no file) when the API refuses.
async fn token(ctx: &VolCtx<'_>, pod: &Pod, ns: &str, audience: Option<String>, expiry: Option<i64>) -> Option<String> {
    let sa = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), ns);
    let req = TokenRequest {
        spec: TokenRequestSpec {
            audiences: audience.into_iter().collect(),
            expiration_seconds: Some(expiry.unwrap_or(3600).max(600)),
            bound_object_ref: Some(k8s_openapi::api::authentication::v1::BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            }),
        },
        ..Default::default()
    };
    match api.create_token_request(&sa, &PostParams::default(), &req).await {
        Ok(t) => t.status.map(|s| s.token),
        Err(e) => {
            tracing::debug!(namespace = ns, serviceaccount = sa, "no service-account token: {e}");
            None
        }
    }
}

/// Files of a configMap / secret volume: every key, or only `items` (key → path, mode).
fn keyed_files(
    data: BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    mode: u32,
    name: &str,
    optional: bool,
) -> Result<Vec<File>, VolError> {
    match items {
        None | Some([]) => Ok(data.into_iter().map(|(k, v)| (k, v, mode)).collect()),
        Some(items) => {
            let mut out = Vec::new();
            for it in items {
                match data.get(&it.key) {
                    Some(v) => out.push((it.path.clone(), v.clone(), it.mode.map_or(mode, |m| m as u32))),
                    None if optional => {}
                    None => return Err(VolError::Wait(format!("configmap/secret \"{name}\" has no key {}", it.key))),
                }
            }
            Ok(out)
        }
    }
}

fn downward_files(pod: &Pod, items: &[DownwardAPIVolumeFile], mode: u32) -> Result<Vec<File>, VolError> {
    let mut out = Vec::new();
    for it in items {
        let value = match &it.field_ref {
            Some(f) => field_value(pod, &f.field_path).map_err(VolError::Fatal)?,
            None => "0".into(), // resourceFieldRef: no limits here
        };
        out.push((it.path.clone(), value.into_bytes(), it.mode.map_or(mode, |m| m as u32)));
    }
    Ok(out)
}

fn write_files(dir: &Path, files: &[File]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (rel, bytes, mode) in files {
        let rel = safe_relative(rel).ok_or_else(|| std::io::Error::other(format!("bad file path {rel:?}")))?;
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, bytes)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode & 0o7777))?;
    }
    Ok(())
}

/// `p` if it is a relative path without `..` (subPath, item paths).
pub fn safe_relative(p: &str) -> Option<&Path> {
    let path = Path::new(p);
    path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)).then_some(path)
}

/// A container's bind mounts, parents before children.
pub fn mounts(
    c: &Container,
    vols: &HashMap<String, VolPath>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<MountSpec>, String> {
    let mut out = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let v = vols.get(&m.name).ok_or_else(|| format!("volumeMount {} names no volume of the pod", m.name))?;
        let sub = match (&m.sub_path, &m.sub_path_expr) {
            (Some(s), _) if !s.is_empty() => s.clone(),
            (_, Some(e)) if !e.is_empty() => crate::command::expand(e, lookup),
            _ => String::new(),
        };
        let source = if sub.is_empty() {
            v.path.clone()
        } else {
            let rel = safe_relative(&sub).ok_or_else(|| format!("volumeMount {}: invalid subPath {sub:?}", m.name))?;
            let p = v.path.join(rel);
            if !p.exists() {
                std::fs::create_dir_all(&p).map_err(|e| format!("creating subPath {}: {e}", p.display()))?;
            }
            p
        };
        out.push(MountSpec {
            source,
            target: PathBuf::from(&m.mount_path),
            read_only: m.read_only == Some(true) || v.read_only,
        });
    }
    out.sort_by_key(|m| m.target.components().count());
    Ok(out)
}

/// Who owns an agent-made volume: the first container mounting it as a non-root user gets the
/// directory (not its contents); `fsGroup` gets everything group-owned and group-writable.
pub fn fix_ownership(pod: &Pod, vols: &HashMap<String, VolPath>) -> std::io::Result<()> {
    let spec = pod.spec.as_ref();
    let psc = spec.and_then(|s| s.security_context.as_ref());
    let fs_group = psc.and_then(|s| s.fs_group).map(|g| g as u32);
    let containers = spec.into_iter().flat_map(|s| s.init_containers.iter().flatten().chain(s.containers.iter()));
    let mut owner: HashMap<&str, (u32, Option<u32>)> = HashMap::new();
    for c in containers {
        let (uid, gid) = run_as(pod, c);
        let Some(uid) = uid.filter(|u| *u != 0) else { continue };
        for m in c.volume_mounts.iter().flatten() {
            owner.entry(m.name.as_str()).or_insert((uid, gid));
        }
    }
    for (name, v) in vols.iter().filter(|(_, v)| v.owned) {
        if let Some((uid, gid)) = owner.get(name.as_str()) {
            let meta = std::fs::metadata(&v.path)?;
            if std::os::unix::fs::MetadataExt::uid(&meta) == 0 {
                let gid = gid.or_else(|| crate::init::primary_gid(*uid));
                nix::unistd::chown(&v.path, Some((*uid).into()), gid.map(Into::into)).map_err(std::io::Error::from)?;
            }
        }
        if let Some(g) = fs_group {
            chgrp_recursive(&v.path, g)?;
        }
    }
    Ok(())
}

fn chgrp_recursive(p: &Path, gid: u32) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(p)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    nix::unistd::chown(p, None, Some(gid.into())).map_err(std::io::Error::from)?;
    let mode = meta.permissions().mode();
    let extra = if meta.is_dir() { 0o2070 } else { 0o060 };
    std::fs::set_permissions(p, std::fs::Permissions::from_mode((mode | extra) & 0o7777))?;
    if meta.is_dir() {
        for e in std::fs::read_dir(p)? {
            chgrp_recursive(&e?.path(), gid)?;
        }
    }
    Ok(())
}

/// runAsUser / runAsGroup of a container (its own securityContext over the pod's).
pub fn run_as(pod: &Pod, c: &Container) -> (Option<u32>, Option<u32>) {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let csc = c.security_context.as_ref();
    let uid = csc.and_then(|s| s.run_as_user).or_else(|| psc.and_then(|s| s.run_as_user));
    let gid = csc.and_then(|s| s.run_as_group).or_else(|| psc.and_then(|s| s.run_as_group));
    (uid.map(|u| u as u32), gid.map(|g| g as u32))
}

/// Supplementary groups of the pod's containers: fsGroup, then supplementalGroups.
pub fn supplementary_groups(pod: &Pod) -> Vec<u32> {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let mut g: Vec<u32> = psc.and_then(|s| s.fs_group).map(|g| g as u32).into_iter().collect();
    g.extend(psc.and_then(|s| s.supplemental_groups.clone()).unwrap_or_default().into_iter().map(|x| x as u32));
    g.dedup();
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relative_paths() {
        assert!(safe_relative("a/b").is_some());
        assert!(safe_relative("./a").is_some());
        assert!(safe_relative("../a").is_none());
        assert!(safe_relative("/etc").is_none());
        assert!(safe_relative("a/../../b").is_none());
    }

    #[test]
    fn keyed_files_items_and_optional() {
        let data: BTreeMap<String, Vec<u8>> =
            [("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())].into();
        assert_eq!(keyed_files(data.clone(), None, 0o644, "cm", false).unwrap().len(), 2);
        let items = [KeyToPath { key: "b".into(), path: "dir/b.txt".into(), mode: Some(0o600) }];
        assert_eq!(
            keyed_files(data.clone(), Some(&items), 0o644, "cm", false).unwrap(),
            vec![("dir/b.txt".to_string(), b"2".to_vec(), 0o600)]
        );
        let missing = [KeyToPath { key: "zz".into(), path: "z".into(), mode: None }];
        assert!(keyed_files(data.clone(), Some(&missing), 0o644, "cm", false).is_err());
        assert!(keyed_files(data, Some(&missing), 0o644, "cm", true).unwrap().is_empty());
    }

    #[test]
    fn mounts_subpaths_order_and_readonly() {
        let dir = tempfile::tempdir().unwrap();
        let c: Container = serde_json::from_value(json!({"name": "c", "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/pg/data", "subPath": "pgdata"},
            {"name": "data", "mountPath": "/var/lib/pg"},
            {"name": "cfg", "mountPath": "/etc/cfg"}]}))
        .unwrap();
        let vols: HashMap<String, VolPath> = [
            ("data".to_string(), VolPath { path: dir.path().join("d"), read_only: false, owned: true }),
            ("cfg".to_string(), VolPath { path: dir.path().join("c"), read_only: true, owned: true }),
        ]
        .into();
        let m = mounts(&c, &vols, &|_| None).unwrap();
        assert_eq!(m[0].target, PathBuf::from("/etc/cfg"));
        assert!(m[0].read_only);
        assert_eq!(m[1].target, PathBuf::from("/var/lib/pg"));
        assert_eq!(m[2].source, dir.path().join("d/pgdata"));
        assert!(dir.path().join("d/pgdata").is_dir(), "subPath directories are created");
        let bad: Container =
            serde_json::from_value(json!({"name": "c", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}))
                .unwrap();
        assert!(mounts(&bad, &vols, &|_| None).is_err());
    }

    #[test]
    fn run_as_container_over_pod() {
        let pod: Pod = serde_json::from_value(json!({"spec": {
            "securityContext": {"runAsUser": 101, "fsGroup": 104, "supplementalGroups": [5]},
            "containers": [{"name": "a"}, {"name": "b", "securityContext": {"runAsUser": 0, "runAsGroup": 7}}]}}))
        .unwrap();
        let cs = &pod.spec.as_ref().unwrap().containers;
        assert_eq!(run_as(&pod, &cs[0]), (Some(101), None));
        assert_eq!(run_as(&pod, &cs[1]), (Some(0), Some(7)));
        assert_eq!(supplementary_groups(&pod), vec![104, 5]);
    }
}

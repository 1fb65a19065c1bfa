//! `kanctl create actionset|profile`, with upstream's flag parsing and error texts.
//! `--dry-run` prints the objects (offline); creating them needs a cluster.

use crate::args::{ActionSetArgs, Create, CreateWhat, Global, ProfileArgs, ProfileKind};
use crate::{NEEDS_CLUSTER, read_input};
use anyhow::{Context, Result, anyhow, bail};
use kanister::types::{ActionSet, ActionSetSpec, ActionSpec, ObjectReference, State};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

pub fn run(g: &Global, c: Create) -> Result<()> {
    match c.what {
        CreateWhat::Actionset(a) => actionset(g, *a, c.dry_run),
        CreateWhat::Profile(p) => profile(g, p, c.dry_run),
    }
}

fn namespace(g: &Global) -> String {
    g.namespace.clone().unwrap_or_else(|| "default".into())
}

/// Upstream's `rand.String(n)` alphabet (k8s.io/apimachinery: no vowels, no confusables).
fn rand_suffix(n: usize) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
            ^ (std::process::id() as u128) << 64;
    (0..n)
        .map(|_| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ALPHA[((seed >> 64) as usize) % ALPHA.len()] as char
        })
        .collect()
}

fn token_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// `ref=namespace/name` pairs (duplicates and empty entries skipped, as upstream).
fn references(list: &[String]) -> Result<BTreeMap<String, ObjectReference>> {
    let mut m = BTreeMap::new();
    for r in list.iter().filter(|r| !r.is_empty()) {
        let bad = || anyhow!("Expected ref=namespace/name. Got {r}");
        let (k, rest) = r.split_once('=').ok_or_else(bad)?;
        let (ns, name) = rest.split_once('/').ok_or_else(bad)?;
        if ![k, ns, name].iter().all(|t| token_ok(t)) {
            return Err(bad());
        }
        m.insert(
            k.to_string(),
            ObjectReference { name: name.into(), namespace: Some(ns.into()), ..ObjectReference::default() },
        );
    }
    Ok(m)
}

fn key_values(list: &[String], what: &str) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for kv in list.iter().filter(|s| !s.is_empty()) {
        let parts: Vec<&str> = kv.split('=').collect();
        if parts.len() != 2 {
            bail!("Expected {what} as key=value pairs. Got {kv}");
        }
        m.insert(parts[0].to_string(), parts[1].to_string());
    }
    Ok(m)
}

fn labels(s: &str) -> Result<Option<BTreeMap<String, String>>> {
    if s.is_empty() {
        return Ok(None);
    }
    let mut m = BTreeMap::new();
    for l in s.split(',') {
        let (k, v) = l.split_once('=').ok_or_else(|| anyhow!("Invalid labels, expected key=value,foo=bar"))?;
        m.insert(k.trim().to_string(), v.split('=').next().unwrap_or("").trim().to_string());
    }
    Ok(Some(m))
}

fn objects(a: &ActionSetArgs) -> Result<Vec<ObjectReference>> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let groups: [(&str, &Vec<String>); 5] = [
        ("deployment", &a.deployment),
        ("statefulset", &a.statefulset),
        ("deploymentconfig", &a.deploymentconfig),
        ("pvc", &a.pvc),
        ("namespace", &a.namespace_targets),
    ];
    for (kind, list) in groups {
        for r in list.iter().filter(|r| !r.is_empty()) {
            if !seen.insert(format!("{kind}={r}")) {
                continue;
            }
            let (ns, name) = if kind == "namespace" {
                (r.as_str(), r.as_str())
            } else {
                r.split_once('/')
                    .filter(|(n, m)| token_ok(n) && token_ok(m))
                    .ok_or_else(|| anyhow!("Expected namespace/name. Got {r}"))?
            };
            out.push(ObjectReference {
                kind: kind.into(),
                namespace: Some(ns.into()),
                name: name.into(),
                ..ObjectReference::default()
            });
        }
    }
    for o in a.objects.iter().filter(|o| !o.is_empty()) {
        out.push(generic_object(o)?);
    }
    Ok(out)
}

/// `group/version/resource/namespace/name`, or `version/resource/namespace/name` for the core
/// group. Like upstream, the group keeps its trailing '/'.
fn generic_object(s: &str) -> Result<ObjectReference> {
    let parts: Vec<&str> = s.split('/').collect();
    let err = || {
        anyhow!(
            "Expected group/version/resource/namespace/name or in the case of core group's resources version/resource/namespace/name . Got {s}"
        )
    };
    if parts.len() < 4 || !parts.iter().all(|p| token_ok(p) || p.is_empty()) {
        return Err(err());
    }
    let n = parts.len();
    let group = if n > 4 { format!("{}/", parts[..n - 4].join("/")) } else { String::new() };
    let [version, resource, ns, name] = [parts[n - 4], parts[n - 3], parts[n - 2], parts[n - 1]];
    if [version, resource, ns, name].iter().any(|p| p.is_empty()) {
        return Err(err());
    }
    Ok(ObjectReference {
        group,
        api_version: version.into(),
        resource: resource.into(),
        namespace: Some(ns.into()),
        name: name.into(),
        ..ObjectReference::default()
    })
}

fn actionset(g: &Global, a: ActionSetArgs, dry_run: bool) -> Result<()> {
    if a.selector.is_some() || a.from.is_some() || a.repository_server.is_some() || !dry_run {
        // Selectors, parents and creation all need the API server.
        bail!("{NEEDS_CLUSTER}");
    }
    let ns = namespace(g);
    let secrets = references(&a.secrets).context("failed to parse secrets")?;
    let config_maps = references(&a.config_maps).context("failed to parse config maps")?;
    let profile = match a.profile.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => {
            let (pns, name) = match p.split_once('/') {
                Some((pns, name)) if !name.contains('/') => (pns.to_string(), name.to_string()),
                Some(_) => bail!(
                    "Invalid profile name {p}, should be of the form ( --profile namespace/name OR --profile name)"
                ),
                None => (ns.clone(), p.to_string()),
            };
            Some(ObjectReference { name, namespace: Some(pns), ..ObjectReference::default() })
        }
    };
    let options = key_values(&a.options, "options")?;
    let pod_labels = key_values(&a.pod_labels, "podlabels")?;
    let pod_annotations = key_values(&a.pod_annotations, "podannotations")?;
    let objs = objects(&a)?;
    let parent = match &a.from_file {
        Some(f) => Some(serde_json::from_value::<ActionSet>(kanister::load::any(&read_input(f)?)?)?),
        None => None,
    };
    let parent_name = parent.as_ref().and_then(|p| p.metadata.name.clone());
    let actions = match &parent {
        Some(p) => {
            let st = p.status.as_ref().filter(|s| s.state == State::Complete);
            let st = st.ok_or_else(|| {
                anyhow!("Request parent ActionSet {} has not been executed", parent_name.as_deref().unwrap_or(""))
            })?;
            let spec = p.spec.as_ref().context("the parent ActionSet has no spec")?;
            let mut out = Vec::new();
            for (i, pa) in st.actions.iter().enumerate() {
                let ps = spec.actions.get(i).context("parent status and spec disagree")?;
                let mut merged = ps.options.clone();
                merged.extend(options.clone());
                let base = ActionSpec {
                    name: a.action.clone().unwrap_or_else(|| ps.name.clone()),
                    blueprint: a.blueprint.clone().unwrap_or_else(|| pa.blueprint.clone()),
                    object: pa.object.clone(),
                    artifacts: pa.artifacts.clone(),
                    secrets: if secrets.is_empty() { ps.secrets.clone() } else { secrets.clone() },
                    config_maps: if config_maps.is_empty() { ps.config_maps.clone() } else { config_maps.clone() },
                    profile: profile.clone().or_else(|| ps.profile.clone()),
                    options: merged,
                    pod_labels: Some(pod_labels.clone()).filter(|m| !m.is_empty()),
                    pod_annotations: Some(pod_annotations.clone()).filter(|m| !m.is_empty()),
                    ..ActionSpec::default()
                };
                if objs.is_empty() {
                    out.push(base);
                } else {
                    out.extend(objs.iter().map(|o| ActionSpec { object: o.clone(), ..base.clone() }));
                }
            }
            out
        }
        None => {
            if objs.is_empty() {
                bail!("no objects found to perform action set. Please pass a valid parent action set and/or selector");
            }
            let action =
                a.action.clone().filter(|s| !s.is_empty()).context("action required to create new action set")?;
            let blueprint =
                a.blueprint.clone().filter(|s| !s.is_empty()).context("blueprint required to create new action set")?;
            objs.iter()
                .map(|o| ActionSpec {
                    name: action.clone(),
                    blueprint: blueprint.clone(),
                    object: o.clone(),
                    secrets: secrets.clone(),
                    config_maps: config_maps.clone(),
                    profile: profile.clone(),
                    options: options.clone(),
                    pod_labels: Some(pod_labels.clone()).filter(|m| !m.is_empty()),
                    pod_annotations: Some(pod_annotations.clone()).filter(|m| !m.is_empty()),
                    ..ActionSpec::default()
                })
                .collect()
        }
    };
    let name = match (&a.name, &a.action, &parent_name) {
        (Some(n), _, _) => n.clone(),
        (None, Some(act), Some(p)) => format!("{act}-{p}-{}", rand_suffix(5)),
        (None, Some(act), None) => format!("{act}-{}", rand_suffix(5)),
        (None, None, Some(p)) => format!("{p}-{}", rand_suffix(5)),
        (None, None, None) => bail!("action required to create new action set"),
    };
    if profile.is_none() && actions.iter().all(|x| x.profile.is_none()) {
        eprintln!("Warning: Neither --profile nor --repository-server flag is provided.");
    }
    let mut set = ActionSet::new();
    set.metadata.name = Some(name);
    set.metadata.labels = labels(a.labels.as_deref().unwrap_or(""))?;
    set.spec = Some(ActionSetSpec { actions });
    print!("{}", serde_saphyr::to_string(&set)?);
    Ok(())
}

fn profile(g: &Global, p: ProfileArgs, dry_run: bool) -> Result<()> {
    if !dry_run {
        bail!("{NEEDS_CLUSTER}");
    }
    let ns = namespace(g);
    let (short, loc_type, mut data): (&str, &str, Vec<(&str, String)>) = match &p.kind {
        ProfileKind::S3compliant { access_key, secret_key, role } => (
            "s3",
            "s3Compliant",
            vec![
                ("aws_access_key_id", access_key.clone()),
                ("aws_secret_access_key", secret_key.clone()),
                ("role", role.clone().unwrap_or_default()),
            ],
        ),
        ProfileKind::Gcp { project_id, service_key } => {
            ("gcp", "gcs", vec![("gcp_project_id", project_id.clone()), ("gcp_service_key", read_input(service_key)?)])
        }
        ProfileKind::Azure { storage_account, storage_key, storage_env } => (
            "azure",
            "azure",
            vec![
                ("azure_storage_account_id", storage_account.clone()),
                ("azure_storage_key", storage_key.clone()),
                ("azure_storage_environment", storage_env.clone().unwrap_or_default()),
            ],
        ),
        ProfileKind::Filestore => ("filestore", "filestore", vec![]),
    };
    let secret_name = format!("{short}-secret-{}", rand_suffix(6));
    let has = |k: &str| data.iter().any(|(dk, v)| *dk == k && !v.is_empty());
    let as_secret =
        (loc_type == "s3Compliant" && has("role")) || (loc_type == "azure" && has("azure_storage_environment"));
    let (id_field, secret_field) = match loc_type {
        "gcs" => ("gcp_project_id", "gcp_service_key"),
        "azure" => ("azure_storage_account_id", "azure_storage_key"),
        _ => ("aws_access_key_id", "aws_secret_access_key"),
    };
    let secret_ref = json!({"name": secret_name, "namespace": ns});
    let credential = if loc_type == "filestore" {
        json!({"type": ""})
    } else if as_secret {
        json!({"type": "secret", "secret": secret_ref})
    } else {
        json!({"type": "keyPair", "keyPair": {"idField": id_field, "secretField": secret_field, "secret": secret_ref}})
    };
    let location = json!({"type": loc_type, "bucket": p.bucket.clone().unwrap_or_default(),
        "endpoint": p.endpoint.clone().unwrap_or_default(), "prefix": p.prefix.clone().unwrap_or_default(),
        "region": p.region.clone().unwrap_or_default()});
    let profile: kanister::types::Profile = serde_json::from_value(json!({
        "apiVersion": "cr.kanister.io/v1alpha1", "kind": "Profile",
        "metadata": {"generateName": format!("{short}-profile-"), "namespace": ns},
        "location": location, "credential": credential, "skipSSLVerify": p.skip_ssl_verification,
    }))?;
    if loc_type != "filestore" {
        kanister::validate::validate_profile(&profile).map_err(|e| anyhow!("{e}"))?;
    }
    if !as_secret {
        data.retain(|(k, _)| *k != "role" && *k != "azure_storage_environment");
    }
    if loc_type != "filestore" {
        let string_data: serde_json::Map<String, Json> =
            data.into_iter().map(|(k, v)| (k.to_string(), Json::String(v))).collect();
        let mut secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret_name, "namespace": ns}, "stringData": string_data});
        if as_secret && loc_type == "s3Compliant" {
            secret["type"] = json!("secrets.kanister.io/aws");
        }
        print!("{}", serde_saphyr::to_string(&secret)?);
        println!("---");
    }
    print!("{}", serde_saphyr::to_string(&profile)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_objects_and_labels_as_upstream() {
        let r = references(&["a=ns1/n1".into(), "".into(), "a=ns1/n1".into()]).unwrap();
        assert_eq!(r["a"].name, "n1");
        assert_eq!(references(&["bad".into()]).unwrap_err().to_string(), "Expected ref=namespace/name. Got bad");
        let o = generic_object("apps/v1/deployments/ns/web").unwrap();
        assert_eq!((o.group.as_str(), o.api_version.as_str(), o.resource.as_str()), ("apps/", "v1", "deployments"));
        let o = generic_object("v1/pods/ns/p").unwrap();
        assert_eq!(o.group, "");
        assert!(generic_object("pods/ns/p").is_err());
        assert_eq!(labels(" a = b ,c=d").unwrap().unwrap()["a"], "b");
        assert!(key_values(&["x=y=z".into()], "options").is_err());
        assert_eq!(rand_suffix(5).len(), 5);
    }
}

//! `kanctl render`: a blueprint action rendered offline, phase by phase.

use crate::args::{Format, Render};
use crate::read_input;
use anyhow::{Context, Result, bail};
use kanister::params::{ParamsInput, ProfileParam, TemplateParams, Workload};
use kanister::render::{Simulation, render_action};
use kanister::types::{Artifact, ObjectReference};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

pub fn run(r: Render) -> Result<()> {
    let bp = kanister::load::blueprint(&read_input(&r.filename)?).context("reading the blueprint")?;
    let input = params_input(&r)?;
    let mut sim = Simulation { missing_objects_empty: true, ..Simulation::default() };
    for s in &r.secret_data {
        let (id, key, value) = split_data(s, "--secret-data")?;
        let obj = sim.objects.entry(id.clone()).or_insert_with(|| k8s_object("Secret", &id));
        use base64::Engine;
        obj["data"][key] = Json::String(base64::engine::general_purpose::STANDARD.encode(value));
    }
    for s in &r.configmap_data {
        let (id, key, value) = split_data(s, "--configmap-data")?;
        let obj = sim.objects.entry(id.clone()).or_insert_with(|| k8s_object("ConfigMap", &id));
        obj["data"][key] = Json::String(value);
    }
    for o in &r.phase_outputs {
        let (phase, rest) = o.split_once('.').context("--phase-output takes phase.key=value")?;
        let (k, v) = rest.split_once('=').context("--phase-output takes phase.key=value")?;
        sim.outputs.entry(phase.to_string()).or_default().insert(k.to_string(), Json::String(v.to_string()));
    }
    let mut input = input;
    input.secrets = refs(&r.secrets, "--secrets")?
        .into_iter()
        .map(|(k, id)| {
            let obj = sim.objects.get(&id).cloned().unwrap_or_else(|| k8s_object("Secret", &id));
            (k, obj)
        })
        .collect();
    input.config_maps = refs(&r.config_maps, "--config-maps")?
        .into_iter()
        .map(|(k, id)| {
            let obj = sim.objects.get(&id).cloned().unwrap_or_else(|| k8s_object("ConfigMap", &id));
            (k, obj)
        })
        .collect();
    let rendered = render_action(&bp, &r.action, TemplateParams::new(input), &sim)?;
    match r.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rendered)?),
        Format::Yaml => print!("{}", serde_saphyr::to_string(&rendered)?),
    }
    Ok(())
}

/// `namespace/name.key=value` → (`namespace/name`, key, value).
fn split_data(s: &str, flag: &str) -> Result<(String, String, String)> {
    let (lhs, value) = s.split_once('=').with_context(|| format!("{flag} takes namespace/name.key=value"))?;
    let (id, key) = lhs.split_once('.').with_context(|| format!("{flag} takes namespace/name.key=value"))?;
    if !id.contains('/') {
        bail!("{flag} takes namespace/name.key=value, got '{s}'");
    }
    Ok((id.to_string(), key.to_string(), value.to_string()))
}

fn refs(list: &[String], flag: &str) -> Result<BTreeMap<String, String>> {
    list.iter()
        .map(|s| {
            let (k, id) = s.split_once('=').with_context(|| format!("{flag} takes ref=namespace/name"))?;
            if !id.contains('/') {
                bail!("{flag} takes ref=namespace/name, got '{s}'");
            }
            Ok((k.to_string(), id.to_string()))
        })
        .collect()
}

fn k8s_object(kind: &str, id: &str) -> Json {
    let (ns, name) = id.split_once('/').unwrap_or(("", id));
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "data": {}})
}

/// Go's RFC3339Nano: nanoseconds with trailing zeros trimmed.
fn rfc3339_nano(t: chrono::DateTime<chrono::Utc>) -> String {
    let s = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}Z")
}

fn params_input(r: &Render) -> Result<ParamsInput> {
    let object = parse_object(&r.object)?;
    let (name, ns) = (object.name.clone(), object.namespace.clone().unwrap_or_default());
    let kind = object.kind.to_ascii_lowercase();
    let pods = if r.pods.is_empty() {
        vec![if kind == "statefulset" { format!("{name}-0") } else { format!("{name}-pod") }]
    } else {
        r.pods.clone()
    };
    let containers = if r.containers.is_empty() { vec!["container".to_string()] } else { r.containers.clone() };
    let workload = Workload {
        containers: pods.iter().map(|_| containers.clone()).collect(),
        pvcs: pods.iter().map(|p| (p.clone(), BTreeMap::new())).collect(),
        pods,
    };
    let object_content = match &r.object_file {
        Some(f) => kanister::load::any(&read_input(f)?).context("reading --object-file")?,
        None => json!({"apiVersion": api_version(&kind), "kind": go_kind(&object.kind),
                       "metadata": {"name": name, "namespace": ns, "labels": {}, "annotations": {}}}),
    };
    let mut artifacts: BTreeMap<String, Artifact> = BTreeMap::new();
    for a in &r.artifacts {
        let (lhs, v) = a.split_once('=').context("--artifacts takes artifact.key=value")?;
        let (art, key) = lhs.split_once('.').context("--artifacts takes artifact.key=value")?;
        let e = artifacts.entry(art.to_string()).or_default();
        if key == "kopiaSnapshot" {
            e.kopia_snapshot = v.to_string();
        } else {
            e.key_value.insert(key.to_string(), v.to_string());
        }
    }
    let options = r
        .options
        .iter()
        .map(|o| o.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).context("--options takes key=value"))
        .collect::<Result<_>>()?;
    let time = match &r.time {
        Some(t) => {
            let parsed =
                chrono::DateTime::parse_from_rfc3339(t).with_context(|| format!("--time '{t}' is not RFC 3339"))?;
            rfc3339_nano(parsed.with_timezone(&chrono::Utc))
        }
        None => rfc3339_nano(chrono::Utc::now()),
    };
    Ok(ParamsInput {
        object,
        workload,
        object_content,
        artifacts,
        profile: profile(r.profile.as_deref())?,
        options,
        time,
        ..ParamsInput::default()
    })
}

fn go_kind(kind: &str) -> String {
    match kind.to_ascii_lowercase().as_str() {
        "statefulset" => "StatefulSet".into(),
        "deployment" => "Deployment".into(),
        "deploymentconfig" => "DeploymentConfig".into(),
        "pvc" => "PersistentVolumeClaim".into(),
        "namespace" => "Namespace".into(),
        other => other.to_string(),
    }
}

fn api_version(kind: &str) -> &'static str {
    match kind {
        "statefulset" | "deployment" => "apps/v1",
        "deploymentconfig" => "apps.openshift.io/v1",
        _ => "v1",
    }
}

/// `kind/namespace/name` or `group/version/resource/namespace/name`.
pub fn parse_object(s: &str) -> Result<ObjectReference> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [kind, ns, name] => Ok(ObjectReference {
            kind: kind.to_ascii_lowercase(),
            namespace: Some(ns.to_string()),
            name: name.to_string(),
            ..ObjectReference::default()
        }),
        [group, version, resource, ns, name] => Ok(ObjectReference {
            group: group.to_string(),
            api_version: version.to_string(),
            resource: resource.to_string(),
            namespace: Some(ns.to_string()),
            name: name.to_string(),
            ..ObjectReference::default()
        }),
        _ => bail!("--object takes kind/namespace/name or group/version/resource/namespace/name, got '{s}'"),
    }
}

fn profile(arg: Option<&str>) -> Result<Option<ProfileParam>> {
    let sample = |kind: &str| ProfileParam {
        location: [
            ("type", kind),
            ("bucket", "sample-bucket"),
            ("endpoint", ""),
            ("prefix", "sample-prefix"),
            ("region", "us-east-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        credential_type: "keyPair".into(),
        key_pair: Some(("SAMPLE_ACCESS_KEY_ID".into(), "SAMPLE_SECRET".into())),
        secret: None,
        skip_ssl_verify: false,
    };
    match arg {
        None => Ok(Some(sample("s3Compliant"))),
        Some("none") => Ok(None),
        Some(f) => {
            let p = kanister::load::profile(&read_input(f)?).context("reading --profile")?;
            Ok(Some(ProfileParam::placeholder(&p)))
        }
    }
}

//! `podOverride`: a strategic-merge patch of a function pod's `PodSpec`, as upstream applies it
//! (`strategicpatch.StrategicMergePatch(default, override, corev1.PodSpec{})`), and the merge of
//! a blueprint's `podOverride` arg with the ActionSet's (the ActionSet wins).
//!
//! Hand-written because no Rust crate implements Kubernetes' strategic merge: lists of objects
//! merge by the `patchMergeKey` that `k8s.io/api/core/v1` declares for them (containers,
//! volumes, env, … by `name`; volumeMounts by `mountPath`; ports by `containerPort`; …); other
//! lists are replaced; maps merge recursively; `null` deletes a key; the `$patch: replace` and
//! `$patch: delete` directives are honoured on maps and list items; `$setElementOrder/…`
//! directives are accepted and dropped. Only the PodSpec schema is known.
//!
//! Pure functions over JSON.

use serde_json::{Map, Value as Json};

/// The merge key of a list field at `path` (field names from the PodSpec root), if it merges.
fn merge_key(path: &[&str]) -> Option<&'static str> {
    let last = *path.last()?;
    let in_container =
        path.len() >= 2 && matches!(path[path.len() - 2], "containers" | "initContainers" | "ephemeralContainers");
    match last {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates"
            if path.len() == 1 =>
        {
            Some("name")
        }
        "hostAliases" if path.len() == 1 => Some("ip"),
        "topologySpreadConstraints" if path.len() == 1 => Some("topologyKey"),
        "env" if in_container => Some("name"),
        "volumeMounts" if in_container => Some("mountPath"),
        "volumeDevices" if in_container => Some("devicePath"),
        "ports" if in_container => Some("containerPort"),
        "resizePolicy" if in_container => Some("resourceName"),
        _ => None,
    }
}

/// Apply `patch` to `original` (both PodSpec JSON objects).
pub fn merge_pod_spec(original: &Json, patch: &Json) -> Json {
    merge(original, patch, &mut Vec::new())
}

fn merge<'a>(orig: &Json, patch: &'a Json, path: &mut Vec<&'a str>) -> Json {
    match (orig, patch) {
        (Json::Object(o), Json::Object(p)) => Json::Object(merge_map(o, p, path)),
        (_, p) => strip_directives(p),
    }
}

fn merge_map<'a>(orig: &Map<String, Json>, patch: &'a Map<String, Json>, path: &mut Vec<&'a str>) -> Map<String, Json> {
    match patch.get("$patch").and_then(Json::as_str) {
        Some("replace") => return strip_map(patch),
        Some("delete") => return Map::new(),
        _ => {}
    }
    let mut out = orig.clone();
    for (k, pv) in patch {
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            out.remove(k);
            continue;
        }
        path.push(k.as_str());
        let merged = match (out.get(k), pv) {
            (Some(Json::Array(ol)), Json::Array(pl)) => match merge_key(path) {
                Some(key) => Json::Array(merge_list(ol, pl, key, path)),
                None => strip_directives(pv),
            },
            (Some(ov), _) => merge(ov, pv, path),
            (None, _) => strip_directives(pv),
        };
        path.pop();
        out.insert(k.clone(), merged);
    }
    out
}

fn merge_list<'a>(orig: &[Json], patch: &'a [Json], key: &str, path: &mut Vec<&'a str>) -> Vec<Json> {
    let mut out: Vec<Json> = orig.to_vec();
    for item in patch {
        let Some(id) = item.get(key) else {
            // No key: appended as is (the API server would reject it anyway).
            out.push(strip_directives(item));
            continue;
        };
        let pos = out.iter().position(|o| o.get(key) == Some(id));
        let directive = item.get("$patch").and_then(Json::as_str);
        match (pos, directive) {
            (Some(i), Some("delete")) => {
                out.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), Some("replace")) => out[i] = strip_directives(item),
            (Some(i), _) => {
                let merged = merge(&out[i], item, path);
                out[i] = merged;
            }
            (None, _) => out.push(strip_directives(item)),
        }
    }
    out
}

fn strip_map(m: &Map<String, Json>) -> Map<String, Json> {
    m.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), strip_directives(v))).collect()
}

fn strip_directives(v: &Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(strip_map(m)),
        Json::Array(a) => Json::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Upstream's `GetAndMergePodSpecOverride`: the blueprint's `podOverride` arg (or, absent, the
/// ActionSet's), then the ActionSet's merged over it.
pub fn merge_overrides(blueprint: Option<&Map<String, Json>>, actionset: Option<&Map<String, Json>>) -> Option<Json> {
    match (blueprint, actionset) {
        (None, None) => None,
        (Some(b), None) => Some(Json::Object(b.clone())),
        (None, Some(a)) => Some(Json::Object(a.clone())),
        (Some(b), Some(a)) => Some(merge_pod_spec(&Json::Object(b.clone()), &Json::Object(a.clone()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name_and_their_lists_by_their_keys() {
        let base = json!({"containers": [{"name": "container", "image": "tools", "command": ["sh"],
            "env": [{"name": "A", "value": "1"}], "volumeMounts": [{"name": "v", "mountPath": "/data"}]}],
            "restartPolicy": "Never"});
        let patch = json!({"containers": [{"name": "container", "imagePullPolicy": "Always",
            "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "3"}],
            "volumeMounts": [{"name": "w", "mountPath": "/data"}]},
            {"name": "sidecar", "image": "s"}],
            "nodeSelector": {"disk": "ssd"}, "tolerations": [{"key": "k"}]});
        let m = merge_pod_spec(&base, &patch);
        let c = &m["containers"][0];
        assert_eq!(c["image"], "tools");
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["env"], json!([{"name": "A", "value": "3"}, {"name": "B", "value": "2"}]));
        assert_eq!(c["volumeMounts"], json!([{"name": "w", "mountPath": "/data"}]));
        assert_eq!(m["containers"][1]["name"], "sidecar");
        assert_eq!(m["nodeSelector"]["disk"], "ssd");
        assert_eq!(m["restartPolicy"], "Never");
    }

    #[test]
    fn null_deletes_and_directives_work() {
        let base = json!({"containers": [{"name": "a", "image": "x"}, {"name": "b"}],
            "securityContext": {"runAsUser": 1, "fsGroup": 2}, "volumes": [{"name": "v", "emptyDir": {}}]});
        let patch = json!({"securityContext": {"runAsUser": null},
            "containers": [{"name": "b", "$patch": "delete"}],
            "volumes": [{"name": "v", "$patch": "replace", "hostPath": {"path": "/p"}}],
            "$setElementOrder/containers": [{"name": "a"}]});
        let m = merge_pod_spec(&base, &patch);
        assert_eq!(m["securityContext"], json!({"fsGroup": 2}));
        assert_eq!(m["containers"], json!([{"name": "a", "image": "x"}]));
        assert_eq!(m["volumes"], json!([{"name": "v", "hostPath": {"path": "/p"}}]));
        assert!(m.get("$setElementOrder/containers").is_none());
    }

    #[test]
    fn actionset_override_wins_over_the_blueprints() {
        let bp = json!({"containers": [{"name": "container", "imagePullPolicy": "Never"}], "serviceAccountName": "a"});
        let aset = json!({"serviceAccountName": "b"});
        let m = merge_overrides(bp.as_object(), aset.as_object()).unwrap();
        assert_eq!(m["serviceAccountName"], "b");
        assert_eq!(m["containers"][0]["imagePullPolicy"], "Never");
        assert_eq!(merge_overrides(None, None), None);
    }
}

//! `Wait` (deprecated upstream, still used): poll until the `conditions` hold (`anyOf`: one
//! is true; `allOf`: all are), or fail after `timeout`. A condition's `objectReference` is
//! rendered with the template params; `{$.json.path}` pieces of its `condition` are replaced
//! by the object's values (kubectl JSONPath), then the text is run as a Go template (missing
//! keys are zero values, no data) and must print `true`.
//!
//! The shared machinery (`wait_for`) serves `WaitV2` too. Resume: run again.

use super::{Outputs, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use crate::jsonpath::{parse_go_duration, substitute};
use futures::FutureExt;
use futures::future::BoxFuture;
use kanister::template::{MissingKey, Value, render_with};
use kanister::types::ObjectReference;
use kube::api::{Api, ApiResource, DynamicObject};
use serde::Deserialize;
use serde_json::Value as Json;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Condition {
    #[serde(default)]
    pub condition: String,
    #[serde(default)]
    pub object_reference: ObjectReference,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Conditions {
    #[serde(default)]
    pub any_of: Vec<Condition>,
    #[serde(default)]
    pub all_of: Vec<Condition>,
}

/// How a condition's text is judged against its object.
pub(super) type Judge = fn(&str, &Json) -> Result<bool, String>;

fn judge_v1(cond: &str, obj: &Json) -> Result<bool, String> {
    let resolved = substitute(cond, obj)?;
    let out = render_with(&resolved, &Value::Nil, MissingKey::Zero).map_err(|e| e.to_string())?;
    Ok(out.trim() == "true")
}

async fn fetch(pc: &PhaseCtx<'_>, r: &ObjectReference) -> Result<Json, String> {
    let api_version = if r.group.is_empty() { r.api_version.clone() } else { format!("{}/{}", r.group, r.api_version) };
    let ar = ApiResource {
        group: r.group.clone(),
        version: r.api_version.clone(),
        api_version,
        kind: r.kind.clone(),
        plural: r.resource.clone(),
    };
    let api: Api<DynamicObject> = match r.namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(ns) => Api::namespaced_with(pc.ctx.client(), ns, &ar),
        None => Api::all_with(pc.ctx.client(), &ar),
    };
    let o = api.get(&r.name).await.map_err(|e| e.to_string())?;
    serde_json::to_value(&o).map_err(|e| e.to_string())
}

async fn holds(pc: &PhaseCtx<'_>, c: &Condition, judge: Judge) -> Result<bool, String> {
    let tp = pc.tp.value();
    let rendered = kanister::render::render_json(&serde_json::to_value(&c.object_reference).unwrap_or_default(), &tp)
        .map_err(|e| format!("could not render object reference {{objRef}}: {e}"))?;
    let r: ObjectReference = serde_json::from_value(rendered).map_err(|e| e.to_string())?;
    let obj = fetch(pc, &r).await?;
    judge(&c.condition, &obj)
}

/// Poll `conds` until they hold, at most `timeout`.
pub(super) async fn wait_for(
    pc: &PhaseCtx<'_>,
    conds: &Conditions,
    timeout: Duration,
    judge: Judge,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(200);
    loop {
        let mut met = false;
        let mut last_err: Option<String> = None;
        'eval: {
            for c in &conds.any_of {
                match holds(pc, c, judge).await {
                    Ok(true) => {
                        met = true;
                        break 'eval;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        last_err = Some(e);
                        break 'eval;
                    }
                }
            }
            if !conds.all_of.is_empty() {
                met = true;
                for c in &conds.all_of {
                    match holds(pc, c, judge).await {
                        Ok(true) => {}
                        Ok(false) => {
                            met = false;
                            break;
                        }
                        Err(e) => {
                            met = false;
                            last_err = Some(e);
                            break;
                        }
                    }
                }
            }
        }
        if met {
            return Ok(());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            let base = "Failed to wait for the condition to be met: context deadline exceeded";
            return Err(match last_err {
                Some(e) => format!("{e}: {base}"),
                None => base.to_string(),
            });
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

pub(super) fn decode(pc: &PhaseCtx<'_>, a: &Args, render_timeout: bool) -> Result<(Conditions, Duration), String> {
    let timeout = if render_timeout {
        // Upstream renders every arg for Wait and uses only the timeout.
        let rendered = kanister::render::render_args("KubeTask", a, &pc.tp.value())?;
        args::string(&rendered, "timeout")?
    } else {
        args::string(a, "timeout")?
    };
    let conds: Conditions = serde_json::from_value(a.get("conditions").cloned().unwrap_or(Json::Null))
        .map_err(|e| format!("Failed to decode arg `conditions`: {e}"))?;
    let d = parse_go_duration(&timeout).map_err(|e| format!("Failed to parse timeout: {e}"))?;
    Ok((conds, d))
}

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let (conds, timeout) = decode(pc, a, true)?;
        until_cancelled(pc, wait_for(pc, &conds, timeout, judge_v1)).await?;
        Ok(Outputs::new())
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_conditions_as_upstream_examples() {
        let es = json!({"status": {"health": "yellow"}});
        let c = r#"{{ if  or (eq "{ $.status.health }" "green") (eq "{ $.status.health }" "yellow")}}true{{ else }}false{{ end }}"#;
        assert!(judge_v1(c, &es).unwrap());
        assert!(!judge_v1(c, &json!({"status": {"health": "red"}})).unwrap());
        let pod = json!({"status": {"containerStatuses": [{"ready": true}]}});
        assert!(judge_v1(r#"{{ if "$.status.containerStatuses[].ready"}}true{{ else }}false{{ end }}"#, &pod).unwrap());
    }
}

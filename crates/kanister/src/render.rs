//! Rendering a blueprint action as upstream does: every string in a phase's args (map keys
//! too, lists and maps recursively) and object references is a template executed against the
//! TemplateParams of that moment; `Wait` and `WaitV2` args are left alone (they render pieces
//! themselves at run time); output artifacts render once, after all phases and the
//! deferPhase, with the final params.
//!
//! Phases run in order, so `.Phases.<earlier>.Output` is whatever the earlier phases
//! produced. Offline (kanctl render, tests) the caller supplies those outputs.
//!
//! This module executes no function and talks to no cluster.

use crate::params::{PhaseParams, TemplateParams};
use crate::template::{self, Value};
use crate::types::{Artifact, Blueprint, BlueprintPhase, ObjectReference};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// A render failure, with upstream's wording (`Failed to render template: "key" not found`
/// for a missing key, Go's template error otherwise) and where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{context}: {message}")]
pub struct RenderError {
    /// Which phase / arg / artifact.
    pub context: String,
    /// The template error.
    pub message: String,
}

const UNDEFINED_KEY: &str = "map has no entry for key ";

/// Render one string template (upstream's `renderStringArg`).
pub fn render_string(src: &str, tp: &Value) -> Result<String, String> {
    template::render(src, tp).map_err(|e| {
        let text = e.to_string();
        match text.rfind(UNDEFINED_KEY) {
            Some(pos) => {
                let key = text[pos + UNDEFINED_KEY.len()..].trim_matches('"');
                format!("Failed to render template: \"{key}\" not found")
            }
            None => text,
        }
    })
}

/// Render a JSON arg value recursively: strings are templates; list items, map keys and map
/// values are rendered; numbers, booleans and null pass through.
pub fn render_json(v: &Json, tp: &Value) -> Result<Json, String> {
    Ok(match v {
        Json::String(s) => Json::String(render_string(s, tp)?),
        Json::Array(a) => Json::Array(a.iter().map(|x| render_json(x, tp)).collect::<Result<_, _>>()?),
        Json::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                out.insert(render_string(k, tp)?, render_json(x, tp)?);
            }
            Json::Object(out)
        }
        other => other.clone(),
    })
}

/// Render a phase's args (upstream's `RenderArgs`); `Wait`/`WaitV2` args are returned as is.
pub fn render_args(func: &str, args: &BTreeMap<String, Json>, tp: &Value) -> Result<BTreeMap<String, Json>, String> {
    if func == "Wait" || func == "WaitV2" {
        return Ok(args.clone());
    }
    args.iter().map(|(k, v)| Ok((k.clone(), render_json(v, tp)?))).collect()
}

/// Render output artifacts (upstream's `RenderArtifacts`).
pub fn render_artifacts(
    arts: &BTreeMap<String, Artifact>,
    tp: &Value,
) -> Result<BTreeMap<String, Artifact>, RenderError> {
    let mut out = BTreeMap::new();
    for (name, a) in arts {
        let mut r = Artifact::default();
        for (k, v) in &a.key_value {
            let rv = render_string(v, tp)
                .map_err(|message| RenderError { context: format!("artifact {name}.keyValue.{k}"), message })?;
            r.key_value.insert(k.clone(), rv);
        }
        if !a.kopia_snapshot.is_empty() {
            r.kopia_snapshot = render_string(&a.kopia_snapshot, tp)
                .map_err(|message| RenderError { context: format!("artifact {name}.kopiaSnapshot"), message })?;
        }
        out.insert(name.clone(), r);
    }
    Ok(out)
}

fn render_object_refs(
    refs: &BTreeMap<String, ObjectReference>,
    tp: &Value,
) -> Result<BTreeMap<String, ObjectReference>, String> {
    refs.iter()
        .map(|(k, r)| {
            let j = serde_json::to_value(r).map_err(|e| e.to_string())?;
            let rendered =
                render_json(&j, tp).map_err(|e| format!("could not render object reference {{{k}}}: {e}"))?;
            Ok((k.clone(), serde_json::from_value(rendered).map_err(|e| e.to_string())?))
        })
        .collect()
}

/// One rendered phase.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RenderedPhase {
    /// Phase name.
    pub name: String,
    /// Kanister function.
    pub func: String,
    /// Rendered object references.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub objects: BTreeMap<String, ObjectReference>,
    /// Rendered args.
    pub args: BTreeMap<String, Json>,
}

/// A rendered action: its phases, its deferPhase and its output artifacts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RenderedAction {
    /// Action name.
    pub action: String,
    /// Phases in order.
    pub phases: Vec<RenderedPhase>,
    /// The deferPhase, if any.
    #[serde(rename = "deferPhase", skip_serializing_if = "Option::is_none")]
    pub defer_phase: Option<RenderedPhase>,
    /// Output artifacts.
    #[serde(rename = "outputArtifacts", skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, Artifact>,
}

/// Offline stand-ins for what the cluster would provide while an action runs.
#[derive(Debug, Clone, Default)]
pub struct Simulation {
    /// Objects a phase's `objects` names (Secrets / ConfigMaps), by `namespace/name`,
    /// Kubernetes JSON with `kind`.
    pub objects: BTreeMap<String, Json>,
    /// What each phase outputs when it "completes".
    pub outputs: BTreeMap<String, BTreeMap<String, Json>>,
    /// Objects by the phase and the key its `objects` gives them (`phase/key`), used before
    /// `objects`: for samples that do not know the rendered names.
    pub phase_objects: BTreeMap<String, Json>,
    /// Treat Secrets and ConfigMaps missing from `objects` as empty (kanctl render)
    /// instead of failing as the controller would.
    pub missing_objects_empty: bool,
}

fn phase_params(
    phase: &str,
    objects: &BTreeMap<String, ObjectReference>,
    sim: &Simulation,
) -> Result<PhaseParams, String> {
    let mut p = PhaseParams::default();
    for (key, r) in objects {
        let id = format!("{}/{}", r.namespace.as_deref().unwrap_or(""), r.name);
        let kind = r.kind.to_ascii_lowercase();
        let empty = || {
            let k = if kind == "secret" { "Secret" } else { "ConfigMap" };
            let (ns, name) = (r.namespace.as_deref().unwrap_or(""), r.name.as_str());
            serde_json::json!({"apiVersion": "v1", "kind": k, "metadata": {"name": name, "namespace": ns}, "data": {}})
        };
        let obj = sim
            .phase_objects
            .get(&format!("{phase}/{key}"))
            .or_else(|| sim.objects.get(&id))
            .cloned()
            .or_else(|| sim.missing_objects_empty.then(empty));
        match kind.as_str() {
            "secret" => {
                let obj = obj.ok_or_else(|| format!("secret {id} (phase object '{key}') is not available"))?;
                p.secrets.insert(key.clone(), obj);
            }
            "configmap" => {
                let obj = obj.ok_or_else(|| format!("configmap {id} (phase object '{key}') is not available"))?;
                p.config_maps.insert(key.clone(), obj);
            }
            _ => {}
        }
    }
    Ok(p)
}

fn run_phase(
    phase: &BlueprintPhase,
    tp: &mut TemplateParams,
    sim: &Simulation,
    is_defer: bool,
) -> Result<RenderedPhase, RenderError> {
    let ctx = |what: &str| format!("phase {} ({}): {what}", phase.name, phase.func);
    let v = tp.value();
    let objects =
        render_object_refs(&phase.objects, &v).map_err(|message| RenderError { context: ctx("objects"), message })?;
    let pp =
        phase_params(&phase.name, &objects, sim).map_err(|message| RenderError { context: ctx("objects"), message })?;
    if is_defer {
        tp.defer = pp.clone();
    } else {
        tp.phases.insert(phase.name.clone(), pp.clone());
    }
    tp.current = Some(pp);
    let v = tp.value();
    let args =
        render_args(&phase.func, &phase.args, &v).map_err(|message| RenderError { context: ctx("args"), message })?;
    // The phase "completes" with the simulated outputs.
    let output = sim.outputs.get(&phase.name).cloned().unwrap_or_default();
    if is_defer {
        tp.defer.output = output;
    } else if let Some(p) = tp.phases.get_mut(&phase.name) {
        p.output = output;
    }
    tp.current = None;
    Ok(RenderedPhase { name: phase.name.clone(), func: phase.func.clone(), objects, args })
}

/// Render `action` of `bp` from `tp` (the action's start), phase by phase.
pub fn render_action(
    bp: &Blueprint,
    action: &str,
    mut tp: TemplateParams,
    sim: &Simulation,
) -> Result<RenderedAction, RenderError> {
    let a = bp.actions.get(action).ok_or_else(|| RenderError {
        context: format!("action {action}"),
        message: format!(
            "Action {action} for object kind {} not found in blueprint {}",
            tp.input.object.kind,
            bp.metadata.name.as_deref().unwrap_or("")
        ),
    })?;
    let mut phases = Vec::new();
    for p in &a.phases {
        phases.push(run_phase(p, &mut tp, sim, false)?);
    }
    let defer_phase = match &a.defer_phase {
        Some(p) => Some(run_phase(p, &mut tp, sim, true)?),
        None => None,
    };
    let artifacts = render_artifacts(&a.output_artifacts, &tp.value())?;
    Ok(RenderedAction { action: action.to_string(), phases, defer_phase, artifacts })
}

fn check_json(v: &Json) -> Result<(), String> {
    match v {
        Json::String(s) => template::check(s).map_err(|e| e.to_string()),
        Json::Array(a) => a.iter().try_for_each(check_json),
        Json::Object(m) => m.iter().try_for_each(|(k, x)| {
            template::check(k).map_err(|e| e.to_string())?;
            check_json(x)
        }),
        _ => Ok(()),
    }
}

/// Parse (without executing) every template of a blueprint: phase args (except `Wait` /
/// `WaitV2`), object references and output artifacts. Upstream finds these errors only
/// when an action runs; `kanctl validate` reports them up front.
pub fn check_templates(bp: &Blueprint) -> Result<(), RenderError> {
    for (name, a) in &bp.actions {
        for p in a.phases.iter().chain(a.defer_phase.iter()) {
            let ctx = || format!("action {name} phase {} ({})", p.name, p.func);
            if p.func != "Wait" && p.func != "WaitV2" {
                for v in p.args.values() {
                    check_json(v).map_err(|message| RenderError { context: ctx(), message })?;
                }
            }
            for r in p.objects.values() {
                let j = serde_json::to_value(r).unwrap_or(Json::Null);
                check_json(&j).map_err(|message| RenderError { context: ctx(), message })?;
            }
        }
        for (an, art) in &a.output_artifacts {
            for v in art.key_value.values().chain(std::iter::once(&art.kopia_snapshot)) {
                template::check(v).map_err(|e| RenderError {
                    context: format!("action {name} artifact {an}"),
                    message: e.to_string(),
                })?;
            }
        }
    }
    Ok(())
}

//! Running one phase of an action: fetch its `objects` into `.Phases.<name>`, mark it
//! running, render its args with the params of this moment (earlier phases' outputs
//! included), check them against the function's argument list, run the function, write its
//! live progress every `progress_interval`, and return its outputs.
//!
//! Status transitions and events of the phase's end are the caller's (`action`); this module
//! writes only the `running` state and live progress.

use crate::args::Args;
use crate::context::{Cancel, Ctx, PhaseCtx, PhaseIdentity};
use crate::decide::{self, PhaseRef};
use crate::functions::{self, Outputs, Resume};
use crate::output::Transfer;
use crate::status::StatusWriter;
use kanister::params::TemplateParams;
use kanister::types::{BlueprintPhase, ObjectReference, PhaseProgress};
use std::collections::BTreeMap;
use std::time::Instant;
use tokio::sync::watch;

/// A finished phase.
pub struct Finished {
    /// Outputs, or the error the ActionSet fails with.
    pub result: Result<Outputs, String>,
    /// What kando moved.
    pub transfer: Transfer,
    /// Wall time.
    pub seconds: f64,
}

/// The current UTC time as Kubernetes prints it (`2026-12-04T18:00:00Z`).
pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Render a phase's object references (upstream's `RenderObjectRefs`).
pub fn render_objects(p: &BlueprintPhase, tp: &TemplateParams) -> Result<BTreeMap<String, ObjectReference>, String> {
    let v = tp.value();
    p.objects
        .iter()
        .map(|(k, r)| {
            let j = serde_json::to_value(r).map_err(|e| e.to_string())?;
            let rendered = kanister::render::render_json(&j, &v)
                .map_err(|e| format!("could not render object reference {{{k}}}: {e}"))?;
            Ok((k.clone(), serde_json::from_value(rendered).map_err(|e| e.to_string())?))
        })
        .collect()
}

/// Live progress of a running phase from kando's last report.
pub fn live_progress(t: &Transfer, now: &str) -> PhaseProgress {
    PhaseProgress {
        progress_percent: t.percent().unwrap_or(0).to_string(),
        size_uploaded_b: t.uploaded,
        size_downloaded_b: t.downloaded,
        estimated_upload_size_b: t.estimated_upload,
        estimated_download_size_b: t.estimated_download,
        estimated_time_seconds: 0,
        last_transition_time: Some(now.to_string()),
    }
}

/// Everything `run` needs about where the phase sits.
pub struct Where<'a> {
    /// Action index.
    pub action: usize,
    /// Which phase.
    pub phase: PhaseRef,
    /// The blueprint phase.
    pub bp: &'a BlueprintPhase,
    /// Its rendered object references.
    pub objects: &'a BTreeMap<String, ObjectReference>,
    /// ActionSet identity (namespace, name, uid).
    pub id: (&'a str, &'a str, &'a str),
    /// The phase was running when a previous controller stopped.
    pub resume: bool,
    /// `preferredVersion` of the action.
    pub version: &'a str,
}

/// Run the phase; `tp` gains `.Phases.<name>` (or `.DeferPhase`) with its objects.
pub async fn run(ctx: &Ctx, w: &StatusWriter, tp: &mut TemplateParams, at: Where<'_>, cancel: &Cancel) -> Finished {
    let started = Instant::now();
    let fail = |m: String| Finished {
        result: Err(m),
        transfer: Transfer::default(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let pp = match crate::params::phase_params(ctx, at.objects).await {
        Ok(p) => p,
        Err(e) => return fail(format!("Failed to init phase params: {e}")),
    };
    match at.phase {
        PhaseRef::Main(_) => {
            tp.phases.insert(at.bp.name.clone(), pp.clone());
        }
        PhaseRef::Defer => tp.defer = pp.clone(),
    }
    tp.current = Some(pp);
    if !at.resume
        && let Err(e) = w.status(|s| decide::phase_running(s, at.action, at.phase)).await
    {
        return fail(e.to_string());
    }
    // Render and check the args just before running (they may use earlier outputs).
    let spec = match kanister::functions::resolve(&at.bp.func, at.version) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let args: Args = match kanister::render::render_args(&at.bp.func, &at.bp.args, &tp.value()) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    if let Err(e) = kanister::validate::check_rendered_args(spec, &args) {
        return fail(e.to_string());
    }
    if spec.takes_pod_metadata()
        && let Err(e) = kanister::validate::validate_pod_labels_and_annotations(&args)
    {
        return fail(e.to_string());
    }
    let exec = match functions::executor(&at.bp.func) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let id = PhaseIdentity {
        actionset_namespace: at.id.0.into(),
        actionset: at.id.1.into(),
        uid: at.id.2.into(),
        action: at.action,
        phase: at.phase.label(),
        phase_name: at.bp.name.clone(),
    };
    if at.resume && exec.resume == Resume::Never {
        // Its pod (the idle pod of a restic function) would idle forever: delete it.
        let mut namespaces = vec![ctx.settings.namespace.clone()];
        if let Some(ns) = args.get("namespace").and_then(|v| v.as_str()).filter(|n| !n.is_empty()) {
            namespaces.push(ns.to_string());
        }
        crate::podrun::delete_phase_pods(ctx, &namespaces, &id.selector()).await;
        return fail(format!(
            "phase {} ({}) was running when the controller stopped and cannot be resumed safely: {} runs its command in an exec session that ended with the controller, and running it again may not be safe; run the action again with a new ActionSet",
            at.bp.name, at.bp.func, at.bp.func
        ));
    }
    let (tx, mut rx) = watch::channel(Transfer::default());
    let pc = PhaseCtx {
        ctx,
        tp,
        id,
        resume: at.resume && exec.resume == Resume::Reattach,
        rerun: at.resume && exec.resume == Resume::Rerun,
        cancel: cancel.clone(),
        progress: tx,
    };
    tracing::info!(ActionSet = at.id.1, Phase = %at.bp.name, Function = %at.bp.func, resumed = at.resume, "executing phase");
    let mut fut = std::pin::pin!((exec.run)(&pc, &args));
    let mut tick = tokio::time::interval(ctx.settings.progress_interval);
    tick.tick().await;
    let result = loop {
        tokio::select! {
            r = &mut fut => break r,
            _ = tick.tick() => {
                if rx.has_changed().unwrap_or(false) {
                    let t = *rx.borrow_and_update();
                    let now = now();
                    let res = w.update(|a| {
                        let s = a.status.get_or_insert_with(Default::default);
                        decide::set_phase_progress(s, at.action, at.phase, live_progress(&t, &now), &now)
                    }).await;
                    if let Err(e) = res {
                        tracing::debug!(error = %e, "could not write phase progress");
                    }
                }
            }
        }
    };
    let transfer = *rx.borrow();
    Finished { result, transfer, seconds: started.elapsed().as_secs_f64() }
}

//! Running one action of an ActionSet (upstream's `runAction`): build its template params,
//! check every phase's function up front, run the phases in order (from where a previous
//! controller stopped, when resuming), always run the deferPhase, render the output artifacts
//! only if everything succeeded, and mark the ActionSet complete when the last action is.
//! Events and metrics as upstream (plus durations and bytes).
//!
//! Every status change goes through the ActionSet's status writer.

use crate::context::{Cancel, Ctx};
use crate::decide::{self, PhaseRef};
use crate::events::actionset_ref;
use crate::phase::{self, Where, now};
use crate::status::StatusWriter;
use kanister::params::{PhaseParams, TemplateParams};
use kanister::types::{ActionSet, Blueprint, BlueprintAction, State};
use std::time::{Duration, Instant};

/// How an action starts.
pub struct Start<'a> {
    /// Action index.
    pub index: usize,
    /// The ActionSet (as read when it started running).
    pub aset: &'a ActionSet,
    /// The action's `.Time`.
    pub time: String,
    /// Resuming after a controller restart.
    pub resume: bool,
    /// The ActionSet's cancellation (deletion); the action adds its timeout.
    pub cancel: Cancel,
    /// The action's timeout, if any.
    pub timeout: Option<Duration>,
}

async fn fail_launch(ctx: &Ctx, w: &StatusWriter, aset: &ActionSet, index: usize, name: &str, msg: &str) {
    let r = w
        .status(|s| {
            if let Some(p) = s.actions.get_mut(index).and_then(|a| a.phases.first_mut())
                && p.state != State::Complete
            {
                p.state = State::Failed;
            }
            decide::action_failed(s, msg);
        })
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "could not record the failure");
    }
    ctx.events
        .warning(
            &actionset_ref(aset),
            &format!("ActionSetFailed Action: {name}"),
            &format!("Failed to launch Action {}:", aset.metadata.name.as_deref().unwrap_or("")),
            msg,
        )
        .await;
    ctx.metrics.action("", name, false, 0.0);
}

/// Every phase function registered (for the action's version) and run by this controller.
fn check_functions(bpa: &BlueprintAction, version: &str) -> Result<(), String> {
    for p in bpa.phases.iter().chain(bpa.defer_phase.iter()) {
        kanister::functions::resolve(&p.func, version).map_err(|e| e.to_string())?;
        crate::functions::executor(&p.func).map_err(|e| format!("{e} (blueprint phase '{}')", p.name))?;
    }
    Ok(())
}

/// Run the action to its end. Returns whether it succeeded.
pub async fn run(ctx: &Ctx, w: &StatusWriter, s: Start<'_>) -> bool {
    let t0 = Instant::now();
    let aset = s.aset;
    let spec = &aset.spec.as_ref().expect("validated").actions[s.index];
    let name = spec.name.clone();
    let aref = actionset_ref(aset);
    let bp: Blueprint =
        match ctx.cluster.blueprint(aset.metadata.namespace.as_deref().unwrap_or(""), &spec.blueprint).await {
            Ok(b) => b,
            Err(e) => {
                fail_launch(ctx, w, aset, s.index, &name, &format!("Failed to query blueprint: {e}")).await;
                return false;
            }
        };
    let bpname = spec.blueprint.clone();
    let Some(bpa) = bp.actions.get(&name).cloned() else {
        let m = format!("Action {name} for object kind {} not found in blueprint {bpname}", spec.object.kind);
        fail_launch(ctx, w, aset, s.index, &name, &m).await;
        return false;
    };
    if !s.resume {
        ctx.events.normal(&aref, "Started Action", &format!("Executing action {name}")).await;
    }
    let input = match crate::params::build_input(ctx, spec, s.time.clone()).await {
        Ok(i) => i,
        Err(e) => {
            fail_launch(ctx, w, aset, s.index, &name, &e).await;
            return false;
        }
    };
    if let Err(e) = check_functions(&bpa, &spec.preferred_version) {
        fail_launch(ctx, w, aset, s.index, &name, &e).await;
        return false;
    }
    let mut tp = TemplateParams::new(input);
    // Object references render once, before the first phase (they cannot use outputs).
    let mut objects = Vec::new();
    for p in bpa.phases.iter() {
        match phase::render_objects(p, &tp) {
            Ok(o) => objects.push(o),
            Err(e) => {
                fail_launch(ctx, w, aset, s.index, &name, &e).await;
                return false;
            }
        }
    }
    let defer_objects = match bpa.defer_phase.as_ref().map(|p| phase::render_objects(p, &tp)).transpose() {
        Ok(o) => o.unwrap_or_default(),
        Err(e) => {
            fail_launch(ctx, w, aset, s.index, &name, &e).await;
            return false;
        }
    };
    // Where to start: completed phases (when resuming) give their outputs back to `.Phases`.
    let status = aset.status.clone().unwrap_or_default();
    let astatus = status.actions.get(s.index).cloned().unwrap_or_default();
    let rp = decide::resume_point(&astatus);
    let mut first = 0;
    if s.resume {
        for (pname, out) in decide::completed_outputs(&astatus) {
            let i = bpa.phases.iter().position(|p| p.name == pname).unwrap_or(0);
            let mut pp: PhaseParams = crate::params::phase_params(ctx, &objects[i]).await.unwrap_or_default();
            pp.output = out;
            tp.phases.insert(pname, pp);
        }
        first = rp.next.unwrap_or(bpa.phases.len());
    }
    let action_cancel = s.cancel.child();
    let timer = s.timeout.map(|d| {
        let c = action_cancel.clone();
        let n = name.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            c.cancel(&format!("action {n} timed out after {}", humantime(d)));
        })
    });
    let id = (
        aset.metadata.namespace.as_deref().unwrap_or(""),
        aset.metadata.name.as_deref().unwrap_or(""),
        aset.metadata.uid.as_deref().unwrap_or(""),
    );
    let mut ok = !(s.resume && rp.failed);
    if ok {
        for (i, p) in bpa.phases.iter().enumerate().skip(first) {
            let resume = s.resume && i == first && rp.was_running;
            let at = Where {
                action: s.index,
                phase: PhaseRef::Main(i),
                bp: p,
                objects: &objects[i],
                id,
                resume,
                version: &spec.preferred_version,
            };
            if !run_phase(ctx, w, &mut tp, at, &action_cancel, &aref, &name).await {
                ok = false;
                break;
            }
        }
    }
    if let Some(t) = timer {
        t.abort();
    }
    // The deferPhase always runs (not under the action's timeout, but under deletion).
    let mut defer_ok = true;
    if let Some(dp) = &bpa.defer_phase
        && rp.defer != State::Complete
    {
        let at = Where {
            action: s.index,
            phase: PhaseRef::Defer,
            bp: dp,
            objects: &defer_objects,
            id,
            resume: s.resume && rp.defer == State::Running,
            version: &spec.preferred_version,
        };
        defer_ok = run_phase(ctx, w, &mut tp, at, &s.cancel, &aref, &name).await;
    }
    let mut success = ok && defer_ok;
    if success {
        // Output artifacts render once, with the final params.
        let templates = status.actions.get(s.index).map(|a| a.artifacts.clone()).unwrap_or_default();
        let rendered = kanister::render::render_artifacts(&templates, &tp.value());
        let res = w
            .status(|st| match &rendered {
                Ok(arts) => {
                    decide::set_artifacts(st, s.index, arts.clone());
                    decide::action_finished(st, s.index);
                }
                Err(e) => decide::action_failed(st, &e.to_string()),
            })
            .await;
        match (&rendered, res) {
            (Err(e), _) => {
                success = false;
                ctx.events
                    .warning(
                        &aref,
                        &format!("ActionSetFailed Action: {name}"),
                        "Failed to render output artifacts",
                        &e.to_string(),
                    )
                    .await;
            }
            (Ok(_), Ok(Some(stored))) if stored.status.as_ref().is_some_and(|st| st.state == State::Complete) => {
                let msg = format!("Updated ActionSet '{}' Status->complete", id.1);
                ctx.events.normal(&actionset_ref(&stored), "Update Complete", &msg).await;
            }
            (Ok(_), Err(e)) => {
                tracing::warn!(error = %e, "could not record the action's artifacts");
                success = false;
            }
            _ => {}
        }
    } else {
        let _ = w
            .status(|st| {
                if st.progress.running_phase.is_empty() || st.state == State::Failed {
                    st.progress.running_phase.clear();
                }
                st.state = State::Failed;
            })
            .await;
    }
    ctx.metrics.action(&bpname, &name, success, t0.elapsed().as_secs_f64());
    tracing::info!(ActionSet = id.1, Action = %name, success, seconds = t0.elapsed().as_secs_f64(), "action finished");
    success
}

/// Run one phase (or the deferPhase) with upstream's events around it, record its end in the
/// status and its outputs in `.Phases` (or `.DeferPhase`); `true` if it succeeded.
async fn run_phase(
    ctx: &Ctx,
    w: &StatusWriter,
    tp: &mut TemplateParams,
    at: Where<'_>,
    cancel: &Cancel,
    aref: &k8s_openapi::api::core::v1::ObjectReference,
    action: &str,
) -> bool {
    let (index, which, pname, func) = (at.action, at.phase, at.bp.name.clone(), at.bp.func.clone());
    let (kind, label) = match which {
        PhaseRef::Main(_) => ("Phase", "phase"),
        PhaseRef::Defer => ("deferPhase", "deferPhase"),
    };
    if !at.resume {
        ctx.events.normal(aref, &format!("Started {kind}"), &format!("Executing {label} {pname}")).await;
    }
    let f = phase::run(ctx, w, tp, at, cancel).await;
    let t = f.transfer;
    ctx.metrics.phase(&func, f.result.is_ok(), f.seconds, t.uploaded.max(0) as u64, t.downloaded.max(0) as u64);
    match f.result {
        Ok(out) => {
            let n = now();
            let prog =
                decide::finished_progress(t.uploaded, t.downloaded, t.estimated_upload, t.estimated_download, &n);
            let res = w.status(|st| decide::phase_complete(st, index, which, out.clone(), prog.clone(), &n)).await;
            if let Err(e) = res {
                tracing::warn!(error = %e, "could not record a completed phase");
                return false;
            }
            match which {
                PhaseRef::Main(_) => {
                    if let Some(pp) = tp.phases.get_mut(&pname) {
                        pp.output = out;
                    }
                }
                PhaseRef::Defer => tp.defer.output = out,
            }
            tp.current = None;
            ctx.events.normal(aref, &format!("Ended {kind}"), &format!("Completed {label} {pname}")).await;
            true
        }
        Err(e) => {
            let e = scrub(ctx, &e);
            tracing::warn!(Phase = %pname, error = %e, "phase failed");
            let _ = w.status(|st| decide::phase_failed(st, index, which, &e)).await;
            let what = if which == PhaseRef::Defer { "defer phase" } else { "phase" };
            ctx.events
                .warning(
                    aref,
                    &format!("ActionSetFailed Action: {action}"),
                    &format!("Failed to execute {what} {pname}:"),
                    &e,
                )
                .await;
            false
        }
    }
}

fn scrub(ctx: &Ctx, s: &str) -> String {
    ctx.password.as_ref().map(|p| p.scrub(s)).unwrap_or_else(|| s.to_string())
}

fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

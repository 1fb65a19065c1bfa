//! Running one ActionSet (upstream's `onAddActionSet` + `handleActionSet`): validate it,
//! write its initial status if it has none, move it from `pending` to `running` (recording
//! each action's `.Time` so a resumed action renders the same paths), and run its actions
//! concurrently. A resumed ActionSet skips the first two steps and goes on from its status.
//!
//! The per-action work is `action`; this module only sequences the ActionSet.

use crate::context::{ANNOTATION_TIMEOUT, ANNOTATION_TIMES, Cancel, Ctx};
use crate::decide::{self, InitError};
use crate::events::actionset_ref;
use crate::status::StatusWriter;
use kanister::types::{ActionSet, State};
use std::sync::Arc;
use std::time::Duration;

/// How the runner found the ActionSet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// New or pending.
    Run,
    /// Running when this controller started (or took over).
    Resume,
}

/// `.Time` as upstream formats it (RFC 3339 with nanoseconds, UTC).
fn action_time() -> String {
    let t = jiff::Timestamp::now();
    t.to_string()
}

/// The per-action timeout: the ActionSet's annotation, else the controller's default.
fn timeout_of(ctx: &Ctx, a: &ActionSet) -> Result<Option<Duration>, String> {
    match a.metadata.annotations.as_ref().and_then(|m| m.get(ANNOTATION_TIMEOUT)) {
        Some(v) => {
            crate::jsonpath::parse_go_duration(v).map(Some).map_err(|e| format!("annotation {ANNOTATION_TIMEOUT}: {e}"))
        }
        None => Ok(ctx.settings.action_timeout),
    }
}

/// Run (or resume) ActionSet `namespace/name` to its end.
pub async fn run(ctx: Arc<Ctx>, namespace: String, name: String, mode: Mode, cancel: Cancel) {
    let w = StatusWriter::new(ctx.cluster.clone(), &namespace, &name);
    let mut a = match w.get().await {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(ActionSet = %name, error = %e, "ActionSet vanished before it ran");
            return;
        }
    };
    let aref = actionset_ref(&a);
    if let Err(e) = kanister::validate::validate_actionset(&a) {
        tracing::warn!(ActionSet = %name, error = %e, "invalid ActionSet");
        ctx.events.warning(&aref, "Error", "Callback onAddActionSet() failed:", &e.to_string()).await;
        return;
    }
    if a.status.is_none() {
        let init = {
            let mut lookups = Vec::new();
            for s in &a.spec.as_ref().map(|s| s.actions.clone()).unwrap_or_default() {
                if !s.blueprint.is_empty() && !lookups.iter().any(|(n, _)| n == &s.blueprint) {
                    let r = ctx.cluster.blueprint(&namespace, &s.blueprint).await.map_err(|e| e.to_string());
                    lookups.push((s.blueprint.clone(), r));
                }
            }
            decide::initial_status(&a, |bp| {
                lookups
                    .iter()
                    .find(|(n, _)| n == bp)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_else(|| Err("not looked up".into()))
            })
        };
        let status = match &init {
            Ok(s) => s.clone(),
            Err(InitError { message, reason }) => {
                ctx.events.warning(&aref, reason, "Could not get blueprint:", message).await;
                ctx.metrics.action("", "", false, 0.0);
                decide::failed_status(init.as_ref().unwrap_err())
            }
        };
        let set = |x: &mut ActionSet| {
            if x.status.is_some() {
                return false;
            }
            x.status = Some(status.clone());
            true
        };
        // A failed initialisation has no actions, which upstream's status check refuses.
        let written = if init.is_ok() { w.update(set).await } else { w.update_unchecked(set).await };
        match written {
            Ok(Some(stored)) => a = stored,
            Ok(None) => {
                a = match w.get().await {
                    Ok(x) => x,
                    Err(_) => return,
                }
            }
            Err(e) => {
                tracing::warn!(ActionSet = %name, error = %e, "could not initialise the status");
                ctx.events.warning(&aref, "Update Failed", "Could not update ActionSet:", &e.to_string()).await;
                return;
            }
        }
        if init.is_err() {
            return;
        }
    }
    let n_actions = a.spec.as_ref().map(|s| s.actions.len()).unwrap_or(0);
    let times: Vec<String> = match mode {
        Mode::Run => {
            if a.status.as_ref().map(|s| &s.state) != Some(&State::Pending) {
                return;
            }
            let times: Vec<String> = (0..n_actions).map(|_| action_time()).collect();
            let tj = serde_json::to_string(&times).unwrap_or_default();
            let res = w
                .update(|x| {
                    let Some(st) = x.status.as_mut() else { return false };
                    if st.state != State::Pending {
                        return false;
                    }
                    st.state = State::Running;
                    x.metadata
                        .annotations
                        .get_or_insert_with(Default::default)
                        .insert(ANNOTATION_TIMES.into(), tj.clone());
                    true
                })
                .await;
            match res {
                Ok(Some(stored)) => a = stored,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(ActionSet = %name, error = %e, "could not start");
                    return;
                }
            }
            times
        }
        Mode::Resume => {
            let recorded: Vec<String> = a
                .metadata
                .annotations
                .as_ref()
                .and_then(|m| m.get(ANNOTATION_TIMES))
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default();
            tracing::info!(ActionSet = %name, "resuming an ActionSet that was running when the controller stopped");
            ctx.events
                .normal(
                    &aref,
                    "Resumed",
                    "Resuming the actions of an ActionSet that was running when the controller stopped",
                )
                .await;
            (0..n_actions).map(|i| recorded.get(i).cloned().unwrap_or_else(action_time)).collect()
        }
    };
    let timeout = match timeout_of(&ctx, &a) {
        Ok(t) => t,
        Err(e) => {
            let _ = w.status(|s| decide::action_failed(s, &e)).await;
            return;
        }
    };
    ctx.metrics.running(1);
    let a = &a;
    let runs = (0..n_actions).map(|i| {
        let (ctx, w, cancel, time) = (ctx.clone(), w.clone(), cancel.clone(), times[i].clone());
        async move {
            crate::action::run(
                &ctx,
                &w,
                crate::action::Start { index: i, aset: a, time, resume: mode == Mode::Resume, cancel, timeout },
            )
            .await
        }
    });
    let results = futures::future::join_all(runs).await;
    ctx.metrics.running(-1);
    tracing::info!(ActionSet = %name, succeeded = results.iter().filter(|r| **r).count(), of = results.len(), "ActionSet finished");
}

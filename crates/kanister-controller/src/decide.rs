//! The controller's decisions, as pure functions over ActionSets (no I/O, no clock: callers
//! pass the time), so unit tests drive every branch of the lifecycle (kanister-spec §7):
//!
//! * [`next_step`]: given an ActionSet event and what this process already knows of it,
//!   run it, resume it, or leave it alone;
//! * [`initial_status`]: the status upstream writes first (every phase `pending`, artifacts as
//!   the blueprint's templates), or the error that fails the ActionSet;
//! * the status mutations the runner applies through the status writer: a phase running,
//!   complete or failed; artifacts rendered; the ActionSet complete; progress aggregated;
//! * [`resume_point`]: where an action that was running when a controller stopped goes on.
//!
//! This module must not talk to the cluster or read the time itself.

use kanister::types::{
    ActionSet, ActionSetStatus, ActionSpec, ActionStatus, Artifact, Blueprint, Phase, PhaseProgress, State,
};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// What this controller process already knows of an ActionSet (by uid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A runner of this process is working on it.
    Running,
    /// Finished or not ours to run: nothing more to do.
    Done,
}

/// What to do on an ActionSet event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Initialise its status if needed and run it (state absent or `pending`).
    Run,
    /// It was `running` before this process saw it: a controller stopped in the middle.
    Resume,
    /// Nothing to do now; remember it as done.
    Done,
    /// Nothing to do (a runner has it, or it is already done).
    Ignore,
}

/// Upstream starts ActionSets with no status or a `pending` one, and leaves `running` ones
/// alone after a restart; we resume those instead (the first time this process sees them).
pub fn next_step(a: &ActionSet, seen: Option<Seen>) -> Step {
    if seen.is_some() {
        return Step::Ignore;
    }
    if a.metadata.deletion_timestamp.is_some() {
        return Step::Done;
    }
    match a.status.as_ref().map(|s| &s.state) {
        None | Some(State::Pending) => Step::Run,
        Some(State::Running) => Step::Resume,
        _ => Step::Done,
    }
}

/// Which phase of an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PhaseRef {
    /// `phases[i]`.
    Main(usize),
    /// The deferPhase.
    Defer,
}

impl PhaseRef {
    /// The phase's status in an action.
    pub fn get<'a>(&self, a: &'a ActionStatus) -> Option<&'a Phase> {
        match self {
            PhaseRef::Main(i) => a.phases.get(*i),
            PhaseRef::Defer => Some(&a.defer_phase),
        }
    }

    fn get_mut<'a>(&self, a: &'a mut ActionStatus) -> Option<&'a mut Phase> {
        match self {
            PhaseRef::Main(i) => a.phases.get_mut(*i),
            PhaseRef::Defer => Some(&mut a.defer_phase),
        }
    }

    /// A stable label value for the phase (`0`, `1`, …, `defer`), used on function pods.
    pub fn label(&self) -> String {
        match self {
            PhaseRef::Main(i) => i.to_string(),
            PhaseRef::Defer => "defer".into(),
        }
    }
}

/// Why the initial status could not be built: the message for `status.error.message` and the
/// event reason upstream records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitError {
    /// `status.error.message`.
    pub message: String,
    /// Event reason (`Blueprint not specified`, `Error`, `ActionSetFailed Action: x`).
    pub reason: String,
}

/// The status of one action before it runs (upstream's `initialActionStatus`).
pub fn initial_action_status(a: &ActionSpec, bp: &Blueprint) -> Result<ActionStatus, String> {
    let bpa = bp.actions.get(&a.name).ok_or_else(|| {
        format!("Action {} for object kind {} not found in blueprint {}", a.name, a.object.kind, a.blueprint)
    })?;
    let phases =
        bpa.phases.iter().map(|p| Phase { name: p.name.clone(), state: State::Pending, ..Phase::default() }).collect();
    let defer_phase = bpa
        .defer_phase
        .as_ref()
        .map(|p| Phase { name: p.name.clone(), state: State::Pending, ..Phase::default() })
        .unwrap_or_default();
    Ok(ActionStatus {
        name: a.name.clone(),
        object: a.object.clone(),
        blueprint: a.blueprint.clone(),
        phases,
        artifacts: bpa.output_artifacts.clone(),
        defer_phase,
    })
}

/// The status upstream writes for a new ActionSet: `pending` with every action's phases, or
/// the first error (no blueprint named, blueprint missing, action missing).
/// `blueprint(name)` looks a Blueprint up in the ActionSet's namespace.
pub fn initial_status(
    a: &ActionSet,
    mut blueprint: impl FnMut(&str) -> Result<Blueprint, String>,
) -> Result<ActionSetStatus, InitError> {
    let spec = a.spec.as_ref().ok_or_else(|| InitError {
        message: "Spec must be non-nil: Validation Failed".into(),
        reason: "Error".into(),
    })?;
    let mut actions = Vec::with_capacity(spec.actions.len());
    for s in &spec.actions {
        if s.blueprint.is_empty() {
            return Err(InitError {
                message: "Blueprint is not specified for action".into(),
                reason: "Blueprint not specified".into(),
            });
        }
        let bp = blueprint(&s.blueprint)
            .map_err(|e| InitError { message: format!("Failed to query blueprint: {e}"), reason: "Error".into() })?;
        let st = initial_action_status(s, &bp)
            .map_err(|message| InitError { message, reason: format!("ActionSetFailed Action: {}", s.name) })?;
        actions.push(st);
    }
    Ok(ActionSetStatus { state: State::Pending, actions, ..ActionSetStatus::default() })
}

/// The status of an ActionSet that failed before it ran.
pub fn failed_status(e: &InitError) -> ActionSetStatus {
    let mut s = ActionSetStatus { state: State::Failed, ..ActionSetStatus::default() };
    s.error.message = e.message.clone();
    s
}

/// A phase starts: it and `runningPhase` say so.
pub fn phase_running(s: &mut ActionSetStatus, action: usize, phase: PhaseRef) {
    let Some(a) = s.actions.get_mut(action) else { return };
    let Some(p) = phase.get_mut(a) else { return };
    p.state = State::Running;
    s.progress.running_phase = p.name.clone();
}

/// A phase succeeded with `output` and its final progress; the ActionSet's percent follows.
pub fn phase_complete(
    s: &mut ActionSetStatus,
    action: usize,
    phase: PhaseRef,
    output: BTreeMap<String, Json>,
    progress: PhaseProgress,
    now: &str,
) {
    let Some(a) = s.actions.get_mut(action) else { return };
    let Some(p) = phase.get_mut(a) else { return };
    p.state = State::Complete;
    p.output = output;
    p.progress = progress;
    aggregate_progress(s, now);
}

/// A phase failed: it and the ActionSet are `failed`, the error is recorded, nothing runs.
pub fn phase_failed(s: &mut ActionSetStatus, action: usize, phase: PhaseRef, message: &str) {
    if let Some(p) = s.actions.get_mut(action).and_then(|a| phase.get_mut(a)) {
        p.state = State::Failed;
    }
    action_failed(s, message);
}

/// The ActionSet failed (a phase, an artifact, a resolution step).
pub fn action_failed(s: &mut ActionSetStatus, message: &str) {
    s.state = State::Failed;
    s.progress.running_phase.clear();
    s.error.message = message.to_string();
}

/// Rendered output artifacts replace the templates.
pub fn set_artifacts(s: &mut ActionSetStatus, action: usize, arts: BTreeMap<String, Artifact>) {
    if let Some(a) = s.actions.get_mut(action) {
        a.artifacts = arts;
    }
}

/// An action finished (all phases and the deferPhase succeeded): clear `runningPhase` if it
/// is one of this action's phases, and mark the ActionSet `complete` once every phase of every
/// action is complete and nothing failed (upstream's `maybeSetActionSetStateComplete`).
pub fn action_finished(s: &mut ActionSetStatus, action: usize) {
    if let Some(a) = s.actions.get(action) {
        let rp = &s.progress.running_phase;
        if a.phases.iter().chain(std::iter::once(&a.defer_phase)).any(|p| !p.name.is_empty() && &p.name == rp) {
            s.progress.running_phase.clear();
        }
    }
    let all_done = s.actions.iter().flat_map(|a| &a.phases).all(|p| p.state == State::Complete);
    if all_done && s.state != State::Failed {
        s.state = State::Complete;
        s.progress.running_phase.clear();
    }
}

/// Live progress of a running phase; `false` when nothing changed (no write needed) or the
/// phase is not running any more.
pub fn set_phase_progress(
    s: &mut ActionSetStatus,
    action: usize,
    phase: PhaseRef,
    progress: PhaseProgress,
    now: &str,
) -> bool {
    let Some(p) = s.actions.get_mut(action).and_then(|a| phase.get_mut(a)) else { return false };
    if p.state != State::Running || same_progress(&p.progress, &progress) {
        return false;
    }
    p.progress = progress;
    aggregate_progress(s, now);
    true
}

fn same_progress(a: &PhaseProgress, b: &PhaseProgress) -> bool {
    a.progress_percent == b.progress_percent
        && a.size_downloaded_b == b.size_downloaded_b
        && a.size_uploaded_b == b.size_uploaded_b
        && a.estimated_download_size_b == b.estimated_download_size_b
        && a.estimated_upload_size_b == b.estimated_upload_size_b
        && a.estimated_time_seconds == b.estimated_time_seconds
}

/// Upstream's `SetActionSetPercentCompleted`: the integer mean of every phase's percent
/// (deferPhases excluded), byte counters summed; `lastTransitionTime` moves only on change.
pub fn aggregate_progress(s: &mut ActionSetStatus, now: &str) {
    let (mut sum, mut n) = (0i64, 0i64);
    let (mut up, mut down, mut eup, mut edown) = (0i64, 0i64, 0i64, 0i64);
    for p in s.actions.iter().flat_map(|a| &a.phases) {
        up += p.progress.size_uploaded_b;
        down += p.progress.size_downloaded_b;
        eup += p.progress.estimated_upload_size_b;
        edown += p.progress.estimated_download_size_b;
        n += 1;
        sum += p.progress.progress_percent.parse::<i64>().unwrap_or(0);
    }
    let percent = if n > 0 { (sum / n).to_string() } else { "0".into() };
    let pr = &mut s.progress;
    if pr.percent_completed == percent
        && pr.size_uploaded_b == up
        && pr.size_downloaded_b == down
        && pr.estimated_upload_size_b == eup
        && pr.estimated_download_size_b == edown
    {
        return;
    }
    pr.percent_completed = percent;
    pr.size_uploaded_b = up;
    pr.size_downloaded_b = down;
    pr.estimated_upload_size_b = eup;
    pr.estimated_download_size_b = edown;
    pr.last_transition_time = Some(now.to_string());
}

/// Where an action goes on after a controller restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    /// The first phase that is not complete (`None`: all phases complete).
    pub next: Option<usize>,
    /// That phase was already `running` (its function must re-attach or re-run).
    pub was_running: bool,
    /// A phase already failed: only the deferPhase may still have to run.
    pub failed: bool,
    /// The deferPhase's state.
    pub defer: State,
}

/// Read an action's status to see where it stopped.
pub fn resume_point(a: &ActionStatus) -> ResumePoint {
    let idx = a.phases.iter().position(|p| p.state != State::Complete);
    let state = idx.map(|i| a.phases[i].state.clone());
    ResumePoint {
        next: idx,
        was_running: state == Some(State::Running),
        failed: state == Some(State::Failed),
        defer: a.defer_phase.state.clone(),
    }
}

/// The outputs of the complete phases of an action, by phase name (to rebuild `.Phases`).
pub fn completed_outputs(a: &ActionStatus) -> Vec<(String, BTreeMap<String, Json>)> {
    a.phases.iter().filter(|p| p.state == State::Complete).map(|p| (p.name.clone(), p.output.clone())).collect()
}

/// Final progress of a phase that finished: `100` plus whatever bytes it moved.
pub fn finished_progress(uploaded: i64, downloaded: i64, est_up: i64, est_down: i64, now: &str) -> PhaseProgress {
    PhaseProgress {
        progress_percent: "100".into(),
        size_uploaded_b: uploaded,
        size_downloaded_b: downloaded,
        estimated_upload_size_b: est_up,
        estimated_download_size_b: est_down,
        estimated_time_seconds: 0,
        last_transition_time: Some(now.to_string()),
    }
}

#[cfg(test)]
mod tests;

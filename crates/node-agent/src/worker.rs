//! One pod's life on this node, as one task: volumes, init containers in order, app containers
//! together, restarts per restartPolicy (with a short back-off), readiness probes, status
//! patches after every change, and the end: a pod with a deletionTimestamp gets SIGTERM, then
//! SIGKILL after its grace period (at most 30 s), then is deleted with gracePeriodSeconds 0 and
//! a uid precondition (as the kubelet finishes a deletion); a pod that vanished from the API is
//! killed at once. Either way its directory goes (PV directories stay). The agent's own
//! shutdown kills the processes but leaves the pod in the API.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::container::{self, StartError};
use crate::ctx::Ctx;
use crate::probe::{self, ProbeResult};
use crate::registry::{ContainerEntry, PodEntry, RunState};
use crate::status::{CRuntime, CState, Conditions, PodRuntime, Term};
use crate::volumes::{self, VolError, VolPath};

/// Something happened to a container run.
#[derive(Debug)]
pub enum Event {
    /// The run's process ended with this code (128 + signal for a signal).
    Exited {
        /// Container slot.
        slot: usize,
        /// Its run.
        attempt: u64,
        /// Exit code.
        code: i32,
    },
    /// A readiness transition.
    Probe(ProbeResult),
}

struct Slot {
    spec: Container,
    init: bool,
    entry: Arc<ContainerEntry>,
    rt: CRuntime,
    attempt: u64,
    pid: Option<u32>,
    started_at: Option<Timestamp>,
    restart_at: Option<Instant>,
    crashes: u32,
    probe: Option<JoinHandle<()>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Preparing,
    Init(usize),
    Main,
    /// Nothing more to run (terminal, or taken over terminal from an earlier agent).
    Idle,
    Terminating {
        deadline: Instant,
        killed: bool,
    },
}

struct Worker {
    ctx: Arc<Ctx>,
    pod: Arc<Pod>,
    ns: String,
    name: String,
    uid: String,
    dir: PathBuf,
    slots: Vec<Slot>,
    stage: Stage,
    vols: Option<HashMap<String, VolPath>>,
    failure: Option<(String, String)>,
    start_time: Timestamp,
    conds: Conditions,
    last_status: Option<serde_json::Value>,
    wake: Option<Instant>,
    tx: mpsc::UnboundedSender<Event>,
}

fn restart_policy(pod: &Pod) -> String {
    pod.spec.as_ref().and_then(|s| s.restart_policy.clone()).unwrap_or_else(|| "Always".into())
}

/// Runs a pod until it is deleted (or vanished, or the agent stops).
pub async fn run(
    ctx: Arc<Ctx>,
    pod: Arc<Pod>,
    mut updates: watch::Receiver<Option<Arc<Pod>>>,
    stop: CancellationToken,
) {
    let (tx, mut events) = mpsc::unbounded_channel();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let dir = ctx.pod_dir(&uid);
    let spec = pod.spec.clone().unwrap_or_default();
    let mut slots = Vec::new();
    let all =
        spec.init_containers.iter().flatten().map(|c| (c, true)).chain(spec.containers.iter().map(|c| (c, false)));
    for (c, init) in all {
        let (run, _) = watch::channel(RunState { attempt: 0, running: false, pid: None });
        let entry = Arc::new(ContainerEntry {
            log: dir.join(format!("{}.log", c.name)),
            prev_log: dir.join(format!("{}.log.previous", c.name)),
            spec: dir.join(format!("{}.spec.json", c.name)),
            run,
        });
        let image = c.image.clone().unwrap_or_default();
        let reason = if init { "PodInitializing" } else { "ContainerCreating" };
        slots.push(Slot {
            spec: c.clone(),
            init,
            entry,
            rt: CRuntime::new(&c.name, &image, reason),
            attempt: 0,
            pid: None,
            started_at: None,
            restart_at: None,
            crashes: 0,
            probe: None,
        });
    }
    let terminal = matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
    let mut w = Worker {
        ctx: ctx.clone(),
        pod: pod.clone(),
        ns: ns.clone(),
        name: name.clone(),
        uid: uid.clone(),
        dir: dir.clone(),
        slots,
        stage: if terminal { Stage::Idle } else { Stage::Preparing },
        vols: None,
        failure: None,
        start_time: Timestamp::now(),
        conds: Conditions::default(),
        last_status: None,
        wake: None,
        tx,
    };
    if terminal {
        tracing::info!(pod = format!("{ns}/{name}"), "pod already finished before this agent started: not run again");
    } else {
        tracing::info!(pod = format!("{ns}/{name}"), uid, "pod assigned to this node: starting");
        if let Err(e) = std::fs::create_dir_all(dir.join("volumes")) {
            w.failure = Some(("PodDirError".into(), format!("creating {}: {e}", dir.display())));
            w.stage = Stage::Idle;
        }
        let containers = w.slots.iter().map(|s| (s.spec.name.clone(), s.entry.clone())).collect();
        ctx.registry.insert(&ns, &name, Arc::new(PodEntry { uid: uid.clone(), containers }));
    }
    if w.pod.metadata.deletion_timestamp.is_some() {
        w.begin_termination();
    }
    loop {
        w.step().await;
        if let Stage::Terminating { .. } = w.stage {
            if w.slots.iter().all(|s| s.pid.is_none()) {
                w.finish_deletion().await;
                break;
            }
        } else {
            w.publish().await;
        }
        let wake = w.wake.take().unwrap_or_else(|| Instant::now() + Duration::from_secs(5));
        tokio::select! {
            _ = stop.cancelled() => {
                w.shutdown(Duration::from_secs(3)).await;
                break;
            }
            changed = updates.changed() => {
                let next = if changed.is_ok() { updates.borrow_and_update().clone() } else { None };
                match next {
                    None => {
                        tracing::info!(pod = format!("{ns}/{name}"), "pod vanished from the API: killing it");
                        w.shutdown(Duration::ZERO).await;
                        w.cleanup().await;
                        break;
                    }
                    Some(p) => {
                        let deleting = p.metadata.deletion_timestamp.is_some();
                        w.pod = p;
                        if deleting && !matches!(w.stage, Stage::Terminating { .. }) {
                            w.begin_termination();
                        }
                    }
                }
            }
            Some(ev) = events.recv() => w.handle(ev).await,
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

impl Worker {
    fn label(&self) -> String {
        format!("{}/{}", self.ns, self.name)
    }

    fn set_wake(&mut self, at: Instant) {
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }

    /// Does what the stage asks for now.
    async fn step(&mut self) {
        match self.stage {
            Stage::Preparing => self.prepare().await,
            Stage::Init(i) => {
                if i >= self.slots.len() || !self.slots[i].init {
                    self.stage = Stage::Main;
                    Box::pin(self.step()).await;
                } else {
                    self.start_due(i).await;
                }
            }
            Stage::Main => {
                for i in 0..self.slots.len() {
                    if !self.slots[i].init {
                        self.start_due(i).await;
                    }
                }
            }
            Stage::Terminating { deadline, killed } => {
                let now = Instant::now();
                if now >= deadline && !killed {
                    tracing::info!(pod = self.label(), "grace period over: killing");
                    for s in &self.slots {
                        if let Some(pid) = s.pid {
                            crate::process::kill_run(pid);
                        }
                    }
                    self.stage = Stage::Terminating { deadline: now + Duration::from_secs(2), killed: true };
                    self.set_wake(now + Duration::from_secs(2));
                } else if now >= deadline {
                    // Killed and still not reaped: give up waiting.
                    for s in &mut self.slots {
                        s.pid = None;
                    }
                } else {
                    self.set_wake(deadline);
                }
            }
            Stage::Idle => {}
        }
    }

    async fn prepare(&mut self) {
        let vctx = volumes::VolCtx {
            client: &self.ctx.client,
            pvcs: &self.ctx.cache.pvcs.store,
            pvs: &self.ctx.cache.pvs.store,
        };
        match volumes::resolve(&vctx, &self.pod, &self.dir).await {
            Ok(v) => {
                let (pod, v2) = (self.pod.clone(), v.clone());
                let owned = tokio::task::spawn_blocking(move || volumes::fix_ownership(&pod, &v2)).await;
                if let Ok(Err(e)) = owned {
                    tracing::warn!(pod = self.label(), "setting volume ownership: {e}");
                }
                tracing::info!(pod = self.label(), volumes = v.len(), "volumes ready");
                self.vols = Some(v);
                self.stage = Stage::Init(0);
                self.set_wake(Instant::now());
            }
            Err(VolError::Wait(msg)) => {
                for s in &mut self.slots {
                    let reason = if s.init { "PodInitializing" } else { "ContainerCreating" };
                    s.rt.state = CState::Waiting { reason: reason.into(), message: Some(msg.clone()) };
                }
                // PVC/PV changes wake the loop through pod updates rarely: poll.
                self.set_wake(Instant::now() + Duration::from_millis(300));
            }
            Err(VolError::Fatal(msg)) => {
                tracing::warn!(pod = self.label(), "pod failed: {msg}");
                self.failure = Some(("UnsupportedVolume".into(), msg));
                self.stage = Stage::Idle;
            }
        }
    }

    /// Starts slot `i` if it never ran or its restart time has come.
    async fn start_due(&mut self, i: usize) {
        let s = &self.slots[i];
        if s.pid.is_some() {
            return;
        }
        let due = match s.restart_at {
            Some(at) => at <= Instant::now(),
            None => s.attempt == 0 || matches!(s.rt.state, CState::Waiting { .. }),
        };
        if !due {
            if let Some(at) = s.restart_at {
                self.set_wake(at);
            }
            return;
        }
        let rotate = s.attempt > 0;
        let vols = self.vols.clone().unwrap_or_default();
        let res = container::start(&self.ctx, &self.pod, &s.spec, &vols, &s.entry, &self.dir, rotate).await;
        let label = self.label();
        let s = &mut self.slots[i];
        match res {
            Ok(mut child) => {
                let pid = child.id().unwrap_or(0);
                if s.attempt > 0 {
                    s.rt.restarts += 1;
                }
                s.attempt += 1;
                s.pid = Some(pid);
                s.restart_at = None;
                let now = Timestamp::now();
                s.started_at = Some(now);
                s.rt.state = CState::Running { started_at: now, container_id: format!("kanrepo://{pid}") };
                s.rt.ready = s.spec.readiness_probe.is_none();
                s.entry.run.send_replace(RunState { attempt: s.attempt, running: true, pid: Some(pid) });
                tracing::info!(pod = label, container = s.spec.name, pid, attempt = s.attempt, "container started");
                let (tx, slot, attempt) = (self.tx.clone(), i, s.attempt);
                tokio::spawn(async move {
                    let code = match child.wait().await {
                        Ok(st) => st
                            .code()
                            .unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(9)),
                        Err(_) => 137,
                    };
                    let _ = tx.send(Event::Exited { slot, attempt, code });
                });
                if let Some(p) = s.spec.readiness_probe.clone() {
                    let target = probe::Target {
                        tools: self.ctx.tools.clone(),
                        run_pid: pid,
                        spec: s.entry.spec.clone(),
                        slot: i,
                        attempt: s.attempt,
                    };
                    s.probe = Some(tokio::spawn(probe::run(p, s.spec.clone(), target, self.tx.clone())));
                }
            }
            Err(e) => {
                let (reason, msg) = match e {
                    StartError::Config(m) => ("CreateContainerConfigError", m),
                    StartError::Run(m) => ("RunContainerError", m),
                };
                tracing::warn!(pod = label, container = s.spec.name, "{reason}: {msg}");
                s.rt.state = CState::Waiting { reason: reason.into(), message: Some(msg) };
                let at = Instant::now() + Duration::from_secs(1);
                s.restart_at = Some(at);
                self.set_wake(at);
            }
        }
    }

    async fn handle(&mut self, ev: Event) {
        match ev {
            Event::Probe(r) => {
                let label = self.label();
                if let Some(s) = self.slots.get_mut(r.slot).filter(|s| s.attempt == r.attempt && s.pid.is_some()) {
                    s.rt.ready = r.ready;
                    tracing::info!(pod = label, container = s.spec.name, ready = r.ready, "readiness changed");
                }
            }
            Event::Exited { slot, attempt, code } => self.exited(slot, attempt, code),
        }
    }

    fn exited(&mut self, i: usize, attempt: u64, code: i32) {
        let policy = restart_policy(&self.pod);
        let terminating = matches!(self.stage, Stage::Terminating { .. });
        let label = self.label();
        let Some(s) = self.slots.get_mut(i).filter(|s| s.attempt == attempt) else { return };
        let pid = s.pid.take().unwrap_or(0);
        if let Some(p) = s.probe.take() {
            p.abort();
        }
        s.rt.ready = false;
        s.entry.run.send_replace(RunState { attempt, running: false, pid: None });
        let message = (code != 0)
            .then(|| std::fs::read(&s.entry.log).ok().map(|b| crate::logs::last_lines(&b, 10, 2048)))
            .flatten()
            .filter(|m| !m.is_empty());
        let now = Timestamp::now();
        let started = s.started_at.unwrap_or(now);
        let term = Term {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message,
            started_at: started,
            finished_at: now,
            container_id: format!("kanrepo://{pid}"),
        };
        tracing::info!(pod = label, container = s.spec.name, exit_code = code, "container exited");
        let restart = !terminating
            && if s.init {
                code != 0 && policy != "Never"
            } else {
                policy == "Always" || (policy == "OnFailure" && code != 0)
            };
        if restart {
            if now.duration_since(started).as_secs_f64() > 10.0 {
                s.crashes = 0;
            }
            let delay = if s.crashes == 0 {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(1 << (s.crashes - 1).min(3)).min(Duration::from_secs(10))
            };
            s.crashes += 1;
            s.rt.last = Some(term);
            s.rt.state = CState::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some(format!("back-off {}ms restarting container {}", delay.as_millis(), s.spec.name)),
            };
            let at = Instant::now() + delay;
            s.restart_at = Some(at);
            self.set_wake(at);
            return;
        }
        s.rt.state = CState::Terminated(term);
        if s.init && code == 0 {
            if let Stage::Init(k) = self.stage
                && k == i
            {
                self.stage = Stage::Init(k + 1);
                self.set_wake(Instant::now());
            }
        } else if s.init {
            self.stage = Stage::Idle; // restartPolicy Never: the pod has failed
        }
    }

    fn runtime(&self) -> PodRuntime {
        let init_done = !matches!(self.stage, Stage::Preparing | Stage::Init(_))
            && self
                .slots
                .iter()
                .filter(|s| s.init)
                .all(|s| matches!(&s.rt.state, CState::Terminated(t) if t.exit_code == 0));
        PodRuntime {
            restart_policy: restart_policy(&self.pod),
            init: self.slots.iter().filter(|s| s.init).map(|s| s.rt.clone()).collect(),
            main: self.slots.iter().filter(|s| !s.init).map(|s| s.rt.clone()).collect(),
            init_done,
            start_time: self.start_time,
            failure: self.failure.clone(),
        }
    }

    /// Patches the pod's status when it changed.
    async fn publish(&mut self) {
        if self.stage == Stage::Idle && self.failure.is_none() && self.slots.iter().all(|s| s.attempt == 0) {
            return; // a pod taken over as finished keeps the status it has
        }
        let status = crate::status::compute(&self.runtime(), &mut self.conds, Timestamp::now());
        let Ok(value) = serde_json::to_value(&status) else { return };
        if self.last_status.as_ref() == Some(&value) {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let patch = Patch::Merge(serde_json::json!({ "status": value }));
        match api.patch_status(&self.name, &PatchParams::default(), &patch).await {
            Ok(_) => {
                let phase = status.phase.clone().unwrap_or_default();
                let old = self.last_status.as_ref().and_then(|v| v["phase"].as_str().map(str::to_string));
                if old.as_deref() != Some(phase.as_str()) {
                    tracing::info!(pod = self.label(), phase, "pod phase");
                }
                self.last_status = Some(value);
            }
            Err(e) => {
                tracing::debug!(pod = self.label(), "patching the pod status: {e}");
                self.set_wake(Instant::now() + Duration::from_millis(500));
            }
        }
    }

    fn begin_termination(&mut self) {
        let grace = self.pod.metadata.deletion_grace_period_seconds.unwrap_or(30).clamp(0, 30) as u64;
        tracing::info!(pod = self.label(), grace_seconds = grace, "pod deleted: stopping its containers");
        for s in &mut self.slots {
            s.restart_at = None;
            if let Some(pid) = s.pid {
                if grace == 0 {
                    crate::process::kill_run(pid);
                } else {
                    crate::process::terminate(pid);
                }
            }
        }
        // After a SIGKILL (grace 0) the deadline only bounds the wait for the exits.
        let wait = Duration::from_secs(if grace == 0 { 2 } else { grace });
        self.stage = Stage::Terminating { deadline: Instant::now() + wait, killed: grace == 0 };
    }

    /// Ends every run: SIGTERM, then SIGKILL after `grace`; waits for the exits (bounded).
    async fn shutdown(&mut self, grace: Duration) {
        for s in &self.slots {
            if let Some(pid) = s.pid {
                if grace.is_zero() {
                    crate::process::kill_run(pid);
                } else {
                    crate::process::terminate(pid);
                }
            }
        }
        let deadline = Instant::now() + grace;
        let mut killed = grace.is_zero();
        while self.slots.iter().any(|s| s.pid.is_some()) {
            let now = Instant::now();
            if now >= deadline && !killed {
                for s in &self.slots {
                    if let Some(pid) = s.pid {
                        crate::process::kill_run(pid);
                    }
                }
                killed = true;
            }
            if now >= deadline + Duration::from_secs(2) {
                break;
            }
            // Exits arrive as events; poll the pids meanwhile.
            tokio::time::sleep(Duration::from_millis(50)).await;
            for s in &mut self.slots {
                if s.pid.is_some_and(|pid| !crate::process::alive(pid)) {
                    s.pid = None;
                }
            }
        }
        for s in &mut self.slots {
            if let Some(p) = s.probe.take() {
                p.abort();
            }
        }
    }

    async fn finish_deletion(&mut self) {
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: Some(self.uid.clone()), resource_version: None }),
            ..Default::default()
        };
        match api.delete(&self.name, &dp).await {
            Ok(_) => tracing::info!(pod = self.label(), "pod deleted"),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => tracing::warn!(pod = self.label(), "finishing the deletion: {e}"),
        }
        self.cleanup().await;
    }

    async fn cleanup(&mut self) {
        self.ctx.registry.remove(&self.ns, &self.name, &self.uid);
        let dir = self.dir.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
    }
}

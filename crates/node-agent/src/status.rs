//! Pod status as the kubelet would report it, computed from the agent's view of the pod's
//! containers: phase (the kubelet's getPhase rules), container statuses, conditions with their
//! transition times. Pure: the worker owns the state and patches what this returns.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, HostIP,
    PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// How a container process ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// Exit code (128 + signal for a signal).
    pub exit_code: i32,
    /// `Completed` or `Error`.
    pub reason: String,
    /// The last lines of its output when it failed.
    pub message: Option<String>,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// `kanrepo://<pid>`.
    pub container_id: String,
}

/// A container's current state.
#[derive(Debug, Clone, PartialEq)]
pub enum CState {
    /// Not running: `ContainerCreating`, `PodInitializing`, `CrashLoopBackOff`,
    /// `CreateContainerConfigError`, ...
    Waiting {
        /// Machine-readable reason.
        reason: String,
        /// Detail.
        message: Option<String>,
    },
    /// Its process runs.
    Running {
        /// Since.
        started_at: Timestamp,
        /// `kanrepo://<pid>`.
        container_id: String,
    },
    /// It ended and will not be restarted (or not yet).
    Terminated(Term),
}

/// The agent's view of one container.
#[derive(Debug, Clone, PartialEq)]
pub struct CRuntime {
    /// Container name.
    pub name: String,
    /// Image (reported, never pulled).
    pub image: String,
    /// Now.
    pub state: CState,
    /// The previous run's end.
    pub last: Option<Term>,
    /// Restarts so far.
    pub restarts: i32,
    /// Readiness (running and, with a readiness probe, probed ready).
    pub ready: bool,
}

impl CRuntime {
    /// A container that has not been started yet.
    pub fn new(name: &str, image: &str, reason: &str) -> Self {
        CRuntime {
            name: name.into(),
            image: image.into(),
            state: CState::Waiting { reason: reason.into(), message: None },
            last: None,
            restarts: 0,
            ready: false,
        }
    }

    fn running(&self) -> bool {
        matches!(self.state, CState::Running { .. })
    }
}

/// Everything the status is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct PodRuntime {
    /// `Always`, `OnFailure` or `Never`.
    pub restart_policy: String,
    /// Init containers, in order.
    pub init: Vec<CRuntime>,
    /// App containers.
    pub main: Vec<CRuntime>,
    /// Every init container completed.
    pub init_done: bool,
    /// When the agent took the pod.
    pub start_time: Timestamp,
    /// A pod-level failure (unsupported volume, ...): reason and message; the phase is Failed.
    pub failure: Option<(String, String)>,
}

/// The kubelet's phase rules.
pub fn phase(rt: &PodRuntime) -> &'static str {
    if rt.failure.is_some() {
        return "Failed";
    }
    if !rt.init_done {
        let init_failed = rt.init.iter().any(|c| matches!(&c.state, CState::Terminated(t) if t.exit_code != 0));
        return if init_failed && rt.restart_policy == "Never" { "Failed" } else { "Pending" };
    }
    let (mut running, mut pending, mut restarting, mut failed) = (0, 0, 0, 0);
    for c in &rt.main {
        match &c.state {
            CState::Running { .. } => running += 1,
            CState::Terminated(t) if t.exit_code != 0 => failed += 1,
            CState::Terminated(_) => {}
            CState::Waiting { .. } if c.restarts == 0 && c.last.is_none() => pending += 1,
            CState::Waiting { .. } => restarting += 1,
        }
    }
    if pending > 0 {
        "Pending"
    } else if running > 0 || restarting > 0 || rt.restart_policy == "Always" {
        "Running"
    } else if failed > 0 {
        if rt.restart_policy == "OnFailure" { "Running" } else { "Failed" }
    } else {
        "Succeeded"
    }
}

/// Condition statuses with the time each last changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions {
    entries: Vec<(&'static str, bool, Option<String>, Timestamp)>,
}

impl Conditions {
    fn set(&mut self, kind: &'static str, status: bool, reason: Option<String>, now: Timestamp) {
        match self.entries.iter_mut().find(|e| e.0 == kind) {
            Some(e) if e.1 == status => e.2 = reason,
            Some(e) => *e = (kind, status, reason, now),
            None => self.entries.push((kind, status, reason, now)),
        }
    }
}

/// The pod status to patch; updates `conds` (transition times) as a side effect on itself only.
pub fn compute(rt: &PodRuntime, conds: &mut Conditions, now: Timestamp) -> PodStatus {
    let phase = phase(rt);
    let terminal = phase == "Succeeded" || phase == "Failed";
    let containers_ready = !rt.main.is_empty() && rt.main.iter().all(|c| c.ready && c.running());
    let not_ready = (!containers_ready)
        .then(|| if terminal { "PodCompleted".to_string() } else { "ContainersNotReady".to_string() });
    conds.set("PodScheduled", true, None, now);
    let init_reason = (!rt.init_done).then(|| "ContainersNotInitialized".to_string());
    conds.set("Initialized", rt.init_done || terminal, init_reason, now);
    conds.set("ContainersReady", containers_ready, not_ready.clone(), now);
    conds.set("Ready", containers_ready && phase == "Running", not_ready, now);
    let (reason, message) = rt.failure.clone().map_or((None, None), |(r, m)| (Some(r), Some(m)));
    PodStatus {
        phase: Some(phase.to_string()),
        reason,
        message,
        host_ip: Some("127.0.0.1".into()),
        host_ips: Some(vec![HostIP { ip: "127.0.0.1".into() }]),
        pod_ip: Some("127.0.0.1".into()),
        pod_ips: Some(vec![PodIP { ip: "127.0.0.1".into() }]),
        start_time: Some(Time(rt.start_time)),
        conditions: Some(
            conds
                .entries
                .iter()
                .map(|(kind, status, reason, at)| PodCondition {
                    type_: kind.to_string(),
                    status: if *status { "True" } else { "False" }.into(),
                    reason: reason.clone(),
                    last_transition_time: Some(Time(*at)),
                    ..Default::default()
                })
                .collect(),
        ),
        init_container_statuses: (!rt.init.is_empty()).then(|| rt.init.iter().map(container_status).collect()),
        container_statuses: Some(rt.main.iter().map(container_status).collect()),
        ..Default::default()
    }
}

fn terminated(t: &Term) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            reason: Some(t.reason.clone()),
            message: t.message.clone(),
            started_at: Some(Time(t.started_at)),
            finished_at: Some(Time(t.finished_at)),
            container_id: Some(t.container_id.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_status(c: &CRuntime) -> ContainerStatus {
    let (state, id) = match &c.state {
        CState::Waiting { reason, message } => (
            ContainerState {
                waiting: Some(ContainerStateWaiting { reason: Some(reason.clone()), message: message.clone() }),
                ..Default::default()
            },
            c.last.as_ref().map(|t| t.container_id.clone()),
        ),
        CState::Running { started_at, container_id } => (
            ContainerState {
                running: Some(ContainerStateRunning { started_at: Some(Time(*started_at)) }),
                ..Default::default()
            },
            Some(container_id.clone()),
        ),
        CState::Terminated(t) => (terminated(t), Some(t.container_id.clone())),
    };
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: format!("kanrepo://host/{}", c.image),
        container_id: id,
        state: Some(state),
        last_state: Some(c.last.as_ref().map(terminated).unwrap_or_default()),
        ready: c.ready && c.running(),
        started: Some(c.running()),
        restart_count: c.restarts,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        Timestamp::from_second(1_700_000_000).unwrap()
    }
    fn term(code: i32) -> Term {
        Term {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at: t0(),
            finished_at: t0(),
            container_id: "kanrepo://1".into(),
        }
    }
    fn running() -> CState {
        CState::Running { started_at: t0(), container_id: "kanrepo://2".into() }
    }
    fn rt(policy: &str, main: Vec<CState>) -> PodRuntime {
        PodRuntime {
            restart_policy: policy.into(),
            init: vec![],
            main: main
                .into_iter()
                .enumerate()
                .map(|(i, s)| CRuntime { state: s, ..CRuntime::new(&format!("c{i}"), "img", "x") })
                .collect(),
            init_done: true,
            start_time: t0(),
            failure: None,
        }
    }

    #[test]
    fn phases() {
        let waiting = CState::Waiting { reason: "ContainerCreating".into(), message: None };
        assert_eq!(phase(&rt("Always", vec![waiting.clone()])), "Pending");
        assert_eq!(phase(&rt("Always", vec![running(), CState::Terminated(term(0))])), "Running");
        assert_eq!(phase(&rt("Never", vec![CState::Terminated(term(0))])), "Succeeded");
        assert_eq!(phase(&rt("Never", vec![CState::Terminated(term(0)), CState::Terminated(term(2))])), "Failed");
        assert_eq!(phase(&rt("OnFailure", vec![CState::Terminated(term(2))])), "Running");
        assert_eq!(phase(&rt("OnFailure", vec![CState::Terminated(term(0))])), "Succeeded");
        assert_eq!(phase(&rt("Never", vec![running(), CState::Terminated(term(1))])), "Running");
        let mut r = rt("Always", vec![waiting]);
        r.main[0].restarts = 1;
        assert_eq!(phase(&r), "Running", "a container in back-off keeps the pod Running");
        let mut r = rt("Never", vec![]);
        r.init_done = false;
        r.init = vec![CRuntime { state: CState::Terminated(term(1)), ..CRuntime::new("i", "img", "x") }];
        assert_eq!(phase(&r), "Failed");
        r.restart_policy = "OnFailure".into();
        assert_eq!(phase(&r), "Pending");
        let mut r = rt("Always", vec![running()]);
        r.failure = Some(("UnsupportedVolume".into(), "volume x".into()));
        assert_eq!(phase(&r), "Failed");
    }

    #[test]
    fn conditions_and_statuses() {
        let mut r = rt("Always", vec![running()]);
        let mut conds = Conditions::default();
        let s = compute(&r, &mut conds, t0());
        let ready = |s: &PodStatus| s.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap().clone();
        assert_eq!(ready(&s).status, "False", "not ready until the container is");
        r.main[0].ready = true;
        let later = Timestamp::from_second(1_700_000_010).unwrap();
        let s = compute(&r, &mut conds, later);
        assert_eq!(ready(&s).status, "True");
        assert_eq!(ready(&s).last_transition_time, Some(Time(later)));
        let sched = s.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "PodScheduled").unwrap();
        assert_eq!(sched.last_transition_time, Some(Time(t0())), "unchanged conditions keep their time");
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        assert!(cs.ready && cs.started == Some(true));
        assert_eq!(cs.container_id.as_deref(), Some("kanrepo://2"));
        assert!(cs.state.as_ref().unwrap().running.is_some());
        assert_eq!(s.pod_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(s.phase.as_deref(), Some("Running"));

        r.main[0].state = CState::Terminated(Term { message: Some("boom".into()), ..term(3) });
        r.restart_policy = "Never".into();
        let s = compute(&r, &mut conds, later);
        let cs = &s.container_statuses.as_ref().unwrap()[0];
        let t = cs.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref(), t.message.as_deref()), (3, Some("Error"), Some("boom")));
        assert!(!cs.ready);
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        assert_eq!(ready(&s).reason.as_deref(), Some("PodCompleted"));
    }
}

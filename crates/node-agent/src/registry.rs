//! What the HTTPS server needs to know about running pods, shared with the pod workers: for
//! each (namespace, pod name) its uid and, per container, the log files, the process spec and a
//! watch of the current run (attempt number, running, pid). Workers write it; the server only
//! reads. No I/O here.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The current run of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunState {
    /// 0 before the first start, then 1, 2, ... per start.
    pub attempt: u64,
    /// The run's process is alive.
    pub running: bool,
    /// Host pid of the run's `unshare` process (its process group leader).
    pub pid: Option<u32>,
}

/// One container of a registered pod.
#[derive(Debug)]
pub struct ContainerEntry {
    /// Current run's log (stdout + stderr).
    pub log: PathBuf,
    /// Previous run's log.
    pub prev_log: PathBuf,
    /// The process spec (for exec).
    pub spec: PathBuf,
    /// Current run.
    pub run: watch::Sender<RunState>,
}

/// One pod.
#[derive(Debug)]
pub struct PodEntry {
    /// The pod's uid.
    pub uid: String,
    /// Its containers (init and app) by name.
    pub containers: HashMap<String, Arc<ContainerEntry>>,
}

/// Pods by (namespace, name).
#[derive(Debug, Default)]
pub struct Registry {
    pods: Mutex<HashMap<(String, String), Arc<PodEntry>>>,
}

impl Registry {
    /// Registers (or replaces) a pod.
    pub fn insert(&self, ns: &str, name: &str, entry: Arc<PodEntry>) {
        self.pods.lock().unwrap().insert((ns.to_string(), name.to_string()), entry);
    }

    /// Removes a pod if it is still the one with `uid`.
    pub fn remove(&self, ns: &str, name: &str, uid: &str) {
        let mut pods = self.pods.lock().unwrap();
        let key = (ns.to_string(), name.to_string());
        if pods.get(&key).is_some_and(|p| p.uid == uid) {
            pods.remove(&key);
        }
    }

    /// A container of a pod.
    pub fn container(&self, ns: &str, pod: &str, container: &str) -> Result<Arc<ContainerEntry>, String> {
        let pods = self.pods.lock().unwrap();
        let p = pods
            .get(&(ns.to_string(), pod.to_string()))
            .ok_or_else(|| format!("pod {ns}/{pod} is not running on this node"))?;
        p.containers.get(container).cloned().ok_or_else(|| format!("container {container} is not valid for pod {pod}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_only_same_uid() {
        let r = Registry::default();
        let (run, _) = watch::channel(RunState { attempt: 0, running: false, pid: None });
        let c = Arc::new(ContainerEntry { log: "l".into(), prev_log: "p".into(), spec: "s".into(), run });
        let e = Arc::new(PodEntry { uid: "u2".into(), containers: [("c".to_string(), c)].into() });
        r.insert("ns", "p", e);
        r.remove("ns", "p", "u1");
        assert!(r.container("ns", "p", "c").is_ok());
        assert!(r.container("ns", "p", "x").unwrap_err().contains("not valid"));
        r.remove("ns", "p", "u2");
        assert!(r.container("ns", "p", "c").unwrap_err().contains("not running"));
    }
}

//! Running a function pod (upstream's `PodRunner`/`PodController`): create it (or, when a
//! phase is resumed, find it again by its identity labels), wait until it leaves `Pending`,
//! follow a container's log while parsing phase outputs and kando's progress, wait for it to
//! succeed, and force-delete it when the function is done or cancelled.
//!
//! Error texts follow upstream (`Failed while waiting for Pod to complete: Pod failed or did
//! not transition into complete state: <last 10 log lines>: Pod failed`, with the pod name as
//! JSON details in front, as the controller renders errkit details).
//!
//! This module must not decide what a function does; it only runs pods for functions.

use crate::context::PhaseCtx;
use crate::output::{Event, Parser};
use futures::AsyncReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kube::runtime::wait::{Condition, await_condition};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// Lines of log kept for a failure message (upstream's `logTailDefaultLength`).
pub const LOG_TAIL_LINES: usize = 10;

/// What to do when a resumed phase's pod is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfGone {
    /// Fail: running the pod again is not safe.
    Fail,
    /// Create it again: the function is idempotent.
    Create,
}

/// A function pod.
pub struct PodRun {
    api: Api<Pod>,
    /// Pod name.
    pub name: String,
    /// Pod namespace.
    pub namespace: String,
    /// Containers, main first.
    pub containers: Vec<String>,
}

fn phase_of(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// Upstream's `errkit` message with details: `{"pod":"name"}: <message>`.
pub fn with_pod_details(pod: &str, message: &str) -> String {
    format!("{}: {message}", serde_json::json!({"pod": pod}))
}

/// The last `n` non-empty lines of a log, trimmed, joined by `\r\n` (upstream's `LogTail`).
pub fn log_tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\r\n")
}

impl PodRun {
    /// Create `pod` (or re-attach to the phase's pod when resuming). The pod's namespace is
    /// in its metadata.
    pub async fn start(pc: &PhaseCtx<'_>, pod: Json, if_gone: IfGone) -> Result<PodRun, String> {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
        let api: Api<Pod> = Api::namespaced(pc.ctx.client(), &ns);
        let containers: Vec<String> = pod["spec"]["containers"]
            .as_array()
            .map(|cs| cs.iter().filter_map(|c| c["name"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        if pc.resume {
            let found = api
                .list(&ListParams::default().labels(&pc.id.selector()))
                .await
                .map_err(|e| format!("Failed to look for the pod of resumed phase {}: {e}", pc.id.phase_name))?;
            let live: Vec<&Pod> = found.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
            if let Some(p) = live.first() {
                let name = p.metadata.name.clone().unwrap_or_default();
                tracing::info!(pod = %name, phase = %pc.id.phase_name, "re-attached to the pod of a resumed phase");
                return Ok(PodRun { api, name, namespace: ns, containers });
            }
            if if_gone == IfGone::Fail {
                return Err(format!(
                    "phase {} was running when the controller stopped and its pod is gone: it cannot be resumed safely (its command may have run in part); run the action again with a new ActionSet",
                    pc.id.phase_name
                ));
            }
        }
        let p: Pod = serde_json::from_value(pod).map_err(|e| format!("Failed to create pod: {e}"))?;
        let created = api.create(&PostParams::default(), &p).await.map_err(|e| {
            let gn = p.metadata.generate_name.clone().unwrap_or_default();
            format!("Failed to create pod: {e}: {}", serde_json::json!({"namespace": ns, "nameFmt": gn}))
        })?;
        let name = created.metadata.name.unwrap_or_default();
        tracing::info!(pod = %name, namespace = %ns, phase = %pc.id.phase_name, actionset = %pc.id.actionset, "created function pod");
        Ok(PodRun { api, name, namespace: ns, containers })
    }

    /// Wait until the pod leaves `Pending` (upstream's `WaitForPodReady`), at most `timeout`.
    pub async fn wait_started(&self, timeout: std::time::Duration) -> Result<(), String> {
        let cond = |p: Option<&Pod>| p.is_none_or(|p| !matches!(phase_of(p), "Pending" | ""));
        match tokio::time::timeout(timeout, await_condition(self.api.clone(), &self.name, cond)).await {
            Ok(Ok(Some(_))) => Ok(()),
            Ok(Ok(None)) => Err(self.gone()),
            Ok(Err(e)) => Err(format!("Failed while waiting for Pod to be ready: {e}")),
            Err(_) => {
                let why = self.pending_reason().await;
                let msg = format!(
                    "Pod did not transition into running state. Timeout:{}m0s  Namespace:{}, Name:{}{why}",
                    timeout.as_secs() / 60,
                    self.namespace,
                    self.name
                );
                Err(with_pod_details(&self.name, &format!("Failed while waiting for Pod to be ready: {msg}")))
            }
        }
    }

    async fn pending_reason(&self) -> String {
        let Ok(p) = self.api.get(&self.name).await else { return String::new() };
        let conds = p.status.and_then(|s| s.conditions).unwrap_or_default();
        conds
            .iter()
            .filter(|c| c.status != "True")
            .filter_map(|c| c.message.as_ref().map(|m| format!(" ({}: {m})", c.type_)))
            .collect()
    }

    fn gone(&self) -> String {
        format!("Pod {} in namespace {} was deleted before it completed", self.name, self.namespace)
    }

    /// Follow `container`'s log to its end: log lines, phase outputs, kando progress (sent to
    /// the phase's progress sink). Returns the outputs (values are strings).
    pub async fn follow(&self, pc: &PhaseCtx<'_>, container: &str) -> Result<BTreeMap<String, Json>, String> {
        let lp = LogParams { container: Some(container.to_string()), follow: true, ..LogParams::default() };
        let stream = self
            .api
            .log_stream(&self.name, &lp)
            .await
            .map_err(|e| format!("Failed to fetch logs from the pod: {e}"))?;
        let mut stream = std::pin::pin!(stream);
        let mut parser = Parser::new();
        let mut buf = vec![0u8; 64 << 10];
        let scrub = |s: &str| pc.ctx.password.as_ref().map(|p| p.scrub(s)).unwrap_or_else(|| s.to_string());
        let mut sink = |e: Event| match e {
            Event::Log(l) => {
                tracing::info!(LogKind = "datapath", Pod = %self.name, Container = container, ActionSet = %pc.id.actionset, Phase = %pc.id.phase_name, "{}", scrub(&l))
            }
            Event::Output(k, _) => {
                tracing::info!(Pod = %self.name, Phase = %pc.id.phase_name, key = %k, "phase output")
            }
            Event::Progress(t) => {
                let _ = pc.progress.send(t);
            }
        };
        loop {
            let n = stream.read(&mut buf).await.map_err(|e| format!("Failed to fetch logs from the pod: {e}"))?;
            if n == 0 {
                break;
            }
            parser.feed(&buf[..n], &mut sink).map_err(|e| e.to_string())?;
        }
        parser.finish(&mut sink).map_err(|e| e.to_string())?;
        Ok(parser.outputs().clone())
    }

    /// Wait for the pod to succeed (upstream's `WaitForPodCompletion`); a failed pod's error
    /// carries the last lines of its main container's log.
    pub async fn wait_succeeded(&self) -> Result<(), String> {
        let cond = |p: Option<&Pod>| p.is_none_or(|p| matches!(phase_of(p), "Succeeded" | "Failed"));
        let p = await_condition(self.api.clone(), &self.name, cond)
            .await
            .map_err(|e| format!("Failed while waiting for Pod to complete: {e}"))?
            .ok_or_else(|| self.gone())?;
        if phase_of(&p) == "Succeeded" {
            return Ok(());
        }
        let tail = self.tail(self.containers.first().map(String::as_str).unwrap_or("container")).await;
        let detail = exit_detail(&p);
        Err(with_pod_details(
            &self.name,
            &format!(
                "Failed while waiting for Pod to complete: Pod failed or did not transition into complete state: {tail}: Pod failed{detail}"
            ),
        ))
    }

    /// Wait until a condition holds (for functions with their own notion of ready).
    pub async fn wait_for(&self, cond: impl Condition<Pod>) -> Result<Pod, String> {
        await_condition(self.api.clone(), &self.name, cond)
            .await
            .map_err(|e| format!("Failed while waiting for Pod {}: {e}", self.name))?
            .ok_or_else(|| self.gone())
    }

    /// The last lines of a container's log.
    pub async fn tail(&self, container: &str) -> String {
        let lp = LogParams { container: Some(container.to_string()), tail_lines: Some(50), ..LogParams::default() };
        match self.api.logs(&self.name, &lp).await {
            Ok(l) => log_tail(&l, LOG_TAIL_LINES),
            Err(e) => format!("(logs unavailable: {e})"),
        }
    }

    /// Force-delete the pod (grace 0), as upstream does when a function returns.
    pub async fn delete(&self) {
        let dp = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
        match self.api.delete(&self.name, &dp).await {
            Ok(_) => tracing::debug!(pod = %self.name, "deleted function pod"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => tracing::warn!(pod = %self.name, error = %e, "could not delete function pod"),
        }
    }
}

/// Force-delete the pods of a phase (`selector`: its identity labels) in `namespaces`, best
/// effort: pods an earlier run of a phase left when its controller stopped.
pub async fn delete_phase_pods(ctx: &crate::context::Ctx, namespaces: &[String], selector: &str) {
    let dp = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
    for ns in namespaces {
        let api: Api<Pod> = Api::namespaced(ctx.client(), ns);
        match api.list(&ListParams::default().labels(selector)).await {
            Ok(list) => {
                for p in list.items {
                    let name = p.metadata.name.unwrap_or_default();
                    match api.delete(&name, &dp).await {
                        Ok(_) => {
                            tracing::info!(pod = %name, namespace = %ns, "deleted a pod an earlier run of the phase left")
                        }
                        Err(e) => {
                            tracing::warn!(pod = %name, namespace = %ns, error = %e, "could not delete a pod an earlier run of the phase left")
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(namespace = %ns, error = %e, "could not list an earlier run's pods"),
        }
    }
}

/// `, container C exited with code N (reason)` for the first failed container, if any.
fn exit_detail(p: &Pod) -> String {
    let st = p.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    for cs in st.into_iter().flatten() {
        if let Some(t) = cs.state.as_ref().and_then(|s| s.terminated.as_ref())
            && t.exit_code != 0
        {
            return format!(" (container {} exited with code {})", cs.name, t.exit_code);
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_is_upstreams() {
        let log = (1..=14).map(|i| format!(" line {i} ")).collect::<Vec<_>>().join("\n") + "\n\n";
        assert_eq!(log_tail(&log, 10), (5..=14).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\r\n"));
        assert_eq!(log_tail("", 10), "");
        assert_eq!(with_pod_details("p-1", "boom"), "{\"pod\":\"p-1\"}: boom");
    }
}

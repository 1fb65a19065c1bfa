//! Readiness probes of one container run: exec (the command inside the container's namespaces,
//! ready on exit 0), tcpSocket (a connect to 127.0.0.1:port) and httpGet (GET
//! http://127.0.0.1:port/path, ready on 2xx/3xx), at periodSeconds after initialDelaySeconds,
//! with success/failure thresholds. Liveness and startup probes are not run. It reports
//! transitions to the pod worker and never changes the container.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::process::Tools;

/// A readiness change of container `slot`'s run `attempt`.
#[derive(Debug)]
pub struct ProbeResult {
    /// Container slot in the worker.
    pub slot: usize,
    /// The run it probed.
    pub attempt: u64,
    /// Ready now.
    pub ready: bool,
}

/// The port a probe names (a number or a named container port).
pub fn port_of(c: &Container, port: &IntOrString) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .or_else(|| name.parse().ok()),
    }
}

/// The status code of an HTTP/1.x response head.
pub fn http_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// What a probe run needs besides the probe.
pub struct Target {
    /// Tool paths.
    pub tools: Tools,
    /// The run's unshare pid.
    pub run_pid: u32,
    /// Its process spec.
    pub spec: PathBuf,
    /// Container slot and attempt (echoed in results).
    pub slot: usize,
    /// Run number.
    pub attempt: u64,
}

async fn once(probe: &Probe, c: &Container, t: &Target, timeout: Duration) -> bool {
    let fut = async {
        if let Some(e) = &probe.exec {
            let argv = e.command.clone().unwrap_or_default();
            let Some(init) = crate::process::ns_init_pid(t.run_pid) else { return false };
            let Ok(mut cmd) = crate::process::exec_command(&t.tools, init, &t.spec, &argv) else { return false };
            cmd.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            return match cmd.spawn() {
                Ok(mut child) => child.wait().await.is_ok_and(|s| s.success()),
                Err(_) => false,
            };
        }
        if let Some(tcp) = &probe.tcp_socket {
            let Some(port) = port_of(c, &tcp.port) else { return false };
            return TcpStream::connect(("127.0.0.1", port)).await.is_ok();
        }
        if let Some(h) = &probe.http_get {
            let Some(port) = port_of(c, &h.port) else { return false };
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else { return false };
            if h.scheme.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("https")) {
                return true; // no TLS client here: an accepted connection counts
            }
            let path = h.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: kube-probe/1.33\r\nConnection: close\r\n\r\n"
            );
            if s.write_all(req.as_bytes()).await.is_err() {
                return false;
            }
            let mut head = vec![0u8; 256];
            let n = s.read(&mut head).await.unwrap_or(0);
            return http_status(&head[..n]).is_some_and(|code| (200..400).contains(&code));
        }
        true // grpc and unknown probes: treated as passing
    };
    tokio::time::timeout(timeout, fut).await.unwrap_or(false)
}

/// Probes until aborted, sending every readiness transition (starting from not ready).
pub async fn run(probe: Probe, c: Container, t: Target, tx: mpsc::UnboundedSender<crate::worker::Event>) {
    let secs = |v: Option<i32>, d: i32| Duration::from_secs(v.unwrap_or(d).max(0) as u64);
    let period = secs(probe.period_seconds, 10).max(Duration::from_millis(500));
    let timeout = secs(probe.timeout_seconds, 1).max(Duration::from_secs(1));
    let success_needed = probe.success_threshold.unwrap_or(1).max(1);
    let failure_needed = probe.failure_threshold.unwrap_or(3).max(1);
    tokio::time::sleep(secs(probe.initial_delay_seconds, 0)).await;
    let (mut ready, mut ok_run, mut fail_run) = (false, 0, 0);
    // Until the first success, probe faster than the period so readiness shows promptly.
    loop {
        let ok = once(&probe, &c, &t, timeout).await;
        if ok {
            ok_run += 1;
            fail_run = 0;
        } else {
            fail_run += 1;
            ok_run = 0;
        }
        let next = if !ready && ok_run >= success_needed {
            true
        } else if ready && fail_run >= failure_needed {
            false
        } else {
            ready
        };
        if next != ready {
            ready = next;
            let r = ProbeResult { slot: t.slot, attempt: t.attempt, ready };
            if tx.send(crate::worker::Event::Probe(r)).is_err() {
                return;
            }
        }
        let wait = if ready { period } else { period.min(Duration::from_secs(1)) };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_and_status_lines() {
        let c: Container =
            serde_json::from_value(json!({"name": "c", "ports": [{"name": "pg", "containerPort": 5432}]})).unwrap();
        assert_eq!(port_of(&c, &IntOrString::Int(80)), Some(80));
        assert_eq!(port_of(&c, &IntOrString::String("pg".into())), Some(5432));
        assert_eq!(port_of(&c, &IntOrString::String("nope".into())), None);
        assert_eq!(port_of(&c, &IntOrString::Int(-1)), None);
        assert_eq!(http_status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(http_status(b"garbage"), None);
    }
}

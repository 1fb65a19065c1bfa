//! Running a command in an existing container (upstream's `kube.ExecOutput`), over the
//! API server's WebSocket exec stream: stdout is parsed for phase outputs and kando progress,
//! stderr is logged, a non-zero exit is upstream's error (`Failed to exec command in pod:
//! command terminated with exit code N.\nstdout: <tail>\nstderr: <tail>`).
//!
//! When a repository password is configured the command runs through the password wrapper
//! (see `password`), which takes the password on stdin.
//!
//! This module must not decide which pod to run in; functions do.

use crate::context::PhaseCtx;
use crate::output::{Event, Parser};
use crate::podrun::{LOG_TAIL_LINES, log_tail};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The exit code in an exec's final Status (`None`: success).
fn exit_code(st: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Status) -> Option<String> {
    if st.status.as_deref() == Some("Success") {
        return None;
    }
    let code = st
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.clone());
    Some(match code {
        Some(c) => format!("command terminated with exit code {c}"),
        None => st.message.clone().unwrap_or_else(|| "command failed".into()),
    })
}

/// Run `command` in `namespace/pod` (container `container`, or the pod's default) and return
/// the phase outputs its stdout printed.
pub async fn exec_outputs(
    pc: &PhaseCtx<'_>,
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[String],
) -> Result<BTreeMap<String, Json>, String> {
    let api: Api<Pod> = Api::namespaced(pc.ctx.client(), namespace);
    let (cmd, stdin) = match &pc.ctx.password {
        Some(p) => {
            let (c, s) = p.wrap_exec(command);
            (c, Some(s))
        }
        None => (command.to_vec(), None),
    };
    let mut ap = AttachParams::default().stdin(stdin.is_some()).stdout(true).stderr(true);
    if !container.is_empty() {
        ap = ap.container(container);
    }
    let fail = |m: String| format!("Failed to exec command in pod: {m}");
    let mut proc = api.exec(pod, cmd, &ap).await.map_err(|e| fail(e.to_string()))?;
    // Keep stdin open until the command ends (closing it early ends v4 streams).
    let mut stdin_w = proc.stdin();
    if let (Some(w), Some(bytes)) = (stdin_w.as_mut(), stdin.as_ref()) {
        w.write_all(bytes).await.map_err(|e| fail(e.to_string()))?;
        w.flush().await.map_err(|e| fail(e.to_string()))?;
    }
    let mut out = proc.stdout().ok_or_else(|| fail("no stdout stream".into()))?;
    let mut err = proc.stderr().ok_or_else(|| fail("no stderr stream".into()))?;
    let status = proc.take_status();
    let label = format!("{namespace}/{pod}");
    let scrub = |s: &str| pc.ctx.password.as_ref().map(|p| p.scrub(s)).unwrap_or_else(|| s.to_string());
    let read_out = async {
        let mut parser = Parser::new();
        let mut text = String::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut sink = |e: Event| match e {
            Event::Log(l) => {
                tracing::info!(LogKind = "datapath", Pod = %label, Container = container, Phase = %pc.id.phase_name, "{}", scrub(&l));
                text.push_str(&l);
                text.push('\n');
            }
            Event::Output(k, _) => tracing::info!(Pod = %label, key = %k, "phase output"),
            Event::Progress(t) => {
                let _ = pc.progress.send(t);
            }
        };
        loop {
            let n = out.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            parser.feed(&buf[..n], &mut sink).map_err(|e| e.to_string())?;
        }
        parser.finish(&mut sink).map_err(|e| e.to_string())?;
        Ok::<_, String>((parser.outputs().clone(), text))
    };
    let read_err = async {
        let mut all = Vec::new();
        let mut buf = vec![0u8; 16 << 10];
        let mut parser = Parser::new();
        loop {
            let n = err.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            // kando's progress goes to stderr.
            let _ = parser.feed(&buf[..n], &mut |e| match e {
                Event::Progress(t) => {
                    let _ = pc.progress.send(t);
                }
                Event::Log(l) => tracing::info!(LogKind = "datapath", Pod = %label, Container = container, stream = "stderr", "{}", scrub(&l)),
                Event::Output(..) => {}
            });
            if all.len() > 1 << 20 {
                all.drain(..all.len() - (1 << 20));
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    };
    let (outputs, stderr_text) = tokio::join!(read_out, read_err);
    let st = match status {
        Some(s) => s.await,
        None => None,
    };
    drop(stdin_w);
    let _ = proc.join().await;
    let (outputs, stdout_text) = outputs?;
    if let Some(code) = st.as_ref().and_then(exit_code) {
        return Err(fail(format!(
            "{code}.\nstdout: {}\nstderr: {}",
            scrub(&log_tail(&stdout_text, LOG_TAIL_LINES)),
            scrub(&log_tail(&stderr_text, LOG_TAIL_LINES))
        )));
    }
    if st.is_none() {
        return Err(fail("the exec stream ended without an exit status".into()));
    }
    Ok(outputs)
}

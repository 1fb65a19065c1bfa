//! Running a command in an existing container (upstream's `kube.ExecOutput`), over the
//! API server's WebSocket exec stream: stdout is parsed for phase outputs and kando progress,
//! stderr is logged, a non-zero exit is upstream's error (`Failed to exec command in pod:
//! command terminated with exit code N.\nstdout: <tail>\nstderr: <tail>`).
//!
//! Secrets a command needs in its environment (the repository password kando reads, the
//! credentials and password of restic) never go on its command line: the command runs under
//! a `sh -c` wrapper that reads `NAME=value` lines from the exec's stdin up to an empty line,
//! exports them, and `exec`s the command with stdin from /dev/null ([`wrap_with_env`]). Their
//! values are removed from every log line and error this module writes.
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

/// The wrapper that runs `cmd` with `vars` in its environment, read from stdin (see the
/// module docs). Returns the command and the stdin bytes. A name must be a shell variable
/// name and a value a single line.
pub fn wrap_with_env(vars: &[(String, String)], cmd: &[String]) -> Result<(Vec<String>, Vec<u8>), String> {
    let mut stdin = Vec::new();
    for (k, v) in vars {
        let name_ok = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return Err(format!("{k:?} is not an environment variable name"));
        }
        if v.contains(['\n', '\r', '\0']) {
            return Err(format!("the value of {k} spans lines, which the exec environment cannot carry"));
        }
        stdin.extend_from_slice(format!("{k}={v}\n").as_bytes());
    }
    stdin.push(b'\n');
    let script = "while IFS= read -r kv && [ -n \"$kv\" ]; do export \"$kv\"; done; export KANDO_PROGRESS=\"${KANDO_PROGRESS:-kanister}\"; exec \"$@\" </dev/null";
    let mut full = vec!["sh".to_string(), "-c".to_string(), script.to_string(), "kanister-exec".to_string()];
    full.extend(cmd.iter().cloned());
    Ok((full, stdin))
}

/// Environment variables whose values are locations, not secrets: left in what is shown
/// (restic names its repository in most errors). Every other value is removed.
pub const PUBLIC_ENV: &[&str] = &["RESTIC_REPOSITORY", "GOOGLE_PROJECT_ID", "GOOGLE_APPLICATION_CREDENTIALS"];

/// What an exec printed.
#[derive(Debug, Default)]
pub struct Captured {
    /// Phase outputs found on stdout.
    pub outputs: BTreeMap<String, Json>,
    /// stdout (its last [`CAPTURE_BYTES`]).
    pub stdout: String,
    /// stderr (its last [`CAPTURE_BYTES`]).
    pub stderr: String,
}

/// How much of each stream [`exec_capture`] keeps (the end of it).
pub const CAPTURE_BYTES: usize = 4 << 20;

/// Run `command` in `namespace/pod` (container `container`, or the pod's default) and return
/// the phase outputs its stdout printed.
pub async fn exec_outputs(
    pc: &PhaseCtx<'_>,
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[String],
) -> Result<BTreeMap<String, Json>, String> {
    let env: Vec<(String, String)> = pc.ctx.password.as_ref().map(|p| vec![p.env_pair()]).unwrap_or_default();
    exec_capture(pc, namespace, pod, container, command, &env).await.map(|c| c.outputs)
}

/// Removes from a text every secret value of `env` (all but [`PUBLIC_ENV`], of 4 bytes or
/// more) and the repository password.
pub struct Scrubber {
    secrets: Vec<String>,
    password: Option<String>,
}

impl Scrubber {
    /// The scrubber of an exec's environment.
    pub fn new(pc: &PhaseCtx<'_>, env: &[(String, String)]) -> Scrubber {
        let secrets = env
            .iter()
            .filter(|(k, _)| !PUBLIC_ENV.contains(&k.as_str()))
            .map(|(_, v)| v.clone())
            .filter(|v| v.len() >= 4)
            .collect();
        Scrubber { secrets, password: pc.ctx.password.as_ref().map(|p| p.env_pair().1) }
    }

    /// `text` without the secrets.
    pub fn scrub(&self, text: &str) -> String {
        let mut s = text.to_string();
        for v in self.secrets.iter().chain(self.password.iter().filter(|p| p.len() >= 4)) {
            s = s.replace(v.as_str(), "<redacted>");
        }
        s
    }
}

/// Run `command` in `namespace/pod` with `env` in its environment (over stdin, see the
/// module docs; nothing is wrapped when `env` is empty) and return what it printed. A
/// non-zero exit is upstream's error, with the tails of both streams, secrets removed.
pub async fn exec_capture(
    pc: &PhaseCtx<'_>,
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[String],
    env: &[(String, String)],
) -> Result<Captured, String> {
    let (c, failure) = exec_raw(pc, namespace, pod, container, command, env).await?;
    match failure {
        None => Ok(c),
        Some(code) => Err(failure_message(&Scrubber::new(pc, env), &code, &c)),
    }
}

/// Upstream's message for a command that exited non-zero: the code and the tails of both
/// streams, secrets removed.
pub fn failure_message(sc: &Scrubber, code: &str, c: &Captured) -> String {
    format!(
        "Failed to exec command in pod: {code}.\nstdout: {}\nstderr: {}",
        sc.scrub(&log_tail(&c.stdout, LOG_TAIL_LINES)),
        sc.scrub(&log_tail(&c.stderr, LOG_TAIL_LINES))
    )
}

/// Like [`exec_capture`], but a non-zero exit is returned beside what the command printed
/// (unscrubbed: for the caller to classify, never to show) instead of as an error.
pub async fn exec_raw(
    pc: &PhaseCtx<'_>,
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[String],
    env: &[(String, String)],
) -> Result<(Captured, Option<String>), String> {
    let api: Api<Pod> = Api::namespaced(pc.ctx.client(), namespace);
    let fail = |m: String| format!("Failed to exec command in pod: {m}");
    let (cmd, stdin) = if env.is_empty() {
        (command.to_vec(), None)
    } else {
        let (c, s) = wrap_with_env(env, command).map_err(fail)?;
        (c, Some(s))
    };
    let sc = Scrubber::new(pc, env);
    let scrub = |s: &str| sc.scrub(s);
    let mut ap = AttachParams::default().stdin(stdin.is_some()).stdout(true).stderr(true);
    if !container.is_empty() {
        ap = ap.container(container);
    }
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
    let read_out = async {
        let mut parser = Parser::new();
        let mut text = String::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut sink = |e: Event| match e {
            Event::Log(l) => {
                tracing::info!(LogKind = "datapath", Pod = %label, Container = container, Phase = %pc.id.phase_name, "{}", scrub(&l));
                text.push_str(&l);
                text.push('\n');
                keep_tail(&mut text);
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
            if all.len() > CAPTURE_BYTES {
                all.drain(..all.len() - CAPTURE_BYTES);
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
    if st.is_none() {
        return Err(fail("the exec stream ended without an exit status".into()));
    }
    let failure = st.as_ref().and_then(exit_code);
    Ok((Captured { outputs, stdout: stdout_text, stderr: stderr_text }, failure))
}

/// Keep the last [`CAPTURE_BYTES`] of `text` (cut at a character boundary).
fn keep_tail(text: &mut String) {
    if text.len() > CAPTURE_BYTES {
        let mut cut = text.len() - CAPTURE_BYTES;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text.drain(..cut);
    }
}

//! `/exec/{ns}/{pod}/{container}` over WebSocket (`v5.channel.k8s.io` or `v4.channel.k8s.io`, as
//! the API server passes a client's WebSocket through with
//! `TranslateStreamCloseWebsocketRequests=false`): the command runs in the container's mount and
//! PID namespaces as its user; binary messages carry a channel byte (0 stdin, 1 stdout, 2
//! stderr, 3 the closing `metav1.Status`, 4 resize, ignored; v5's 255 + `0` closes stdin).
//! SPDY is not spoken. The framing and the status are pure functions; the session does I/O.

use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, frame::coding::CloseCode};

/// Subprotocols served, in preference order.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// stdin channel.
pub const STDIN: u8 = 0;
/// stdout channel.
pub const STDOUT: u8 = 1;
/// stderr channel.
pub const STDERR: u8 = 2;
/// error / status channel.
pub const ERROR: u8 = 3;
/// terminal resize channel.
pub const RESIZE: u8 = 4;
/// v5 close-a-stream channel.
pub const CLOSE: u8 = 255;

/// The first protocol the client offers that is served (header values in order, comma lists).
pub fn choose_protocol<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    offered
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| PROTOCOLS.iter().find(|s| **s == p).copied())
}

/// A server→client message on `channel`.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    v
}

/// What a client message means.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// Bytes for the command's stdin.
    Stdin(&'a [u8]),
    /// v5: the client closed this channel (0 = stdin).
    Close(u8),
    /// Terminal size (ignored) or an unknown channel.
    Ignored,
}

/// Parses a binary client message.
pub fn parse_client(msg: &[u8]) -> ClientFrame<'_> {
    match msg.split_first() {
        Some((&STDIN, rest)) => ClientFrame::Stdin(rest),
        Some((&CLOSE, rest)) => ClientFrame::Close(rest.first().copied().unwrap_or(STDIN)),
        Some((&RESIZE, _)) | Some(_) | None => ClientFrame::Ignored,
    }
}

/// The closing status: Success, or Failure with reason NonZeroExitCode and an ExitCode cause.
pub fn status_json(argv: &[String], code: i32) -> String {
    if code == 0 {
        return r#"{"metadata":{},"status":"Success"}"#.to_string();
    }
    serde_json::json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            argv.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
    .to_string()
}

/// A Failure status for a command that could not be started at all.
pub fn internal_error(message: &str) -> String {
    serde_json::json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500})
        .to_string()
}

/// Which streams the request asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// The command line.
    pub command: Vec<String>,
    /// stdin=1.
    pub stdin: bool,
    /// stdout=1.
    pub stdout: bool,
    /// stderr=1.
    pub stderr: bool,
}

impl ExecRequest {
    /// From query pairs.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut r = ExecRequest::default();
        for (k, v) in pairs {
            match k.as_str() {
                "command" => r.command.push(v.clone()),
                "input" | "stdin" => r.stdin = crate::logs::truthy(v),
                "output" | "stdout" => r.stdout = crate::logs::truthy(v),
                "error" | "stderr" => r.stderr = crate::logs::truthy(v),
                _ => {}
            }
        }
        if r.command.is_empty() {
            return Err("you must specify at least one command for the container".into());
        }
        Ok(r)
    }
}

async fn pump<R: AsyncRead + Unpin>(mut r: R, channel: u8, tx: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(Message::Binary(frame(channel, &buf[..n]).into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs one exec session on an upgraded connection; `cmd` is the prepared `nsenter` command.
pub async fn session(upgraded: Upgraded, mut cmd: tokio::process::Command, req: ExecRequest, label: String) {
    let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    let (mut sink, mut stream) = ws.split();
    cmd.stdin(if req.stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(if req.stdout { Stdio::piped() } else { Stdio::null() })
        .stderr(if req.stderr { Stdio::piped() } else { Stdio::null() })
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = internal_error(&format!("starting the command: {e}"));
            let _ = sink.send(Message::Binary(frame(ERROR, msg.as_bytes()).into())).await;
            let _ = sink.close().await;
            return;
        }
    };
    tracing::info!(target: "exec", container = label, command = ?req.command, "exec");
    let (tx, mut rx) = mpsc::channel::<Message>(16);
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(out, STDOUT, tx.clone())));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(err, STDERR, tx.clone())));
    }
    let mut stdin = child.stdin.take();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        sink
    });
    // Client → stdin until the client closes stdin or the connection.
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Binary(b) => match parse_client(&b) {
                    ClientFrame::Stdin(data) if !data.is_empty() => {
                        if let Some(s) = stdin.as_mut()
                            && s.write_all(data).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    ClientFrame::Close(STDIN) => stdin = None,
                    _ => {}
                },
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    let code = match child.wait().await {
        Ok(st) => st.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(9)),
        Err(_) => 137,
    };
    // Output written before the exit is in the pipes: drain them (bounded, in case a background
    // process keeps a pipe open).
    let _ = tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(pumps.iter_mut())).await;
    pumps.iter().for_each(|p| p.abort());
    let _ = tx.send(Message::Binary(frame(ERROR, status_json(&req.command, code).as_bytes()).into())).await;
    drop(tx);
    reader.abort();
    if let Ok(mut sink) = writer.await {
        let close = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        let _ = sink.send(Message::Close(Some(close))).await;
        let _ = sink.close().await;
    }
    tracing::info!(target: "exec", container = label, exit_code = code, "exec finished");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_choice() {
        assert_eq!(choose_protocol(["v5.channel.k8s.io, v4.channel.k8s.io"]), Some("v5.channel.k8s.io"));
        assert_eq!(
            choose_protocol(["channel.k8s.io", "v4.channel.k8s.io,v5.channel.k8s.io"]),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(choose_protocol(["v4.channel.k8s.io, v5.channel.k8s.io"]), Some("v4.channel.k8s.io"));
        assert_eq!(choose_protocol(["base64.channel.k8s.io"]), None);
        assert_eq!(choose_protocol([]), None);
    }

    #[test]
    fn framing() {
        assert_eq!(frame(STDOUT, b"hi"), vec![1, b'h', b'i']);
        assert_eq!(parse_client(&[0, b'x']), ClientFrame::Stdin(b"x"));
        assert_eq!(parse_client(&[255, 0]), ClientFrame::Close(0));
        assert_eq!(parse_client(&[RESIZE, b'{']), ClientFrame::Ignored);
        assert_eq!(parse_client(&[]), ClientFrame::Ignored);
    }

    #[test]
    fn statuses() {
        let argv: Vec<String> = ["sh", "-c", "exit 3"].iter().map(|s| s.to_string()).collect();
        assert_eq!(status_json(&argv, 0), r#"{"metadata":{},"status":"Success"}"#);
        let v: serde_json::Value = serde_json::from_str(&status_json(&argv, 3)).unwrap();
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["reason"], "NonZeroExitCode");
        assert_eq!(v["details"]["causes"][0], serde_json::json!({"reason": "ExitCode", "message": "3"}));
        assert_eq!(
            v["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
    }

    #[test]
    fn request_parsing() {
        let q = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        let r = ExecRequest::parse(&q(&[("command", "sh"), ("command", "-c"), ("stdout", "1"), ("stderr", "true")]))
            .unwrap();
        assert_eq!(r.command, vec!["sh", "-c"]);
        assert!(r.stdout && r.stderr && !r.stdin);
        assert!(ExecRequest::parse(&q(&[("stdout", "1")])).is_err());
    }
}

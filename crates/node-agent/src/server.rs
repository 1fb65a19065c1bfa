//! The kubelet's HTTPS port as far as the API server uses it: `GET /containerLogs/...` (logs,
//! streamed), `/exec/...` (WebSocket upgrade), `/healthz`; anything else is 404. TLS with the
//! harness-made serving certificate (rustls, aws-lc-rs), HTTP/1.1 only, no client certificate
//! asked for. It only reads the registry and log files and starts exec sessions.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{
    CONNECTION, CONTENT_TYPE, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::exec::{self, ExecRequest};
use crate::logs::{self, LogOptions, LogReader};
use crate::process::Tools;
use crate::registry::Registry;

type Body = BoxBody<Bytes, std::io::Error>;

/// What request handlers read.
pub struct ServerCtx {
    /// Running pods.
    pub registry: Arc<Registry>,
    /// nsenter and the agent binary.
    pub tools: Tools,
}

/// The TLS acceptor for the serving certificate and key (PEM).
pub fn tls(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| anyhow::anyhow!("reading {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Serves until cancelled.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, ctx: Arc<ServerCtx>, stop: CancellationToken) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    continue;
                }
            },
        };
        let (acceptor, ctx) = (acceptor.clone(), ctx.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, "TLS handshake: {e}");
                    return;
                }
            };
            let svc = hyper::service::service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(route(req, &ctx).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .with_upgrades()
                .await
            {
                tracing::debug!(%peer, "connection: {e}");
            }
        });
    }
}

fn text(code: StatusCode, msg: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(msg.into())).map_err(|e: Infallible| match e {}).boxed());
    *r.status_mut() = code;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// Splits `/prefix/{ns}/{pod}/{container}`.
pub fn path_parts<'a>(path: &'a str, prefix: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let rest = path.strip_prefix(prefix)?.strip_prefix('/')?;
    let mut it = rest.split('/');
    let (ns, pod, c) = (it.next()?, it.next()?, it.next()?);
    (it.next().is_none() && !ns.is_empty() && !pod.is_empty() && !c.is_empty()).then_some((ns, pod, c))
}

async fn route(req: Request<Incoming>, ctx: &ServerCtx) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
    if path == "/healthz" {
        return text(StatusCode::OK, "ok");
    }
    if let Some((ns, pod, c)) = path_parts(&path, "/containerLogs") {
        if req.method() != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET");
        }
        return container_logs(ctx, ns, pod, c, &query).await;
    }
    if let Some((ns, pod, c)) = path_parts(&path, "/exec") {
        let (ns, pod, c) = (ns.to_string(), pod.to_string(), c.to_string());
        return exec_upgrade(req, ctx, &ns, &pod, &c, &query);
    }
    text(
        StatusCode::NOT_FOUND,
        format!("404 page not found: {path} (kanrepo-node-agent serves containerLogs and exec)"),
    )
}

async fn container_logs(ctx: &ServerCtx, ns: &str, pod: &str, c: &str, q: &[(String, String)]) -> Response<Body> {
    let opts = match LogOptions::parse(q) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let entry = match ctx.registry.container(ns, pod, c) {
        Ok(e) => e,
        Err(e) => return text(StatusCode::NOT_FOUND, e),
    };
    let state = entry.run.subscribe();
    let run = *state.borrow();
    if run.attempt == 0 {
        return text(
            StatusCode::BAD_REQUEST,
            format!("container \"{c}\" in pod \"{pod}\" is waiting to start: ContainerCreating"),
        );
    }
    let (file, opts) = if opts.previous {
        if !entry.prev_log.exists() {
            return text(
                StatusCode::BAD_REQUEST,
                format!("previous terminated container \"{c}\" in pod \"{pod}\" not found"),
            );
        }
        (entry.prev_log.clone(), LogOptions { follow: false, ..opts })
    } else {
        (entry.log.clone(), opts)
    };
    let start = match logs::start_offset(&file, opts.tail_lines) {
        Ok(s) => s,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the log: {e}")),
    };
    let reader = match LogReader::open(&file, start, &opts, run.attempt, state) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the log: {e}")),
    };
    let stream = futures::stream::unfold(Some(reader), |r| async move {
        let mut r = r?;
        match r.next().await {
            Ok(Some(b)) => Some((Ok(Frame::data(b)), Some(r))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut resp = Response::new(StreamBody::new(stream).boxed());
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

fn exec_upgrade(
    req: Request<Incoming>,
    ctx: &ServerCtx,
    ns: &str,
    pod: &str,
    c: &str,
    q: &[(String, String)],
) -> Response<Body> {
    let exec_req = match ExecRequest::parse(q) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let entry = match ctx.registry.container(ns, pod, c) {
        Ok(e) => e,
        Err(e) => return text(StatusCode::NOT_FOUND, e),
    };
    // A container is reported running as soon as its process is spawned; its init may still
    // be binding volumes for a few milliseconds. An exec that comes at once (a function's
    // idle pod) waits for that, at most 2 s, as a kubelet only reports a started container.
    let mut init = None;
    for _ in 0..200 {
        let run = *entry.run.borrow();
        if !run.running {
            break;
        }
        init = run.pid.and_then(crate::process::set_up_init_pid);
        if init.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let Some(init) = init else {
        return text(StatusCode::BAD_REQUEST, format!("container {c} is not running"));
    };
    let hdr = |name| req.headers().get_all(name).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    let websocket = hdr(UPGRADE).iter().any(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).map(|k| k.as_bytes().to_vec()).filter(|_| websocket) else {
        return text(
            StatusCode::BAD_REQUEST,
            "kanrepo-node-agent serves exec over WebSocket (v5/v4.channel.k8s.io) only, not SPDY: \
             start the API server with --feature-gates=TranslateStreamCloseWebsocketRequests=false",
        );
    };
    let Some(proto) = exec::choose_protocol(hdr(SEC_WEBSOCKET_PROTOCOL)) else {
        return text(
            StatusCode::BAD_REQUEST,
            "no supported subprotocol offered (v5.channel.k8s.io, v4.channel.k8s.io)",
        );
    };
    let cmd = match crate::process::exec_command(&ctx.tools, init, &entry.spec, &exec_req.command) {
        Ok(c) => c,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the container spec: {e}")),
    };
    let label = format!("{ns}/{pod}/{c}");
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(up) => exec::session(up, cmd, exec_req, label).await,
            Err(e) => tracing::warn!(container = label, "exec upgrade failed: {e}"),
        }
    });
    let mut resp = Response::new(Full::new(Bytes::new()).map_err(|e: Infallible| match e {}).boxed());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    h.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(proto));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(path_parts("/containerLogs/ns/p/c", "/containerLogs"), Some(("ns", "p", "c")));
        assert_eq!(path_parts("/containerLogs/ns/p", "/containerLogs"), None);
        assert_eq!(path_parts("/containerLogs/ns/p/c/x", "/containerLogs"), None);
        assert_eq!(path_parts("/containerLogsX/ns/p/c", "/containerLogs"), None);
        assert_eq!(path_parts("/exec/ns/p/c", "/exec"), Some(("ns", "p", "c")));
    }
}

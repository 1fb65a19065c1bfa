//! The controller's HTTP endpoints on `HEALTH_CHECK_PORT` (default 8000), as upstream:
//! liveness at `LIVENESS_PATH` (default `/v0/healthz`, JSON `{"alive":true,"version":…}`),
//! readiness at `READINESS_PATH` (default `/v0/readyz`: 200 once the controller has
//! connected and checked its access, 503 before), and `/metrics` (Prometheus text). `/healthz`
//! and `/readyz` answer too (the Helm chart's probe paths).
//!
//! Plain HTTP/1 with hyper; nothing here touches the cluster.

use crate::metrics::Metrics;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the endpoints report.
pub struct Health {
    /// Set once the controller is connected and may run ActionSets.
    pub ready: AtomicBool,
    /// Metrics to expose.
    pub metrics: Arc<Metrics>,
    /// Liveness path.
    pub liveness: String,
    /// Readiness path.
    pub readiness: String,
}

fn reply(code: StatusCode, ctype: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", ctype)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Answer one request.
pub fn answer(h: &Health, path: &str) -> Response<Full<Bytes>> {
    if path == h.liveness || path == "/healthz" {
        let body = serde_json::json!({"alive": true, "version": env!("CARGO_PKG_VERSION")}).to_string();
        return reply(StatusCode::OK, "application/json", body);
    }
    if path == h.readiness || path == "/readyz" {
        return if h.ready.load(Ordering::Relaxed) {
            reply(StatusCode::OK, "application/json", r#"{"ready":true}"#.into())
        } else {
            reply(StatusCode::SERVICE_UNAVAILABLE, "application/json", r#"{"ready":false}"#.into())
        };
    }
    if path == "/metrics" {
        return reply(StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", h.metrics.encode());
    }
    reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into())
}

/// Serve until the process ends.
pub async fn serve(addr: SocketAddr, h: Arc<Health>) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} for health and metrics: {e}"))?;
    tracing::info!(%addr, "serving health, readiness and metrics");
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let h = h.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let r = answer(&h, req.uri().path());
                async move { Ok::<_, std::convert::Infallible>(r) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_as_upstream() {
        let h = Health {
            ready: AtomicBool::new(false),
            metrics: Arc::new(Metrics::new()),
            liveness: "/v0/healthz".into(),
            readiness: "/v0/readyz".into(),
        };
        assert_eq!(answer(&h, "/v0/healthz").status(), StatusCode::OK);
        assert_eq!(answer(&h, "/v0/readyz").status(), StatusCode::SERVICE_UNAVAILABLE);
        h.ready.store(true, Ordering::Relaxed);
        assert_eq!(answer(&h, "/readyz").status(), StatusCode::OK);
        assert_eq!(answer(&h, "/metrics").status(), StatusCode::OK);
        assert_eq!(answer(&h, "/nope").status(), StatusCode::NOT_FOUND);
    }
}

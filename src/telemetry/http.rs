//! The operations endpoints: `/metrics` (Prometheus text), `/healthz` (the process is up) and
//! `/readyz` (the pipeline is built and processing; 503 while starting or draining).
//! Served by a small blocking server on its own thread; bound to localhost unless the topology
//! says otherwise.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tracing::{info, warn};

use super::metrics::Metrics;

/// Lifecycle of a run, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Readiness {
    Starting = 0,
    Ready = 1,
    Draining = 2,
}

/// Shared run state read by the endpoints.
#[derive(Default)]
pub struct Health {
    state: AtomicU8,
}

impl Health {
    pub fn set(&self, readiness: Readiness) {
        self.state.store(readiness as u8, Ordering::SeqCst);
    }
    pub fn get(&self) -> Readiness {
        match self.state.load(Ordering::SeqCst) {
            1 => Readiness::Ready,
            2 => Readiness::Draining,
            _ => Readiness::Starting,
        }
    }
}

/// A running endpoint server; stops when dropped.
pub struct OpsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

/// Why the endpoints could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {message}")]
pub struct ServeError {
    pub addr: String,
    pub message: String,
}

impl OpsServer {
    pub fn start(
        bind: &str,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Result<OpsServer, ServeError> {
        let server = tiny_http::Server::http(bind).map_err(|e| ServeError {
            addr: bind.to_string(),
            message: e.to_string(),
        })?;
        let addr = server.server_addr().to_ip().ok_or_else(|| ServeError {
            addr: bind.to_string(),
            message: "not an IP address".into(),
        })?;
        let server = Arc::new(server);
        let serving = server.clone();
        let thread = std::thread::Builder::new()
            .name("railyard-ops".into())
            .spawn(move || {
                for request in serving.incoming_requests() {
                    let (status, content_type, body) = match request.url() {
                        "/metrics" => (200, "text/plain; version=0.0.4", metrics.render()),
                        "/healthz" => (200, "text/plain", "ok\n".to_string()),
                        "/readyz" => match health.get() {
                            Readiness::Ready => (200, "text/plain", "ready\n".to_string()),
                            Readiness::Starting => (503, "text/plain", "starting\n".to_string()),
                            Readiness::Draining => (503, "text/plain", "draining\n".to_string()),
                        },
                        _ => (404, "text/plain", "not found\n".to_string()),
                    };
                    let header = tiny_http::Header::from_bytes(
                        &b"Content-Type"[..],
                        content_type.as_bytes(),
                    )
                    .expect("static header is valid");
                    let response = tiny_http::Response::from_string(body)
                        .with_status_code(status)
                        .with_header(header);
                    if let Err(e) = request.respond(response) {
                        warn!(error = %e, "ops endpoint response failed");
                    }
                }
            })
            .map_err(|e| ServeError {
                addr: bind.to_string(),
                message: e.to_string(),
            })?;
        info!(%addr, "serving /metrics, /healthz, /readyz");
        Ok(OpsServer {
            server,
            thread: Some(thread),
            addr,
        })
    }
}

impl Drop for OpsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

//! The operations endpoints: `/metrics` (Prometheus text), `/healthz` (the process is up) and
//! `/readyz` (200 only while the run processes with every model loaded and, on Kafka, every
//! consumer holding partitions; 503 with the reason otherwise).
//! Served by a small blocking server on its own thread; bound to localhost unless the topology
//! says otherwise.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tracing::{info, warn};

use super::metrics::Metrics;

/// Phase of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Readiness {
    Starting = 0,
    Ready = 1,
    Draining = 2,
}

/// Shared run state read by `/readyz`: ready only while the run is processing, every model
/// is loaded and every Kafka consumer has partitions assigned.
#[derive(Default)]
pub struct Health {
    phase: AtomicU8,
    models_loaded: AtomicBool,
    /// Partitions assigned to each Kafka consumer of the run (one per source).
    consumers: Mutex<Vec<(String, usize)>>,
}

impl Health {
    pub fn set(&self, readiness: Readiness) {
        self.phase.store(readiness as u8, Ordering::SeqCst);
    }

    pub fn get(&self) -> Readiness {
        match self.phase.load(Ordering::SeqCst) {
            1 => Readiness::Ready,
            2 => Readiness::Draining,
            _ => Readiness::Starting,
        }
    }

    /// Every model of the topology is loaded (the topology is built).
    pub fn models_loaded(&self) {
        self.models_loaded.store(true, Ordering::SeqCst);
    }

    /// Registers a Kafka consumer (none assigned yet); returns its slot.
    pub fn add_consumer(&self, source: &str) -> usize {
        let mut consumers = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
        consumers.push((source.to_string(), 0));
        consumers.len() - 1
    }

    /// The partitions a consumer holds after a rebalance.
    pub fn set_partitions(&self, slot: usize, partitions: usize) {
        let mut consumers = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(consumer) = consumers.get_mut(slot) {
            consumer.1 = partitions;
        }
    }

    /// `Ok` when ready, else why not.
    pub fn status(&self) -> Result<(), String> {
        if !self.models_loaded.load(Ordering::SeqCst) {
            return Err("loading models".into());
        }
        match self.get() {
            Readiness::Starting => return Err("starting".into()),
            Readiness::Draining => return Err("draining".into()),
            Readiness::Ready => {}
        }
        let consumers = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
        match consumers.iter().find(|(_, partitions)| *partitions == 0) {
            Some((source, _)) => Err(format!("source {source} has no partitions assigned")),
            None => Ok(()),
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
                        "/readyz" => match health.status() {
                            Ok(()) => (200, "text/plain", "ready\n".to_string()),
                            Err(why) => (503, "text/plain", format!("not ready: {why}\n")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_processing_with_models_loaded_and_partitions_held() {
        let health = Health::default();
        assert_eq!(health.status(), Err("loading models".into()));
        health.models_loaded();
        assert_eq!(health.status(), Err("starting".into()));
        let slot = health.add_consumer("events");
        health.set(Readiness::Ready);
        assert_eq!(
            health.status(),
            Err("source events has no partitions assigned".into())
        );
        health.set_partitions(slot, 2);
        assert_eq!(health.status(), Ok(()));
        health.set_partitions(slot, 0);
        assert!(health.status().is_err(), "a revocation to none");
        health.set_partitions(slot, 1);
        health.set(Readiness::Draining);
        assert_eq!(health.status(), Err("draining".into()));
    }
}

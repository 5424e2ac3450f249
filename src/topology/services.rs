//! What every runtime shares during a run: the worker pool of the pipeline, the metrics,
//! and (with `[telemetry]`) the health and metrics endpoints.

use std::path::Path;
use std::sync::Arc;

use crate::config::{TelemetryConfig, Topology};
use crate::telemetry::http::{Health, OpsServer, Readiness, ServeError};
use crate::telemetry::metrics::Metrics;

use super::RunOptions;

/// Why a run's services could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("cannot start worker threads: {0}")]
    Threads(String),
}

/// A run's metrics and health, and its endpoint server when one was started before the
/// topology was built (then `/healthz` answers and `/readyz` says why it is not ready while
/// models load).
pub struct Ops {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    server: Option<OpsServer>,
}

impl Ops {
    /// Metrics and health, endpoints not started yet.
    pub fn new(metrics: Arc<Metrics>) -> Ops {
        Ops {
            metrics,
            health: Arc::new(Health::default()),
            server: None,
        }
    }

    /// Serves the endpoints that the topology file's `[telemetry]` names now, before the
    /// topology is compiled and its models loaded.
    pub fn serve_ahead(topology: &Path) -> Result<Ops, ServeError> {
        let mut ops = Ops::new(Arc::new(Metrics::new()));
        if let Some(telemetry) = TelemetryConfig::read_ahead(topology) {
            ops.server = Some(OpsServer::start(
                &telemetry.bind,
                ops.metrics.clone(),
                ops.health.clone(),
            )?);
        }
        Ok(ops)
    }
}

/// What every runtime shares during a run.
pub struct Services {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// The data-parallel workers of the pipeline.
    pub pool: rayon::ThreadPool,
    _ops: Option<OpsServer>,
}

impl Services {
    /// Starts the worker pool and, with `[telemetry]`, the operations endpoints (unless
    /// `ops` serves them already). The topology is built, so its models are loaded.
    pub fn start(
        topology: &Topology,
        options: &RunOptions,
        ops: Ops,
    ) -> Result<Services, ServiceError> {
        let Ops {
            metrics,
            health,
            server,
        } = ops;
        let ops = match (server, &topology.telemetry) {
            (Some(server), _) => Some(server),
            (None, Some(telemetry)) => Some(OpsServer::start(
                &telemetry.bind,
                metrics.clone(),
                health.clone(),
            )?),
            (None, None) => None,
        };
        health.models_loaded();
        let threads = match options.threads {
            0 => topology.settings.threads,
            n => n,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| ServiceError::Threads(e.to_string()))?;
        Ok(Services {
            metrics,
            health,
            pool,
            _ops: ops,
        })
    }

    pub fn ready(&self) {
        self.health.set(Readiness::Ready);
    }

    pub fn draining(&self) {
        self.health.set(Readiness::Draining);
    }
}

//! What every runtime shares during a run: the worker pool of the pipeline, the metrics,
//! and (with `[telemetry]`) the health and metrics endpoints.

use std::sync::Arc;

use crate::config::Topology;
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

/// What every runtime shares during a run.
pub struct Services {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// The data-parallel workers of the pipeline.
    pub pool: rayon::ThreadPool,
    _ops: Option<OpsServer>,
}

impl Services {
    /// Starts the worker pool and, with `[telemetry]`, the operations endpoints.
    pub fn start(
        topology: &Topology,
        options: &RunOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Services, ServiceError> {
        let health = Arc::new(Health::default());
        let ops = match &topology.telemetry {
            Some(telemetry) => Some(OpsServer::start(
                &telemetry.bind,
                metrics.clone(),
                health.clone(),
            )?),
            None => None,
        };
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

//! Running a topology: the one entry point the CLI, the benchmarks and the tests share.
//!
//! [`run`] starts the run's services (the worker pool, metrics, the health and metrics
//! endpoints), then the runtime the topology's sources need: [`file`] for files and stdin,
//! [`crate::kafka`] for consumer groups. Both stop when their sources end or when the stop
//! flag is set (by [`signals`] in the CLI, by the caller in tests and benchmarks), then
//! drain and, on Kafka, commit.

pub mod file;
pub mod signals;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tracing::info;

use crate::config::{SourceSpec, Topology};
use crate::kafka::KafkaRunError;
use crate::operators::BuildError;
use crate::telemetry::metrics::Metrics;
use crate::topology::local_sinks::SinkError;
use crate::topology::services::{Ops, ServiceError, Services};
use crate::topology::{RunOptions, RunReport};

/// Why a run stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Services(#[from] ServiceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Kafka(#[from] KafkaRunError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("a topology reads either Kafka or files/stdin, not both")]
    Mixed,
}

/// Whether the topology reads Kafka (else files and stdin).
pub fn reads_kafka(topology: &Topology) -> bool {
    topology
        .sources
        .iter()
        .any(|s| matches!(s.spec, SourceSpec::Kafka(_)))
}

/// Runs `topology` until its sources end or `stop` is set.
pub fn run(
    topology: &Topology,
    options: &RunOptions,
    stop: Arc<AtomicBool>,
) -> Result<RunReport, RunError> {
    run_with_metrics(topology, options, stop, Arc::new(Metrics::new()))
}

/// Like [`run`], counting into `metrics` (benchmarks read them while the run goes on).
pub fn run_with_metrics(
    topology: &Topology,
    options: &RunOptions,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) -> Result<RunReport, RunError> {
    run_with_ops(topology, options, stop, Ops::new(metrics))
}

/// Like [`run`], serving through `ops` (endpoints the CLI started before building).
pub fn run_with_ops(
    topology: &Topology,
    options: &RunOptions,
    stop: Arc<AtomicBool>,
    ops: Ops,
) -> Result<RunReport, RunError> {
    let services = Services::start(topology, options, ops)?;
    info!(

        topology = %topology.name,
        hash = %topology.hash,
        sources = topology.sources.len(),
        operators = topology.operators.len(),
        sinks = topology.sinks.len(),
        threads = services.pool.current_num_threads(),
        delivery = topology.kafka.as_ref().map_or("files", |k| k.delivery.as_str()),
        "starting"
    );
    let report = if reads_kafka(topology) {
        crate::kafka::run(topology, options, &services, &stop)?
    } else {
        file::run(topology, options, &services, &stop)?
    };
    info!(
        events = report.events,
        dead_letters = report.dead_letters,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "finished"
    );
    Ok(report)
}

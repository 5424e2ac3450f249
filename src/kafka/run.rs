//! Running a Kafka topology: one consumer loop per source on its own thread, sharing the
//! pipeline, the local sinks and the run's stop flag (set by signals, or by the caller in
//! benchmarks and tests). One source failing stops the others.

use std::sync::atomic::{AtomicBool, Ordering};

use super::source::{KafkaSource, SourceParts};
use super::KafkaRunError;
use crate::config::{SourceSpec, Topology};
use crate::topology::local_sinks::LocalSinks;
use crate::topology::services::Services;
use crate::topology::{Pipeline, RunOptions, RunReport};

/// Runs every Kafka source of `topology` until `stop` is set (or a source fails), then
/// drains and commits. Reports are summed over sources.
pub fn run(
    topology: &Topology,
    options: &RunOptions,
    services: &Services,
    stop: &AtomicBool,
) -> Result<RunReport, KafkaRunError> {
    let kafka = topology.kafka.as_ref().ok_or(KafkaRunError::NotKafka)?;
    let pipeline = Pipeline::build(topology)?;
    let local_sinks = LocalSinks::open(topology)?;
    let mut sources = Vec::new();
    for (route, node) in topology.sources.iter().enumerate() {
        let SourceSpec::Kafka(config) = &node.spec else {
            return Err(KafkaRunError::NotKafka);
        };
        sources.push(KafkaSource::connect(SourceParts {
            topology,
            kafka,
            route,
            source_id: node.id.clone(),
            config,
            pipeline: &pipeline,
            services,
            shutdown: stop,
            local_sinks: &local_sinks,
            options,
        })?);
    }
    services.ready();
    let results: Vec<Result<RunReport, KafkaRunError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .into_iter()
            .map(|source| {
                scope.spawn(move || {
                    let result = source.run();
                    // One source failing stops the others: a partial run hides problems.
                    if result.is_err() {
                        stop.store(true, Ordering::Release);
                    }
                    result
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("source threads do not panic"))
            .collect()
    });
    services.draining();
    let _ = local_sinks.flush_all();
    let mut total = RunReport::default();
    for result in results {
        total.merge(result?);
    }
    Ok(total)
}

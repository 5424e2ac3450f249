//! Running a Kafka topology: one consumer loop per source on its own thread, the ops
//! endpoints, and a shared stop flag (signals, or the caller in benchmarks and tests).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tracing::info;

use super::source::{KafkaSource, SourceParts};
use super::KafkaRunError;
use crate::config::{SourceSpec, Topology};
use crate::io::{open_sink, RecordSink};
use crate::telemetry::http::{Health, OpsServer, Readiness};
use crate::telemetry::metrics::Metrics;
use crate::topology::{Pipeline, RunOptions, RunReport};

/// Runs every Kafka source of `topology` until `stop` is set (or a source fails), then
/// drains and commits. Reports are summed over sources.
pub fn run(
    topology: &Topology,
    options: &RunOptions,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) -> Result<RunReport, KafkaRunError> {
    let kafka = topology.kafka.as_ref().ok_or(KafkaRunError::NotKafka)?;
    let health = Arc::new(Health::default());
    let _ops = match &topology.telemetry {
        Some(telemetry) => Some(OpsServer::start(
            &telemetry.bind,
            metrics.clone(),
            health.clone(),
        )?),
        None => None,
    };
    let threads = if options.threads > 0 {
        options.threads
    } else {
        topology.settings.threads
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| KafkaRunError::Threads(e.to_string()))?;
    let pipeline = Pipeline::build(topology)?;
    let local_sinks: Vec<Option<Mutex<Box<dyn RecordSink>>>> = topology
        .sinks
        .iter()
        .map(|s| match &s.spec {
            spec if !spec.is_local() => Ok(None),
            spec => open_sink(spec)
                .map(|out| Some(Mutex::new(out)))
                .map_err(|source| KafkaRunError::OpenSink {
                    sink: s.id.to_string(),
                    source,
                }),
        })
        .collect::<Result<_, _>>()?;
    info!(
        topology = %topology.name,
        hash = %topology.hash,
        sources = topology.sources.len(),
        operators = topology.operators.len(),
        sinks = topology.sinks.len(),
        threads = pool.current_num_threads(),
        delivery = kafka.delivery.as_str(),
        "starting"
    );
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
            metrics: metrics.clone(),
            shutdown: &stop,
            local_sinks: &local_sinks,
            options,
            pool: &pool,
        })?);
    }
    health.set(Readiness::Ready);
    let results: Vec<Result<RunReport, KafkaRunError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .into_iter()
            .map(|source| {
                let stop = &stop;
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
    health.set(Readiness::Draining);
    for sink in local_sinks.iter().flatten() {
        let _ = sink.lock().unwrap_or_else(|p| p.into_inner()).flush();
    }
    let mut total = RunReport::default();
    for result in results {
        let report = result?;
        total.events += report.events;
        total.dead_letters += report.dead_letters;
        total.input_bytes += report.input_bytes;
        for (t, n) in total.actions.iter_mut().zip(report.actions) {
            *t += n;
        }
        total.elapsed = total.elapsed.max(report.elapsed);
        total.latencies_us.extend(report.latencies_us);
    }
    info!(
        events = total.events,
        dead_letters = total.dead_letters,
        elapsed_ms = total.elapsed.as_millis() as u64,
        "finished"
    );
    Ok(total)
}

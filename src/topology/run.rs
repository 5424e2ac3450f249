//! Running a topology over broker-free sources (files, stdin) into file/stdout sinks.
//!
//! Per source, a reader thread fills batches (bounded by `batch_size` events and
//! `max_batch_bytes`) into a bounded channel of depth 2; the calling thread decodes, runs the
//! pipeline (data-parallel on the configured rayon pool), serializes and writes. Malformed
//! lines become dead letters with their line number and reason; processing continues.

use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use tracing::{info, warn};

use super::pipeline::{Pipeline, Processed};
use crate::codec::{decode_json, DeadLetter};
use crate::config::{RecordKind, SourceSpec, Topology};
use crate::event::{Event, Origin};
use crate::io::{open_sink, LineReader, RawLine, RecordSink};
use crate::operators::BuildError;
use crate::verdict::Action;

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot start worker threads: {0}")]
    Threads(String),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

/// Knobs of a run that are not part of the topology.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Keep every event's latency (for `railyard bench`).
    pub record_latencies: bool,
    /// Overrides `settings.threads` (0 = keep).
    pub threads: usize,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub events: u64,
    pub dead_letters: u64,
    pub input_bytes: u64,
    /// Count per action, indexed like [`Action::ALL`].
    pub actions: [u64; 4],
    pub elapsed: Duration,
    /// Per-event latency in microseconds (only with `record_latencies`).
    pub latencies_us: Vec<u32>,
}

/// Records serialized together into one buffer.
const SERIALIZE_CHUNK: usize = 128;

/// Most bytes of input held in one batch.
const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Runs every source of the topology to its end.
pub fn run(topology: &Topology, options: &RunOptions) -> Result<RunReport, RunError> {
    let threads = if options.threads > 0 {
        options.threads
    } else {
        topology.settings.threads
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunError::Threads(e.to_string()))?;
    let pipeline = Pipeline::build(topology)?;
    let mut sinks: Vec<Box<dyn RecordSink>> = topology
        .sinks
        .iter()
        .map(|s| open_sink(&s.spec).map_err(io_error(format!("cannot open sink `{}`", s.id))))
        .collect::<Result<_, _>>()?;
    info!(
        topology = %topology.name,
        hash = %topology.hash,
        sources = topology.sources.len(),
        operators = topology.operators.len(),
        sinks = topology.sinks.len(),
        threads = pool.current_num_threads(),
        "starting"
    );
    let started = Instant::now();
    let mut report = RunReport::default();
    for (route, source) in topology.sources.iter().enumerate() {
        let before = (report.events, report.dead_letters);
        pool.install(|| {
            run_source(
                topology,
                &pipeline,
                route,
                &source.id,
                &source.spec,
                &mut sinks,
                options,
                &mut report,
            )
        })?;
        info!(
            source = %source.id,
            events = report.events - before.0,
            dead_letters = report.dead_letters - before.1,
            "source finished"
        );
    }
    for (sink, node) in sinks.iter_mut().zip(&topology.sinks) {
        sink.flush()
            .map_err(io_error(format!("cannot flush sink `{}`", node.id)))?;
    }
    report.elapsed = started.elapsed();
    info!(
        events = report.events,
        dead_letters = report.dead_letters,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "finished"
    );
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn run_source(
    topology: &Topology,
    pipeline: &Pipeline,
    route: usize,
    source_id: &Arc<str>,
    spec: &SourceSpec,
    sinks: &mut [Box<dyn RecordSink>],
    options: &RunOptions,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let max_bytes = topology.settings.max_event_bytes;
    let batch_size = topology.settings.batch_size;
    let reader: Box<dyn std::io::BufRead + Send> = match spec {
        SourceSpec::File(config) => Box::new(std::io::BufReader::with_capacity(
            256 * 1024,
            std::fs::File::open(&config.path).map_err(io_error(format!(
                "cannot open source `{source_id}` ({})",
                config.path.display()
            )))?,
        )),
        SourceSpec::Stdin(_) => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let plan = &topology.routes[route];
    let want_verdicts = plan
        .sinks
        .iter()
        .any(|&s| topology.sinks[s].spec.records() == RecordKind::Verdicts);
    let want_enriched = plan
        .sinks
        .iter()
        .any(|&s| topology.sinks[s].spec.records() == RecordKind::Enriched);

    let (sender, receiver) = sync_channel::<std::io::Result<Vec<RawLine>>>(2);
    std::thread::scope(|scope| -> Result<(), RunError> {
        scope.spawn(move || {
            let mut lines = LineReader::new(reader, max_bytes);
            loop {
                let mut batch = Vec::with_capacity(batch_size);
                let mut bytes = 0;
                let result = loop {
                    match lines.next_line() {
                        Ok(Some(line)) => {
                            bytes += line.bytes.len();
                            batch.push(line);
                            if batch.len() >= batch_size || bytes >= MAX_BATCH_BYTES {
                                break Ok(false);
                            }
                        }
                        Ok(None) => break Ok(true),
                        Err(e) => break Err(e),
                    }
                };
                match result {
                    Ok(done) => {
                        if !batch.is_empty() && sender.send(Ok(batch)).is_err() {
                            return;
                        }
                        if done {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = sender.send(Err(e));
                        return;
                    }
                }
            }
        });
        for batch in receiver {
            let batch = batch.map_err(io_error(format!("cannot read source `{source_id}`")))?;
            process_batch(
                pipeline,
                route,
                topology,
                source_id,
                batch,
                sinks,
                want_verdicts,
                want_enriched,
                options,
                report,
            )?;
        }
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
fn process_batch(
    pipeline: &Pipeline,
    route: usize,
    topology: &Topology,
    source_id: &Arc<str>,
    batch: Vec<RawLine>,
    sinks: &mut [Box<dyn RecordSink>],
    want_verdicts: bool,
    want_enriched: bool,
    options: &RunOptions,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let max_bytes = topology.settings.max_event_bytes;
    report.input_bytes += batch.iter().map(|l| l.size as u64).sum::<u64>();
    let decoded: Vec<Result<Event, Box<DeadLetter>>> = batch
        .par_iter()
        .map(|line| {
            let origin = Origin::Line {
                source: source_id.clone(),
                line: line.number,
            };
            let result = if line.oversized(max_bytes) {
                Err(crate::codec::DecodeError::TooLarge {
                    size: line.size,
                    limit: max_bytes,
                })
            } else {
                decode_json(&line.bytes, origin.clone(), max_bytes)
            };
            result
                .map_err(|error| Box::new(DeadLetter::new(&error, origin, &line.bytes, line.size)))
        })
        .collect();
    let mut events = Vec::with_capacity(decoded.len());
    let mut dead_letters = Vec::new();
    for item in decoded {
        match item {
            Ok(event) => events.push(event),
            Err(dead) => dead_letters.push(dead),
        }
    }
    let plan = &topology.routes[route];
    for dead in &dead_letters {
        if let Origin::Line { line, .. } = &dead.origin {
            warn!(source = %source_id, line, error = dead.error_kind, size_bytes = dead.size_bytes, "dead letter");
        }
        let json = serde_json::to_vec(dead.as_ref()).expect("dead letters serialize");
        for &s in &plan.dead_letter_sinks {
            sinks[s].write_record(&json).map_err(io_error(format!(
                "cannot write sink `{}`",
                topology.sinks[s].id
            )))?;
        }
    }
    report.dead_letters += dead_letters.len() as u64;

    let processed = pipeline.process(route, events, want_enriched);
    report.events += processed.len() as u64;
    for p in &processed {
        report.actions[action_index(p.verdict.action)] += 1;
        if options.record_latencies {
            report
                .latencies_us
                .push(p.verdict.latency_us.min(u32::MAX as u64) as u32);
        }
    }
    // Serialize in parallel, one buffer of JSON lines per chunk and record kind: far fewer
    // allocations and copies than a buffer per record.
    let encoded: Vec<(Vec<u8>, Vec<u8>)> = processed
        .par_chunks(SERIALIZE_CHUNK)
        .map(|chunk| {
            let mut verdicts = Vec::new();
            let mut enriched = Vec::new();
            for Processed {
                verdict,
                enriched: record,
            } in chunk
            {
                if want_verdicts {
                    serde_json::to_writer(&mut verdicts, verdict).expect("verdicts serialize");
                    verdicts.push(b'\n');
                }
                if let Some(record) = record {
                    serde_json::to_writer(&mut enriched, record)
                        .expect("enriched records serialize");
                    enriched.push(b'\n');
                }
            }
            (verdicts, enriched)
        })
        .collect();
    for &s in &plan.sinks {
        let kind = topology.sinks[s].spec.records();
        for (verdicts, enriched) in &encoded {
            let lines = if kind == RecordKind::Enriched {
                enriched
            } else {
                verdicts
            };
            sinks[s].write_lines(lines).map_err(io_error(format!(
                "cannot write sink `{}`",
                topology.sinks[s].id
            )))?;
        }
    }
    Ok(())
}

fn action_index(action: Action) -> usize {
    Action::ALL.iter().position(|a| *a == action).unwrap_or(0)
}

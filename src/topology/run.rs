//! Running a topology over broker-free sources (files, stdin) into file/stdout sinks.
//!
//! Per source, a reader thread fills batches (bounded by `batch_size` events and
//! `MAX_BATCH_BYTES`) into a bounded channel of depth 2; the calling thread decodes, runs the
//! pipeline (data-parallel on the configured rayon pool), serializes and writes. Malformed
//! lines become dead letters with their line number and reason; processing continues.
//! Metrics are updated once per batch; with `[telemetry]`, `/metrics`, `/healthz` and
//! `/readyz` are served while the run lasts.

use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use tracing::{info, warn};

use super::pipeline::{Pipeline, Processed};
use crate::codec::{decode_json, DeadLetter, DecodeError};
use crate::config::{RecordKind, SourceSpec, Topology};
use crate::io::{open_sink, LineReader, RawLine, RecordSink};
use crate::model::Action;
use crate::model::{Event, Origin};
use crate::operators::BuildError;
use crate::telemetry::http::{Health, OpsServer, Readiness, ServeError};
use crate::telemetry::metrics::Metrics;

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Serve(#[from] ServeError),
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

/// Most bytes of input held in one batch.
const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Records serialized together into one buffer.
const SERIALIZE_CHUNK: usize = 128;

/// Runs every source of the topology to its end.
pub fn run(topology: &Topology, options: &RunOptions) -> Result<RunReport, RunError> {
    let metrics = Arc::new(Metrics::new());
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
        .map_err(|e| RunError::Threads(e.to_string()))?;
    // Operators and keys first: a topology that cannot start creates no output files.
    let pipeline = Pipeline::build(topology)?;
    let sinks = topology
        .sinks
        .iter()
        .map(|s| open_sink(&s.spec).map_err(io_error(format!("cannot open sink `{}`", s.id))))
        .collect::<Result<_, _>>()?;
    let mut runner = Runner {
        topology,
        pipeline,
        sinks,
        options,
        metrics,
        report: RunReport::default(),
    };
    info!(
        topology = %topology.name,
        hash = %topology.hash,
        sources = topology.sources.len(),
        operators = topology.operators.len(),
        sinks = topology.sinks.len(),
        threads = pool.current_num_threads(),
        "starting"
    );
    health.set(Readiness::Ready);
    let started = Instant::now();
    for (route, source) in topology.sources.iter().enumerate() {
        let before = (runner.report.events, runner.report.dead_letters);
        pool.install(|| runner.run_source(route, &source.id, &source.spec))?;
        info!(
            source = %source.id,
            events = runner.report.events - before.0,
            dead_letters = runner.report.dead_letters - before.1,
            "source finished"
        );
    }
    health.set(Readiness::Draining);
    if let Some(writer) = runner.pipeline.audit() {
        let mut seals = Vec::new();
        for (_, line) in writer.seal_all() {
            seals.extend_from_slice(&line);
            seals.push(b'\n');
        }
        for s in 0..topology.sinks.len() {
            if topology.sinks[s].spec.records() == RecordKind::Audit {
                runner.write(s, &seals)?;
            }
        }
    }
    for (sink, node) in runner.sinks.iter_mut().zip(&topology.sinks) {
        sink.flush()
            .map_err(io_error(format!("cannot flush sink `{}`", node.id)))?;
    }
    let mut report = runner.report;
    report.elapsed = started.elapsed();
    info!(
        events = report.events,
        dead_letters = report.dead_letters,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "finished"
    );
    Ok(report)
}

/// State shared by every batch of a run.
struct Runner<'a> {
    topology: &'a Topology,
    pipeline: Pipeline,
    sinks: Vec<Box<dyn RecordSink>>,
    options: &'a RunOptions,
    metrics: Arc<Metrics>,
    report: RunReport,
}

impl Runner<'_> {
    fn run_source(
        &mut self,
        route: usize,
        source_id: &Arc<str>,
        spec: &SourceSpec,
    ) -> Result<(), RunError> {
        let max_bytes = self.topology.settings.max_event_bytes;
        let batch_size = self.topology.settings.batch_size;
        let reader: Box<dyn std::io::BufRead + Send> = match spec {
            SourceSpec::File(config) => Box::new(std::io::BufReader::with_capacity(
                256 * 1024,
                std::fs::File::open(&config.path).map_err(io_error(format!(
                    "cannot open source `{source_id}` ({})",
                    config.path.display()
                )))?,
            )),
            SourceSpec::Stdin(_) => Box::new(std::io::BufReader::new(std::io::stdin())),
            SourceSpec::Kafka(_) => {
                return Err(RunError::Io {
                    what: format!("source `{source_id}`"),
                    source: std::io::Error::other("Kafka sources run with the Kafka runtime"),
                })
            }
        };
        let (sender, receiver) = sync_channel::<std::io::Result<Vec<RawLine>>>(2);
        std::thread::scope(|scope| -> Result<(), RunError> {
            scope.spawn(move || read_batches(reader, max_bytes, batch_size, sender));
            for batch in receiver {
                let batch = batch.map_err(io_error(format!("cannot read source `{source_id}`")))?;
                self.process_batch(route, source_id, batch)?;
            }
            Ok(())
        })
    }

    fn write(&mut self, sink: usize, lines: &[u8]) -> Result<(), RunError> {
        self.sinks[sink]
            .write_lines(lines)
            .map_err(io_error(format!(
                "cannot write sink `{}`",
                self.topology.sinks[sink].id
            )))
    }

    fn process_batch(
        &mut self,
        route: usize,
        source_id: &Arc<str>,
        batch: Vec<RawLine>,
    ) -> Result<(), RunError> {
        let topology = self.topology;
        let plan = &topology.routes[route];
        let max_bytes = topology.settings.max_event_bytes;
        self.report.input_bytes += batch.iter().map(|l| l.size as u64).sum::<u64>();
        let decoded: Vec<Result<Event, Box<DeadLetter>>> = batch
            .par_iter()
            .map(|line| decode_line(line, source_id, max_bytes))
            .collect();
        let mut events = Vec::with_capacity(decoded.len());
        let mut event_lines = Vec::with_capacity(decoded.len());
        let mut dead_lines = Vec::new();
        for (index, item) in decoded.into_iter().enumerate() {
            match item {
                Ok(event) => {
                    events.push(event);
                    event_lines.push(index);
                }
                Err(dead) => {
                    if let Origin::Line { line, .. } = &dead.origin {
                        warn!(source = %source_id, line, error = dead.error_kind, size_bytes = dead.size_bytes, "dead letter");
                    }
                    self.metrics
                        .dead_letters
                        .with_label_values(&[source_id, dead.error_kind])
                        .inc();
                    serde_json::to_writer(&mut dead_lines, dead.as_ref())
                        .expect("dead letters serialize");
                    dead_lines.push(b'\n');
                    self.report.dead_letters += 1;
                }
            }
        }
        let count = events.len();
        self.metrics
            .events_in
            .with_label_values(&[source_id])
            .inc_by(count as u64);
        self.metrics.batch_events.observe(count as f64);
        self.metrics.in_flight.set(count as i64);
        let want = |kind| {
            plan.sinks
                .iter()
                .any(|&s| topology.sinks[s].spec.records() == kind)
        };
        let want_verdicts = want(RecordKind::Verdicts);
        let (processed, timings) =
            self.pipeline
                .process_timed(route, events, want(RecordKind::Enriched));
        // Events an operator failed on (with `on_error = "dead_letter"`) become dead letters.
        let mut kept = Vec::with_capacity(processed.len());
        for (p, line) in processed.into_iter().zip(&event_lines) {
            match &p.failed {
                None => kept.push(p),
                Some(failed) => {
                    let line = &batch[*line];
                    let error = DecodeError::OperatorFailed {
                        operator: failed.operator.to_string(),
                        reason: failed.reason.clone(),
                    };
                    warn!(source = %source_id, line = line.number, operator = %failed.operator, "operator failed; event dead-lettered");
                    self.metrics
                        .dead_letters
                        .with_label_values(&[source_id, error.kind()])
                        .inc();
                    let dead =
                        DeadLetter::new(&error, p.verdict.origin.clone(), &line.bytes, line.size);
                    serde_json::to_writer(&mut dead_lines, &dead).expect("dead letters serialize");
                    dead_lines.push(b'\n');
                    self.report.dead_letters += 1;
                }
            }
        }
        let processed = kept;
        for &s in &plan.dead_letter_sinks {
            self.write(s, &dead_lines)?;
        }
        for (operator, spent) in timings {
            self.metrics
                .operator_seconds
                .with_label_values(&[&operator])
                .observe(spent.as_secs_f64());
        }
        record_outcomes(
            &processed,
            self.options.record_latencies,
            &mut self.report,
            &self.metrics,
        );

        // Serialize in parallel, one buffer of JSON lines per chunk and record kind: far fewer
        // allocations and copies than a buffer per record.
        let encoded: Vec<(Vec<u8>, Vec<u8>)> = processed
            .par_chunks(SERIALIZE_CHUNK)
            .map(|chunk| encode_chunk(chunk, want_verdicts))
            .collect();
        let audit_lines = match self.pipeline.audit() {
            Some(writer) => {
                let chain = writer.chain_id(source_id);
                let mut lines = Vec::new();
                let records = writer.append_batch(
                    processed
                        .iter()
                        .filter_map(|p| p.audit.as_ref().map(|d| (chain.as_str(), d))),
                );
                for record in records {
                    lines.extend_from_slice(&record);
                    lines.push(b'\n');
                }
                lines
            }
            None => Vec::new(),
        };
        let mut vault_lines = Vec::new();
        let mut vault_entries = 0u64;
        for entry in processed.iter().flat_map(|p| &p.vault) {
            vault_lines.extend_from_slice(&entry.record);
            vault_lines.push(b'\n');
            vault_entries += 1;
        }
        for &s in &plan.sinks {
            let kind = topology.sinks[s].spec.records();
            let mut written = processed.len() as u64;
            match kind {
                RecordKind::Audit => self.write(s, &audit_lines)?,
                RecordKind::Vault => {
                    self.write(s, &vault_lines)?;
                    written = vault_entries;
                }
                _ => {
                    for (verdicts, enriched) in &encoded {
                        self.write(
                            s,
                            if kind == RecordKind::Enriched {
                                enriched
                            } else {
                                verdicts
                            },
                        )?;
                    }
                }
            }
            self.metrics
                .records_out
                .with_label_values(&[&topology.sinks[s].id, kind.as_str()])
                .inc_by(written);
        }
        self.metrics.in_flight.set(0);
        Ok(())
    }
}

/// The reader thread: lines into batches, bounded by count and bytes.
fn read_batches(
    reader: Box<dyn std::io::BufRead + Send>,
    max_bytes: usize,
    batch_size: usize,
    sender: std::sync::mpsc::SyncSender<std::io::Result<Vec<RawLine>>>,
) {
    let mut lines = LineReader::new(reader, max_bytes);
    loop {
        let mut batch = Vec::with_capacity(batch_size);
        let mut bytes = 0;
        let done = loop {
            match lines.next_line() {
                Ok(Some(line)) => {
                    bytes += line.bytes.len();
                    batch.push(line);
                    if batch.len() >= batch_size || bytes >= MAX_BATCH_BYTES {
                        break false;
                    }
                }
                Ok(None) => break true,
                Err(e) => {
                    let _ = sender.send(Err(e));
                    return;
                }
            }
        };
        if !batch.is_empty() && sender.send(Ok(batch)).is_err() {
            return;
        }
        if done {
            return;
        }
    }
}

fn decode_line(
    line: &RawLine,
    source_id: &Arc<str>,
    max_bytes: usize,
) -> Result<Event, Box<DeadLetter>> {
    let origin = Origin::Line {
        source: source_id.clone(),
        line: line.number,
    };
    let result = if line.oversized(max_bytes) {
        Err(DecodeError::TooLarge {
            size: line.size,
            limit: max_bytes,
        })
    } else {
        decode_json(&line.bytes, origin.clone(), max_bytes)
    };
    result.map_err(|error| Box::new(DeadLetter::new(&error, origin, &line.bytes, line.size)))
}

fn encode_chunk(chunk: &[Processed], want_verdicts: bool) -> (Vec<u8>, Vec<u8>) {
    let mut verdicts = Vec::new();
    let mut enriched = Vec::new();
    for Processed {
        verdict,
        enriched: record,
        ..
    } in chunk
    {
        if want_verdicts {
            serde_json::to_writer(&mut verdicts, verdict).expect("verdicts serialize");
            verdicts.push(b'\n');
        }
        if let Some(record) = record {
            serde_json::to_writer(&mut enriched, record).expect("enriched records serialize");
            enriched.push(b'\n');
        }
    }
    (verdicts, enriched)
}

fn action_index(action: Action) -> usize {
    Action::ALL.iter().position(|a| *a == action).unwrap_or(0)
}

/// Counts a processed batch into the run report and the verdict and finding metrics (shared
/// by the file and Kafka runtimes).
pub fn record_outcomes(
    processed: &[Processed],
    record_latencies: bool,
    report: &mut RunReport,
    metrics: &Metrics,
) {
    let mut actions = [0u64; 4];
    let mut findings: std::collections::HashMap<(&str, &str), u64> =
        std::collections::HashMap::new();
    for p in processed {
        actions[action_index(p.verdict.action)] += 1;
        for f in &p.verdict.findings {
            *findings
                .entry((&f.operator, f.category.as_str()))
                .or_default() += 1;
        }
        if record_latencies {
            report
                .latencies_us
                .push(p.verdict.latency_us.min(u32::MAX as u64) as u32);
        }
    }
    report.events += processed.len() as u64;
    for (i, n) in actions.iter().enumerate() {
        report.actions[i] += n;
        if *n > 0 {
            metrics
                .verdicts
                .with_label_values(&[Action::ALL[i].as_str()])
                .inc_by(*n);
        }
    }
    for ((operator, category), n) in findings {
        metrics
            .findings
            .with_label_values(&[operator, category])
            .inc_by(n);
    }
}

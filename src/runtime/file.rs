//! The broker-free runtime: file and stdin sources into file and stdout sinks.
//!
//! Per source, a reader thread fills batches (bounded by `batch_size` events and
//! `MAX_BATCH_BYTES`) into a bounded channel of depth 2; the calling thread decodes, runs the
//! pipeline (data-parallel on the configured rayon pool) and writes the batch's outputs.
//! Malformed lines become dead letters with their line number and reason; processing
//! continues. A set stop flag ends the run after the batch in hand.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use tracing::info;

use super::RunError;
use crate::codec::{decode_json, DecodeError};
use crate::config::{SourceSpec, Topology};
use crate::io::{LineReader, RawLine};
use crate::model::{Event, Origin};
use crate::topology::local_sinks::LocalSinks;
use crate::topology::output::{Input, InputRef};
use crate::topology::services::Services;
use crate::topology::{OutputBatch, Pipeline, RunOptions, RunReport};

/// Most bytes of input held in one batch.
const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Runs every source of the topology to its end (or until `stop` is set).
pub fn run(
    topology: &Topology,
    options: &RunOptions,
    services: &Services,
    stop: &AtomicBool,
) -> Result<RunReport, RunError> {
    // Operators and keys first: a topology that cannot start creates no output files.
    let pipeline = Pipeline::build(topology)?;
    let sinks = LocalSinks::open(topology)?;
    let mut report = RunReport::default();
    services.ready();
    let started = Instant::now();
    for (route, source) in topology.sources.iter().enumerate() {
        let before = (report.events, report.dead_letters);
        let driver = FileSource {
            topology,
            pipeline: &pipeline,
            sinks: &sinks,
            route,
            source_id: &source.id,
            options,
            services,
            stop,
            interactive: matches!(source.spec, SourceSpec::Stdin(_)),
        };
        services
            .pool
            .install(|| driver.run(&source.spec, &mut report))?;
        info!(
            source = %source.id,
            events = report.events - before.0,
            dead_letters = report.dead_letters - before.1,
            "source finished"
        );
    }
    services.draining();
    if let Some(writer) = pipeline.audit() {
        let mut seals = Vec::new();
        for (_, line) in writer.seal_all() {
            seals.extend_from_slice(&line);
            seals.push(b'\n');
        }
        sinks.write_seals(&seals)?;
    }
    sinks.flush_all()?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One file or stdin source of a run.
struct FileSource<'a> {
    topology: &'a Topology,
    pipeline: &'a Pipeline,
    sinks: &'a LocalSinks,
    route: usize,
    source_id: &'a Arc<str>,
    options: &'a RunOptions,
    services: &'a Services,
    stop: &'a AtomicBool,
    /// Stdin: every batch's records are flushed to the sinks as soon as they are written,
    /// so a person or a pipe reading them sees each release without waiting for more input.
    interactive: bool,
}

impl FileSource<'_> {
    fn run(&self, spec: &SourceSpec, report: &mut RunReport) -> Result<(), RunError> {
        let settings = &self.topology.settings;
        let (max_bytes, batch_size) = (settings.max_event_bytes, settings.batch_size);
        let source_id = self.source_id;
        let reader: Box<dyn std::io::BufRead + Send> = match spec {
            SourceSpec::File(config) => Box::new(std::io::BufReader::with_capacity(
                256 * 1024,
                std::fs::File::open(&config.path).map_err(|source| RunError::Io {
                    what: format!(
                        "cannot open source `{source_id}` ({})",
                        config.path.display()
                    ),
                    source,
                })?,
            )),
            SourceSpec::Stdin(_) => Box::new(std::io::BufReader::new(std::io::stdin())),
            SourceSpec::Kafka(_) => return Err(RunError::Mixed),
        };
        let (sender, receiver) = sync_channel::<std::io::Result<Vec<RawLine>>>(2);
        std::thread::scope(|scope| -> Result<(), RunError> {
            scope.spawn(move || read_batches(reader, max_bytes, batch_size, sender));
            loop {
                // While streams are open, a quiet input still flushes the idle ones (an
                // empty batch sweeps the timeouts); otherwise wait for the next batch.
                let streams = self.pipeline.streams();
                let received = match streams.open_streams() {
                    0 => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    _ => receiver.recv_timeout(streams.sweep_interval()),
                };
                let batch = match received {
                    Ok(batch) => batch,
                    Err(RecvTimeoutError::Timeout) => {
                        self.process(Vec::new(), report)?;
                        if self.stop.load(Ordering::Acquire) {
                            break;
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                let batch = batch.map_err(|source| RunError::Io {
                    what: format!("cannot read source `{source_id}`"),
                    source,
                })?;
                self.process(batch, report)?;
                if self.stop.load(Ordering::Acquire) {
                    info!(source = %source_id, "stop requested");
                    break;
                }
            }
            // Streams still open at the end of the input: their held tails, scanned, and
            // their verdicts.
            if self.pipeline.streams().open_streams() > 0 {
                let outputs = self.pipeline.flush_streams(self.route);
                self.deliver(outputs, report)?;
            }
            Ok(())
        })
    }

    fn process(&self, batch: Vec<RawLine>, report: &mut RunReport) -> Result<(), RunError> {
        let max_bytes = self.topology.settings.max_event_bytes;
        let metrics = &self.services.metrics;
        report.input_bytes += batch.iter().map(|l| l.size as u64).sum::<u64>();
        metrics.in_flight.set(batch.len() as i64);
        let inputs: Vec<Input> = batch
            .par_iter()
            .map(|line| decode_line(line, self.source_id, max_bytes))
            .collect();
        let outputs = self.pipeline.run_batch(self.route, inputs);
        self.deliver(outputs, report)
    }

    /// Counts a batch's outputs and writes them to the route's sinks.
    fn deliver(&self, outputs: OutputBatch, report: &mut RunReport) -> Result<(), RunError> {
        let metrics = &self.services.metrics;
        outputs.count(
            self.source_id,
            metrics,
            report,
            self.options.record_latencies,
        );
        let route = self.pipeline.sinks().route(self.route);
        self.sinks.write(route, &outputs)?;
        if self.interactive {
            self.sinks.flush_route(route)?;
        }
        route.count_records(&outputs, metrics);
        metrics.in_flight.set(0);
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

pub(crate) fn decode_line<'a>(
    line: &'a RawLine,
    source_id: &Arc<str>,
    max_bytes: usize,
) -> Input<'a> {
    let origin = Origin::Line {
        source: source_id.clone(),
        line: line.number,
    };
    let decoded: Result<Event, DecodeError> = if line.oversized(max_bytes) {
        Err(DecodeError::TooLarge {
            size: line.size,
            limit: max_bytes,
        })
    } else {
        decode_json(&line.bytes, origin.clone(), max_bytes)
    };
    Input {
        decoded,
        at: InputRef {
            origin,
            raw: &line.bytes,
            size: line.size,
        },
    }
}

//! One Kafka source: a consumer in its group, a producer for its outputs, and the loop that
//! reads a batch, decodes it, runs the pipeline and dispatches every output.
//!
//! At-least-once: each input offset is dispatched in the [`OffsetTracker`] before its
//! outputs are produced; file sinks are written and flushed first, then Kafka records are
//! produced carrying a [`Ticket`]; the delivery thread acknowledges the offset once every
//! record of the event is on the broker, and positions are committed periodically and on
//! rebalance and shutdown. Exactly-once: each batch's outputs and input positions go in one
//! Kafka transaction.
//!
//! [`OffsetTracker`]: super::offsets::OffsetTracker

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, info, warn};

use super::acks::{Acks, Ticket};
use super::avro::{EventDecoder, VerdictEncoder};
use super::client::{await_brokers, consumer_config, producer_config, transactional_id};
use super::context::{commit_positions, DeliveryContext, SourceContext};
use super::offsets::PartitionKey;
use super::records::{dead_letter_headers, InputRecord};
use super::KafkaRunError;
use crate::codec::{decode_json, DeadLetter, DecodeError};
use crate::config::{
    Delivery, Format, KafkaConfig, KafkaSourceConfig, RecordKind, SinkSpec, Topology,
};
use crate::io::RecordSink;
use crate::model::{Event, Origin};
use crate::telemetry::metrics::Metrics;
use crate::topology::{Pipeline, Processed, RunOptions, RunReport};

/// How long transactional and flush calls may take before the run gives up.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A Kafka sink of this source's route.
struct KafkaOutput {
    topic: String,
    records: RecordKind,
    avro: Option<VerdictEncoder>,
}

/// What one source needs from the run.
pub struct SourceParts<'a> {
    pub topology: &'a Topology,
    pub kafka: &'a KafkaConfig,
    pub route: usize,
    pub source_id: Arc<str>,
    pub config: &'a KafkaSourceConfig,
    pub pipeline: &'a Pipeline,
    pub metrics: Arc<Metrics>,
    pub shutdown: &'a AtomicBool,
    /// File and stdout sinks of the topology, by sink index (`None` for Kafka sinks).
    pub local_sinks: &'a [Option<Mutex<Box<dyn RecordSink>>>],
    pub options: &'a RunOptions,
    pub pool: &'a rayon::ThreadPool,
}

pub struct KafkaSource<'a> {
    parts: SourceParts<'a>,
    consumer: BaseConsumer<SourceContext>,
    producer: ThreadedProducer<DeliveryContext>,
    acks: Arc<Acks>,
    outputs: Vec<KafkaOutput>,
    decoder: Option<EventDecoder>,
    topics: HashMap<String, Arc<str>>,
    transactional: bool,
    report: RunReport,
}

impl<'a> KafkaSource<'a> {
    pub fn connect(parts: SourceParts<'a>) -> Result<Self, KafkaRunError> {
        let kafka = parts.kafka;
        let transactional = kafka.delivery == Delivery::ExactlyOnce;
        let acks = Acks::new();
        let context = SourceContext {
            acks: acks.clone(),
            metrics: parts.metrics.clone(),
            drain_timeout: Duration::from_millis(kafka.drain_timeout_ms),
            generation: AtomicU64::new(0),
            revoked: Mutex::new(HashSet::new()),
            transactional,
            last_error: Mutex::new(None),
        };
        let consumer: BaseConsumer<SourceContext> = consumer_config(kafka, parts.config)
            .create_with_context(context)
            .map_err(|e| KafkaRunError::Client(format!("consumer: {e}")))?;
        let transactional_id = transactional.then(|| {
            transactional_id(
                kafka,
                &parts.config.group_id,
                &parts.source_id,
                parts.topology.sources.len(),
            )
        });
        let mut producer_settings = producer_config(kafka, transactional_id.as_deref());
        let max_message = (2 * parts.topology.settings.max_event_bytes + 64 * 1024).max(1_000_000);
        if producer_settings.get("message.max.bytes").is_none() {
            producer_settings.set("message.max.bytes", max_message.to_string());
        }
        let producer: ThreadedProducer<DeliveryContext> = producer_settings
            .create_with_context(DeliveryContext {
                acks: acks.clone(),
                metrics: parts.metrics.clone(),
            })
            .map_err(|e| KafkaRunError::Client(format!("producer: {e}")))?;
        let plan = &parts.topology.routes[parts.route];
        let mut outputs = Vec::new();
        for &s in plan.sinks.iter().chain(&plan.dead_letter_sinks) {
            let spec = &parts.topology.sinks[s].spec;
            let Some(topic) = spec.topic() else {
                continue;
            };
            let avro = match (spec, &kafka.schema_registry) {
                (SinkSpec::Kafka(sink), Some(registry)) if sink.format == Format::Avro => {
                    Some(VerdictEncoder::new(registry, topic)?)
                }
                _ => None,
            };
            outputs.push(KafkaOutput {
                topic: topic.to_string(),
                records: spec.records(),
                avro,
            });
        }
        let decoder = match (parts.config.format, &kafka.schema_registry) {
            (Format::Avro, Some(registry)) => Some(EventDecoder::new(registry)?),
            _ => None,
        };
        let topics: Vec<&str> = parts.config.topics.iter().map(String::as_str).collect();
        await_brokers(&consumer, kafka, topics[0])?;
        consumer
            .subscribe(&topics)
            .map_err(|e| KafkaRunError::Client(format!("subscribe: {e}")))?;
        if transactional {
            producer
                .init_transactions(CLIENT_TIMEOUT)
                .map_err(|e| KafkaRunError::Transaction(format!("init: {e}")))?;
        }
        info!(
            source = %parts.source_id,
            group = %parts.config.group_id,
            topics = topics.len(),
            delivery = kafka.delivery.as_str(),
            "kafka source subscribed"
        );
        Ok(KafkaSource {
            parts,
            consumer,
            producer,
            acks,
            outputs,
            decoder,
            topics: HashMap::new(),
            transactional,
            report: RunReport::default(),
        })
    }

    /// Runs until shutdown is requested or a delivery fails, then drains and commits.
    pub fn run(mut self) -> Result<RunReport, KafkaRunError> {
        let started = Instant::now();
        let commit_interval = Duration::from_millis(self.parts.kafka.commit_interval_ms);
        let max_in_flight = self.parts.kafka.max_in_flight;
        let mut last_commit = Instant::now();
        let outcome = loop {
            if self.parts.shutdown.load(Ordering::Acquire) {
                break Ok(());
            }
            if let Some(failure) = self.acks.failure() {
                break Err(KafkaRunError::Delivery(failure));
            }
            let in_flight = self.acks.tracker().in_flight();
            self.parts.metrics.in_flight.set(in_flight as i64);
            if in_flight >= max_in_flight {
                self.acks
                    .wait_until(Instant::now() + Duration::from_millis(100), |t| {
                        t.in_flight() < max_in_flight
                    });
            } else {
                let room = (max_in_flight - in_flight).min(self.parts.topology.settings.batch_size);
                let batch = self.fill_batch(room);
                if !batch.is_empty() {
                    if let Err(error) = self.process(batch) {
                        break Err(error);
                    }
                }
            }
            if !self.transactional && last_commit.elapsed() >= commit_interval {
                commit_positions(
                    &self.consumer,
                    &self.acks,
                    &self.parts.metrics,
                    None,
                    CommitMode::Async,
                );
                last_commit = Instant::now();
            }
        };
        self.drain();
        self.report.elapsed = started.elapsed();
        outcome.map(|()| self.report)
    }

    /// Stops reading, waits for in-flight events up to the drain deadline, commits.
    fn drain(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(self.parts.kafka.drain_timeout_ms);
        let drained = self.acks.wait_until(deadline, |t| t.in_flight() == 0);
        let left = self.acks.tracker().in_flight();
        if !self.transactional {
            commit_positions(
                &self.consumer,
                &self.acks,
                &self.parts.metrics,
                None,
                CommitMode::Sync,
            );
        }
        self.seal_audit_chains();
        let _ = self.producer.flush(Duration::from_secs(5));
        self.parts.metrics.in_flight.set(left as i64);
        info!(
            source = %self.parts.source_id,
            drained,
            in_flight = left,
            "kafka source stopped"
        );
    }

    /// Appends the seal record to each audit chain of this source's partitions (after the
    /// drain, so it is the last record of its chain).
    fn seal_audit_chains(&mut self) {
        let Some(writer) = self.parts.pipeline.audit() else {
            return;
        };
        let prefixes: Vec<String> = self
            .parts
            .config
            .topics
            .iter()
            .map(|t| writer.chain_id(&format!("{t}/")))
            .collect();
        let seals = writer.seal_where(|chain| prefixes.iter().any(|p| chain.starts_with(p)));
        if seals.is_empty() {
            return;
        }
        let plan = &self.parts.topology.routes[self.parts.route];
        let mut lines = Vec::new();
        for (_, line) in &seals {
            lines.extend_from_slice(line);
            lines.push(b'\n');
        }
        let local: Vec<usize> = plan
            .sinks
            .iter()
            .copied()
            .filter(|&s| {
                self.parts.topology.sinks[s].spec.records() == RecordKind::Audit
                    && self.parts.local_sinks[s].is_some()
            })
            .collect();
        for &s in &local {
            if let Err(error) = self.write_local(s, &lines) {
                warn!(%error, "cannot write audit seals");
            }
        }
        let _ = self.flush_local(&local);
        let audit_outputs: Vec<usize> = (0..self.outputs.len())
            .filter(|&o| self.outputs[o].records == RecordKind::Audit)
            .collect();
        // Exactly-once: a transactional producer writes only inside a transaction.
        if self.transactional && !audit_outputs.is_empty() {
            if let Err(error) = self.producer.begin_transaction() {
                warn!(%error, "cannot begin the transaction for audit seals");
                return;
            }
        }
        for &o in &audit_outputs {
            for (chain, line) in &seals {
                let ticket = Ticket::untracked(Arc::new(PartitionKey::new(chain, 0)), -1);
                let mut record = BaseRecord::with_opaque_to(&self.outputs[o].topic, ticket)
                    .key(chain.as_bytes())
                    .payload(line.as_slice());
                // Seals are best effort on the way out: a missing seal reads as truncation.
                for _ in 0..1000 {
                    match self.producer.send(record) {
                        Ok(()) => break,
                        Err((_, returned)) => {
                            record = returned;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            }
        }
        if self.transactional && !audit_outputs.is_empty() {
            if let Err(error) = self.producer.commit_transaction(CLIENT_TIMEOUT) {
                warn!(%error, "cannot commit the audit seals");
                return;
            }
        }
        info!(source = %self.parts.source_id, chains = seals.len(), "audit chains sealed");
    }

    /// Reads up to `room` records, waiting at most `max_wait_ms` after the first.
    fn fill_batch(&mut self, room: usize) -> Vec<InputRecord> {
        let generation = self.consumer.context().generation.load(Ordering::Acquire);
        let mut batch = Vec::new();
        let max_wait = Duration::from_millis(self.parts.kafka.max_wait_ms);
        let mut deadline = None;
        while batch.len() < room {
            let timeout = match deadline {
                None => Duration::from_millis(100),
                Some(d) => {
                    let left = Instant::saturating_duration_since(&d, Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    left
                }
            };
            match self.consumer.poll(timeout) {
                None => break,
                Some(Err(error)) => {
                    warn!(source = %self.parts.source_id, %error, "consumer error");
                    break;
                }
                Some(Ok(message)) => {
                    use rdkafka::Message;
                    let topic = match self.topics.get(message.topic()) {
                        Some(t) => t.clone(),
                        None => {
                            let t: Arc<str> = Arc::from(message.topic());
                            self.topics.insert(message.topic().to_string(), t.clone());
                            t
                        }
                    };
                    batch.push(InputRecord::copy(&message, topic));
                    deadline.get_or_insert_with(|| Instant::now() + max_wait);
                }
            }
        }
        let context = self.consumer.context();
        if context.generation.load(Ordering::Acquire) != generation {
            // A rebalance ran inside poll: records of partitions revoked meanwhile belong to
            // their next owner, which reads them again from the committed position.
            let revoked =
                std::mem::take(&mut *context.revoked.lock().unwrap_or_else(|p| p.into_inner()));
            let before = batch.len();
            batch.retain(|r| !revoked.contains(&PartitionKey::new(&r.topic, r.partition)));
            debug!(
                dropped = before - batch.len(),
                "records of revoked partitions dropped"
            );
        }
        batch
    }

    fn process(&mut self, batch: Vec<InputRecord>) -> Result<(), KafkaRunError> {
        let parts = &self.parts;
        let topology = parts.topology;
        let plan = &topology.routes[parts.route];
        let max_bytes = topology.settings.max_event_bytes;
        let decoder = self.decoder.as_ref();
        let decoded: Vec<Result<Event, DecodeError>> = parts.pool.install(|| {
            batch
                .par_iter()
                .map(|record| decode_record(record, max_bytes, decoder))
                .collect::<Result<Vec<_>, _>>()
        })?;
        self.report.input_bytes += batch.iter().map(|r| r.payload.len() as u64).sum::<u64>();

        let mut keys: HashMap<(Arc<str>, i32), Arc<PartitionKey>> = HashMap::new();
        let partition_keys: Vec<Arc<PartitionKey>> = batch
            .iter()
            .map(|r| {
                keys.entry((r.topic.clone(), r.partition))
                    .or_insert_with(|| Arc::new(PartitionKey::new(&r.topic, r.partition)))
                    .clone()
            })
            .collect();
        if !self.transactional {
            let mut tracker = self.acks.tracker();
            for (record, key) in batch.iter().zip(&partition_keys) {
                tracker.dispatched(key, record.offset)?;
            }
        } else {
            self.producer
                .begin_transaction()
                .map_err(|e| KafkaRunError::Transaction(format!("begin: {e}")))?;
        }

        // Split decoded events from dead letters, remembering each one's input record.
        let mut events = Vec::with_capacity(decoded.len());
        let mut event_inputs = Vec::with_capacity(decoded.len());
        let mut dead = Vec::new();
        for (index, item) in decoded.into_iter().enumerate() {
            match item {
                Ok(event) => {
                    events.push(event);
                    event_inputs.push(index);
                }
                Err(error) => dead.push((index, error)),
            }
        }
        self.dispatch_dead_letters(&batch, &partition_keys, dead)?;

        let count = events.len();
        let metrics = &self.parts.metrics;
        metrics
            .events_in
            .with_label_values(&[&self.parts.source_id])
            .inc_by(count as u64);
        metrics.batch_events.observe(batch.len() as f64);
        let want_enriched = plan
            .sinks
            .iter()
            .any(|&s| topology.sinks[s].spec.records() == RecordKind::Enriched);
        let (processed, timings) = self.parts.pool.install(|| {
            self.parts
                .pipeline
                .process_timed(self.parts.route, events, want_enriched)
        });
        for (operator, spent) in timings {
            metrics
                .operator_seconds
                .with_label_values(&[&operator])
                .observe(spent.as_secs_f64());
        }
        // Events an operator failed on (with `on_error = "dead_letter"`) become dead letters.
        let mut kept = Vec::with_capacity(processed.len());
        let mut kept_inputs = Vec::with_capacity(processed.len());
        let mut failed = Vec::new();
        for (p, index) in processed.into_iter().zip(event_inputs) {
            match &p.failed {
                None => {
                    kept.push(p);
                    kept_inputs.push(index);
                }
                Some(f) => failed.push((
                    index,
                    DecodeError::OperatorFailed {
                        operator: f.operator.to_string(),
                        reason: f.reason.clone(),
                    },
                )),
            }
        }
        self.dispatch_dead_letters(&batch, &partition_keys, failed)?;
        crate::topology::run::record_outcomes(
            &kept,
            self.parts.options.record_latencies,
            &mut self.report,
            &self.parts.metrics,
        );
        self.dispatch_outputs(&batch, &partition_keys, &kept_inputs, &kept)?;

        if self.transactional {
            self.commit_transaction(&batch)?;
        }
        Ok(())
    }

    /// Dead letters: JSON records to file sinks, the original bytes with the reason in
    /// headers to Kafka dead-letter topics.
    fn dispatch_dead_letters(
        &mut self,
        batch: &[InputRecord],
        partition_keys: &[Arc<PartitionKey>],
        dead: Vec<(usize, DecodeError)>,
    ) -> Result<(), KafkaRunError> {
        if dead.is_empty() {
            return Ok(());
        }
        let plan = &self.parts.topology.routes[self.parts.route];
        let mut lines = Vec::new();
        for (index, error) in &dead {
            let record = &batch[*index];
            warn!(
                source = %self.parts.source_id,
                topic = %record.topic,
                partition = record.partition,
                offset = record.offset,
                error = error.kind(),
                size_bytes = record.payload.len(),
                "dead letter"
            );
            self.parts
                .metrics
                .dead_letters
                .with_label_values(&[&self.parts.source_id, error.kind()])
                .inc();
            let letter = DeadLetter::new(
                error,
                origin_of(record),
                &record.payload,
                record.payload.len(),
            );
            serde_json::to_writer(&mut lines, &letter).expect("dead letters serialize");
            lines.push(b'\n');
        }
        self.report.dead_letters += dead.len() as u64;
        for &s in &plan.dead_letter_sinks {
            self.write_local(s, &lines)?;
        }
        self.flush_local(&plan.dead_letter_sinks)?;
        let dead_letter_outputs: Vec<usize> = (0..self.outputs.len())
            .filter(|&o| self.outputs[o].records == RecordKind::DeadLetters)
            .collect();
        for (index, error) in &dead {
            let record = &batch[*index];
            let key = &partition_keys[*index];
            let ticket = self.ticket(key, record.offset, dead_letter_outputs.len());
            let fallback_key = record.position();
            let record_key = record.key.as_deref().unwrap_or(fallback_key.as_bytes());
            for &o in &dead_letter_outputs {
                let headers = dead_letter_headers(
                    record.output_headers(&fallback_key, "application/octet-stream"),
                    error.kind(),
                    &error.to_string(),
                );
                self.send(o, record_key, &record.payload, headers, ticket.clone())?;
            }
            if dead_letter_outputs.is_empty() && !self.transactional {
                self.acks.event_done(key, record.offset);
            }
        }
        Ok(())
    }

    fn dispatch_outputs(
        &mut self,
        batch: &[InputRecord],
        partition_keys: &[Arc<PartitionKey>],
        event_inputs: &[usize],
        processed: &[Processed],
    ) -> Result<(), KafkaRunError> {
        let topology = self.parts.topology;
        let plan = &topology.routes[self.parts.route];
        let record_outputs: Vec<usize> = (0..self.outputs.len())
            .filter(|&o| {
                !matches!(
                    self.outputs[o].records,
                    RecordKind::DeadLetters | RecordKind::Vault
                )
            })
            .collect();
        let vault_outputs: Vec<usize> = (0..self.outputs.len())
            .filter(|&o| self.outputs[o].records == RecordKind::Vault)
            .collect();
        // Audit records are chained per input partition, in input order.
        let (audit_chains, audit_lines): (Vec<String>, Vec<Vec<u8>>) =
            match self.parts.pipeline.audit() {
                Some(writer) => {
                    let chains: Vec<String> = event_inputs
                        .iter()
                        .map(|&i| {
                            writer.chain_id(&format!("{}/{}", batch[i].topic, batch[i].partition))
                        })
                        .collect();
                    let lines = writer.append_batch(
                        processed
                            .iter()
                            .zip(&chains)
                            .filter_map(|(p, c)| p.audit.as_ref().map(|d| (c.as_str(), d))),
                    );
                    (chains, lines)
                }
                None => (Vec::new(), Vec::new()),
            };
        let want = |kind: RecordKind| {
            plan.sinks
                .iter()
                .any(|&s| topology.sinks[s].spec.records() == kind)
        };
        let (want_verdicts, want_enriched) =
            (want(RecordKind::Verdicts), want(RecordKind::Enriched));
        let avro_outputs: Vec<usize> = record_outputs
            .iter()
            .copied()
            .filter(|&o| self.outputs[o].avro.is_some())
            .collect();
        let outputs = &self.outputs;
        let encoded: Vec<Encoded> = self.parts.pool.install(|| {
            processed
                .par_iter()
                .map(|p| encode(p, want_verdicts, want_enriched, &avro_outputs, outputs))
                .collect::<Result<Vec<_>, _>>()
        })?;

        // File sinks first, flushed, so a Kafka acknowledgement never precedes them.
        let local: Vec<usize> = plan
            .sinks
            .iter()
            .copied()
            .filter(|&s| self.parts.local_sinks[s].is_some())
            .collect();
        for &s in &local {
            let kind = topology.sinks[s].spec.records();
            let mut lines = Vec::new();
            match kind {
                RecordKind::Audit => {
                    for line in &audit_lines {
                        lines.extend_from_slice(line);
                        lines.push(b'\n');
                    }
                }
                RecordKind::Vault => {
                    for entry in processed.iter().flat_map(|p| &p.vault) {
                        lines.extend_from_slice(&entry.record);
                        lines.push(b'\n');
                    }
                }
                _ => {
                    let enriched = kind == RecordKind::Enriched;
                    for e in &encoded {
                        let bytes = if enriched { &e.enriched } else { &e.verdict };
                        lines.extend_from_slice(bytes);
                        lines.push(b'\n');
                    }
                }
            }
            self.write_local(s, &lines)?;
        }
        self.flush_local(&local)?;
        let vault_entries: usize = processed.iter().map(|p| p.vault.len()).sum();
        for &s in &plan.sinks {
            let kind = topology.sinks[s].spec.records();
            let written = if kind == RecordKind::Vault {
                vault_entries
            } else {
                processed.len()
            };
            self.parts
                .metrics
                .records_out
                .with_label_values(&[&topology.sinks[s].id, kind.as_str()])
                .inc_by(written as u64);
        }

        let mut audit_index = 0;
        for (i, p) in processed.iter().enumerate() {
            let index = event_inputs[i];
            let record = &batch[index];
            let key = &partition_keys[index];
            let records_of_event = record_outputs.len() + vault_outputs.len() * p.vault.len();
            let ticket = self.ticket(key, record.offset, records_of_event);
            let event_id = &*p.verdict.event_id;
            let record_key = record.key.as_deref().unwrap_or(event_id.as_bytes());
            let audit_line = p.audit.as_ref().map(|_| {
                audit_index += 1;
                audit_lines[audit_index - 1].as_slice()
            });
            for &o in &record_outputs {
                let output = &self.outputs[o];
                if output.records == RecordKind::Audit {
                    let line = audit_line.unwrap_or_default();
                    let chain = audit_chains.get(i).map_or("", String::as_str);
                    let headers = record.output_headers(event_id, "application/json");
                    self.send(o, chain.as_bytes(), line, headers, ticket.clone())?;
                    continue;
                }
                let (payload, content_type): (&[u8], &str) = match (output.records, &output.avro) {
                    (RecordKind::Enriched, _) => (&encoded[i].enriched, "application/json"),
                    (_, Some(_)) => (
                        encoded[i].avro[avro_outputs.iter().position(|a| *a == o).unwrap_or(0)]
                            .as_slice(),
                        "application/vnd.railyard.verdict.v1+avro",
                    ),
                    _ => (&encoded[i].verdict, "application/json"),
                };
                let headers = record.output_headers(event_id, content_type);
                self.send(o, record_key, payload, headers, ticket.clone())?;
            }
            for &o in &vault_outputs {
                for entry in &p.vault {
                    let headers = record.output_headers(event_id, "application/json");
                    self.send(
                        o,
                        entry.key.as_bytes(),
                        &entry.record,
                        headers,
                        ticket.clone(),
                    )?;
                }
            }
            if records_of_event == 0 && !self.transactional {
                self.acks.event_done(key, record.offset);
            }
        }
        Ok(())
    }

    fn ticket(&self, key: &Arc<PartitionKey>, offset: i64, outputs: usize) -> Arc<Ticket> {
        if self.transactional {
            Ticket::untracked(key.clone(), offset)
        } else {
            Ticket::new(key.clone(), offset, outputs)
        }
    }

    /// Produces one record; a full producer queue is a wait, never a drop.
    fn send(
        &self,
        output: usize,
        key: &[u8],
        payload: &[u8],
        headers: OwnedHeaders,
        ticket: Arc<Ticket>,
    ) -> Result<(), KafkaRunError> {
        let topic = &self.outputs[output].topic;
        let mut record = BaseRecord::with_opaque_to(topic, ticket)
            .key(key)
            .payload(payload)
            .headers(headers);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    if let Some(failure) = self.acks.failure() {
                        return Err(KafkaRunError::Delivery(failure));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => {
                    self.parts
                        .metrics
                        .delivery_errors
                        .with_label_values(&[topic])
                        .inc();
                    return Err(KafkaRunError::Produce {
                        topic: topic.clone(),
                        message: error.to_string(),
                    });
                }
            }
        }
    }

    /// Exactly-once: the batch's input positions join the transaction, which then commits.
    fn commit_transaction(&mut self, batch: &[InputRecord]) -> Result<(), KafkaRunError> {
        let mut next: HashMap<(&str, i32), i64> = HashMap::new();
        for r in batch {
            let entry = next.entry((&r.topic, r.partition)).or_insert(r.offset + 1);
            *entry = (*entry).max(r.offset + 1);
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            list.add_partition_offset(topic, partition, Offset::Offset(offset))
                .map_err(|e| KafkaRunError::Transaction(e.to_string()))?;
        }
        let metadata = self
            .consumer
            .group_metadata()
            .ok_or_else(|| KafkaRunError::Transaction("no consumer group metadata".into()))?;
        let result = self
            .producer
            .send_offsets_to_transaction(&list, &metadata, CLIENT_TIMEOUT)
            .and_then(|()| self.producer.commit_transaction(CLIENT_TIMEOUT));
        match result {
            Ok(()) => {
                self.parts
                    .metrics
                    .commits
                    .with_label_values(&["transaction", "ok"])
                    .inc();
                Ok(())
            }
            Err(error) => {
                self.parts
                    .metrics
                    .commits
                    .with_label_values(&["transaction", "error"])
                    .inc();
                let _ = self.producer.abort_transaction(CLIENT_TIMEOUT);
                Err(KafkaRunError::Transaction(format!("commit: {error}")))
            }
        }
    }

    fn write_local(&self, sink: usize, lines: &[u8]) -> Result<(), KafkaRunError> {
        if let Some(Some(out)) = self.parts.local_sinks.get(sink) {
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            out.write_lines(lines)
                .map_err(|source| KafkaRunError::Sink {
                    sink: self.parts.topology.sinks[sink].id.to_string(),
                    source,
                })?;
        }
        Ok(())
    }

    fn flush_local(&self, sinks: &[usize]) -> Result<(), KafkaRunError> {
        for &s in sinks {
            if let Some(Some(out)) = self.parts.local_sinks.get(s) {
                let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                out.flush().map_err(|source| KafkaRunError::Sink {
                    sink: self.parts.topology.sinks[s].id.to_string(),
                    source,
                })?;
            }
        }
        Ok(())
    }
}

/// Serialized outputs of one event.
struct Encoded {
    verdict: Vec<u8>,
    enriched: Vec<u8>,
    /// One per Avro output, in `avro_outputs` order.
    avro: Vec<Vec<u8>>,
}

fn encode(
    p: &Processed,
    want_verdicts: bool,
    want_enriched: bool,
    avro_outputs: &[usize],
    outputs: &[KafkaOutput],
) -> Result<Encoded, KafkaRunError> {
    let verdict = if want_verdicts {
        serde_json::to_vec(&p.verdict).expect("verdicts serialize")
    } else {
        Vec::new()
    };
    let enriched = match (&p.enriched, want_enriched) {
        (Some(record), true) => serde_json::to_vec(record).expect("enriched records serialize"),
        _ => Vec::new(),
    };
    let mut avro = Vec::with_capacity(avro_outputs.len());
    for &o in avro_outputs {
        if let Some(encoder) = &outputs[o].avro {
            avro.push(encoder.encode(&p.verdict)?);
        }
    }
    Ok(Encoded {
        verdict,
        enriched,
        avro,
    })
}

fn origin_of(record: &InputRecord) -> Origin {
    Origin::Kafka {
        topic: record.topic.clone(),
        partition: record.partition,
        offset: record.offset,
    }
}

/// `Ok(Err(_))`: a dead letter; `Err(_)`: the registry is down (the run stops).
fn decode_record(
    record: &InputRecord,
    max_bytes: usize,
    avro: Option<&EventDecoder>,
) -> Result<Result<Event, DecodeError>, KafkaRunError> {
    if record.payload.len() > max_bytes {
        return Ok(Err(DecodeError::TooLarge {
            size: record.payload.len(),
            limit: max_bytes,
        }));
    }
    let origin = origin_of(record);
    Ok(match avro {
        Some(decoder) => decoder.decode(&record.payload, origin)?,
        None => decode_json(&record.payload, origin, max_bytes),
    })
}

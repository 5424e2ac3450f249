//! Producing one batch's outputs to the route's Kafka topics: a record per output of each
//! input, keyed and with headers that point back at the input, each carrying the ticket of
//! its input's delivery guarantee. A full producer queue is a wait, never a drop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rayon::prelude::*;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, ThreadedProducer};

use super::acks::{Acks, Ticket};
use super::avro::VerdictEncoder;
use super::context::DeliveryContext;
use super::delivery::Guarantee;
use super::offsets::PartitionKey;
use super::records::{dead_letter_headers, InputRecord};
use super::stream_holds::StreamHolds;
use super::KafkaRunError;
use crate::config::{Format, KafkaConfig, RecordKind};
use crate::telemetry::metrics::Metrics;
use crate::topology::output::{Outcome, OutputBatch};
use crate::topology::sink_plan::RouteSinks;

const JSON: &str = "application/json";
const AVRO_VERDICT: &str = "application/vnd.railyard.verdict.v1+avro";

/// One Kafka sink of a route.
struct TopicOutput {
    topic: String,
    records: RecordKind,
    avro: Option<VerdictEncoder>,
}

/// One batch being produced.
struct Producing<'a> {
    producer: &'a ThreadedProducer<DeliveryContext>,
    batch: &'a OutputBatch,
    /// Per Avro output (in output order), one encoded verdict per event.
    avro: Vec<Vec<Vec<u8>>>,
    /// Every event has an audit record.
    audited: bool,
}

/// The Kafka sinks of one route and the producer that writes them.
pub struct TopicWriter {
    outputs: Vec<TopicOutput>,
    acks: Arc<Acks>,
    metrics: Arc<Metrics>,
    /// Per open stream, the tickets of its chunks (shared with the rebalance callback).
    holds: Arc<StreamHolds>,
}

impl TopicWriter {
    pub fn new(
        route: &RouteSinks,
        kafka: &KafkaConfig,
        acks: Arc<Acks>,
        metrics: Arc<Metrics>,
        holds: Arc<StreamHolds>,
    ) -> Result<TopicWriter, KafkaRunError> {
        let mut outputs = Vec::new();
        for target in &route.topics {
            let avro = match (&kafka.schema_registry, target.format) {
                (Some(registry), Format::Avro) if target.records == RecordKind::Verdicts => {
                    Some(VerdictEncoder::new(registry, &target.topic)?)
                }
                _ => None,
            };
            outputs.push(TopicOutput {
                topic: target.topic.clone(),
                records: target.records,
                avro,
            });
        }
        Ok(TopicWriter {
            outputs,
            acks,
            metrics,
            holds,
        })
    }

    fn of(&self, kind: RecordKind) -> impl Iterator<Item = &TopicOutput> {
        self.outputs.iter().filter(move |o| o.records == kind)
    }

    /// Produces every Kafka record of `batch`; `inputs` and `keys` are the batch's input
    /// records and their partitions, in input order. Runs Avro encoding on the current
    /// rayon pool.
    pub fn produce(
        &self,
        producer: &ThreadedProducer<DeliveryContext>,
        batch: &OutputBatch,
        inputs: &[InputRecord],
        keys: &[Arc<PartitionKey>],
        guarantee: &dyn Guarantee,
    ) -> Result<(), KafkaRunError> {
        // Per Avro output, one record per event.
        let avro: Vec<Vec<Vec<u8>>> = self
            .outputs
            .iter()
            .filter_map(|o| o.avro.as_ref())
            .map(|encoder| {
                batch
                    .verdicts
                    .par_iter()
                    .map(|v| encoder.encode(v))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        let audited = batch.audit_records.len() == batch.verdicts.len();
        let per_event = self
            .outputs
            .iter()
            .filter(|o| match o.records {
                RecordKind::Verdicts | RecordKind::Enriched | RecordKind::ShadowVerdicts => true,
                // An event without an audit record gets no (empty) audit message.
                RecordKind::Audit => audited,
                RecordKind::Vault
                | RecordKind::DeadLetters
                | RecordKind::Alerts
                | RecordKind::Released => false,
            })
            .count();
        let released_outputs = self.of(RecordKind::Released).count();
        // Per batch position, the stream holding it and the streams it closes.
        let held: HashMap<usize, &Arc<str>> = batch
            .streams
            .held
            .iter()
            .map(|(at, id)| (*at, id))
            .collect();
        let mut closes: HashMap<usize, Vec<&Arc<str>>> = HashMap::new();
        for (at, id) in &batch.streams.closed {
            closes.entry(*at).or_default().push(id);
        }
        let flushed = flushed_inputs(batch, inputs);
        let alert_outputs = self.of(RecordKind::Alerts).count();
        let vault_outputs = self.of(RecordKind::Vault).count();
        let dead_letter_outputs = self.of(RecordKind::DeadLetters).count();
        let batch = Producing {
            producer,
            batch,
            avro,
            audited,
        };
        for (index, outcome) in batch.batch.outcomes.iter().enumerate() {
            let (input, key) = match inputs.get(index) {
                Some(input) => (input, &keys[index]),
                None => match flushed.get(index - inputs.len()) {
                    Some((input, key)) => (input, key),
                    None => continue,
                },
            };
            let flush = index >= inputs.len();
            let alerts = alert_outputs * batch.batch.monitor.alerts_at(index).count();
            let streamed = released_outputs * batch.batch.streams.records_at(index).count();
            let holder = held
                .get(&index)
                .copied()
                .filter(|_| guarantee.holds_streams());
            let hold = usize::from(holder.is_some());
            let (records, event) = match *outcome {
                Outcome::DeadLetter(_) => (dead_letter_outputs + alerts, None),
                Outcome::Event(event) => {
                    let vault = batch.batch.vault.get(event).map_or(0, Vec::len);
                    (
                        per_event + vault_outputs * vault + alerts + streamed,
                        Some(event),
                    )
                }
                Outcome::Chunk => (streamed, None),
            };
            let ticket = if flush {
                (records > 0).then(|| Ticket::carrier(key.clone(), records))
            } else {
                guarantee.ticket(key, input.offset, records + hold)
            };
            let closed = closes.get(&index).map_or(&[][..], Vec::as_slice);
            self.chain_holds(holder, closed, ticket.as_ref());
            let Some(ticket) = ticket else { continue };
            match *outcome {
                Outcome::DeadLetter(letter) => self.dead_letter(&batch, letter, input, &ticket)?,
                Outcome::Event(_) | Outcome::Chunk => {
                    if let Some(event) = event {
                        self.event(&batch, event, input, &ticket)?;
                    }
                    self.streamed(&batch, index, input, &ticket)?;
                }
            }
            self.alerts(&batch, index, input, &ticket)?;
        }
        Ok(())
    }

    /// Keeps the ticket of a chunk that the open stream `holder` holds, and hands the held
    /// tickets of the streams this position `closes` to its ticket (released with its
    /// delivery, or at once when it has nothing to deliver).
    fn chain_holds(
        &self,
        holder: Option<&Arc<str>>,
        closes: &[&Arc<str>],
        ticket: Option<&Arc<Ticket>>,
    ) {
        let mut holds = self.holds.lock();
        if let (Some(stream), Some(ticket)) = (holder, ticket) {
            holds
                .entry(stream.clone())
                .or_default()
                .push(ticket.clone());
        }
        for &stream in closes {
            let mut tickets = holds.remove(stream).unwrap_or_default();
            let own = ticket.and_then(|t| tickets.iter().position(|h| Arc::ptr_eq(h, t)));
            if let Some(own) = own {
                // Its own hold: its records still keep it open.
                let own = tickets.swap_remove(own);
                self.acks.output_delivered(&own);
            }
            match ticket {
                Some(ticket) if ticket.tracked() => ticket.then_release(tickets),
                _ => {
                    for t in tickets {
                        self.acks.output_delivered(&t);
                    }
                }
            }
        }
    }

    /// The released and stream_blocked records at position `index`, keyed by stream id.
    fn streamed(
        &self,
        batch: &Producing,
        index: usize,
        input: &InputRecord,
        ticket: &Arc<Ticket>,
    ) -> Result<(), KafkaRunError> {
        for output in self.of(RecordKind::Released) {
            for record in batch.batch.streams.records_at(index) {
                let headers = input.output_headers(&record.key, JSON);
                self.send(
                    batch.producer,
                    output,
                    record.key.as_bytes(),
                    &record.record,
                    headers,
                    ticket,
                )?;
            }
        }
        Ok(())
    }

    /// The alerts input `index` raised, keyed by `<field>=<value>` (so one key's alerts stay
    /// in order on one partition).
    fn alerts(
        &self,
        batch: &Producing,
        index: usize,
        input: &InputRecord,
        ticket: &Arc<Ticket>,
    ) -> Result<(), KafkaRunError> {
        for output in self.of(RecordKind::Alerts) {
            for alert in batch.batch.monitor.alerts_at(index) {
                let headers = input.output_headers(&input.position(), JSON);
                let key = alert.key.as_bytes();
                self.send(batch.producer, output, key, &alert.record, headers, ticket)?;
            }
        }
        Ok(())
    }

    /// A dead letter: the input's own key and bytes, the reason in headers.
    fn dead_letter(
        &self,
        batch: &Producing,
        letter: usize,
        input: &InputRecord,
        ticket: &Arc<Ticket>,
    ) -> Result<(), KafkaRunError> {
        let letter = &batch.batch.dead_letters[letter];
        let fallback_key = input.position();
        let key = input.key.as_deref().unwrap_or(fallback_key.as_bytes());
        for output in self.of(RecordKind::DeadLetters) {
            let headers = dead_letter_headers(
                input.output_headers(&fallback_key, "application/octet-stream"),
                letter.error.kind(),
                &letter.error.to_string(),
            );
            self.send(batch.producer, output, key, &input.payload, headers, ticket)?;
        }
        Ok(())
    }

    /// An event's records: verdict (JSON or Avro), enriched record, audit record (keyed by
    /// its chain), vault entries (keyed by conversation and placeholder).
    fn event(
        &self,
        batch: &Producing,
        event: usize,
        input: &InputRecord,
        ticket: &Arc<Ticket>,
    ) -> Result<(), KafkaRunError> {
        let out = batch.batch;
        let event_id = &*out.verdicts[event].event_id;
        let record_key = input.key.as_deref().unwrap_or(event_id.as_bytes());
        let mut avro = batch.avro.iter();
        for output in &self.outputs {
            let (key, payload, content_type): (&[u8], &[u8], &str) = match output.records {
                RecordKind::Audit if batch.audited => (
                    out.audit_chains[event].as_bytes(),
                    out.audit_records.record(event),
                    JSON,
                ),
                RecordKind::Enriched => (record_key, out.enriched_records.record(event), JSON),
                RecordKind::Verdicts if output.avro.is_some() => {
                    let records = avro.next().expect("one encoding per Avro output");
                    (record_key, &records[event], AVRO_VERDICT)
                }
                RecordKind::Verdicts => (record_key, out.verdict_records.record(event), JSON),
                RecordKind::ShadowVerdicts => {
                    (record_key, out.shadow_verdict_records.record(event), JSON)
                }
                RecordKind::Vault => {
                    for entry in out.vault.get(event).into_iter().flatten() {
                        let headers = input.output_headers(event_id, JSON);
                        let key = entry.key.as_bytes();
                        self.send(batch.producer, output, key, &entry.record, headers, ticket)?;
                    }
                    continue;
                }
                RecordKind::Audit
                | RecordKind::DeadLetters
                | RecordKind::Alerts
                | RecordKind::Released => continue,
            };
            let headers = input.output_headers(event_id, content_type);
            self.send(batch.producer, output, key, payload, headers, ticket)?;
        }
        Ok(())
    }

    /// Produces audit seal records (best effort on the way out: a missing seal reads as
    /// truncation to the verifier). Returns whether the route has an audit topic.
    pub fn produce_seals(
        &self,
        producer: &ThreadedProducer<DeliveryContext>,
        seals: &[(String, Vec<u8>)],
    ) -> bool {
        let mut any = false;
        for output in self.of(RecordKind::Audit) {
            any = true;
            for (chain, line) in seals {
                let ticket = Ticket::untracked(Arc::new(PartitionKey::new(chain, 0)), -1);
                let mut record = BaseRecord::with_opaque_to(&output.topic, ticket)
                    .key(chain.as_bytes())
                    .payload(line.as_slice());
                for _ in 0..1000 {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((_, returned)) => {
                            record = returned;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            }
        }
        any
    }

    /// Whether the route produces audit records to a topic.
    pub fn has_audit_topic(&self) -> bool {
        self.of(RecordKind::Audit).next().is_some()
    }

    /// Produces one record; a full producer queue is a wait, never a drop.
    fn send(
        &self,
        producer: &ThreadedProducer<DeliveryContext>,
        output: &TopicOutput,
        key: &[u8],
        payload: &[u8],
        headers: OwnedHeaders,
        ticket: &Arc<Ticket>,
    ) -> Result<(), KafkaRunError> {
        let mut record = BaseRecord::with_opaque_to(&output.topic, ticket.clone())
            .key(key)
            .payload(payload)
            .headers(headers);
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    if let Some(failure) = self.acks.failure() {
                        return Err(KafkaRunError::Delivery(failure));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => {
                    self.metrics
                        .delivery_errors
                        .with_label_values(&[&output.topic])
                        .inc();
                    return Err(KafkaRunError::Produce {
                        topic: output.topic.clone(),
                        message: error.to_string(),
                    });
                }
            }
        }
    }
}

/// For positions after the inputs (streams flushed by a timeout): an input record standing
/// for the stream's first chunk (its headers point there; its key is the stream id) and its
/// partition.
fn flushed_inputs(
    batch: &OutputBatch,
    inputs: &[InputRecord],
) -> Vec<(InputRecord, Arc<PartitionKey>)> {
    (inputs.len()..batch.outcomes.len())
        .map(|index| {
            let origin = match batch.outcomes[index] {
                Outcome::Event(event) => Some(&batch.verdicts[event].origin),
                _ => None,
            };
            let (topic, partition, offset) = match origin {
                Some(crate::model::Origin::Kafka {
                    topic,
                    partition,
                    offset,
                }) => (topic.clone(), *partition, *offset),
                _ => (Arc::from(""), 0, -1),
            };
            let key = Arc::new(PartitionKey::new(&topic, partition));
            let record = InputRecord {
                topic,
                partition,
                offset,
                key: batch
                    .streams
                    .records_at(index)
                    .next()
                    .map(|r| r.key.as_bytes().to_vec()),
                payload: Vec::new(),
                timestamp_ms: None,
            };
            (record, key)
        })
        .collect()
}

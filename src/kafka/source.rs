//! One Kafka source: a consumer in its group, a producer for its outputs, and the loop that
//! reads a batch, decodes it, runs the pipeline and hands the batch's outputs on: local
//! sinks are written and flushed first, then the Kafka records are produced under the
//! source's delivery [`Guarantee`], which alone decides when an input is done.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{Producer, ThreadedProducer};
use tracing::{debug, info, warn};

use super::acks::Acks;
use super::avro::EventDecoder;
use super::client::{await_brokers, consumer_config, producer_config, transactional_id};
use super::context::{DeliveryContext, SourceContext};
use super::delivery::{guarantee, Clients, Guarantee, TRANSACTION_TIMEOUT};
use super::offsets::PartitionKey;
use super::produce::TopicWriter;
use super::records::InputRecord;
use super::stream_holds::StreamHolds;
use super::KafkaRunError;
use crate::codec::{decode_json, DecodeError};
use crate::config::{Delivery, Format, KafkaConfig, KafkaSourceConfig, Topology};
use crate::model::{Event, Origin};
use crate::topology::local_sinks::LocalSinks;
use crate::topology::output::{Input, InputRef};
use crate::topology::services::Services;
use crate::topology::{Pipeline, RunOptions, RunReport};

/// What one source needs from the run.
pub struct SourceParts<'a> {
    pub topology: &'a Topology,
    pub kafka: &'a KafkaConfig,
    pub route: usize,
    pub source_id: Arc<str>,
    pub config: &'a KafkaSourceConfig,
    pub pipeline: &'a Pipeline,
    pub services: &'a Services,
    pub shutdown: &'a AtomicBool,
    pub local_sinks: &'a LocalSinks,
    pub options: &'a RunOptions,
}

pub struct KafkaSource<'a> {
    parts: SourceParts<'a>,
    clients: Clients,
    acks: Arc<Acks>,
    guarantee: Box<dyn Guarantee>,
    topics_out: TopicWriter,
    decoder: Option<EventDecoder>,
    topics: HashMap<String, Arc<str>>,
    report: RunReport,
}

impl<'a> KafkaSource<'a> {
    pub fn connect(parts: SourceParts<'a>) -> Result<Self, KafkaRunError> {
        let kafka = parts.kafka;
        let metrics = parts.services.metrics.clone();
        let transactional = kafka.delivery == Delivery::ExactlyOnce;
        let acks = Acks::new();
        let stream_holds = StreamHolds::new();
        let context = SourceContext {
            stream_holds: stream_holds.clone(),
            acks: acks.clone(),
            metrics: metrics.clone(),
            drain_timeout: Duration::from_millis(kafka.drain_timeout_ms),
            generation: AtomicU64::new(0),
            revoked: Mutex::new(HashSet::new()),
            commits_on_revoke: !transactional,
            last_error: Mutex::new(None),
            health: parts.services.health.clone(),
            health_slot: parts.services.health.add_consumer(&parts.source_id),
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
                metrics: metrics.clone(),
            })
            .map_err(|e| KafkaRunError::Client(format!("producer: {e}")))?;
        let route = parts.pipeline.sinks().route(parts.route);
        let topics_out =
            TopicWriter::new(route, kafka, acks.clone(), metrics.clone(), stream_holds)?;
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
                .init_transactions(TRANSACTION_TIMEOUT)
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
            guarantee: guarantee(kafka, acks.clone(), metrics),
            parts,
            clients: Clients { consumer, producer },
            acks,
            topics_out,
            decoder,
            topics: HashMap::new(),
            report: RunReport::default(),
        })
    }

    /// Runs until shutdown is requested or a delivery fails, then drains and commits.
    pub fn run(mut self) -> Result<RunReport, KafkaRunError> {
        let started = Instant::now();
        let max_in_flight = self.parts.kafka.max_in_flight;
        let metrics = self.parts.services.metrics.clone();
        let outcome = loop {
            if self.parts.shutdown.load(Ordering::Acquire) {
                break Ok(());
            }
            if let Some(failure) = self.acks.failure() {
                break Err(KafkaRunError::Delivery(failure));
            }
            let in_flight = self.acks.tracker().in_flight();
            metrics.in_flight.set(in_flight as i64);
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
            self.guarantee.tick(&self.clients);
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
        self.guarantee.close(&self.clients);
        self.seal_audit_chains();
        let _ = self.clients.producer.flush(Duration::from_secs(5));
        self.parts.services.metrics.in_flight.set(left as i64);
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
        let mut lines = Vec::new();
        for (_, line) in &seals {
            lines.extend_from_slice(line);
            lines.push(b'\n');
        }
        if let Err(error) = self.parts.local_sinks.write_seals(&lines) {
            warn!(%error, "cannot write audit seals");
        }
        if self.topics_out.has_audit_topic() {
            if let Err(error) = self.guarantee.begin_extra(&self.clients) {
                warn!(%error, "cannot begin writing audit seals");
                return;
            }
            self.topics_out
                .produce_seals(&self.clients.producer, &seals);
            if let Err(error) = self.guarantee.end_extra(&self.clients) {
                warn!(%error, "cannot commit the audit seals");
                return;
            }
        }
        info!(source = %self.parts.source_id, chains = seals.len(), "audit chains sealed");
    }

    /// Reads up to `room` records, waiting at most `max_wait_ms` after the first.
    fn fill_batch(&mut self, room: usize) -> Vec<InputRecord> {
        let consumer = &self.clients.consumer;
        let generation = consumer.context().generation.load(Ordering::Acquire);
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
            match consumer.poll(timeout) {
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
        let context = consumer.context();
        if context.generation.load(Ordering::Acquire) != generation {
            // A rebalance ran inside poll: records of partitions revoked meanwhile belong to
            // their next owner, which reads them again from the committed position.
            let revoked =
                std::mem::take(&mut *context.revoked.lock().unwrap_or_else(|p| p.into_inner()));
            let before = batch.len();
            batch.retain(|r| !revoked.contains(&PartitionKey::new(&r.topic, r.partition)));
            let given_up = context.stream_holds.take_given_up();
            if !given_up.is_empty() {
                let dropped = self.parts.pipeline.streams().forget(&given_up);
                info!(
                    streams = dropped,
                    "open streams of revoked partitions given up"
                );
            }
            debug!(
                dropped = before - batch.len(),
                "records of revoked partitions dropped"
            );
        }
        batch
    }

    /// One batch: decode, run the pipeline, write local sinks, produce, end the batch.
    fn process(&mut self, batch: Vec<InputRecord>) -> Result<(), KafkaRunError> {
        let parts = &self.parts;
        let max_bytes = parts.topology.settings.max_event_bytes;
        let decoder = self.decoder.as_ref();
        let transactional = parts.kafka.delivery == Delivery::ExactlyOnce;
        let pool = &parts.services.pool;
        let inputs: Vec<Input> = pool.install(|| {
            batch
                .par_iter()
                .map(|record| decode_record(record, max_bytes, decoder, transactional))
                .collect::<Result<Vec<_>, _>>()
        })?;
        self.report.input_bytes += batch.iter().map(|r| r.payload.len() as u64).sum::<u64>();
        let keys = partition_keys(&batch);
        self.guarantee.begin_batch(&batch, &keys, &self.clients)?;
        let outputs = pool.install(|| parts.pipeline.run_batch(parts.route, inputs));
        let metrics = &parts.services.metrics;
        outputs.count(
            &parts.source_id,
            metrics,
            &mut self.report,
            parts.options.record_latencies,
        );
        // Local sinks first, flushed, so a Kafka acknowledgement never precedes them.
        let route = parts.pipeline.sinks().route(parts.route);
        parts.local_sinks.write(route, &outputs)?;
        parts.local_sinks.flush_route(route)?;
        route.count_records(&outputs, metrics);
        pool.install(|| {
            self.topics_out.produce(
                &self.clients.producer,
                &outputs,
                &batch,
                &keys,
                self.guarantee.as_ref(),
            )
        })?;
        self.guarantee.end_batch(&batch, &self.clients)
    }
}

/// Each record's partition key, shared between records of one partition.
fn partition_keys(batch: &[InputRecord]) -> Vec<Arc<PartitionKey>> {
    let mut keys: HashMap<(Arc<str>, i32), Arc<PartitionKey>> = HashMap::new();
    batch
        .iter()
        .map(|r| {
            keys.entry((r.topic.clone(), r.partition))
                .or_insert_with(|| Arc::new(PartitionKey::new(&r.topic, r.partition)))
                .clone()
        })
        .collect()
}

fn origin_of(record: &InputRecord) -> Origin {
    Origin::Kafka {
        topic: record.topic.clone(),
        partition: record.partition,
        offset: record.offset,
    }
}

/// An input for the pipeline; `Err(_)`: the registry is down (the run stops).
fn decode_record<'a>(
    record: &'a InputRecord,
    max_bytes: usize,
    avro: Option<&EventDecoder>,
    transactional: bool,
) -> Result<Input<'a>, KafkaRunError> {
    let origin = origin_of(record);
    let mut decoded: Result<Event, DecodeError> = if record.payload.len() > max_bytes {
        Err(DecodeError::TooLarge {
            size: record.payload.len(),
            limit: max_bytes,
        })
    } else {
        match avro {
            Some(decoder) => decoder.decode(&record.payload, origin.clone())?,
            None => decode_json(&record.payload, origin.clone(), max_bytes),
        }
    };
    if let Ok(event) = &mut decoded {
        event.time_ms = event.time_ms.or(record.timestamp_ms);
    }
    if transactional && decoded.as_ref().is_ok_and(|e| e.chunk.is_some()) {
        decoded = Err(DecodeError::ChunkNeedsAtLeastOnce);
    }
    Ok(Input {
        decoded,
        at: InputRef {
            origin,
            raw: &record.payload,
            size: record.payload.len(),
        },
    })
}

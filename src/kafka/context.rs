//! librdkafka callbacks: delivery reports (producer) and rebalances and statistics (consumer).
//!
//! On revocation the consumer context drains: it waits, up to the drain deadline, for the
//! revoked partitions' in-flight events to be acknowledged, commits their positions
//! synchronously, then forgets them. Callbacks run on the thread that polls the consumer, so
//! no batch is being dispatched meanwhile.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::{ClientContext, Offset, Statistics, TopicPartitionList};
use tracing::{info, warn};

use super::acks::{Acks, Ticket};
use super::offsets::PartitionKey;
use super::stream_holds::StreamHolds;
use crate::telemetry::http::Health;
use crate::telemetry::metrics::Metrics;

/// Producer callbacks: each delivery report settles one output of a ticket.
pub struct DeliveryContext {
    pub acks: Arc<Acks>,
    pub metrics: Arc<Metrics>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Arc<Ticket>;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.acks.output_delivered(&ticket);
            }
            Err((error, message)) => {
                use rdkafka::Message;
                let topic = message.topic().to_string();
                self.metrics
                    .delivery_errors
                    .with_label_values(&[&topic])
                    .inc();
                // The idempotent producer retries transient errors itself; what reaches
                // here is final. Stop without committing past the event.
                self.acks
                    .fail(format!("record to topic `{topic}` not delivered: {error}"));
            }
        }
    }
}

/// Consumer callbacks: drain and commit on revocation, export lag from statistics.
pub struct SourceContext {
    pub acks: Arc<Acks>,
    pub metrics: Arc<Metrics>,
    pub drain_timeout: Duration,
    /// Bumped on every revocation, so the loop can drop records of partitions it lost.
    pub generation: AtomicU64,
    /// The tickets open streams hold: a revocation gives up the streams of its partitions.
    pub stream_holds: Arc<StreamHolds>,
    /// Partitions revoked since the loop last looked.
    pub revoked: Mutex<HashSet<PartitionKey>>,
    /// At-least-once commits acknowledged positions of revoked partitions; exactly-once
    /// commits them with its transactions, nothing here.
    pub commits_on_revoke: bool,
    /// The client's last error (librdkafka's text: broker addresses and causes, no secrets).
    pub last_error: Mutex<Option<ClientError>>,
    /// Where `/readyz` learns how many partitions this consumer holds, and its slot there.
    pub health: Arc<Health>,
    pub health_slot: usize,
}

/// An error librdkafka reported outside any call.
#[derive(Debug, Clone)]
pub struct ClientError {
    /// Credentials or certificates were refused: retrying cannot help.
    pub refused: bool,
    pub message: String,
}

impl SourceContext {
    pub fn last_error(&self) -> Option<ClientError> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ClientContext for SourceContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let refused = matches!(
            error.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::Authentication
                    | RDKafkaErrorCode::SaslAuthenticationFailed
                    | RDKafkaErrorCode::SSL
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::GroupAuthorizationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed
            )
        );
        warn!(%error, reason, "kafka client error");
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(ClientError {
            refused,
            message: reason.to_string(),
        });
    }

    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in &statistics.topics {
            for (partition, p) in &stats.partitions {
                if *partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                self.metrics
                    .consumer_lag
                    .with_label_values(&[topic, &partition.to_string()])
                    .set(p.consumer_lag);
            }
        }
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => {
                self.metrics.rebalances.with_label_values(&["revoke"]).inc();
                let keys: Vec<PartitionKey> = list
                    .elements()
                    .iter()
                    .map(|e| PartitionKey::new(e.topic(), e.partition()))
                    .collect();
                self.revoked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(keys.iter().cloned());
                self.generation.fetch_add(1, Ordering::AcqRel);
                // Open streams on these partitions are given up: their chunks stay
                // unacknowledged, and the next owner reads them again from the first one.
                let held = self.stream_holds.give_up(&keys);
                let deadline = Instant::now() + self.drain_timeout;
                let drained = self.acks.wait_until(deadline, |tracker| {
                    keys.iter()
                        .all(|k| tracker.outstanding(k) <= held.get(k).copied().unwrap_or(0))
                });
                if !drained {
                    warn!(
                        partitions = keys.len(),
                        "revoked partitions not drained by the deadline; their unacknowledged events will be read again by the next owner"
                    );
                }
                if self.commits_on_revoke {
                    commit_positions(
                        consumer,
                        &self.acks,
                        &self.metrics,
                        Some(&keys),
                        CommitMode::Sync,
                    );
                }
                let mut tracker = self.acks.tracker();
                let mut abandoned = 0;
                for key in &keys {
                    abandoned += tracker.revoke(key);
                    let _ = self
                        .metrics
                        .consumer_lag
                        .remove_label_values(&[&key.topic, &key.partition.to_string()]);
                }
                info!(partitions = keys.len(), abandoned, "partitions revoked");
            }
            Rebalance::Assign(list) => {
                self.metrics.rebalances.with_label_values(&["assign"]).inc();
                info!(partitions = list.count(), "partitions assigned");
            }
            Rebalance::Error(error) => warn!(%error, "rebalance error"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        let partitions = consumer.assignment().map_or(0, |list| list.count());
        self.health.set_partitions(self.health_slot, partitions);
    }
}

/// Commits every position the tracker allows (optionally only for `only`), then marks them.
/// Returns how many partitions advanced.
pub fn commit_positions<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    acks: &Acks,
    metrics: &Metrics,
    only: Option<&[PartitionKey]>,
    mode: CommitMode,
) -> usize {
    let positions: Vec<(PartitionKey, i64)> = acks
        .tracker()
        .committable()
        .into_iter()
        .filter(|(k, _)| only.is_none_or(|keys| keys.contains(k)))
        .collect();
    if positions.is_empty() {
        return 0;
    }
    let mut list = TopicPartitionList::new();
    for (key, position) in &positions {
        if let Err(error) =
            list.add_partition_offset(&key.topic, key.partition, Offset::Offset(*position))
        {
            warn!(%error, "cannot build commit list");
            return 0;
        }
    }
    let mode_label = match mode {
        CommitMode::Sync => "sync",
        CommitMode::Async => "async",
    };
    match consumer.commit(&list, mode) {
        Ok(()) => {
            metrics.commits.with_label_values(&[mode_label, "ok"]).inc();
            let mut tracker = acks.tracker();
            for (key, position) in &positions {
                tracker.mark_committed(key, *position);
            }
            positions.len()
        }
        Err(error) => {
            metrics
                .commits
                .with_label_values(&[mode_label, "error"])
                .inc();
            warn!(%error, partitions = positions.len(), "offset commit failed; will retry");
            0
        }
    }
}

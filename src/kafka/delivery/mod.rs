//! The delivery guarantee of a Kafka source: when an input counts as done, and how its
//! position reaches the group. Two implementations of one interface, chosen once from
//! `[kafka] delivery`; the consumer loop calls the same methods for both.
//!
//! - [`AtLeastOnce`]: each input offset is dispatched in the offset tracker before its
//!   outputs are produced; every output record carries a ticket, the delivery callback
//!   acknowledges it, and the in-order watermark of acknowledged offsets is committed
//!   periodically, on rebalance and at shutdown (rust-rdkafka's `at_least_once` pattern).
//! - [`ExactlyOnce`]: each batch's outputs and its input positions go in one Kafka
//!   transaction, committed after the last record is handed to the producer (Arroyo keeps
//!   this in a committer the same way); a failed commit aborts, and the batch is read again.

mod at_least_once;
mod exactly_once;

pub use at_least_once::AtLeastOnce;
pub use exactly_once::{ExactlyOnce, TRANSACTION_TIMEOUT};

use std::sync::Arc;

use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::ThreadedProducer;

use super::acks::{Acks, Ticket};
use super::context::{DeliveryContext, SourceContext};
use super::offsets::PartitionKey;
use super::records::InputRecord;
use super::KafkaRunError;
use crate::config::{Delivery, KafkaConfig};
use crate::telemetry::metrics::Metrics;

/// The clients of one Kafka source.
pub struct Clients {
    pub consumer: BaseConsumer<SourceContext>,
    pub producer: ThreadedProducer<DeliveryContext>,
}

/// When an input of a Kafka source counts as done.
pub trait Guarantee: Send + Sync {
    /// Before a batch's outputs are produced.
    fn begin_batch(
        &mut self,
        batch: &[InputRecord],
        keys: &[Arc<PartitionKey>],
        clients: &Clients,
    ) -> Result<(), KafkaRunError>;
    /// The ticket every output record of one input carries, for an input with `records`
    /// Kafka records; `None` when the input is already done (it has no Kafka records).
    fn ticket(&self, key: &Arc<PartitionKey>, offset: i64, records: usize) -> Option<Arc<Ticket>>;
    /// Whether an open stream's chunks may hold their offsets back until it closes
    /// (at-least-once); exactly-once commits each batch's positions in its transaction.
    fn holds_streams(&self) -> bool {
        false
    }
    /// After every record of the batch was handed to the producer.
    fn end_batch(&mut self, batch: &[InputRecord], clients: &Clients) -> Result<(), KafkaRunError>;
    /// Between batches, from the consumer loop.
    fn tick(&mut self, clients: &Clients);
    /// After the drain, before the clients close.
    fn close(&mut self, clients: &Clients);
    /// Around records produced outside a batch (audit seals on the way out).
    fn begin_extra(&mut self, clients: &Clients) -> Result<(), KafkaRunError>;
    fn end_extra(&mut self, clients: &Clients) -> Result<(), KafkaRunError>;
}

/// The guarantee `[kafka] delivery` asks for.
pub fn guarantee(
    kafka: &KafkaConfig,
    acks: Arc<Acks>,
    metrics: Arc<Metrics>,
) -> Box<dyn Guarantee> {
    match kafka.delivery {
        Delivery::AtLeastOnce => Box::new(AtLeastOnce::new(kafka, acks, metrics)),
        Delivery::ExactlyOnce => Box::new(ExactlyOnce::new(metrics)),
    }
}

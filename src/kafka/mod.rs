//! The Kafka runtime: consumer groups in, verdicts, enriched records and dead letters out.
//!
//! - `offsets`: pure at-least-once bookkeeping (no rdkafka types).
//! - `acks`: tickets and the shared tracker between the loop and the delivery thread.
//! - `delivery`: the two guarantees (at-least-once, exactly-once) behind one interface.
//! - `client`: librdkafka settings in one place; `context`: rebalance, delivery, statistics.
//! - `records`: input copies and output headers; `avro`: Schema Registry codecs.
//! - `produce`: a batch's outputs as Kafka records; `read`: reading a topic back (tools).
//! - `source`: one consumer's loop; `run`: every source of the topology.

pub mod acks;
pub mod avro;
pub mod client;
pub mod context;
pub mod delivery;
pub mod offsets;
pub mod produce;
pub mod read;
pub mod records;
pub mod run;
pub mod source;
pub mod stream_holds;

pub use run::run;

use crate::operators::BuildError;
use crate::topology::local_sinks::SinkError;

/// Why a Kafka run stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum KafkaRunError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot create the Kafka {0}")]
    Client(String),
    #[error("cannot connect to the Kafka brokers {brokers}: {reason}")]
    Connect { brokers: String, reason: String },
    #[error("cannot produce to topic `{topic}`: {message}")]
    Produce { topic: String, message: String },
    #[error("{0}; the run stopped without committing past the undelivered event")]
    Delivery(String),
    #[error("transaction failed ({0}); the batch was aborted and will be read again")]
    Transaction(String),
    #[error(transparent)]
    Offsets(#[from] offsets::OffsetError),
    #[error(transparent)]
    Avro(#[from] avro::AvroError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("the topology has no [kafka] table, or a source that is not Kafka")]
    NotKafka,
}

//! The Kafka runtime: consumer groups in, verdicts, enriched records and dead letters out.
//!
//! - `offsets`: pure at-least-once bookkeeping (no rdkafka types).
//! - `acks`: tickets and the shared tracker between the loop and the delivery thread.
//! - `client`: librdkafka settings in one place; `context`: rebalance, delivery, statistics.
//! - `records`: input copies and output headers; `avro`: Schema Registry codecs.
//! - `source`: one consumer's loop; `run`: the whole topology, signals and ops endpoints.

pub mod acks;
pub mod avro;
pub mod client;
pub mod context;
pub mod offsets;
pub mod read;
pub mod records;
pub mod run;
pub mod signals;
pub mod source;

pub use run::run;

use crate::operators::BuildError;
use crate::telemetry::http::ServeError;

/// Why a Kafka run stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum KafkaRunError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Serve(#[from] ServeError),
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
    #[error("cannot write sink `{sink}`: {source}")]
    Sink {
        sink: String,
        source: std::io::Error,
    },
    #[error("cannot open sink `{sink}`: {source}")]
    OpenSink {
        sink: String,
        source: std::io::Error,
    },
    #[error("cannot start worker threads: {0}")]
    Threads(String),
    #[error("the topology has no [kafka] table")]
    NotKafka,
}

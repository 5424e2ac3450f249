//! Reading a whole topic once, for the tools that audit what the pipeline wrote
//! (`railyard audit verify --topic`, `railyard reveal --topic`): every partition from its
//! first offset until no record arrives for `idle` (end offsets are not trusted: some
//! Kafka-compatible brokers report high watermarks below what they hold).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// One record as read.
#[derive(Debug, Clone)]
pub struct TopicRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// Why a topic could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot create the Kafka consumer: {0}")]
    Client(String),
    #[error("cannot read metadata of topic `{topic}`: {message}")]
    Metadata { topic: String, message: String },
    #[error("topic `{0}` does not exist")]
    NoTopic(String),
}

/// Reads every record of `topic`, in offset order per partition, sorted by partition.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    idle: Duration,
    properties: &[(String, String)],
) -> Result<Vec<TopicRecord>, ReadError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("railyard-reader-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (key, value) in properties {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config
        .create()
        .map_err(|e| ReadError::Client(e.to_string()))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| ReadError::Metadata {
            topic: topic.to_string(),
            message: e.to_string(),
        })?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(ReadError::NoTopic(topic.to_string()));
    }
    let mut assignment = TopicPartitionList::new();
    for p in &partitions {
        assignment
            .add_partition_offset(topic, *p, Offset::Beginning)
            .map_err(|e| ReadError::Client(e.to_string()))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|e| ReadError::Client(e.to_string()))?;
    let mut records = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < idle {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                records.push(TopicRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                });
                last = Instant::now();
            }
            Some(Err(e)) => {
                tracing::warn!(topic, error = %e, "error while reading");
            }
            None => {}
        }
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    Ok(records)
}

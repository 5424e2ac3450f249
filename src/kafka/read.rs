//! Reading a topic once, for the tools that look at what the pipeline read or wrote
//! (`railyard audit verify --topic`, `railyard reveal --topic`, `railyard replay`): every
//! partition from a start (its first offset, an offset, a time) to an end (an offset, a
//! time) or until no record arrives for `idle` (end offsets are not trusted: some
//! Kafka-compatible brokers report high watermarks below what they hold). The reader has its
//! own group id and never commits: it moves no production consumer group.

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

/// Where a range of a topic starts or ends, in every partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The first offset (as a start) or the last record (as an end).
    Open,
    /// An offset: the first one read, or the first one not read.
    Offset(i64),
    /// A record time in Unix milliseconds: the first record at or after it is the first one
    /// read (start) or the first one not read (end).
    Time(i64),
}

/// Reads every record of `topic`, in offset order per partition, sorted by partition.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    idle: Duration,
    properties: &[(String, String)],
) -> Result<Vec<TopicRecord>, ReadError> {
    read_range(brokers, topic, Bound::Open, Bound::Open, idle, properties)
}

/// Reads the records of `topic` from `start` to `end` (exclusive), in offset order per
/// partition, sorted by partition; `idle` ends the read when nothing more arrives.
pub fn read_range(
    brokers: &str,
    topic: &str,
    start: Bound,
    end: Bound,
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
    let starts = offsets(&consumer, topic, &partitions, start, Offset::Beginning)?;
    let ends = offsets(&consumer, topic, &partitions, end, Offset::End)?;
    let mut assignment = TopicPartitionList::new();
    for (p, offset) in partitions.iter().zip(&starts) {
        assignment
            .add_partition_offset(topic, *p, *offset)
            .map_err(|e| ReadError::Client(e.to_string()))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|e| ReadError::Client(e.to_string()))?;
    // The first offset not read, per partition (`None`: read until idle).
    let stop_at = |partition: i32| -> Option<i64> {
        let i = partitions.iter().position(|&p| p == partition)?;
        match ends[i] {
            Offset::Offset(o) => Some(o),
            _ => None,
        }
    };
    let mut done: std::collections::HashSet<i32> = partitions
        .iter()
        .copied()
        .filter(|&p| {
            let i = partitions.iter().position(|&x| x == p).unwrap_or(0);
            matches!((starts[i], ends[i]), (Offset::Offset(s), Offset::Offset(e)) if s >= e)
        })
        .collect();
    let mut records = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < idle && done.len() < partitions.len() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last = Instant::now();
                if let Some(end) = stop_at(m.partition()) {
                    if m.offset() + 1 >= end {
                        done.insert(m.partition());
                    }
                    if m.offset() >= end {
                        continue;
                    }
                }
                records.push(TopicRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                });
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

/// The offset of `bound` in each partition (`open` when the bound is open; a time past the
/// last record is the partition's end).
fn offsets(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[i32],
    bound: Bound,
    open: Offset,
) -> Result<Vec<Offset>, ReadError> {
    let client = |e: rdkafka::error::KafkaError| ReadError::Client(e.to_string());
    match bound {
        Bound::Open => Ok(vec![open; partitions.len()]),
        Bound::Offset(o) => Ok(vec![Offset::Offset(o); partitions.len()]),
        Bound::Time(ms) => {
            let mut query = TopicPartitionList::new();
            for &p in partitions {
                query
                    .add_partition_offset(topic, p, Offset::Offset(ms))
                    .map_err(client)?;
            }
            let found = consumer
                .offsets_for_times(query, Duration::from_secs(10))
                .map_err(client)?;
            partitions
                .iter()
                .map(|&p| {
                    let offset = found
                        .find_partition(topic, p)
                        .map(|e| e.offset())
                        .unwrap_or(Offset::End);
                    Ok(match offset {
                        Offset::Offset(o) if o >= 0 => Offset::Offset(o),
                        // No record at or after the time: the partition's end.
                        _ => {
                            let (_, high) = consumer
                                .fetch_watermarks(topic, p, Duration::from_secs(10))
                                .map_err(client)?;
                            Offset::Offset(high)
                        }
                    })
                })
                .collect()
        }
    }
}

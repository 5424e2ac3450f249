//! librdkafka client settings in one place: what railyard sets for its consumers and
//! producers, and the user's `[kafka.properties]` (security, tuning) passed through on top.

use rdkafka::ClientConfig;

use crate::config::{Delivery, KafkaConfig, KafkaSourceConfig};

/// A consumer in the source's group. Offsets are stored and committed by railyard only;
/// `read_committed` so transactional outputs of an upstream job are read once committed.
pub fn consumer_config(kafka: &KafkaConfig, source: &KafkaSourceConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.brokers)
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "10000")
        .set("fetch.wait.max.ms", "10")
        .set("fetch.error.backoff.ms", "10");
    for (key, value) in &kafka.properties {
        config.set(key, value.to_text());
    }
    config
        .set("group.id", &source.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", &source.start)
        .set("isolation.level", "read_committed")
        .set(
            "statistics.interval.ms",
            kafka.statistics_interval_ms.to_string(),
        );
    config
}

/// The producer for every sink of a source: idempotent, all replicas. A 20 ms linger: fewer,
/// larger produce requests cut broker load per event, at a bounded cost to a lone record.
pub fn producer_config(kafka: &KafkaConfig, transactional_id: Option<&str>) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "200000");
    for (key, value) in &kafka.properties {
        config.set(key, value.to_text());
    }
    if let (Delivery::ExactlyOnce, Some(id)) = (kafka.delivery, transactional_id) {
        config.set("transactional.id", id);
    }
    config
}

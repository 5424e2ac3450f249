//! librdkafka client settings in one place: what railyard sets for its consumers and
//! producers (the stable `transactional.id` included), the user's `[kafka.properties]`
//! (security, tuning) passed through on top, and the start-up check that they connect.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use super::context::SourceContext;
use super::KafkaRunError;
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

/// Start-up check: the brokers answer a metadata request within `connect_timeout_ms`. Wrong
/// credentials or an unknown CA fail at once with librdkafka's reason; nothing else would
/// report them (the client retries forever).
pub fn await_brokers(
    consumer: &BaseConsumer<SourceContext>,
    kafka: &KafkaConfig,
    topic: &str,
) -> Result<(), KafkaRunError> {
    let deadline = Instant::now() + Duration::from_millis(kafka.connect_timeout_ms);
    let failed = |reason: String| KafkaRunError::Connect {
        brokers: kafka.brokers.clone(),
        reason,
    };
    loop {
        let attempt = consumer.fetch_metadata(Some(topic), Duration::from_millis(1000));
        // Client errors (authentication, TLS) reach the context only while the consumer is
        // polled; before the subscription a poll returns no message.
        if attempt.is_err() {
            let _ = consumer.poll(Duration::from_millis(100));
        }
        let last = consumer.context().last_error();
        match (attempt, last) {
            (Ok(_), _) => return Ok(()),
            (Err(_), Some(error)) if error.refused => return Err(failed(error.message)),
            (Err(error), last) if Instant::now() >= deadline => {
                return Err(failed(match last {
                    Some(last) => last.message,
                    None => error.to_string(),
                }))
            }
            _ => {}
        }
    }
}

/// The `transactional.id` of a source's producer. It must be the same each time the same
/// member restarts, so that the restarted producer fences the one it replaces and aborts its
/// open transaction at once (a fresh id would leave that transaction, and every
/// read_committed reader and offset fetch behind it, waiting for `transaction.timeout.ms`);
/// and different for every concurrent member. `kafka.transactional_id` when set (suffixed
/// with the source id when the topology has several sources), else
/// `railyard-<group>-<source>-<host name>`: one instance per host (a StatefulSet pod name is
/// stable across restarts). No pid: a pid changes on every restart.
pub fn transactional_id(kafka: &KafkaConfig, group: &str, source: &str, sources: usize) -> String {
    match &kafka.transactional_id {
        Some(id) if sources > 1 => format!("{id}-{source}"),
        Some(id) => id.clone(),
        None => format!("railyard-{group}-{source}-{}", host_name()),
    }
}

/// This machine's host name (`HOSTNAME`, else the kernel's), `localhost` if neither is known.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka(transactional_id: Option<&str>) -> KafkaConfig {
        let mut text = String::from("brokers = \"b:9092\"\ndelivery = \"exactly_once\"\n");
        if let Some(id) = transactional_id {
            text.push_str(&format!("transactional_id = \"{id}\"\n"));
        }
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn the_transactional_id_is_stable_across_restarts_and_has_no_pid() {
        let default = transactional_id(&kafka(None), "guards", "events", 1);
        assert_eq!(
            default,
            transactional_id(&kafka(None), "guards", "events", 1)
        );
        // Group, source and host only: nothing that changes when the process restarts.
        assert_eq!(default, format!("railyard-guards-events-{}", host_name()));
        assert_eq!(
            transactional_id(&kafka(Some("railyard-pod-0")), "guards", "events", 1),
            "railyard-pod-0"
        );
        // Two sources of one instance never share a producer id.
        assert_eq!(
            transactional_id(&kafka(Some("railyard-pod-0")), "guards", "events", 2),
            "railyard-pod-0-events"
        );
    }
}

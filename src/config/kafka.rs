//! Kafka options as written in a topology: the shared `[kafka]` table (brokers, client
//! properties, delivery mode, bounds) and the `kafka` source and sink nodes.
//!
//! Validation here covers what can be known without a broker: required fields, bounds, client
//! properties that railyard owns, and the shape rules (a topology is either broker-free or
//! reads Kafka; Avro needs a Schema Registry; exactly-once needs Kafka sinks only).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::names::{topic_rule, valid_topic, Format, RecordKind};
use crate::diagnostics::{join, Errors};

/// Delivery guarantee of a Kafka topology.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Input offsets are committed only after every output of the event (and of every earlier
    /// event of the partition) is acknowledged by the broker. Restarts may repeat events.
    #[default]
    AtLeastOnce,
    /// Outputs and input offsets are written in one Kafka transaction per batch.
    ExactlyOnce,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::AtLeastOnce => "at_least_once",
            Delivery::ExactlyOnce => "exactly_once",
        }
    }
}

/// A librdkafka property value; TOML numbers and booleans are passed as their text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum PropertyValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
}

impl PropertyValue {
    pub fn to_text(&self) -> String {
        match self {
            PropertyValue::Text(s) => s.clone(),
            PropertyValue::Integer(i) => i.to_string(),
            PropertyValue::Boolean(b) => b.to_string(),
        }
    }
}

/// A Confluent-compatible Schema Registry (`[kafka.schema_registry]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SchemaRegistryConfig {
    /// Base URL, e.g. `http://schema-registry:8081`.
    pub url: String,
    /// Basic-auth user (use `${VAR}` for secrets).
    #[serde(default)]
    pub username: Option<String>,
    /// Basic-auth password (use `${VAR}` for secrets).
    #[serde(default)]
    pub password: Option<String>,
    /// How long an unreachable registry is retried before the run stops (without committing
    /// past the event it could not decode or encode).
    #[serde(default = "default_registry_retry_ms")]
    pub retry_ms: u64,
}

fn default_registry_retry_ms() -> u64 {
    60_000
}

/// `[kafka]`: settings shared by every Kafka source and sink of the topology.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port` separated by commas.
    pub brokers: String,
    /// librdkafka properties for every client: security (`security.protocol`, `sasl.*`,
    /// `ssl.*`), compression, timeouts. Take secrets from the environment with `${VAR}`.
    #[serde(default)]
    pub properties: BTreeMap<String, PropertyValue>,
    /// `at_least_once` (default) or `exactly_once` (Kafka transactions).
    #[serde(default)]
    pub delivery: Delivery,
    /// Most events read but not yet fully acknowledged; reading pauses at this bound.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Longest wait for a batch to fill before it is processed anyway.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: u64,
    /// How often acknowledged positions are committed (at-least-once).
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// On rebalance or shutdown, how long to wait for in-flight events before committing.
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
    /// How often librdkafka reports statistics (consumer lag per partition); 0 disables.
    #[serde(default = "default_statistics_interval_ms")]
    pub statistics_interval_ms: u64,
    /// At start-up, how long to wait for the brokers to answer a metadata request before the
    /// run fails; an authentication or TLS failure fails at once.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// `transactional.id` for exactly-once: stable across restarts of the same instance and
    /// unique among running ones (e.g. `"railyard-${POD_NAME}"`); suffixed with the source id
    /// when there are several sources. Default: `railyard-<group>-<source>-<host name>`.
    #[serde(default)]
    pub transactional_id: Option<String>,
    #[serde(default)]
    pub schema_registry: Option<SchemaRegistryConfig>,
}

fn default_max_in_flight() -> usize {
    20_000
}
fn default_max_wait_ms() -> u64 {
    10
}
fn default_commit_interval_ms() -> u64 {
    200
}
fn default_drain_timeout_ms() -> u64 {
    10_000
}
fn default_connect_timeout_ms() -> u64 {
    30_000
}
fn default_statistics_interval_ms() -> u64 {
    5_000
}

/// Client properties railyard sets itself, with what to use instead.
const OWNED_PROPERTIES: &[(&str, &str)] = &[
    ("bootstrap.servers", "kafka.brokers"),
    ("metadata.broker.list", "kafka.brokers"),
    ("group.id", "the source's group_id"),
    ("enable.auto.offset.store", "kafka.delivery"),
    ("enable.auto.commit", "kafka.delivery"),
    ("isolation.level", "kafka.delivery"),
    ("transactional.id", "kafka.transactional_id"),
    ("statistics.interval.ms", "kafka.statistics_interval_ms"),
];

impl KafkaConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        if self.brokers.trim().is_empty() {
            errors.push(join(path, "brokers"), "must name at least one host:port");
        }
        for key in self.properties.keys() {
            if let Some((_, instead)) = OWNED_PROPERTIES.iter().find(|(k, _)| k == key) {
                errors.push(
                    format!("{path}.properties.\"{key}\""),
                    format!("is set by railyard; use {instead}"),
                );
            }
        }
        if !(1..=10_000_000).contains(&self.max_in_flight) {
            errors.push(
                join(path, "max_in_flight"),
                format!("must be within 1..=10000000, got {}", self.max_in_flight),
            );
        }
        if self.max_wait_ms > 60_000 {
            errors.push(
                join(path, "max_wait_ms"),
                format!("must be at most 60000, got {}", self.max_wait_ms),
            );
        }
        if self.commit_interval_ms == 0 {
            errors.push(join(path, "commit_interval_ms"), "must be at least 1");
        }
        if let Some(registry) = &self.schema_registry {
            if !(registry.url.starts_with("http://") || registry.url.starts_with("https://")) {
                errors.push(
                    format!("{path}.schema_registry.url"),
                    format!(
                        "must start with http:// or https://, got `{}`",
                        registry.url
                    ),
                );
            }
            if registry.username.is_some() != registry.password.is_some() {
                errors.push(
                    format!("{path}.schema_registry"),
                    "username and password go together",
                );
            }
        }
    }
}

/// A Kafka source (`type = "kafka"`): one consumer in a consumer group.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct KafkaSourceConfig {
    /// Topics to read.
    pub topics: Vec<String>,
    /// Consumer group; instances with the same group split the partitions.
    pub group_id: String,
    /// `json` (default) or `avro` (Confluent wire format, needs `[kafka.schema_registry]`).
    #[serde(default)]
    pub format: Format,
    /// Where a group without a committed position starts: `earliest` (default) or `latest`.
    #[serde(default = "default_start")]
    pub start: String,
}

fn default_start() -> String {
    "earliest".to_string()
}

impl KafkaSourceConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        if self.topics.is_empty() {
            errors.push(join(path, "topics"), "must name at least one topic");
        }
        for (i, topic) in self.topics.iter().enumerate() {
            if !valid_topic(topic) {
                errors.push(format!("{path}.topics[{i}]"), topic_rule(topic));
            }
        }
        if self.group_id.trim().is_empty() {
            errors.push(join(path, "group_id"), "must not be empty");
        }
        if !matches!(self.start.as_str(), "earliest" | "latest") {
            errors.push(
                join(path, "start"),
                format!("must be `earliest` or `latest`, got `{}`", self.start),
            );
        }
    }
}

/// A Kafka sink (`type = "kafka"`): records produced to one topic.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct KafkaSinkConfig {
    pub topic: String,
    #[serde(default)]
    pub records: RecordKind,
    /// `json` (default) or `avro` (verdicts only; needs `[kafka.schema_registry]`).
    #[serde(default)]
    pub format: Format,
}

impl KafkaSinkConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        if !valid_topic(&self.topic) {
            errors.push(join(path, "topic"), topic_rule(&self.topic));
        }
        if self.format == Format::Avro && self.records != RecordKind::Verdicts {
            errors.push(
                join(path, "format"),
                format!(
                    "avro is available for verdicts only; `{}` records are JSON",
                    self.records.as_str()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::interpolate::ProcessEnv;
    use crate::config::{Topology, TopologyError};

    fn errors(text: &str) -> Vec<String> {
        match Topology::from_toml(text, &ProcessEnv) {
            Err(TopologyError::Invalid(errors)) => errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect(),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn kafka_topologies_report_every_error_with_its_path() {
        let found = errors(
            r#"
name = "k"
[kafka]
brokers = ""
delivery = "exactly_once"
max_in_flight = 0
[kafka.properties]
"group.id" = "mine"
"enable.auto.commit" = true
[sources.events]
type = "kafka"
topics = ["bad topic!"]
group_id = ""
format = "avro"
start = "middle"
[sources.file]
type = "file"
path = "x.jsonl"
[sinks.verdicts]
type = "kafka"
inputs = ["events"]
topic = "out"
format = "avro"
records = "enriched"
[sinks.dead]
type = "file"
path = "dead.jsonl"
records = "dead_letters"
"#,
        );
        let expected = [
            "kafka.brokers: must name at least one host:port",
            "kafka.max_in_flight: must be within 1..=10000000, got 0",
            "kafka.properties.\"enable.auto.commit\": is set by railyard; use kafka.delivery",
            "kafka.properties.\"group.id\": is set by railyard; use the source's group_id",
            "sinks.dead: exactly_once writes every output in a Kafka transaction; this sink is not Kafka",
            "sinks.verdicts.format: avro is available for verdicts only; `enriched` records are JSON",
            "sinks.verdicts.format: avro needs [kafka.schema_registry] with a url",
            "sources.events.format: avro needs [kafka.schema_registry] with a url",
            "sources.events.group_id: must not be empty",
            "sources.events.start: must be `earliest` or `latest`, got `middle`",
            "sources.events.topics[0]: `bad topic!` is not a Kafka topic name (1-249 of letters, digits, `.`, `_`, `-`)",
            "sources.file: a topology reads either Kafka or files/stdin, not both; run two topologies",
        ];
        for e in expected {
            assert!(found.iter().any(|f| f == e), "missing `{e}` in {found:#?}");
        }
    }

    #[test]
    fn kafka_nodes_need_the_kafka_table() {
        let found = errors(
            r#"
name = "k"
[sources.events]
type = "kafka"
topics = ["in"]
group_id = "g"
[sinks.verdicts]
type = "kafka"
inputs = ["events"]
topic = "out"
[sinks.dead]
type = "kafka"
topic = "dead"
records = "dead_letters"
"#,
        );
        assert_eq!(
            found,
            ["kafka: missing: Kafka sources and sinks need a [kafka] table with `brokers`"]
        );
    }
}

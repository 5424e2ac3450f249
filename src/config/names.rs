//! Shared enums and name rules of the topology schema, a leaf of `config`: record formats,
//! record kinds, and what a Kafka topic may be called.

use serde::Deserialize;

use crate::diagnostics::Errors;

/// How records on a source are encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One JSON object per record (per line in files).
    #[default]
    Json,
    /// Avro in the Confluent wire format (schema id prefix); Kafka only.
    Avro,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Avro => "avro",
        }
    }
}

/// Which records a sink writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// One verdict per event.
    #[default]
    Verdicts,
    /// The event with redacted text and a verdict summary.
    Enriched,
    /// One shadow verdict per event (routes with operators in `mode = "shadow"`): the
    /// policy over live and shadow findings, beside the live action it never changes.
    ShadowVerdicts,
    /// Inputs that could not be decoded, with the reason.
    DeadLetters,
    /// Drift and limit alerts (`[drift]`, `[limits]`): run-wide, not one per event.
    Alerts,
    /// Streamed responses: `released` text (redacted, proven safe) and `stream_blocked`
    /// records, per source.
    Released,
    /// Hash-chained audit records (only `type = "audit_log"` sinks write them).
    #[serde(skip)]
    Audit,
    /// Encrypted placeholder mappings (only `type = "vault"` sinks write them).
    #[serde(skip)]
    Vault,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Verdicts => "verdicts",
            RecordKind::Enriched => "enriched",
            RecordKind::ShadowVerdicts => "shadow_verdicts",
            RecordKind::DeadLetters => "dead_letters",
            RecordKind::Alerts => "alerts",
            RecordKind::Released => "released",
            RecordKind::Audit => "audit",
            RecordKind::Vault => "vault",
        }
    }
}

impl RecordKind {
    /// Records a sink takes per source rather than from operators: its `inputs` name
    /// sources, or none for all.
    pub fn per_source(self) -> bool {
        matches!(
            self,
            RecordKind::DeadLetters | RecordKind::Alerts | RecordKind::Released
        )
    }
}

/// Records an error at `path` unless `topic` is a valid Kafka topic name.
pub fn check_topic(topic: &str, path: &str, errors: &mut Errors) {
    if !valid_topic(topic) {
        errors.push(path, topic_rule(topic));
    }
}

pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub fn topic_rule(topic: &str) -> String {
    format!("`{topic}` is not a Kafka topic name (1-249 of letters, digits, `.`, `_`, `-`)")
}

//! Avro in the Confluent wire format through a Schema Registry (schema_registry_converter):
//! input events decoded by the writer's schema id, verdicts encoded with
//! `schemas/verdict.avsc`, registered under `<topic>-value`.
//!
//! A registry that cannot be reached is not the event's fault: such errors are retried and,
//! if they persist, stop the run ([`AvroError::Registry`]); only an undecodable record becomes
//! a dead letter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use apache_avro::types::Value;
use schema_registry_converter::blocking::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::blocking::schema_registry::SrSettings;
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

use crate::codec::DecodeError;
use crate::config::kafka::SchemaRegistryConfig;
use crate::model::Verdict;
use crate::model::{Event, EventKind, Origin};

/// The verdict schema, as registered for Avro verdict sinks.
pub const VERDICT_SCHEMA: &str = include_str!("../../schemas/verdict.avsc");

#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    #[error("schema registry: {0}")]
    Registry(String),
    #[error("cannot build the schema registry client: {0}")]
    Client(String),
}

fn settings(config: &SchemaRegistryConfig) -> Result<SrSettings, AvroError> {
    let mut builder = SrSettings::new_builder(config.url.clone());
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder.set_basic_authorization(user, Some(password));
    }
    builder
        .set_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| AvroError::Client(e.error))
}

/// Decodes Avro events; safe to share across threads (caches are concurrent).
pub struct EventDecoder {
    decoder: AvroDecoder,
    retry: Duration,
}

impl EventDecoder {
    pub fn new(config: &SchemaRegistryConfig) -> Result<Self, AvroError> {
        Ok(EventDecoder {
            decoder: AvroDecoder::new(settings(config)?),
            retry: Duration::from_millis(config.retry_ms),
        })
    }

    /// `Ok(Err(_))` is a bad record (dead letter); `Err(_)` a registry outage (stop).
    pub fn decode(
        &self,
        bytes: &[u8],
        origin: Origin,
    ) -> Result<Result<Event, DecodeError>, AvroError> {
        let decoded = retry_registry(
            self.retry,
            || self.decoder.decode(Some(bytes)),
            || self.decoder.remove_errors_from_cache(),
        )?;
        Ok(match decoded {
            Ok(result) => event_from_value(result.value, origin),
            Err(e) => Err(DecodeError::Avro(describe(&e))),
        })
    }
}

/// Encodes verdicts for one topic.
pub struct VerdictEncoder {
    encoder: AvroEncoder,
    strategy: SubjectNameStrategy,
    retry: Duration,
}

impl VerdictEncoder {
    pub fn new(config: &SchemaRegistryConfig, topic: &str) -> Result<Self, AvroError> {
        let schema = SuppliedSchema::new(
            Some("dev.railyard.Verdict".to_string()),
            SchemaType::Avro,
            VERDICT_SCHEMA.to_string(),
        );
        Ok(VerdictEncoder {
            encoder: AvroEncoder::new(settings(config)?),
            strategy: SubjectNameStrategy::TopicNameStrategyWithSchema(
                topic.to_string(),
                false,
                schema,
            ),
            retry: Duration::from_millis(config.retry_ms),
        })
    }

    pub fn encode(&self, verdict: &Verdict) -> Result<Vec<u8>, AvroError> {
        let outcome = retry_registry(
            self.retry,
            || self.encoder.encode(verdict_fields(verdict), &self.strategy),
            || self.encoder.remove_errors_from_cache(),
        )?;
        outcome.map_err(|e| AvroError::Registry(describe(&e)))
    }
}

/// Retries retriable registry errors (no answer, 5xx) until `retry` passes. Returns the
/// call's own result for non-retriable outcomes.
fn retry_registry<T>(
    retry: Duration,
    mut call: impl FnMut() -> Result<T, SRCError>,
    mut clear: impl FnMut(),
) -> Result<Result<T, SRCError>, AvroError> {
    let deadline = Instant::now() + retry;
    let mut pause = Duration::from_millis(100);
    let mut warned = false;
    loop {
        match call() {
            Err(e) if e.retriable => {
                clear();
                if !warned {
                    warned = true;
                    tracing::warn!(error = %e.error, retry_ms = retry.as_millis() as u64, "schema registry unreachable; retrying");
                }
                if Instant::now() >= deadline {
                    return Err(AvroError::Registry(describe(&e)));
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            other => return Ok(other),
        }
    }
}

fn describe(error: &SRCError) -> String {
    match &error.cause {
        Some(cause) => format!("{}: {cause}", error.error),
        None => error.error.clone(),
    }
}

fn unwrap_union(value: Value) -> Value {
    match value {
        Value::Union(_, inner) => unwrap_union(*inner),
        other => other,
    }
}

fn text(value: Value, field: &str) -> Result<Option<String>, DecodeError> {
    match unwrap_union(value) {
        Value::Null => Ok(None),
        Value::String(s) | Value::Enum(_, s) => Ok(Some(s)),
        Value::Int(i) => Ok(Some(i.to_string())),
        Value::Long(i) => Ok(Some(i.to_string())),
        _ => Err(DecodeError::Avro(format!(
            "field `{field}` must be a string"
        ))),
    }
}

/// Maps a decoded record (`schemas/event.avsc`, or any record with the same field names) to
/// an event. Unknown fields are ignored, as in JSON.
pub fn event_from_value(value: Value, origin: Origin) -> Result<Event, DecodeError> {
    let Value::Record(fields) = unwrap_union(value) else {
        return Err(DecodeError::Avro("the value is not a record".to_string()));
    };
    let mut id = None;
    let mut kind = EventKind::Prompt;
    let mut body = None;
    let mut conversation_id = None;
    let mut prompt = None;
    let mut context = Vec::new();
    let mut metadata = serde_json::Map::new();
    for (name, value) in fields {
        match name.as_str() {
            "id" => id = text(value, "id")?,
            "kind" => {
                kind = match text(value, "kind")?.as_deref() {
                    None | Some("prompt") => EventKind::Prompt,
                    Some("response") => EventKind::Response,
                    Some(other) => {
                        return Err(DecodeError::Avro(format!(
                            "field `kind` must be prompt or response, got `{other}`"
                        )))
                    }
                }
            }
            "text" => body = text(value, "text")?,
            "conversation_id" => conversation_id = text(value, "conversation_id")?,
            "prompt" => prompt = text(value, "prompt")?,
            "context" => match unwrap_union(value) {
                Value::Array(items) => {
                    for item in items {
                        if let Some(passage) = text(item, "context")? {
                            context.push(Arc::from(passage));
                        }
                    }
                }
                Value::Null => {}
                _ => return Err(DecodeError::Avro("field `context` must be an array".into())),
            },
            "metadata" => match unwrap_union(value) {
                Value::Map(entries) => {
                    for (key, value) in entries {
                        let json = serde_json::Value::try_from(value)
                            .map_err(|e| DecodeError::Avro(format!("metadata `{key}`: {e}")))?;
                        metadata.insert(key, json);
                    }
                }
                Value::Null => {}
                _ => return Err(DecodeError::Avro("field `metadata` must be a map".into())),
            },
            _ => {}
        }
    }
    let Some(body) = body else {
        return Err(DecodeError::Avro("field `text` is missing".to_string()));
    };
    Ok(Event {
        id: Arc::from(id.unwrap_or_else(|| origin.fallback_id())),
        kind,
        conversation_id: conversation_id.map(Arc::from),
        text: Arc::from(body),
        prompt: prompt.map(Arc::from),
        context: context.into(),
        metadata: Arc::new(metadata),
        origin,
        received_at: Instant::now(),
        time_ms: None,
        chunk: None,
        composed: false,
        triggered: Vec::new(),
        quiet: Vec::new(),
        window: None,
        findings: Vec::new(),
        scores: Vec::new(),
        prepared: Default::default(),
    })
}

fn optional(value: Option<Value>) -> Value {
    match value {
        Some(v) => Value::Union(1, Box::new(v)),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}

fn enum_value(symbols: &[&str], symbol: &str) -> Value {
    let index = symbols.iter().position(|s| *s == symbol).unwrap_or(0);
    Value::Enum(index as u32, symbol.to_string())
}

const ACTIONS: [&str; 4] = ["allow", "flag", "redact", "block"];
const KINDS: [&str; 2] = ["prompt", "response"];
const CATEGORIES: [&str; 6] = [
    "pii",
    "secret",
    "keyword",
    "injection",
    "toxicity",
    "hallucination",
];

/// A verdict as the fields of `schemas/verdict.avsc`, in schema order.
pub fn verdict_fields(verdict: &Verdict) -> Vec<(&'static str, Value)> {
    let findings = verdict
        .findings
        .iter()
        .map(|f| {
            Value::Record(vec![
                ("operator".into(), Value::String(f.operator.to_string())),
                (
                    "category".into(),
                    enum_value(&CATEGORIES, f.category.as_str()),
                ),
                ("label".into(), Value::String(f.label.to_string())),
                ("score".into(), Value::Float(f.score)),
                (
                    "spans".into(),
                    Value::Array(
                        f.spans
                            .iter()
                            .map(|s| {
                                Value::Record(vec![
                                    ("start".into(), Value::Long(s.start as i64)),
                                    ("end".into(), Value::Long(s.end as i64)),
                                ])
                            })
                            .collect(),
                    ),
                ),
                ("action".into(), enum_value(&ACTIONS, f.action.as_str())),
                (
                    "reason".into(),
                    optional(f.reason.as_ref().map(|r| Value::String(r.to_string()))),
                ),
                (
                    "provenance".into(),
                    Value::Record(vec![
                        (
                            "detector".into(),
                            Value::String(f.provenance.detector.to_string()),
                        ),
                        (
                            "version".into(),
                            Value::String(f.provenance.version.to_string()),
                        ),
                        ("threshold".into(), Value::Float(f.provenance.threshold)),
                    ]),
                ),
                (
                    "location".into(),
                    optional(f.location.map(|l| {
                        Value::Record(vec![
                            ("field".into(), Value::String(l.field.as_str().into())),
                            (
                                "index".into(),
                                optional(l.index.map(|i| Value::Int(i as i32))),
                            ),
                        ])
                    })),
                ),
            ])
        })
        .collect();
    let (topic, partition, offset) = match &verdict.origin {
        Origin::Kafka {
            topic,
            partition,
            offset,
        } => (
            Some(Value::String(topic.to_string())),
            Some(Value::Int(*partition)),
            Some(Value::Long(*offset)),
        ),
        Origin::Line { .. } => (None, None, None),
    };
    vec![
        (
            "schema_version",
            Value::String(verdict.schema_version.to_string()),
        ),
        ("event_id", Value::String(verdict.event_id.to_string())),
        ("kind", enum_value(&KINDS, verdict.kind.as_str())),
        (
            "conversation_id",
            optional(
                verdict
                    .conversation_id
                    .as_ref()
                    .map(|c| Value::String(c.to_string())),
            ),
        ),
        ("action", enum_value(&ACTIONS, verdict.action.as_str())),
        ("findings", Value::Array(findings)),
        (
            "topology",
            Value::Record(vec![
                (
                    "name".into(),
                    Value::String(verdict.topology.name.to_string()),
                ),
                (
                    "hash".into(),
                    Value::String(verdict.topology.hash.to_string()),
                ),
            ]),
        ),
        ("origin_topic", optional(topic)),
        ("origin_partition", optional(partition)),
        ("origin_offset", optional(offset)),
        ("latency_us", Value::Long(verdict.latency_us as i64)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::reader::datum::GenericDatumReader;
    use apache_avro::writer::datum::GenericDatumWriter;
    use apache_avro::Schema;

    fn write(schema: &Schema, value: impl Into<Value>) -> Vec<u8> {
        GenericDatumWriter::builder(schema)
            .build()
            .unwrap()
            .write_value_to_vec(value)
            .expect("the value matches the schema")
    }

    fn read(schema: &Schema, bytes: &[u8]) -> Value {
        GenericDatumReader::builder(schema)
            .build()
            .unwrap()
            .read_value(&mut &bytes[..])
            .unwrap()
    }

    const EVENT_SCHEMA: &str = include_str!("../../schemas/event.avsc");

    fn origin() -> Origin {
        Origin::Kafka {
            topic: Arc::from("in"),
            partition: 2,
            offset: 41,
        }
    }

    #[test]
    fn an_avro_event_written_with_the_event_schema_decodes() {
        let schema = Schema::parse_str(EVENT_SCHEMA).unwrap();
        let mut record = apache_avro::types::Record::new(&schema).unwrap();
        record.put("id", Value::Union(1, Box::new(Value::String("e1".into()))));
        record.put("kind", Value::Enum(1, "response".into()));
        record.put("text", "Call me at 555-0100");
        record.put("conversation_id", Value::Union(0, Box::new(Value::Null)));
        record.put(
            "prompt",
            Value::Union(1, Box::new(Value::String("number?".into()))),
        );
        record.put(
            "context",
            Value::Array(vec![Value::String("passage".into())]),
        );
        record.put(
            "metadata",
            Value::Map([("app".to_string(), Value::String("chat".into()))].into()),
        );
        let value = read(&schema, &write(&schema, record));
        let event = event_from_value(value, origin()).unwrap();
        assert_eq!(&*event.id, "e1");
        assert_eq!(event.kind, EventKind::Response);
        assert_eq!(&*event.text, "Call me at 555-0100");
        assert_eq!(event.prompt.as_deref(), Some("number?"));
        assert_eq!(event.context.len(), 1);
        assert_eq!(event.metadata["app"], "chat");
        assert!(event.conversation_id.is_none());
    }

    #[test]
    fn missing_text_or_wrong_shapes_are_decode_errors() {
        let no_text = Value::Record(vec![("id".into(), Value::String("x".into()))]);
        assert!(matches!(
            event_from_value(no_text, origin()),
            Err(DecodeError::Avro(_))
        ));
        assert!(matches!(
            event_from_value(Value::Long(3), origin()),
            Err(DecodeError::Avro(_))
        ));
        let bad_kind = Value::Record(vec![
            ("text".into(), Value::String("t".into())),
            ("kind".into(), Value::String("other".into())),
        ]);
        assert!(event_from_value(bad_kind, origin()).is_err());
    }

    #[test]
    fn an_event_without_id_takes_its_kafka_position() {
        let value = Value::Record(vec![("text".into(), Value::String("t".into()))]);
        let event = event_from_value(value, origin()).unwrap();
        assert_eq!(&*event.id, "in/2/41");
    }

    #[test]
    fn verdict_fields_encode_against_the_verdict_schema() {
        use crate::model::{Action, TopologyRef};
        use crate::model::{Category, Finding, Provenance, Span};
        let schema = Schema::parse_str(VERDICT_SCHEMA).unwrap();
        let mut event = Event::prompt("e9", "mail a@b.co");
        event.origin = origin();
        event.findings.push(Finding {
            operator: Arc::from("pii"),
            category: Category::Pii,
            label: Arc::from("EMAIL_ADDRESS"),
            score: 0.9,
            spans: vec![Span::new(5, 11)],
            action: Action::Redact,
            redaction: None,
            reason: None,
            provenance: Provenance::builtin("regex", 0.5),
            location: Some(crate::model::Location {
                field: crate::model::EventField::Context,
                index: Some(2),
            }),
        });
        let topology = TopologyRef {
            name: Arc::from("t"),
            hash: Arc::from("sha256:00"),
        };
        let verdict = Verdict::new(&event, Action::Redact, &topology, 120);
        let fields: Vec<(String, Value)> = verdict_fields(&verdict)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let back = read(&schema, &write(&schema, Value::Record(fields)));
        let Value::Record(fields) = back else {
            panic!("a record")
        };
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).unwrap().1.clone();
        assert_eq!(get("event_id"), Value::String("e9".into()));
        assert_eq!(get("action"), Value::Enum(2, "redact".into()));
        assert_eq!(
            get("origin_offset"),
            Value::Union(1, Box::new(Value::Long(41)))
        );
        let Value::Array(findings) = get("findings") else {
            panic!("findings")
        };
        assert_eq!(findings.len(), 1);
        let Value::Record(finding) = &findings[0] else {
            panic!("a finding record")
        };
        let location = &finding.iter().find(|(k, _)| k == "location").unwrap().1;
        assert_eq!(
            location,
            &Value::Union(
                1,
                Box::new(Value::Record(vec![
                    ("field".into(), Value::String("context".into())),
                    ("index".into(), Value::Union(1, Box::new(Value::Int(2)))),
                ]))
            )
        );
    }
}

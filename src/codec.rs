//! Wire formats: input events from JSON, output records to JSON, dead-letter records.
//!
//! Decoding never panics and never loses an input: anything that is not a valid event becomes
//! a [`DecodeError`] that the caller turns into a dead letter. Error messages may quote the
//! payload, so they go to the dead-letter output only; logs use [`DecodeError::kind`].

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::model::SCHEMA_VERSION;
use crate::model::{Chunk, Event, EventKind, Origin};

/// Why a record could not become an event.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("event is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("event is not valid UTF-8 (first bad byte at {0})")]
    NotUtf8(usize),
    #[error("event is not a valid JSON event: {0}")]
    Json(String),
    #[error("event is not a valid Avro event: {0}")]
    Avro(String),
    /// Not a decoding error: an operator with `on_error = "dead_letter"` failed on the event.
    #[error("operator `{operator}` failed: {reason}")]
    OperatorFailed { operator: String, reason: String },
    /// A `response_chunk` under exactly-once delivery: a transaction commits the offsets of
    /// its batch, so an open stream could not hold its partition back across transactions
    /// and a crash would lose it.
    #[error("response_chunk events need delivery = \"at_least_once\" (exactly-once cannot hold an open stream across transactions)")]
    ChunkNeedsAtLeastOnce,
}

impl DecodeError {
    /// A bounded label for logs and metrics (never payload content).
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::NotUtf8(_) => "not_utf8",
            DecodeError::Json(_) => "invalid_json",
            DecodeError::Avro(_) => "invalid_avro",
            DecodeError::OperatorFailed { .. } => "operator_failed",
            DecodeError::ChunkNeedsAtLeastOnce => "chunk_needs_at_least_once",
        }
    }
}

/// An id may be written as a string or an integer. A direct visitor: an untagged enum would
/// buffer the value and build an error for every numeric id.
struct WireId(Arc<str>);

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = WireId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<WireId, E> {
                Ok(WireId(Arc::from(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<WireId, E> {
                Ok(WireId(Arc::from(v.to_string())))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<WireId, E> {
                Ok(WireId(Arc::from(v.to_string())))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

impl WireId {
    fn into_arc(self) -> Arc<str> {
        self.0
    }
}

/// The JSON input contract (`schemas/event.schema.json`). Unknown fields are ignored so
/// producers can add their own.
#[derive(Deserialize)]
struct WireEvent {
    #[serde(default)]
    id: Option<WireId>,
    #[serde(default)]
    kind: Option<WireKind>,
    text: String,
    /// `response_chunk` only: the response this chunk belongs to, its place, whether final.
    #[serde(default)]
    stream_id: Option<WireId>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    last: bool,
    #[serde(default)]
    conversation_id: Option<WireId>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    context: Vec<String>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Unix milliseconds, or an RFC 3339 time.
    #[serde(default)]
    timestamp: Option<WireTime>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum WireKind {
    Prompt,
    Response,
    ResponseChunk,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WireTime {
    Millis(i64),
    Rfc3339(String),
}

impl WireTime {
    fn millis(self) -> Result<i64, DecodeError> {
        match self {
            WireTime::Millis(ms) => Ok(ms),
            WireTime::Rfc3339(text) => humantime::parse_rfc3339_weak(&text)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64)
                .ok_or_else(|| {
                    DecodeError::Json(
                        "timestamp: expected Unix milliseconds or an RFC 3339 time".into(),
                    )
                }),
        }
    }
}

/// Decodes one JSON event; `origin` supplies the id when the producer gave none.
pub fn decode_json(bytes: &[u8], origin: Origin, max_bytes: usize) -> Result<Event, DecodeError> {
    if bytes.len() > max_bytes {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::NotUtf8(e.valid_up_to()))?;
    // serde_json limits nesting to 128 levels, so deep inputs fail fast without a stack overflow.
    let wire: WireEvent =
        serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string()))?;
    let id = match wire.id {
        Some(id) => id.into_arc(),
        None => Arc::from(origin.fallback_id()),
    };
    let time_ms = wire.timestamp.map(WireTime::millis).transpose()?;
    let (kind, chunk) = match wire.kind {
        None | Some(WireKind::Prompt) => (EventKind::Prompt, None),
        Some(WireKind::Response) => (EventKind::Response, None),
        Some(WireKind::ResponseChunk) => match (wire.stream_id, wire.seq) {
            (Some(stream_id), Some(seq)) => (
                EventKind::Response,
                Some(Chunk {
                    stream_id: stream_id.into_arc(),
                    seq,
                    last: wire.last,
                }),
            ),
            _ => {
                return Err(DecodeError::Json(
                    "response_chunk: stream_id and seq are required".into(),
                ))
            }
        },
    };
    Ok(Event {
        id,
        kind,
        conversation_id: wire.conversation_id.map(WireId::into_arc),
        text: Arc::from(wire.text),
        prompt: wire.prompt.map(Arc::from),
        context: wire.context.into_iter().map(Arc::from).collect(),
        metadata: Arc::new(wire.metadata.unwrap_or_default()),
        origin,
        received_at: Instant::now(),
        time_ms,
        chunk,
        composed: false,
        triggered: Vec::new(),
        quiet: Vec::new(),
        window: None,
        findings: Vec::new(),
        scores: Vec::new(),
        prepared: Default::default(),
    })
}

/// Most bytes of the original input copied into a dead-letter record.
pub const DEAD_LETTER_RAW_LIMIT: usize = 64 * 1024;

/// An input that could not be processed, with the reason (`schemas/dead_letter.schema.json`).
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub schema_version: &'static str,
    pub reason: String,
    pub error_kind: &'static str,
    pub origin: Origin,
    pub size_bytes: usize,
    /// The input (lossy UTF-8), cut at [`DEAD_LETTER_RAW_LIMIT`] bytes.
    pub raw: String,
    pub raw_truncated: bool,
}

impl DeadLetter {
    pub fn new(error: &DecodeError, origin: Origin, raw: &[u8], size_bytes: usize) -> Self {
        let cut = raw.len().min(DEAD_LETTER_RAW_LIMIT);
        DeadLetter {
            schema_version: SCHEMA_VERSION,
            reason: error.to_string(),
            error_kind: error.kind(),
            origin,
            size_bytes,
            raw: String::from_utf8_lossy(&raw[..cut]).into_owned(),
            raw_truncated: size_bytes > cut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin::Line {
            source: Arc::from("test"),
            line: 7,
        }
    }

    #[test]
    fn decode_cases() {
        type Expected = Result<(&'static str, EventKind), &'static str>;
        let cases: &[(&str, Expected)] = &[
            (
                r#"{"id":"a","kind":"prompt","text":"hi"}"#,
                Ok(("a", EventKind::Prompt)),
            ),
            (
                r#"{"id":42,"kind":"response","text":"hi"}"#,
                Ok(("42", EventKind::Response)),
            ),
            (
                r#"{"text":"no id or kind"}"#,
                Ok(("test:7", EventKind::Prompt)),
            ),
            (
                r#"{"text":"extra","spans":[],"template_id":3}"#,
                Ok(("test:7", EventKind::Prompt)),
            ),
            (
                r#"{"id":"a","kind":"tweet","text":"x"}"#,
                Err("invalid_json"),
            ),
            (r#"{"id":"a"}"#, Err("invalid_json")),
            (r#"{"id":"a","text":5}"#, Err("invalid_json")),
            (r#"{"id":1.5,"text":"x"}"#, Err("invalid_json")),
            (r#"{"id":-3,"text":"x"}"#, Ok(("-3", EventKind::Prompt))),
            ("not json", Err("invalid_json")),
            (r#"{"text":"x","metadata":[1]}"#, Err("invalid_json")),
        ];
        for (input, expected) in cases {
            let got = decode_json(input.as_bytes(), origin(), 1 << 20);
            match (expected, got) {
                (Ok((id, kind)), Ok(event)) => {
                    assert_eq!(&*event.id, *id, "{input}");
                    assert_eq!(event.kind, *kind, "{input}");
                }
                (Err(kind), Err(err)) => assert_eq!(err.kind(), *kind, "{input}"),
                (expected, got) => panic!("{input}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn oversized_and_non_utf8_inputs_are_rejected() {
        let big = format!(r#"{{"text":"{}"}}"#, "a".repeat(200));
        assert_eq!(
            decode_json(big.as_bytes(), origin(), 100)
                .unwrap_err()
                .kind(),
            "too_large"
        );
        assert_eq!(
            decode_json(b"{\"text\":\"\xff\"}", origin(), 100).unwrap_err(),
            DecodeError::NotUtf8(9)
        );
    }

    #[test]
    fn deeply_nested_json_fails_without_overflowing_the_stack() {
        let depth = 100_000;
        let nested = format!(
            r#"{{"text":"x","metadata":{{"a":{}{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let err = decode_json(nested.as_bytes(), origin(), usize::MAX).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
}

//! The event model: what flows through a topology.
//!
//! An [`Event`] is one prompt or response together with the [`Finding`]s that operators append
//! to it. Text fields are `Arc<str>` so cloning an event (fan-out to several sinks) is cheap.
//! Spans are UTF-8 byte offsets into [`Event::text`].

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::verdict::Action;

/// Whether the text is a user prompt or a model response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Prompt,
    Response,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Prompt => "prompt",
            EventKind::Response => "response",
        }
    }
}

/// Where an event came from: enough to find the input record again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Origin {
    /// A line of a JSONL file or of standard input (1-based line number).
    Line { source: Arc<str>, line: u64 },
    /// A Kafka record.
    Kafka {
        topic: Arc<str>,
        partition: i32,
        offset: i64,
    },
}

impl Origin {
    /// The id an event gets when its producer supplied none.
    pub fn fallback_id(&self) -> String {
        match self {
            Origin::Line { source, line } => format!("{source}:{line}"),
            Origin::Kafka {
                topic,
                partition,
                offset,
            } => format!("{topic}/{partition}/{offset}"),
        }
    }
}

/// One prompt or response under inspection.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Arc<str>,
    pub kind: EventKind,
    pub conversation_id: Option<Arc<str>>,
    pub text: Arc<str>,
    /// For responses: the prompt being answered.
    pub prompt: Option<Arc<str>>,
    /// Source passages a response should be grounded in.
    pub context: Arc<[Arc<str>]>,
    /// Application metadata, passed through untouched.
    pub metadata: Arc<serde_json::Map<String, serde_json::Value>>,
    pub origin: Origin,
    /// When the event entered the pipeline (for latency).
    pub received_at: Instant,
    pub findings: Vec<Finding>,
    /// Model outputs already computed for `text`, so operators sharing a model share one pass.
    pub model_outputs: crate::inference::outputs::ComputedOutputs,
    /// What operators computed for this event in their batch-level `prepare`.
    pub prepared: Prepared,
}

impl Event {
    /// A prompt event with no metadata: convenient in tests and benchmarks.
    pub fn prompt(id: &str, text: &str) -> Self {
        Event {
            id: id.into(),
            kind: EventKind::Prompt,
            conversation_id: None,
            text: text.into(),
            prompt: None,
            context: Arc::from(Vec::new()),
            metadata: Arc::default(),
            origin: Origin::Line {
                source: "inline".into(),
                line: 0,
            },
            received_at: Instant::now(),
            findings: Vec::new(),
            model_outputs: Default::default(),
            prepared: Prepared::default(),
        }
    }
}

/// Per-operator results computed for an event in a batch pass (e.g. embeddings of its claims
/// run in one batch with every other event's), keyed by the operator instance.
#[derive(Clone, Default)]
pub struct Prepared(Vec<(usize, Arc<dyn std::any::Any + Send + Sync>)>);

impl Prepared {
    /// The value `owner` stored, if it has the type asked for.
    pub fn get<T: Send + Sync + 'static, O: ?Sized>(&self, owner: &O) -> Option<Arc<T>> {
        let key = owner as *const O as *const () as usize;
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.clone().downcast::<T>().ok())
    }

    pub fn insert<T: Send + Sync + 'static, O: ?Sized>(&mut self, owner: &O, value: T) {
        let key = owner as *const O as *const () as usize;
        self.0.retain(|(k, _)| *k != key);
        self.0.push((key, Arc::new(value)));
    }
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Prepared({} values)", self.0.len())
    }
}

/// A half-open byte range `[start, end)` into an event's text, on UTF-8 boundaries.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        debug_assert!(start <= end);
        Span { start, end }
    }
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// The family of risk a finding belongs to. Bounded: used as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Pii,
    Secret,
    Keyword,
    Injection,
    Toxicity,
    Hallucination,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Pii,
        Category::Secret,
        Category::Keyword,
        Category::Injection,
        Category::Toxicity,
        Category::Hallucination,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Pii => "pii",
            Category::Secret => "secret",
            Category::Keyword => "keyword",
            Category::Injection => "injection",
            Category::Toxicity => "toxicity",
            Category::Hallucination => "hallucination",
        }
    }
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a detected span is rewritten in the enriched record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redaction {
    /// Each character replaced by `ch`, the last `keep_last` characters kept.
    Mask { ch: char, keep_last: usize },
    /// A typed placeholder such as `<EMAIL_1>`, numbered per conversation.
    Placeholder,
    /// `<EMAIL:3f2a...>`: HMAC-SHA256 of the value under a secret key, hex, truncated.
    Hash { key: Arc<[u8]> },
    /// The span is removed.
    Drop,
}

/// What produced a finding: recorded for audit and reproducibility.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// Detector name, e.g. `regex`, `luhn`, a model name.
    pub detector: &'static str,
    /// Detector or model version.
    pub version: &'static str,
    /// The score threshold the finding passed.
    pub threshold: f32,
}

impl Provenance {
    /// Provenance of a detector shipped in this crate (versioned with the crate).
    pub fn builtin(detector: &'static str, threshold: f32) -> Self {
        Provenance {
            detector,
            version: env!("CARGO_PKG_VERSION"),
            threshold,
        }
    }
}

/// One thing an operator found in an event.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Id of the operator (the TOML table name) that produced it.
    pub operator: Arc<str>,
    pub category: Category,
    /// Entity type or class, e.g. `EMAIL_ADDRESS`, `AWS_ACCESS_KEY`, `ignore_instructions`.
    pub label: Arc<str>,
    /// Confidence in `0..=1`.
    pub score: f32,
    pub spans: Vec<Span>,
    /// The action this finding asks for; the policy may override it.
    pub action: Action,
    /// How to rewrite the spans when the final action redacts; `None` leaves them.
    pub redaction: Option<Redaction>,
    /// Human-readable reason, never containing the detected value.
    pub reason: Option<Arc<str>>,
    pub provenance: Provenance,
}

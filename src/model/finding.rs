//! What operators find: [`Finding`]s with their [`Span`]s, [`Category`], [`Redaction`] and
//! [`Provenance`]. Spans are UTF-8 byte offsets into the event's text.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::action::Action;

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
    /// Per-tenant limits (`[limits]`): a rate limit or the block-rate breaker.
    Abuse,
    /// A response that complies with a harmful request (`harm_classify`).
    Harm,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Pii,
        Category::Secret,
        Category::Keyword,
        Category::Injection,
        Category::Toxicity,
        Category::Hallucination,
        Category::Abuse,
        Category::Harm,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Pii => "pii",
            Category::Secret => "secret",
            Category::Keyword => "keyword",
            Category::Injection => "injection",
            Category::Toxicity => "toxicity",
            Category::Hallucination => "hallucination",
            Category::Abuse => "abuse",
            Category::Harm => "harm",
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

/// A field of an event that an operator can read besides its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventField {
    /// The text (a prompt or a response).
    Text,
    /// A response's prompt.
    Prompt,
    /// The context passages (retrieved documents, tool results), each on its own.
    Context,
}

impl EventField {
    pub fn as_str(self) -> &'static str {
        match self {
            EventField::Text => "text",
            EventField::Prompt => "prompt",
            EventField::Context => "context",
        }
    }
}

/// Where a finding was made when not in the event's text: the field and, for `context`, the
/// passage's index. Such a finding has no spans (spans index the text), so nothing of the
/// passage is redacted; its reason says what matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub field: EventField,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
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
    /// Set when found outside the text (a context passage, the prompt); `None` for the text.
    pub location: Option<Location>,
}

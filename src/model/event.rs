//! The event: one prompt or response flowing through a topology, with the [`Finding`]s
//! operators append to it. Text fields are `Arc<str>` so cloning an event (fan-out to
//! several sinks) is cheap.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::finding::Finding;
use super::score::Score;

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

/// A piece of a streamed response (input kind `response_chunk`): the stream it belongs to,
/// its place in it, and whether it is the final one. The chunk's `text` is the delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub stream_id: Arc<str>,
    /// 0, 1, 2, ... within the stream.
    pub seq: u64,
    pub last: bool,
}

/// Which scan of an open stream a window is (see `topology::stream`): the pattern operators
/// read every scan window, the model operators whole sentences (or, for comparison, every
/// scan window too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamWindow {
    /// A scan window for the pattern operators.
    Patterns,
    /// A sentence window for the model operators.
    Sentences,
    /// A scan window for every operator (`model_windows = "every_scan"`).
    All,
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
    /// Event time in Unix milliseconds: the producer's `timestamp`, else the Kafka record's
    /// timestamp; `None` for file events without one (monitors then use the clock).
    pub time_ms: Option<i64>,
    /// Set on the chunks of a streamed response (kind `response`); the stream stage
    /// assembles them before inspection.
    pub chunk: Option<Chunk>,
    /// A streamed response whose incremental operators' findings are already on it
    /// (composed from the pieces scanned as it was released): they do not scan it again.
    pub composed: bool,
    /// On a stream window: the operators that saw a trigger in it (a word they start from,
    /// see `Inspector::trigger_chars`) or failed on it. On a composed response: those that
    /// did so in any of its windows; only they scan the whole text again for the verdict.
    pub triggered: Vec<Arc<str>>,
    /// On a stream window: operators that can find nothing in it (no trigger of theirs in
    /// it, see `Inspector::trigger_chars`); they leave it alone.
    pub quiet: Vec<Arc<str>>,
    /// Set on the windows of an open stream: which operators read it.
    pub window: Option<StreamWindow>,
    pub findings: Vec<Finding>,
    /// Model scores recorded by operators with `record_scores` (below threshold too).
    pub scores: Vec<Score>,
    /// What operators computed for this event in their batch-level `prepare`.
    pub prepared: Prepared,
}

impl Event {
    /// The same event over another text, with these findings and nothing prepared (a piece
    /// of a streamed response).
    pub fn with_text(&self, text: Arc<str>, findings: Vec<Finding>) -> Event {
        Event {
            id: self.id.clone(),
            kind: self.kind,
            conversation_id: self.conversation_id.clone(),
            text,
            prompt: self.prompt.clone(),
            context: self.context.clone(),
            metadata: self.metadata.clone(),
            origin: self.origin.clone(),
            received_at: self.received_at,
            time_ms: self.time_ms,
            chunk: self.chunk.clone(),
            composed: self.composed,
            triggered: Vec::new(),
            quiet: Vec::new(),
            window: self.window,
            findings,
            scores: Vec::new(),
            prepared: Prepared::default(),
        }
    }

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
            time_ms: None,
            chunk: None,
            composed: false,
            triggered: Vec::new(),
            quiet: Vec::new(),
            window: None,
            findings: Vec::new(),
            scores: Vec::new(),
            prepared: Prepared::default(),
        }
    }
}

/// Per-operator results computed for an event in a batch pass, keyed by the instance that
/// computed them: an operator (e.g. embeddings of its claims, run in one batch with every
/// other event's) or a shared model (its outputs for `text`, so operators sharing a model
/// share one pass).
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

//! Operators: the checks an event flows through.
//!
//! Each operator is one module with a `<Thing>Config` (serde, validation, build) that
//! implements [`registry::OperatorConfig`], and the runtime type it builds; [`registry`]
//! holds the one list of types. Adding an operator is one module and one registration line.
//!
//! CPU-bound detectors implement [`Inspector`]: they look at one event and append findings.
//! The runtime fuses consecutive inspectors and runs them data-parallel over a batch (one pass
//! per event over all of them, which keeps the event's text hot in cache). The `decide`
//! operator is not an inspector: it builds the [`decide::Policy`] that turns findings into
//! the verdict's action.

pub mod anchor_gate;
pub mod cascade;
pub mod decide;
pub mod document_injection;
pub mod fields;
pub mod hallucination;
pub mod harm_classify;
pub mod harm_prompts;
pub mod injection_classify;
pub mod injection_heuristics;
pub mod keyword_block;
pub mod mode;
pub mod ner;
pub mod onnx_classify;
pub mod patterns;
pub mod pii;
pub mod redaction;
pub mod registry;
pub mod secret_detect;

use serde::Deserialize;

use crate::diagnostics::{join, Errors};
use crate::model::{Event, StreamWindow};

pub use mode::Mode;
pub use registry::{BuildContext, BuildError, BuiltOperator, OperatorConfig, OperatorSpec};

/// A detector that inspects one event at a time.
pub trait Inspector: Send + Sync {
    /// The operator id (its TOML table name).
    fn id(&self) -> &str;
    /// Batch-level work before the per-event pass: model operators queue every event's text
    /// for inference here, so the batcher sees the whole batch at once. Results (and
    /// failures) are stored on the events for `inspect`.
    fn prepare(&self, _events: &mut [Event]) {}
    /// Appends whatever it finds to `event.findings`, or says why it could not look (a
    /// model call failed, a deadline passed). The runtime applies the operator's `on_error`
    /// policy to a failure, and to a panic.
    fn inspect(&self, event: &mut Event) -> Result<(), OperatorFailure>;
    /// Digests (`sha256:...`) of the models it runs, for the audit log.
    fn model_digests(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// The longest value (in characters) it can match that may contain whitespace, when it
    /// knows one (keyword phrases): a stream holds back at least this much.
    fn longest_match_chars(&self) -> Option<usize> {
        None
    }
    /// Whether its findings on a text are the union of its findings on pieces of it (scanned
    /// with enough context): pattern operators. A streamed response's verdict then reuses
    /// the findings from the pieces already scanned instead of scanning the whole text again;
    /// other operators scan the whole response once more.
    fn incremental(&self) -> bool {
        false
    }
    /// `Some(n)` when it can report nothing on a text without a trigger in it of at most
    /// `n` characters (a literal its scan starts from, a hidden character, the first
    /// characters of an encoded run), [`Inspector::has_trigger`] says whether a text holds
    /// one, and it names itself in a stream window's `Event::triggered` whenever the window
    /// holds one. A stream then leaves it out of a window whose earlier part held no trigger
    /// (the previous window said so) and whose new part holds none; and when it is not
    /// incremental, a response none of whose windows named it skips it at the verdict
    /// (sound only while consecutive windows overlap by at least `n` characters, which the
    /// stream stage checks).
    fn trigger_chars(&self) -> Option<usize> {
        None
    }
    /// Whether `text` holds one of its triggers (asked only when `trigger_chars` is `Some`).
    fn has_trigger(&self, _text: &str) -> bool {
        true
    }
    /// Which windows of an open stream it reads (its verdict reads the whole response).
    fn stream_role(&self) -> StreamRole {
        StreamRole::Patterns
    }
}

/// What an inspector reads of an open stream: every scan window (new text with a carried
/// context and the held tail), whole sentences, both, or nothing before the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRole {
    /// Every scan window: pattern operators, cheap and exact at a cut.
    Patterns,
    /// Each sentence once (`[stream] model_windows`): model operators, whose cost is per
    /// token read and which judge a sentence better than a fragment.
    Sentences,
    /// Patterns on every scan window and its model on sentences (`pii_detect` with NER):
    /// on a `Patterns` window it leaves its model out; its `prepare` is the model's part.
    Both,
    /// Only the whole response, in its verdict (groundedness judges the whole answer): it
    /// never holds back a release.
    WholeResponse,
}

impl StreamRole {
    /// Whether it inspects an event of this window kind (`None`: not a stream window).
    pub fn reads(self, window: Option<StreamWindow>) -> bool {
        match (window, self) {
            (None, _) => true,
            (Some(_), StreamRole::WholeResponse) => false,
            (Some(StreamWindow::All), _) => true,
            (Some(StreamWindow::Patterns), role) => role != StreamRole::Sentences,
            (Some(StreamWindow::Sentences), role) => role != StreamRole::Patterns,
        }
    }

    /// Whether its batch-level `prepare` runs for windows of this kind.
    pub fn prepares(self, window: Option<StreamWindow>) -> bool {
        match window {
            Some(StreamWindow::Patterns) => self == StreamRole::Patterns,
            _ => self.reads(window),
        }
    }

    /// Reads sentence windows (a model operator).
    pub fn reads_sentences(self) -> bool {
        matches!(self, StreamRole::Sentences | StreamRole::Both)
    }
}

/// Why an operator could not inspect an event (never holds event text).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct OperatorFailure(pub String);

/// What happens to an event when an operator fails on it (`on_error` on any operator).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The event goes on, flagged with an `operator_error` finding.
    FailOpen,
    /// The event is blocked with an `operator_error` finding (default: a guardrail that
    /// cannot check an event does not let it through).
    #[default]
    FailClosed,
    /// The event goes to the dead-letter outputs with the reason instead of a verdict.
    DeadLetter,
}

impl OnError {
    pub const NAMES: &'static [&'static str] = &["fail_open", "fail_closed", "dead_letter"];

    /// Removes `on_error` from an operator's table and parses it.
    pub fn take(body: &mut toml::Value, path: &str, errors: &mut Errors) -> OnError {
        let Some(value) = body.as_table_mut().and_then(|t| t.remove("on_error")) else {
            return OnError::default();
        };
        match OnError::deserialize(value.clone()) {
            Ok(on_error) => on_error,
            Err(_) => {
                errors.push(
                    join(path, "on_error"),
                    format!("must be one of {:?}, got {value}", Self::NAMES),
                );
                OnError::default()
            }
        }
    }
}

/// Items grouped by `key`, groups in order of their first item (one finding per label, in
/// text order, for the span operators).
pub fn group_in_order<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<(K, Vec<&T>)> {
    let mut groups: Vec<(K, Vec<&T>)> = Vec::new();
    for item in items {
        let k = key(item);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, members)) => members.push(item),
            None => groups.push((k, vec![item])),
        }
    }
    groups
}

/// Records an error unless `value` is a score within `0..=1`.
pub fn check_unit_interval(path: &str, field: &str, value: f32, errors: &mut Errors) {
    if !(0.0..=1.0).contains(&value) || value.is_nan() {
        errors.push(
            join(path, field),
            format!("must be within 0..=1, got {value}"),
        );
    }
}

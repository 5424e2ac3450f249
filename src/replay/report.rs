//! The replay report: what `report.json` holds and `report.html` shows. Event ids, actions,
//! operators, labels, counts and scores only; text appears only with `--show-text`, and then
//! only the candidate's redacted text.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::cause::Change;
use super::recorded::RecordedTopology;
use crate::model::{Action, Category};

/// Event ids listed per cause; the count is always complete.
pub const MAX_IDS_PER_CAUSE: usize = 200;
/// Changed events listed one by one.
pub const MAX_CHANGED_EVENTS: usize = 10_000;
/// Bins of the score histograms over [0, 1].
pub const SCORE_BINS: usize = 20;

/// One side of the comparison: where its verdicts came from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Side {
    /// A file path, a topic range, or the topology run.
    pub source: String,
    pub topology: Option<RecordedTopology>,
    pub verdicts: usize,
    /// Records of an event id already seen (the last one counts).
    pub duplicates: usize,
    /// Lines that were not verdict records.
    pub unreadable: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable_lines: Vec<u64>,
    /// Baseline verdicts of events outside a bounded topic range, left out of the comparison.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside_range: Option<usize>,
    /// Inputs the candidate could not decode (replays only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letters: Option<usize>,
}

/// A rate over the compared events, before and after.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub name: String,
    pub before: f64,
    pub after: f64,
    pub before_events: usize,
    pub after_events: usize,
}

/// Changed events that share one cause.
#[derive(Debug, Clone, Serialize)]
pub struct CauseGroup {
    pub operator: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    pub label: Arc<str>,
    pub change: Change,
    pub events: usize,
    /// `before->after` action pairs and their counts.
    pub transitions: BTreeMap<String, usize>,
    /// The label's threshold as the findings of each side record it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_before: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_after: Option<f32>,
    /// The first [`MAX_IDS_PER_CAUSE`] event ids.
    pub event_ids: Vec<Arc<str>>,
}

/// Changed events per category of their causes.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryChanges {
    pub category: String,
    pub stricter: usize,
    pub more_lenient: usize,
}

/// Score histogram of one operator's label on both sides (findings, and recorded scores
/// below the threshold where the topology records them).
#[derive(Debug, Clone, Serialize)]
pub struct ScoreDistribution {
    pub operator: Arc<str>,
    pub label: Arc<str>,
    pub before: Vec<usize>,
    pub after: Vec<usize>,
}

/// One changed event.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedEvent {
    pub event_id: Arc<str>,
    pub before: Action,
    pub after: Action,
    /// `operator/label: change` per cause.
    pub causes: Vec<String>,
    /// The candidate's redacted text, with `--show-text` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Arc<str>>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub report_version: &'static str,
    pub generated_at: String,
    pub baseline: Side,
    pub candidate: Side,
    /// Events with a verdict on both sides.
    pub compared: usize,
    pub only_in_baseline: usize,
    pub only_in_candidate: usize,
    pub changed: usize,
    pub stricter: usize,
    pub more_lenient: usize,
    /// Row and column order of `matrix`.
    pub actions: Vec<Action>,
    /// `matrix[before][after]`: compared events by baseline and candidate action.
    pub matrix: Vec<Vec<usize>>,
    pub action_rates: Vec<Rate>,
    /// Share of compared events with at least one finding of the category.
    pub category_rates: Vec<Rate>,
    /// Share of compared events with a finding of the label (`category/label`).
    pub label_rates: Vec<Rate>,
    /// Most events first.
    pub causes: Vec<CauseGroup>,
    pub changes_by_category: Vec<CategoryChanges>,
    pub score_bins: usize,
    pub scores: Vec<ScoreDistribution>,
    pub changed_events: Vec<ChangedEvent>,
    pub changed_events_truncated: bool,
}

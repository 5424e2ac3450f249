//! `railyard eval`: scoring a detector against labelled JSONL.
//!
//! Two tasks, chosen by the rows: rows with `spans` (character offsets and labels, the
//! Presidio format of `pii_dev_3000.jsonl`, or sentences of a CoNLL-2003-style file, see
//! [`conll`]) are scored per label on exact span match, with overlap match beside it; rows with a 0/1 `label` are scored as binary classification
//! (an event is positive when the operator reports any finding). Throughput counts detector
//! time only.

pub mod conll;
pub mod metrics;
pub mod pairs;
pub mod slices;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde::Deserialize;

use crate::model::Event;
use crate::operators::Inspector;

pub use metrics::{BinaryScores, Counts};

/// Label renames applied to gold and predicted labels before matching (Presidio's generator
/// calls URLs `DOMAIN_NAME` and places `GPE`; a date of birth is a date; CoNLL types are
/// named as `ner_detect` reports them).
pub const DEFAULT_ALIASES: &[(&str, &str)] = &[
    ("DOMAIN_NAME", "URL"),
    ("DATE_OF_BIRTH", "DATE_TIME"),
    ("GPE", "LOCATION"),
    ("PER", "PERSON"),
    ("LOC", "LOCATION"),
    ("ORG", "ORGANIZATION"),
];

#[derive(Debug, Deserialize)]
struct GoldSpan {
    start: usize,
    end: usize,
    label: String,
}

#[derive(Debug, Deserialize)]
struct Row {
    text: String,
    #[serde(default)]
    spans: Option<Vec<GoldSpan>>,
    #[serde(default)]
    label: Option<serde_json::Value>,
    #[serde(default)]
    category: Option<String>,
    /// `response` makes the row a response (default `prompt`); `prompt` is the prompt it
    /// answers (a row with a `prompt` is a response).
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    /// The row as read (slices read its metadata).
    #[serde(skip)]
    raw: serde_json::Value,
}

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Row {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Mixed(String),
    /// The operator could not inspect a row (a model call failed): scoring it as "nothing
    /// found" would report a broken model as a precise one.
    #[error("operator `{operator}` failed on row {row}: {reason}")]
    Operator {
        operator: String,
        row: usize,
        reason: String,
    },
}

/// Result of a span task.
#[derive(Debug, Clone, Default)]
pub struct SpanReport {
    pub rows: usize,
    /// Exact-match counts per label.
    pub exact: BTreeMap<String, Counts>,
    /// Overlap-match counts per label.
    pub overlap: BTreeMap<String, Counts>,
    pub seconds: f64,
    pub bytes: usize,
    /// Mismatches (row, label, gold or predicted, text of the span), for `--show-errors`.
    pub mismatches: Vec<Mismatch>,
}

/// A span the detector missed or invented (from labelled evaluation data only).
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub row: usize,
    pub label: String,
    pub missed: bool,
    pub value: String,
    pub context: String,
}

impl SpanReport {
    /// Micro-averaged exact counts over `labels`.
    pub fn micro(&self, labels: &[String]) -> Counts {
        labels
            .iter()
            .filter_map(|l| self.exact.get(l))
            .fold(Counts::default(), |acc, c| acc.merged(c))
    }
}

/// Result of a classification task.
#[derive(Debug, Clone, Default)]
pub struct ClassReport {
    pub scores: BinaryScores,
    /// Recall (detected / total) per row `category`, for positives and negatives alike.
    pub by_category: BTreeMap<String, (usize, usize)>,
    /// `(gold, predicted)` per row, in file order.
    pub outcomes: Vec<(bool, bool)>,
    pub seconds: f64,
    pub bytes: usize,
}

pub enum Report {
    Spans(SpanReport),
    Classification(ClassReport),
}

fn alias<'a>(label: &'a str, aliases: &'a [(String, String)]) -> &'a str {
    aliases
        .iter()
        .find(|(from, _)| from == label)
        .map(|(_, to)| to.as_str())
        .unwrap_or(label)
}

/// Byte offset of every char offset (one past the end included).
fn char_to_byte(text: &str) -> Vec<usize> {
    let mut map: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    map.push(text.len());
    map
}

impl Row {
    /// The event a row is: a prompt, or a response (with its prompt) when it says so.
    fn event(&self, index: usize) -> Event {
        let mut event = Event::prompt(&index.to_string(), &self.text);
        if self.kind.as_deref() == Some("response") || self.prompt.is_some() {
            event.kind = crate::model::EventKind::Response;
            event.prompt = self.prompt.as_deref().map(Arc::from);
        }
        event
    }
}

fn read_rows(path: &Path) -> Result<Vec<Row>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.display().to_string(),
        source,
    })?;
    if conll::looks_like_conll(&text) {
        let sentences = conll::parse(&text).map_err(|(line, message)| EvalError::Row {
            path: path.display().to_string(),
            line,
            message,
        })?;
        return Ok(sentences
            .into_iter()
            .map(|s| Row {
                text: s.text,
                spans: Some(
                    s.spans
                        .into_iter()
                        .map(|(start, end, label)| GoldSpan { start, end, label })
                        .collect(),
                ),
                label: None,
                category: None,
                kind: None,
                prompt: None,
                raw: serde_json::Value::Null,
            })
            .collect());
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let error = |e: serde_json::Error| EvalError::Row {
                path: path.display().to_string(),
                line: i + 1,
                message: e.to_string(),
            };
            let raw: serde_json::Value = serde_json::from_str(l).map_err(error)?;
            let mut row = Row::deserialize(&raw).map_err(error)?;
            row.raw = raw;
            Ok(row)
        })
        .collect()
}

/// Rates per slice of a classification run over the rows of `path` (the same file).
pub fn evaluate_slices(
    path: &Path,
    report: &ClassReport,
    file: &slices::SliceFile,
) -> Result<slices::SliceReport, EvalError> {
    let rows = read_rows(path)?;
    let sliced: Vec<slices::SlicedRow<'_>> = rows
        .iter()
        .zip(&report.outcomes)
        .map(|(row, &(gold, predicted))| slices::SlicedRow {
            text: &row.text,
            row: &row.raw,
            gold,
            predicted,
        })
        .collect();
    Ok(slices::slice_report(file, &sliced))
}

/// Rows inspected per step: the model batcher fills its batches within a step, and progress
/// is reported after each.
const EVAL_STEP: usize = 1024;

/// Scores `inspector` on the rows of `path`.
pub fn evaluate(
    inspector: &dyn Inspector,
    path: &Path,
    aliases: &[(String, String)],
) -> Result<Report, EvalError> {
    evaluate_with_progress(inspector, path, aliases, &mut |_, _| {})
}

/// [`evaluate`], calling `progress(rows done, rows)` after each step of rows.
pub fn evaluate_with_progress(
    inspector: &dyn Inspector,
    path: &Path,
    aliases: &[(String, String)],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, EvalError> {
    let rows = read_rows(path)?;
    let with_spans = rows.iter().filter(|r| r.spans.is_some()).count();
    let with_labels = rows.iter().filter(|r| r.label.is_some()).count();
    let bytes = rows.iter().map(|r| r.text.len()).sum();
    let started = Instant::now();
    let mut inspected: Vec<Event> = Vec::with_capacity(rows.len());
    for (step, chunk) in rows.chunks(EVAL_STEP).enumerate() {
        let first = step * EVAL_STEP;
        let mut events: Vec<Event> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| r.event(first + i))
            .collect();
        inspector.prepare(&mut events);
        let done: Vec<Event> = events
            .into_par_iter()
            .enumerate()
            .map(|(row, mut e)| match inspector.inspect(&mut e) {
                Ok(()) => Ok(e),
                Err(failure) => Err(EvalError::Operator {
                    operator: inspector.id().to_string(),
                    row: first + row + 1,
                    reason: failure.0,
                }),
            })
            .collect::<Result<_, _>>()?;
        inspected.extend(done);
        progress(inspected.len(), rows.len());
    }
    let seconds = started.elapsed().as_secs_f64();
    if with_spans == rows.len() {
        Ok(Report::Spans(score_spans(
            &rows, &inspected, aliases, seconds, bytes,
        )))
    } else if with_labels == rows.len() {
        Ok(Report::Classification(score_labels(
            &rows, &inspected, seconds, bytes,
        )?))
    } else {
        Err(EvalError::Mixed(format!(
            "every row needs `spans` (span task) or every row a `label` (classification); {} rows, {with_spans} with spans, {with_labels} with labels",
            rows.len()
        )))
    }
}

fn score_spans(
    rows: &[Row],
    inspected: &[Event],
    aliases: &[(String, String)],
    seconds: f64,
    bytes: usize,
) -> SpanReport {
    let mut report = SpanReport {
        rows: rows.len(),
        seconds,
        bytes,
        ..SpanReport::default()
    };
    for (index, (row, event)) in rows.iter().zip(inspected).enumerate() {
        let offsets = char_to_byte(&row.text);
        let mismatch = |label: &str, start: usize, end: usize, missed: bool| {
            let lo = row.text.floor_char_boundary(start.saturating_sub(30));
            let hi = row.text.ceil_char_boundary((end + 20).min(row.text.len()));
            Mismatch {
                row: index,
                label: label.to_string(),
                missed,
                value: row.text[start..end].to_string(),
                context: row.text[lo..hi].replace('\n', "\\n"),
            }
        };
        let gold: BTreeSet<(String, usize, usize)> = row
            .spans
            .iter()
            .flatten()
            .filter(|s| s.start <= s.end && s.end < offsets.len())
            .map(|s| {
                (
                    alias(&s.label, aliases).to_string(),
                    offsets[s.start],
                    offsets[s.end],
                )
            })
            .collect();
        let predicted: BTreeSet<(String, usize, usize)> = event
            .findings
            .iter()
            .flat_map(|f| {
                f.spans
                    .iter()
                    .map(move |s| (alias(&f.label, aliases).to_string(), s.start, s.end))
            })
            .collect();
        for (label, start, end) in &predicted {
            let exact = report.exact.entry(label.clone()).or_default();
            if gold.contains(&(label.clone(), *start, *end)) {
                exact.tp += 1;
            } else {
                exact.fp += 1;
                report.mismatches.push(mismatch(label, *start, *end, false));
            }
            let overlaps = gold
                .iter()
                .any(|(l, s, e)| l == label && s < end && start < e);
            let overlap = report.overlap.entry(label.clone()).or_default();
            if overlaps {
                overlap.tp += 1
            } else {
                overlap.fp += 1
            }
        }
        for (label, start, end) in &gold {
            if !predicted.contains(&(label.clone(), *start, *end)) {
                report.exact.entry(label.clone()).or_default().fn_ += 1;
                report.mismatches.push(mismatch(label, *start, *end, true));
            }
            let overlaps = predicted
                .iter()
                .any(|(l, s, e)| l == label && s < end && start < e);
            if !overlaps {
                report.overlap.entry(label.clone()).or_default().fn_ += 1;
            }
        }
    }
    report
}

fn truthy(value: &serde_json::Value) -> Option<bool> {
    match value {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::Number(n) => n.as_f64().map(|v| v >= 0.5),
        serde_json::Value::String(s) => match s.as_str() {
            "1" | "true" | "positive" => Some(true),
            "0" | "false" | "negative" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn score_labels(
    rows: &[Row],
    inspected: &[Event],
    seconds: f64,
    bytes: usize,
) -> Result<ClassReport, EvalError> {
    let mut report = ClassReport {
        seconds,
        bytes,
        ..ClassReport::default()
    };
    for (i, (row, event)) in rows.iter().zip(inspected).enumerate() {
        let gold = row
            .label
            .as_ref()
            .and_then(truthy)
            .ok_or_else(|| EvalError::Row {
                path: "data".into(),
                line: i + 1,
                message: "`label` must be 0/1, true/false".into(),
            })?;
        let predicted = !event.findings.is_empty();
        report.scores.record(gold, predicted);
        report.outcomes.push((gold, predicted));
        if let Some(category) = &row.category {
            let entry = report
                .by_category
                .entry(format!("{}:{category}", u8::from(gold)))
                .or_default();
            entry.0 += usize::from(predicted);
            entry.1 += 1;
        }
    }
    Ok(report)
}

//! Verdicts as recorded (a verdict file, topic or shadow stream): the fields replay and
//! feedback compare, read leniently so an older or partial record still counts.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::model::{Action, Category};

/// An `(operator, label)` pair, the unit findings, scores and causes are counted by.
pub type OperatorLabel = (Arc<str>, Arc<str>);

/// One recorded finding: no spans or values are needed to compare decisions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordedFinding {
    pub operator: Arc<str>,
    pub category: Category,
    pub label: Arc<str>,
    #[serde(default)]
    pub score: f32,
    pub action: Action,
    #[serde(default)]
    pub provenance: Option<RecordedProvenance>,
}

/// The detector and threshold behind a finding.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordedProvenance {
    #[serde(default)]
    pub threshold: Option<f32>,
}

impl RecordedFinding {
    pub fn threshold(&self) -> Option<f32> {
        self.provenance.as_ref().and_then(|p| p.threshold)
    }
}

/// A model operator's score for a label, recorded also below its threshold (operators with
/// `record_scores = true`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordedScore {
    pub operator: Arc<str>,
    pub label: Arc<str>,
    pub score: f32,
    #[serde(default)]
    pub threshold: f32,
}

/// The topology a verdict came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
pub struct RecordedTopology {
    pub name: String,
    pub hash: String,
}

/// One verdict record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordedVerdict {
    pub event_id: Arc<str>,
    pub action: Action,
    #[serde(default)]
    pub findings: Vec<RecordedFinding>,
    #[serde(default)]
    pub scores: Vec<RecordedScore>,
    #[serde(default)]
    pub topology: Option<RecordedTopology>,
}

impl RecordedVerdict {
    /// The score of `(operator, label)`: its finding's, else its recorded score.
    pub fn score(&self, operator: &str, label: &str) -> Option<f32> {
        self.findings
            .iter()
            .filter(|f| &*f.operator == operator && &*f.label == label)
            .map(|f| f.score)
            .reduce(f32::max)
            .or_else(|| {
                self.scores
                    .iter()
                    .find(|s| &*s.operator == operator && &*s.label == label)
                    .map(|s| s.score)
            })
    }

    /// Whether a finding of `category` (and `label`, when given) is present.
    pub fn has(&self, category: Category, label: Option<&str>) -> bool {
        self.findings
            .iter()
            .any(|f| f.category == category && label.is_none_or(|l| &*f.label == l))
    }
}

/// Verdicts by event id, in first-seen order; a repeated event id (an at-least-once
/// redelivery) keeps its last record.
#[derive(Debug, Default)]
pub struct VerdictSet {
    pub verdicts: Vec<RecordedVerdict>,
    index: HashMap<Arc<str>, usize>,
    /// Records whose event id was already present.
    pub duplicates: usize,
    /// Lines that are not verdict records, with their line numbers (first 20).
    pub unreadable: usize,
    pub unreadable_lines: Vec<u64>,
}

impl VerdictSet {
    pub fn push(&mut self, verdict: RecordedVerdict) {
        match self.index.get(&verdict.event_id) {
            Some(&i) => {
                self.duplicates += 1;
                self.verdicts[i] = verdict;
            }
            None => {
                self.index
                    .insert(verdict.event_id.clone(), self.verdicts.len());
                self.verdicts.push(verdict);
            }
        }
    }

    /// Parses one record; a line that is not a verdict is counted, never fatal.
    pub fn push_json(&mut self, bytes: &[u8], line: u64) {
        match serde_json::from_slice::<RecordedVerdict>(bytes) {
            Ok(v) => self.push(v),
            Err(_) => {
                self.unreadable += 1;
                if self.unreadable_lines.len() < 20 {
                    self.unreadable_lines.push(line);
                }
            }
        }
    }

    /// Keeps only the verdicts `keep` accepts; returns how many were dropped.
    pub fn retain(&mut self, mut keep: impl FnMut(&RecordedVerdict) -> bool) -> usize {
        let before = self.verdicts.len();
        self.verdicts.retain(|v| keep(v));
        self.index = self
            .verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| (v.event_id.clone(), i))
            .collect();
        before - self.verdicts.len()
    }

    pub fn get(&self, event_id: &str) -> Option<&RecordedVerdict> {
        self.index.get(event_id).map(|&i| &self.verdicts[i])
    }

    pub fn len(&self) -> usize {
        self.verdicts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.verdicts.is_empty()
    }

    /// The topology most records name (a set may mix several after a deploy).
    pub fn topology(&self) -> Option<RecordedTopology> {
        let mut counts: HashMap<&RecordedTopology, usize> = HashMap::new();
        for t in self.verdicts.iter().filter_map(|v| v.topology.as_ref()) {
            *counts.entry(t).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|(t, n)| (*n, std::cmp::Reverse(t.hash.clone())))
            .map(|(t, _)| t.clone())
    }
}

/// Reads a JSONL file of verdict records (blank lines skipped).
pub fn read_verdicts(path: &Path) -> std::io::Result<VerdictSet> {
    let file = std::fs::File::open(path)?;
    let mut set = VerdictSet::default();
    for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        set.push_json(&line, i as u64 + 1);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redelivered_verdict_replaces_the_first_and_bad_lines_are_counted() {
        let mut set = VerdictSet::default();
        set.push_json(br#"{"event_id":"a","action":"allow","findings":[]}"#, 1);
        set.push_json(b"not json", 2);
        set.push_json(
            br#"{"event_id":"a","action":"block","findings":[{"operator":"p","category":"pii","label":"EMAIL_ADDRESS","score":0.9,"action":"block"}]}"#,
            3,
        );
        assert_eq!(set.len(), 1);
        assert_eq!(set.duplicates, 1);
        assert_eq!(set.unreadable_lines, vec![2]);
        let a = set.get("a").unwrap();
        assert_eq!(a.action, Action::Block);
        assert_eq!(a.score("p", "EMAIL_ADDRESS"), Some(0.9));
        assert!(a.has(Category::Pii, None));
    }
}

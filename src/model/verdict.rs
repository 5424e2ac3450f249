//! The decision contract: [`Verdict`] and the enriched record.
//!
//! These types are what downstream consumers read; their JSON form is frozen by
//! `schemas/verdict.schema.json` and `schemas/enriched.schema.json` (tests validate every
//! verdict they produce against those files). Change them only with a schema version bump.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::action::Action;
use super::event::{Event, EventKind, Origin};
use super::finding::{Category, Finding, Provenance, Span};
use super::score::Score;

/// Version of the verdict and enriched-record contracts.
pub const SCHEMA_VERSION: &str = "1.1";

/// Which topology produced a verdict: its name and the SHA-256 of its TOML text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopologyRef {
    pub name: Arc<str>,
    pub hash: Arc<str>,
}

/// A finding as published: no redaction key, no detected value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingRecord {
    pub operator: Arc<str>,
    pub category: Category,
    pub label: Arc<str>,
    pub score: f32,
    pub spans: Vec<Span>,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Arc<str>>,
    pub provenance: Provenance,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<super::Location>,
}

impl From<&Finding> for FindingRecord {
    fn from(f: &Finding) -> Self {
        FindingRecord {
            operator: f.operator.clone(),
            category: f.category,
            label: f.label.clone(),
            score: round4(f.score),
            spans: f.spans.clone(),
            action: f.action,
            reason: f.reason.clone(),
            provenance: f.provenance.clone(),
            location: f.location,
        }
    }
}

fn round4(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
}

/// The decision for one event.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub schema_version: &'static str,
    pub event_id: Arc<str>,
    pub kind: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<Arc<str>>,
    pub action: Action,
    /// The policy's own action, before any tenant limit raised it (the block-rate breaker
    /// counts these, so its own blocks never keep it open).
    #[serde(skip)]
    pub policy_action: Action,
    pub findings: Vec<FindingRecord>,
    /// Each label's score from the model operators with `record_scores`, above its
    /// threshold or not (absent when none asks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<Score>,
    pub topology: TopologyRef,
    pub origin: Origin,
    /// Microseconds from the event entering the pipeline to its decision.
    pub latency_us: u64,
    /// Set on shadow verdicts only: the decision the live operators made, which the shadow
    /// one never changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowOf>,
}

/// What a shadow verdict shadows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowOf {
    /// The live verdict's action.
    pub live_action: Action,
    /// The operators in shadow mode whose findings this verdict adds.
    pub operators: Vec<Arc<str>>,
}

impl Verdict {
    pub fn new(event: &Event, action: Action, topology: &TopologyRef, latency_us: u64) -> Self {
        Verdict {
            schema_version: SCHEMA_VERSION,
            event_id: event.id.clone(),
            kind: event.kind,
            conversation_id: event.conversation_id.clone(),
            action,
            policy_action: action,
            findings: event.findings.iter().map(FindingRecord::from).collect(),
            scores: event
                .scores
                .iter()
                .map(|s| Score {
                    score: round4(s.score),
                    ..s.clone()
                })
                .collect(),
            topology: topology.clone(),
            origin: event.origin.clone(),
            latency_us,
            shadow: None,
        }
    }

    /// Distinct categories among the findings, sorted.
    pub fn categories(&self) -> Vec<Category> {
        let mut categories: Vec<Category> = self.findings.iter().map(|f| f.category).collect();
        categories.sort();
        categories.dedup();
        categories
    }
}

/// The verdict in brief, carried inside an enriched record.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictSummary {
    pub action: Action,
    pub categories: Vec<Category>,
    pub labels: Vec<Arc<str>>,
    pub finding_count: usize,
}

/// The event as it may travel on: redacted text plus the verdict summary.
#[derive(Debug, Clone, Serialize)]
pub struct EnrichedRecord {
    pub schema_version: &'static str,
    pub id: Arc<str>,
    pub kind: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<Arc<str>>,
    /// The text with every redacting finding rewritten (shared with the event when nothing was).
    pub text: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Arc<str>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub context: Arc<[Arc<str>]>,
    pub metadata: Arc<serde_json::Map<String, serde_json::Value>>,
    pub verdict: VerdictSummary,
}

impl EnrichedRecord {
    pub fn new(event: &Event, verdict: &Verdict, redacted_text: Arc<str>) -> Self {
        let mut labels: Vec<Arc<str>> = verdict.findings.iter().map(|f| f.label.clone()).collect();
        labels.sort();
        labels.dedup();
        EnrichedRecord {
            schema_version: SCHEMA_VERSION,
            id: event.id.clone(),
            kind: event.kind,
            conversation_id: event.conversation_id.clone(),
            text: redacted_text,
            prompt: event.prompt.clone(),
            context: event.context.clone(),
            metadata: event.metadata.clone(),
            verdict: VerdictSummary {
                action: verdict.action,
                categories: verdict.categories(),
                labels,
                finding_count: verdict.findings.len(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_ordered_by_severity() {
        assert!(Action::Allow < Action::Flag);
        assert!(Action::Flag < Action::Redact);
        assert!(Action::Redact < Action::Block);
        assert_eq!(Action::ALL.iter().max(), Some(&Action::Block));
    }

    #[test]
    fn actions_parse_their_own_names() {
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>(), Ok(action));
        }
        assert!("deny".parse::<Action>().is_err());
    }
}

//! The decision part of an audit record, built from the event once its verdict is known.
//!
//! It carries ids, the action and each finding's category, label, score, spans, action and
//! provenance. It never carries event text, finding reasons (a reason may quote the text) or
//! detected values: a value removed by redaction appears as HMAC-SHA256 under the audit key,
//! so an auditor holding a candidate value can confirm it was the one removed.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::model::Action;
use crate::model::{Category, Event, EventKind, Origin, Provenance, Span};

/// What was decided for one event.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub event_id: Arc<str>,
    pub kind: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<Arc<str>>,
    pub origin: Origin,
    pub action: Action,
    pub findings: Vec<AuditFinding>,
}

/// One finding as audited.
#[derive(Debug, Clone, Serialize)]
pub struct AuditFinding {
    pub operator: Arc<str>,
    pub category: Category,
    pub label: Arc<str>,
    /// Rounded to 4 decimals (as in verdicts).
    pub score: f64,
    pub spans: Vec<Span>,
    pub action: Action,
    pub provenance: Provenance,
    /// Spans rewritten in the enriched record, with the keyed hash of each removed value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Removed>,
    /// The passage it was found in when not in the text (`context` and its index).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<crate::model::Location>,
}

/// A value removed by redaction.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub start: usize,
    pub end: usize,
    /// Hex HMAC-SHA256 of the value under the audit key; absent when no key is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_hmac: Option<String>,
}

impl Decision {
    /// The decision for `event`; `value_key` keys the hashes of removed values.
    pub fn new(event: &Event, action: Action, value_key: Option<&[u8]>) -> Decision {
        let findings = event
            .findings
            .iter()
            .map(|f| {
                let rewritten = f.action >= Action::Redact && f.redaction.is_some();
                let removed = if rewritten {
                    f.spans
                        .iter()
                        .filter_map(|s| event.text.get(s.start..s.end).map(|v| (s, v)))
                        .map(|(s, value)| Removed {
                            start: s.start,
                            end: s.end,
                            value_hmac: value_key.map(|key| value_hmac(key, value)),
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                AuditFinding {
                    operator: f.operator.clone(),
                    category: f.category,
                    label: f.label.clone(),
                    score: (f64::from(f.score) * 10_000.0).round() / 10_000.0,
                    spans: f.spans.clone(),
                    action: f.action,
                    provenance: f.provenance.clone(),
                    removed,
                    location: f.location,
                }
            })
            .collect();
        Decision {
            event_id: event.id.clone(),
            kind: event.kind,
            conversation_id: event.conversation_id.clone(),
            origin: event.origin.clone(),
            action,
            findings,
        }
    }
}

/// A decision's top-level fields in canonical form (see [`super::canonical`]), computed on the
/// worker threads so that chaining, which is sequential, only concatenates and hashes.
#[derive(Debug, Clone)]
pub struct PreparedDecision {
    pub(super) fields: Vec<(String, Vec<u8>)>,
}

impl Decision {
    pub fn prepare(&self) -> PreparedDecision {
        let serde_json::Value::Object(map) =
            serde_json::to_value(self).expect("decisions serialize")
        else {
            unreachable!("a decision serializes to an object");
        };
        PreparedDecision {
            fields: map
                .into_iter()
                .map(|(key, value)| {
                    let bytes = super::canonical::to_vec(&value);
                    (key, bytes)
                })
                .collect(),
        }
    }
}

/// Hex HMAC-SHA256 of `value` under `key`.
pub fn value_hmac(key: &[u8], value: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, Redaction};

    #[test]
    fn removed_values_appear_only_as_keyed_hashes() {
        let mut event = Event::prompt("e1", "mail bob@example.com now");
        event.findings.push(Finding {
            operator: Arc::from("pii"),
            category: Category::Pii,
            label: Arc::from("EMAIL_ADDRESS"),
            score: 0.9,
            spans: vec![Span::new(5, 20)],
            action: Action::Redact,
            redaction: Some(Redaction::Placeholder),
            reason: Some(Arc::from("quoted bob@example.com")),
            provenance: Provenance::builtin("regex", 0.5),
            location: None,
        });
        let decision = Decision::new(&event, Action::Redact, Some(b"0123456789abcdef"));
        let json = serde_json::to_string(&decision).unwrap();
        assert!(!json.contains("bob@example.com"), "{json}");
        assert!(!json.contains("quoted"), "reasons are not audited: {json}");
        assert!(json.contains(&value_hmac(b"0123456789abcdef", "bob@example.com")));
        let unkeyed = serde_json::to_string(&Decision::new(&event, Action::Redact, None)).unwrap();
        assert!(!unkeyed.contains("value_hmac"));
        assert!(
            unkeyed.contains(r#""removed":[{"start":5,"end":20}]"#),
            "{unkeyed}"
        );
    }
}

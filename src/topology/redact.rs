//! Rewriting detected spans in the enriched record: mask, placeholder, keyed hash, drop.
//!
//! Placeholders are numbered per conversation and label (`<EMAIL_ADDRESS_1>`, `_2`, ...): the
//! same value gets the same number in every event of a conversation. The registry keys values
//! by their SHA-256, so it holds no detected value in clear, and forgets the least recently
//! used conversations past its capacity.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::model::Action;
use crate::model::{Event, Redaction, Span};

type ValueKey = [u8; 32];

#[derive(Default)]
struct Conversation {
    numbers: HashMap<(Arc<str>, ValueKey), usize>,
    counters: HashMap<Arc<str>, usize>,
}

impl Conversation {
    /// The value's number, and whether it was assigned just now.
    fn number(&mut self, label: &Arc<str>, value: &str) -> (usize, bool) {
        let key = (label.clone(), Sha256::digest(value.as_bytes()).into());
        if let Some(n) = self.numbers.get(&key) {
            return (*n, false);
        }
        let counter = self.counters.entry(label.clone()).or_insert(0);
        *counter += 1;
        self.numbers.insert(key, *counter);
        (*counter, true)
    }
}

/// Placeholder numbers per conversation, bounded.
pub struct PlaceholderRegistry {
    inner: Mutex<RegistryInner>,
    capacity: usize,
}

#[derive(Default)]
struct RegistryInner {
    conversations: HashMap<Arc<str>, Conversation>,
    recency: VecDeque<Arc<str>>,
}

impl PlaceholderRegistry {
    pub fn new(capacity: usize) -> Self {
        PlaceholderRegistry {
            inner: Mutex::new(RegistryInner::default()),
            capacity: capacity.max(1),
        }
    }

    /// Number for `value` under `label` in `conversation`, and whether it is new.
    fn number(&self, conversation: &Arc<str>, label: &Arc<str>, value: &str) -> (usize, bool) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !inner.conversations.contains_key(conversation) {
            if inner.conversations.len() >= self.capacity {
                if let Some(oldest) = inner.recency.pop_front() {
                    inner.conversations.remove(&oldest);
                }
            }
            inner.recency.push_back(conversation.clone());
        } else if inner.recency.back() != Some(conversation) {
            // Move to the back (most recent). Linear, but only for a conversation seen again
            // after others: bounded by capacity and rare in a batch of one conversation.
            if let Some(pos) = inner.recency.iter().position(|c| c == conversation) {
                inner.recency.remove(pos);
            }
            inner.recency.push_back(conversation.clone());
        }
        inner
            .conversations
            .entry(conversation.clone())
            .or_default()
            .number(label, value)
    }

    pub fn conversations(&self) -> usize {
        self.inner
            .lock()
            .map(|i| i.conversations.len())
            .unwrap_or(0)
    }
}

/// One span to rewrite, with how.
struct Rewrite<'a> {
    span: Span,
    label: &'a Arc<str>,
    redaction: &'a Redaction,
}

/// A placeholder number fixed for each rewrite, in span order (computed sequentially so
/// numbering follows input order).
pub struct Plan {
    numbers: Vec<usize>,
    /// Per rewrite: a placeholder number assigned by this event (first sight of the value).
    fresh: Vec<bool>,
}

fn rewrites(event: &Event) -> Vec<Rewrite<'_>> {
    let mut out: Vec<Rewrite<'_>> = event
        .findings
        .iter()
        .filter(|f| f.action >= Action::Redact)
        .filter_map(|f| f.redaction.as_ref().map(|r| (f, r)))
        .flat_map(|(f, r)| {
            f.spans.iter().map(move |s| Rewrite {
                span: *s,
                label: &f.label,
                redaction: r,
            })
        })
        .filter(|r| {
            r.span.end <= event.text.len()
                && event.text.is_char_boundary(r.span.start)
                && event.text.is_char_boundary(r.span.end)
        })
        .collect();
    out.sort_by(|a, b| {
        a.span
            .start
            .cmp(&b.span.start)
            .then(b.span.len().cmp(&a.span.len()))
    });
    // Drop spans overlapping an earlier (longer at equal start) one.
    let mut kept: Vec<Rewrite<'_>> = Vec::with_capacity(out.len());
    for r in out {
        if kept.last().is_none_or(|k| k.span.end <= r.span.start) {
            kept.push(r);
        }
    }
    kept
}

/// Assigns placeholder numbers for `event`; call in input order.
pub fn plan(event: &Event, registry: &PlaceholderRegistry) -> Plan {
    let mut local = Conversation::default();
    let (numbers, fresh) = rewrites(event)
        .iter()
        .map(|r| {
            if !matches!(r.redaction, Redaction::Placeholder) {
                return (0, false);
            }
            let value = &event.text[r.span.start..r.span.end];
            match &event.conversation_id {
                Some(conversation) => registry.number(conversation, r.label, value),
                None => local.number(r.label, value),
            }
        })
        .unzip();
    Plan { numbers, fresh }
}

/// Placeholders this event assigned first, with the values they stand for (for the vault).
pub fn new_placeholders<'a>(event: &'a Event, plan: &Plan) -> Vec<(String, &'a str)> {
    rewrites(event)
        .iter()
        .zip(plan.numbers.iter().zip(&plan.fresh))
        .filter(|(_, (_, fresh))| **fresh)
        .map(|(r, (number, _))| {
            (
                placeholder(r.label, *number),
                &event.text[r.span.start..r.span.end],
            )
        })
        .collect()
}

fn placeholder(label: &str, number: usize) -> String {
    format!("<{label}_{number}>")
}

/// Whether an event has anything to rewrite (lets callers skip planning).
pub fn needs_rewrite(event: &Event) -> bool {
    event
        .findings
        .iter()
        .any(|f| f.action >= Action::Redact && f.redaction.is_some())
}

/// The event's text with every redacting finding rewritten.
pub fn apply(event: &Event, plan: &Plan) -> String {
    let text = &*event.text;
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for (r, number) in rewrites(event).iter().zip(&plan.numbers) {
        out.push_str(&text[cursor..r.span.start]);
        let value = &text[r.span.start..r.span.end];
        match r.redaction {
            Redaction::Mask { ch, keep_last } => mask(&mut out, value, *ch, *keep_last),
            Redaction::Placeholder => out.push_str(&placeholder(r.label, *number)),
            Redaction::Hash { key } => {
                out.push('<');
                out.push_str(r.label);
                out.push(':');
                out.push_str(&keyed_hash(key, value));
                out.push('>');
            }
            Redaction::Drop => {}
        }
        cursor = r.span.end;
    }
    out.push_str(&text[cursor..]);
    out
}

/// Masks letters and digits, keeping separators (`**** **** **** 1111`) and the last
/// `keep_last` letters or digits.
fn mask(out: &mut String, value: &str, ch: char, keep_last: usize) {
    let total = value.chars().filter(|c| c.is_alphanumeric()).count();
    let mut seen = 0;
    for c in value.chars() {
        if c.is_alphanumeric() {
            seen += 1;
            out.push(if seen > total.saturating_sub(keep_last) {
                c
            } else {
                ch
            });
        } else {
            out.push(c);
        }
    }
}

/// HMAC-SHA256 of `value` under `key`, first 16 hex digits.
pub fn keyed_hash(key: &[u8], value: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(value.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Category, Finding, Provenance};

    fn finding(
        label: &str,
        spans: &[(usize, usize)],
        redaction: Redaction,
        action: Action,
    ) -> Finding {
        Finding {
            operator: Arc::from("pii"),
            category: Category::Pii,
            label: Arc::from(label),
            score: 0.9,
            spans: spans.iter().map(|(s, e)| Span::new(*s, *e)).collect(),
            action,
            redaction: Some(redaction),
            reason: None,
            provenance: Provenance {
                detector: "test",
                version: "0",
                threshold: 0.5,
            },
            location: None,
        }
    }

    fn redact(
        text: &str,
        findings: Vec<Finding>,
        conversation: Option<&str>,
        registry: &PlaceholderRegistry,
    ) -> String {
        let mut event = Event::prompt("1", text);
        event.conversation_id = conversation.map(Arc::from);
        event.findings = findings;
        let plan = plan(&event, registry);
        apply(&event, &plan)
    }

    #[test]
    fn redaction_modes() {
        let registry = PlaceholderRegistry::new(10);
        let text = "card 4111111111111111 mail a@b.co and a@b.co or c@d.io";
        // Masks keep separators: `a@b.co` -> `#@#.##`.
        let card = (5, 21);
        let emails = [(27, 33), (38, 44), (48, 54)];
        let key: Arc<[u8]> = Arc::from(&b"0123456789abcdef"[..]);
        let cases: Vec<(Redaction, Redaction, String)> = vec![
            (
                Redaction::Mask { ch: '*', keep_last: 4 },
                Redaction::Placeholder,
                "card ************1111 mail <EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_1> or <EMAIL_ADDRESS_2>".into(),
            ),
            (
                Redaction::Drop,
                Redaction::Mask { ch: '#', keep_last: 0 },
                "card  mail #@#.## and #@#.## or #@#.##".into(),
            ),
            (
                Redaction::Placeholder,
                Redaction::Hash { key: key.clone() },
                format!(
                    "card <CREDIT_CARD_1> mail <EMAIL_ADDRESS:{h1}> and <EMAIL_ADDRESS:{h1}> or <EMAIL_ADDRESS:{h2}>",
                    h1 = keyed_hash(&key, "a@b.co"),
                    h2 = keyed_hash(&key, "c@d.io")
                ),
            ),
        ];
        for (card_mode, email_mode, expected) in cases {
            let got = redact(
                text,
                vec![
                    finding("CREDIT_CARD", &[card], card_mode, Action::Redact),
                    finding("EMAIL_ADDRESS", &emails, email_mode, Action::Block),
                ],
                None,
                &registry,
            );
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn flagged_findings_are_not_rewritten() {
        let registry = PlaceholderRegistry::new(10);
        let got = redact(
            "mail a@b.co",
            vec![finding(
                "EMAIL_ADDRESS",
                &[(5, 11)],
                Redaction::Placeholder,
                Action::Flag,
            )],
            None,
            &registry,
        );
        assert_eq!(got, "mail a@b.co");
    }

    #[test]
    fn placeholders_are_consistent_within_a_conversation() {
        let registry = PlaceholderRegistry::new(10);
        let first = redact(
            "x@y.io then z@y.io",
            vec![finding(
                "EMAIL_ADDRESS",
                &[(0, 6), (12, 18)],
                Redaction::Placeholder,
                Action::Redact,
            )],
            Some("c1"),
            &registry,
        );
        let second = redact(
            "again z@y.io",
            vec![finding(
                "EMAIL_ADDRESS",
                &[(6, 12)],
                Redaction::Placeholder,
                Action::Redact,
            )],
            Some("c1"),
            &registry,
        );
        let other = redact(
            "z@y.io",
            vec![finding(
                "EMAIL_ADDRESS",
                &[(0, 6)],
                Redaction::Placeholder,
                Action::Redact,
            )],
            Some("c2"),
            &registry,
        );
        assert_eq!(first, "<EMAIL_ADDRESS_1> then <EMAIL_ADDRESS_2>");
        assert_eq!(second, "again <EMAIL_ADDRESS_2>");
        assert_eq!(other, "<EMAIL_ADDRESS_1>");
    }

    #[test]
    fn the_registry_forgets_the_oldest_conversation() {
        let registry = PlaceholderRegistry::new(2);
        let label: Arc<str> = Arc::from("EMAIL_ADDRESS");
        for c in ["a", "b", "c"] {
            registry.number(&Arc::from(c), &label, "v");
        }
        assert_eq!(registry.conversations(), 2);
    }

    #[test]
    fn masks_count_characters_not_bytes() {
        let registry = PlaceholderRegistry::new(10);
        let text = "name Zoë here";
        let got = redact(
            text,
            vec![finding(
                "PERSON",
                &[(5, 9)],
                Redaction::Mask {
                    ch: '*',
                    keep_last: 1,
                },
                Action::Redact,
            )],
            None,
            &registry,
        );
        assert_eq!(got, "name **ë here");
    }
}

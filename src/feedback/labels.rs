//! Reviewer labels as JSONL lines or topic records: `{"event_id", "labels": {"toxic": true, "pii": false},
//! "reviewer", "time"}`. A key is a category (`pii`, `toxicity`, ...) or a label
//! (`EMAIL_ADDRESS`, `toxic`); an event reviewed twice keeps the latest review per key.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;

/// One review record.
#[derive(Debug, Clone, Deserialize)]
pub struct Review {
    pub event_id: Arc<str>,
    pub labels: BTreeMap<String, bool>,
    #[serde(default)]
    pub reviewer: Option<String>,
    /// RFC 3339; a later review of the same key replaces an earlier one.
    #[serde(default)]
    pub time: Option<String>,
}

/// One key's latest answer on one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub value: bool,
    /// The review's time in Unix milliseconds (absent or unreadable: the order read decides).
    pub at_ms: Option<i64>,
    pub reviewer: Option<String>,
}

/// The reviews by event id: per key, the latest answer.
#[derive(Debug, Default)]
pub struct Reviews {
    pub events: HashMap<Arc<str>, BTreeMap<String, Answer>>,
    /// Keys reviewed more than once with different answers.
    pub disagreements: usize,
    /// Records that are not reviews (their line numbers or offsets, first 20).
    pub unreadable: usize,
    pub unreadable_lines: Vec<u64>,
}

fn unix_ms(time: &str) -> Option<i64> {
    let at = humantime::parse_rfc3339_weak(time).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64)
}

impl Reviews {
    /// Adds a review: per key, a later review replaces an earlier one (by `time` where both
    /// have one, else by the order read).
    pub fn push(&mut self, review: Review) {
        let entry = self.events.entry(review.event_id.clone()).or_default();
        let at_ms = review.time.as_deref().and_then(unix_ms);
        for (key, value) in review.labels {
            let answer = Answer {
                value,
                at_ms,
                reviewer: review.reviewer.clone(),
            };
            match entry.get(&key) {
                Some(old) => {
                    self.disagreements += usize::from(old.value != value);
                    let older = matches!((old.at_ms, at_ms), (Some(a), Some(b)) if b < a);
                    if !older {
                        entry.insert(key, answer);
                    }
                }
                None => {
                    entry.insert(key, answer);
                }
            }
        }
    }

    /// Parses one review record (a line, or a topic record at `position`); one that is not
    /// a review is counted, never fatal.
    pub fn push_json(&mut self, bytes: &[u8], position: u64) {
        match serde_json::from_slice::<Review>(bytes) {
            Ok(review) => self.push(review),
            Err(_) => {
                self.unreadable += 1;
                if self.unreadable_lines.len() < 20 {
                    self.unreadable_lines.push(position);
                }
            }
        }
    }

    /// The reviewed answer for `key` on an event.
    pub fn answer(&self, event_id: &str, key: &str) -> Option<bool> {
        self.events.get(event_id)?.get(key).map(|a| a.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_review_of_a_key_wins_whatever_the_order_read() {
        let mut reviews = Reviews::default();
        reviews.push_json(
            br#"{"event_id":"e","labels":{"toxic":true},"reviewer":"b","time":"2026-12-01T10:00:00Z"}"#,
            1,
        );
        reviews.push_json(
            br#"{"event_id":"e","labels":{"toxic":false,"pii":true},"reviewer":"a","time":"2026-12-01T09:00:00Z"}"#,
            2,
        );
        reviews.push_json(b"{}", 3);
        assert_eq!(reviews.answer("e", "toxic"), Some(true));
        assert_eq!(reviews.answer("e", "pii"), Some(true));
        assert_eq!(reviews.disagreements, 1);
        assert_eq!(reviews.unreadable_lines, vec![3]);
    }
}

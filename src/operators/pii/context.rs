//! Context words: terms near a candidate that raise or lower its score (Presidio-style).
//!
//! Matching is ASCII case-insensitive over a window of bytes around the candidate. A context
//! word must start at a word boundary; words of three letters or fewer must also end at one,
//! so `call` matches `calling` but `tel` does not match `telling`.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// Bytes inspected before a candidate.
pub const WINDOW_BEFORE: usize = 48;
/// Bytes inspected after a candidate.
pub const WINDOW_AFTER: usize = 24;

/// A compiled set of context words.
#[derive(Debug, Clone)]
pub struct ContextWords {
    matcher: Option<AhoCorasick>,
    short: Vec<bool>,
}

impl ContextWords {
    pub fn new<S: AsRef<str>>(words: &[S]) -> Self {
        let words: Vec<String> = words
            .iter()
            .map(|w| w.as_ref().trim().to_ascii_lowercase())
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            return ContextWords {
                matcher: None,
                short: Vec::new(),
            };
        }
        let matcher = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&words)
            .ok();
        ContextWords {
            matcher,
            short: words.iter().map(|w| w.len() <= 3).collect(),
        }
    }

    /// Whether any word occurs anywhere in `text` (a cheap gate before costlier scans).
    pub fn occurs_in(&self, text: &str) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(text))
    }

    /// Whether any word occurs in the window around `start..end` of `text`.
    pub fn near(&self, text: &str, start: usize, end: usize) -> bool {
        let Some(matcher) = &self.matcher else {
            return false;
        };
        let (lo, hi) = window(text, start, end);
        let bytes = text.as_bytes();
        matcher.find_overlapping_iter(&bytes[lo..hi]).any(|m| {
            let s = lo + m.start();
            let e = lo + m.end();
            let starts_word = s == 0 || !bytes[s - 1].is_ascii_alphanumeric();
            let ends_word = e == bytes.len() || !bytes[e].is_ascii_alphanumeric();
            let outside_candidate = e <= start || s >= end;
            starts_word && outside_candidate && (!self.short[m.pattern().as_usize()] || ends_word)
        })
    }
}

/// The byte window around a candidate, snapped to character boundaries.
pub fn window(text: &str, start: usize, end: usize) -> (usize, usize) {
    let mut lo = start.saturating_sub(WINDOW_BEFORE);
    while !text.is_char_boundary(lo) {
        lo += 1;
    }
    let mut hi = (end + WINDOW_AFTER).min(text.len());
    while !text.is_char_boundary(hi) {
        hi -= 1;
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_cases() {
        let words = ContextWords::new(&["call", "tel", "social security"]);
        let cases: &[(&str, &str, bool)] = &[
            ("Please call me at 555 1234", "555 1234", true),
            ("CALLING 555 1234 now", "555 1234", true),
            ("recall 555 1234", "555 1234", false),
            ("tel: 555 1234", "555 1234", true),
            ("telling 555 1234", "555 1234", false),
            (
                "my Social Security number is 078 05 1120",
                "078 05 1120",
                true,
            ),
            ("nothing here 555 1234", "555 1234", false),
            ("555 1234 call me", "555 1234", true),
        ];
        for (text, candidate, expected) in cases {
            let start = text.find(candidate).unwrap();
            let got = words.near(text, start, start + candidate.len());
            assert_eq!(got, *expected, "{text}");
        }
    }

    #[test]
    fn window_respects_char_boundaries() {
        let text = "ééééééééééééééééééééééééééééééééé 555";
        let start = text.find("555").unwrap();
        let (lo, hi) = window(text, start, start + 3);
        assert!(text.is_char_boundary(lo) && text.is_char_boundary(hi));
    }
}

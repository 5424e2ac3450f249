//! Splitting a response into claims: UAX #29 sentences, then clauses at semicolons and at
//! contrastive or coordinating joints (`, but`, `, while`, `, and`...) when both sides are long
//! enough to assert something on their own.

use unicode_segmentation::UnicodeSegmentation;

use super::lexicon::{words, Word};
use crate::model::Span;

/// A response tokenized once: its words, and each claim's span with the words inside it.
pub struct Response {
    pub words: Vec<Word>,
    /// Per claim, its span and the range of `words` it holds.
    pub claims: Vec<(Span, std::ops::Range<usize>)>,
}

impl Response {
    pub fn new(text: &str) -> Response {
        let words = words(text, 0);
        let mut next = 0;
        let claims = split(text)
            .into_iter()
            .map(|span| {
                while next < words.len() && words[next].span.start < span.start {
                    next += 1;
                }
                let first = next;
                while next < words.len() && words[next].span.end <= span.end {
                    next += 1;
                }
                (span, first..next)
            })
            .collect();
        Response { words, claims }
    }

    /// Each claim's span and words.
    pub fn claims(&self) -> impl Iterator<Item = (Span, &[Word])> {
        self.claims
            .iter()
            .map(|(span, range)| (*span, &self.words[range.clone()]))
    }
}

/// Joints a sentence is split at (lower case, matched ASCII case-insensitively).
const JOINTS: &[&str] = &[
    "; ",
    ", but ",
    ", however ",
    ", however, ",
    ", while ",
    ", whereas ",
    ", although ",
    ", though ",
    ", and ",
    ", which ",
    " but ",
];

/// Words each side of a joint needs for the split to happen.
const MIN_CLAUSE_WORDS: usize = 4;

/// The claims of `text`, as trimmed byte spans in text order.
pub fn split(text: &str) -> Vec<Span> {
    let mut claims = Vec::new();
    for (at, sentence) in text.split_sentence_bound_indices() {
        split_clauses(sentence, at, &mut claims);
    }
    claims
}

fn split_clauses(sentence: &str, base: usize, out: &mut Vec<Span>) {
    let lower = sentence.to_ascii_lowercase();
    let mut start = 0;
    let mut search = 0;
    while let Some((at, joint)) = next_joint(&lower, search) {
        let left = &sentence[start..at];
        let right = &sentence[at + joint.len()..];
        if word_count(left) >= MIN_CLAUSE_WORDS && word_count(right) >= MIN_CLAUSE_WORDS {
            push_trimmed(sentence, base, start, at, out);
            start = at + joint.len();
        }
        search = at + joint.len();
    }
    push_trimmed(sentence, base, start, sentence.len(), out);
}

fn next_joint(lower: &str, from: usize) -> Option<(usize, &'static str)> {
    JOINTS
        .iter()
        .filter_map(|joint| lower[from..].find(joint).map(|i| (from + i, *joint)))
        .min_by_key(|(at, joint)| (*at, std::cmp::Reverse(joint.len())))
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

fn push_trimmed(sentence: &str, base: usize, start: usize, end: usize, out: &mut Vec<Span>) {
    let piece = &sentence[start..end];
    let lead = piece.len() - piece.trim_start().len();
    let trail = piece.len() - piece.trim_end().len();
    if piece.trim().is_empty() {
        return;
    }
    out.push(Span::new(base + start + lead, base + end - trail));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        split(text).iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn sentences_and_long_clauses_are_claims() {
        assert_eq!(
            texts("Hope you enjoy! It stars Matt Damon as an astronaut, but it was filmed in Jordan in the desert."),
            vec![
                "Hope you enjoy!",
                "It stars Matt Damon as an astronaut",
                "it was filmed in Jordan in the desert."
            ]
        );
    }

    #[test]
    fn short_sides_stay_joined() {
        assert_eq!(texts("Small, but loud."), vec!["Small, but loud."]);
        assert_eq!(texts("  \n "), Vec::<&str>::new());
    }
}

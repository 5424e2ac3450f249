//! Checks that need no context: whether a response addresses its prompt (relevance) and
//! whether two of its claims contradict each other (same subject matter, different numbers,
//! or one negated and the other not).

use std::collections::BTreeSet;

use super::claims::Response;
use super::lexicon::{words, WordClass};
use crate::model::Span;

/// Share of stems two claims must have in common (Jaccard) to be about the same thing.
const SAME_SUBJECT: f32 = 0.5;
/// Distinct content stems a claim needs to be compared.
const MIN_STEMS: usize = 3;

/// Two claims that disagree, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Contradiction {
    pub first: Span,
    pub second: Span,
    pub how: &'static str,
}

struct ClaimTerms {
    span: Span,
    stems: BTreeSet<String>,
    numbers: BTreeSet<String>,
    negated: bool,
}

/// Pairs of claims in a response that contradict each other.
pub fn contradictions(response: &Response) -> Vec<Contradiction> {
    let terms: Vec<ClaimTerms> = response
        .claims()
        .map(|(span, words)| {
            let mut t = ClaimTerms {
                span,
                stems: BTreeSet::new(),
                numbers: BTreeSet::new(),
                negated: false,
            };
            for w in words {
                match w.class {
                    WordClass::Content => {
                        t.stems.insert(w.key.clone());
                    }
                    WordClass::Number => {
                        t.numbers.insert(w.key.clone());
                    }
                    WordClass::Negation => t.negated = !t.negated,
                    WordClass::Stop => {}
                }
            }
            t
        })
        .filter(|t| t.stems.len() >= MIN_STEMS)
        .collect();
    let mut found = Vec::new();
    for (i, a) in terms.iter().enumerate() {
        for b in &terms[i + 1..] {
            let shared = a.stems.intersection(&b.stems).count();
            let union = a.stems.union(&b.stems).count();
            if (shared as f32) < SAME_SUBJECT * union as f32 {
                continue;
            }
            let how = if a.negated != b.negated {
                "one negates the other"
            } else if !a.numbers.is_empty() && !b.numbers.is_empty() && a.numbers != b.numbers {
                "different numbers"
            } else {
                continue;
            };
            found.push(Contradiction {
                first: a.span,
                second: b.span,
                how,
            });
        }
    }
    found
}

/// Lexical relevance of a response to its prompt: the share of the prompt's content stems the
/// response takes up (1 when the prompt has none).
pub fn lexical_relevance(prompt: &str, response: &str) -> f32 {
    let content = |text: &str| -> BTreeSet<String> {
        words(text, 0)
            .into_iter()
            .filter(|w| matches!(w.class, WordClass::Content | WordClass::Number))
            .map(|w| w.key)
            .collect()
    };
    let asked = content(prompt);
    if asked.is_empty() {
        return 1.0;
    }
    let answered = content(response);
    asked.intersection(&answered).count() as f32 / asked.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contradicting_claims_are_paired() {
        let text = "The meeting with the auditors is on Monday at 3pm. Lunch is served. \
                    The meeting with the auditors is on Monday at 5pm.";
        let found = contradictions(&Response::new(text));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].how, "different numbers");
        let text = "The refund policy covers damaged items. The refund policy does not cover damaged items.";
        assert_eq!(
            contradictions(&Response::new(text))[0].how,
            "one negates the other"
        );
        assert!(contradictions(&Response::new(
            "The sky is blue today. The grass is green and wet."
        ))
        .is_empty());
    }

    #[test]
    fn relevance_counts_prompt_terms_taken_up() {
        assert!(
            lexical_relevance(
                "What is the capital of France?",
                "Paris is the capital of France."
            ) > 0.9
        );
        assert_eq!(
            lexical_relevance("What is the capital of France?", "I like turtles."),
            0.0
        );
    }
}

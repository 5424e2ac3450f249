//! Per-claim support signals against a [`Source`], and the response-level feature vector the
//! calibrated model scores.

use super::claims::Response;
use super::lexicon::{Word, WordClass};
use super::source::{trigram_hash, Source, SourceSentence};
use crate::model::Span;

/// Words that may join the capitalised words of one name (`Bank of America`).
const NAME_CONNECTORS: &[&str] = &[
    "of", "the", "de", "van", "von", "da", "del", "la", "le", "and", "&",
];

/// How well one claim is supported.
#[derive(Debug, Clone, Default)]
pub struct ClaimSignals {
    pub span: Span,
    /// Content words and numbers.
    pub content: usize,
    /// Of those, found in the context.
    pub covered: usize,
    /// Not in the context but in the prompt.
    pub from_prompt: usize,
    /// Distinct content stems, and how many the best single context sentence holds.
    pub distinct: usize,
    pub best_overlap: usize,
    /// That sentence (where it is in the context, for embeddings and NLI).
    pub best_sentence: Option<SourceSentence>,
    /// Adjacent content-stem pairs, and how many occur adjacent in the context.
    pub bigrams: usize,
    pub bigrams_covered: usize,
    /// Word trigrams (stop words kept), and how many occur in the context.
    pub trigrams: usize,
    pub trigrams_covered: usize,
    /// Names (capitalised word runs) with a word found nowhere in the context or prompt.
    pub unsupported_entities: Vec<Span>,
    /// Numbers found nowhere in the context or prompt.
    pub unsupported_numbers: Vec<Span>,
    /// The claim negates what its best-supporting sentence asserts, or the reverse.
    pub negation_mismatch: bool,
    pub negations: usize,
    /// Embedding cosine between the claim and its best sentence (when embeddings run).
    pub cosine: Option<f32>,
    /// NLI probabilities that the best sentence entails / contradicts the claim (with `[nli]`).
    pub entailment: Option<f32>,
    pub contradiction: Option<f32>,
}

impl ClaimSignals {
    pub fn coverage(&self) -> f32 {
        ratio(self.covered, self.content)
    }
    pub fn best_support(&self) -> f32 {
        ratio(self.best_overlap, self.distinct)
    }
    pub fn asserts_something(&self) -> bool {
        self.content > 0
    }
}

fn ratio(part: usize, whole: usize) -> f32 {
    if whole == 0 {
        1.0
    } else {
        part as f32 / whole as f32
    }
}

/// The claims of a response and how each is supported.
pub fn assess_claims(response: &Response, source: &Source) -> Vec<ClaimSignals> {
    response
        .claims()
        .map(|(span, words)| claim_signals(span, words, source))
        .collect()
}

fn claim_signals(span: Span, claim: &[Word], source: &Source) -> ClaimSignals {
    let mut signals = ClaimSignals {
        span,
        ..Default::default()
    };
    let mut ids: Vec<u32> = Vec::new();
    let mut previous: Option<Option<u32>> = None;
    for word in claim {
        match word.class {
            WordClass::Stop => continue,
            WordClass::Negation => {
                signals.negations += 1;
                continue;
            }
            WordClass::Number => {
                signals.content += 1;
                if source.knows_number(&word.key) {
                    signals.covered += 1;
                } else {
                    signals.unsupported_numbers.push(word.span);
                }
            }
            WordClass::Content => {
                signals.content += 1;
                let id = source.stem_id(&word.key);
                match id {
                    Some(id) => {
                        signals.covered += 1;
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                    None if source.prompt_knows(&word.lower, &word.key) => signals.from_prompt += 1,
                    None => {}
                }
                if let Some(prev) = previous {
                    signals.bigrams += 1;
                    if let (Some(a), Some(b)) = (prev, id) {
                        signals.bigrams_covered += usize::from(source.has_bigram(a, b));
                    }
                }
                previous = Some(id);
            }
        }
    }
    for window in claim.windows(3) {
        signals.trigrams += 1;
        let hash = trigram_hash(&window[0].lower, &window[1].lower, &window[2].lower);
        signals.trigrams_covered += usize::from(source.has_trigram(hash));
    }
    signals.distinct = ids.len()
        + claim
            .iter()
            .filter(|w| w.class == WordClass::Content && source.stem_id(&w.key).is_none())
            .count();
    best_sentence(&ids, source, &mut signals);
    signals.unsupported_entities = unsupported_names(claim, source);
    if let Some(best) = signals.best_sentence {
        let sentence_negated = best.negations % 2 == 1;
        signals.negation_mismatch = signals.best_support() >= 0.5
            && signals.distinct >= 2
            && (signals.negations % 2 == 1) != sentence_negated;
    }
    signals
}

/// The context sentence sharing the most distinct stems with the claim (ties: the shorter).
fn best_sentence(ids: &[u32], source: &Source, signals: &mut ClaimSignals) {
    let mut counts: Vec<(u32, usize)> = Vec::new();
    for &id in ids {
        for &sentence in source.sentences_with(id) {
            match counts.iter_mut().find(|(s, _)| *s == sentence) {
                Some((_, n)) => *n += 1,
                None => counts.push((sentence, 1)),
            }
        }
    }
    if let Some(&(sentence, overlap)) = counts.iter().max_by_key(|(s, n)| {
        (
            *n,
            std::cmp::Reverse(source.sentences[*s as usize].stems),
            std::cmp::Reverse(*s),
        )
    }) {
        signals.best_sentence = Some(source.sentences[sentence as usize]);
        signals.best_overlap = overlap;
    }
}

/// Runs of capitalised content words (a lone sentence-initial word is grammar, not a name)
/// with a word the context and prompt do not contain.
fn unsupported_names(claim: &[Word], source: &Source) -> Vec<Span> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < claim.len() {
        if !is_name_word(&claim[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        loop {
            let mut j = end;
            while j < claim.len() && NAME_CONNECTORS.contains(&claim[j].lower.as_str()) {
                j += 1;
            }
            if j < claim.len() && is_name_word(&claim[j]) {
                end = j + 1;
            } else {
                break;
            }
        }
        let run = &claim[start..end];
        let lone_opener = run.len() == 1 && run[0].sentence_start;
        let unknown = run
            .iter()
            .filter(|w| is_name_word(w))
            .any(|w| !source.knows_word(&w.lower, &w.key));
        if unknown && !lone_opener {
            found.push(Span::new(run[0].span.start, run[run.len() - 1].span.end));
        }
        i = end;
    }
    found
}

fn is_name_word(word: &Word) -> bool {
    word.capitalized && word.class == WordClass::Content
}

/// Names of the response-level features, in vector order (the calibration file lists them).
pub const LEXICAL_FEATURES: &[&str] = &[
    "coverage",
    "min_claim_coverage",
    "log_novel_words",
    "log_unsupported_entities",
    "log_unsupported_numbers",
    "negation_mismatches",
    "mean_best_support",
    "min_best_support",
    "bigram_coverage",
    "log_content_words",
    "log_claims",
    "novel_share_from_prompt",
    "no_claims",
    "trigram_coverage",
    "log_max_claim_novel_words",
    "low_support_claim_share",
];

/// Extra features when embeddings run.
pub const EMBEDDING_FEATURES: &[&str] = &["mean_cosine", "min_cosine"];

/// The response-level features of a grounded response (`with_embedding` appends the cosine
/// features; claims without a cosine count as 0).
pub fn features(claims: &[ClaimSignals], with_embedding: bool) -> Vec<f32> {
    let asserting: Vec<&ClaimSignals> = claims.iter().filter(|c| c.asserts_something()).collect();
    let content: usize = asserting.iter().map(|c| c.content).sum();
    let covered: usize = asserting.iter().map(|c| c.covered).sum();
    let from_prompt: usize = asserting.iter().map(|c| c.from_prompt).sum();
    let novel = content - covered;
    let bigrams: usize = asserting.iter().map(|c| c.bigrams).sum();
    let bigrams_covered: usize = asserting.iter().map(|c| c.bigrams_covered).sum();
    let entities: usize = asserting.iter().map(|c| c.unsupported_entities.len()).sum();
    let numbers: usize = asserting.iter().map(|c| c.unsupported_numbers.len()).sum();
    let negations = asserting.iter().filter(|c| c.negation_mismatch).count();
    let trigrams: usize = asserting.iter().map(|c| c.trigrams).sum();
    let trigrams_covered: usize = asserting.iter().map(|c| c.trigrams_covered).sum();
    let max_novel = asserting
        .iter()
        .map(|c| c.content - c.covered - c.from_prompt.min(c.content - c.covered))
        .max()
        .unwrap_or(0);
    let low_support = asserting.iter().filter(|c| c.best_support() < 0.5).count();
    let min_of =
        |f: &dyn Fn(&ClaimSignals) -> f32| asserting.iter().map(|c| f(c)).fold(1.0f32, f32::min);
    let mean_of = |f: &dyn Fn(&ClaimSignals) -> f32| {
        if asserting.is_empty() {
            1.0
        } else {
            asserting.iter().map(|c| f(c)).sum::<f32>() / asserting.len() as f32
        }
    };
    let ln = |n: usize| (n as f32).ln_1p();
    let mut out = vec![
        ratio(covered, content),
        min_of(&ClaimSignals::coverage),
        ln(novel - from_prompt.min(novel)),
        ln(entities),
        ln(numbers),
        negations as f32,
        mean_of(&ClaimSignals::best_support),
        min_of(&ClaimSignals::best_support),
        ratio(bigrams_covered, bigrams),
        ln(content),
        ln(asserting.len()),
        if novel == 0 {
            0.0
        } else {
            from_prompt as f32 / novel as f32
        },
        f32::from(u8::from(asserting.is_empty())),
        ratio(trigrams_covered, trigrams),
        ln(max_novel),
        if asserting.is_empty() {
            0.0
        } else {
            low_support as f32 / asserting.len() as f32
        },
    ];
    if with_embedding {
        let cosine = |c: &ClaimSignals| c.cosine.unwrap_or(0.0);
        out.push(mean_of(&cosine));
        out.push(min_of(&cosine));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: &str =
        "The Martian is starring Matt Damon. It was released in 2015 and was not filmed in Jordan.";

    fn one(response: &str) -> ClaimSignals {
        let source = Source::build(&[CONTEXT], None);
        let mut claims = assess_claims(&Response::new(response), &source);
        assert_eq!(claims.len(), 1, "{response}");
        claims.remove(0)
    }

    #[test]
    fn supported_claim_has_full_coverage_and_no_reasons() {
        let c = one("The Martian stars Matt Damon.");
        assert_eq!(c.coverage(), 1.0);
        let best = c.best_sentence.expect("a best sentence");
        assert_eq!(
            &CONTEXT[best.span.start..best.span.end],
            "The Martian is starring Matt Damon"
        );
        assert!(c.unsupported_entities.is_empty() && c.unsupported_numbers.is_empty());
        assert!(!c.negation_mismatch);
    }

    #[test]
    fn swapped_name_number_and_negation_are_caught() {
        let text = "The Martian is starring Tom Hanks.";
        let c = one(text);
        assert_eq!(
            c.unsupported_entities
                .iter()
                .map(|s| &text[s.start..s.end])
                .collect::<Vec<_>>(),
            vec!["Tom Hanks"]
        );
        assert_eq!(one("It was released in 2016.").unsupported_numbers.len(), 1);
        assert!(one("It was filmed in Jordan.").negation_mismatch);
    }

    #[test]
    fn feature_vector_matches_its_names() {
        let source = Source::build(&[CONTEXT], None);
        let claims = assess_claims(&Response::new("Matt Damon. Hope you enjoy!"), &source);
        assert_eq!(features(&claims, false).len(), LEXICAL_FEATURES.len());
        assert_eq!(
            features(&claims, true).len(),
            LEXICAL_FEATURES.len() + EMBEDDING_FEATURES.len()
        );
    }
}

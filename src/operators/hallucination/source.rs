//! The grounding side of the check: an index of the context passages (stems, words, numbers,
//! stem bigrams, and which sentence holds each stem) and of the prompt, built once per event.

use ahash::{AHashMap as HashMap, AHashSet as HashSet};

use super::lexicon::{classify, glued_parts, words, WordClass};
use crate::model::Span;

/// One context sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceSentence {
    /// Index of the passage holding it.
    pub passage: usize,
    pub span: Span,
    /// Number of negation words in it.
    pub negations: usize,
    /// Distinct content stems (ids) in it.
    pub stems: usize,
}

/// Everything a response may be grounded in.
#[derive(Debug, Default)]
pub struct Source {
    /// Content stem -> id.
    stem_ids: HashMap<String, u32>,
    /// Per stem id, the sentences holding it (ascending, no repeats).
    postings: Vec<Vec<u32>>,
    /// Adjacent content stems (stop words skipped) in the context.
    bigrams: HashSet<(u32, u32)>,
    /// Hashes of the context's word trigrams (lower case, stop words kept).
    trigrams: HashSet<u64>,
    /// Lower-case words of the context, glued words also split.
    words: HashSet<String>,
    numbers: HashSet<String>,
    pub sentences: Vec<SourceSentence>,
    /// The prompt's words, stems and numbers (a response may cite what the user said).
    prompt_words: HashSet<String>,
    prompt_numbers: HashSet<String>,
}

impl Source {
    /// Indexes `passages` and the optional `prompt`.
    pub fn build<S: AsRef<str>>(passages: &[S], prompt: Option<&str>) -> Source {
        let mut source = Source::default();
        for (passage, text) in passages.iter().enumerate() {
            source.add_passage(passage, text.as_ref());
        }
        if let Some(prompt) = prompt {
            for word in words(prompt, 0) {
                match word.class {
                    WordClass::Number => {
                        source.prompt_numbers.insert(word.key);
                    }
                    _ => {
                        source.prompt_words.insert(word.key);
                        source.prompt_words.insert(word.lower);
                    }
                }
            }
        }
        source
    }

    fn add_passage(&mut self, passage: usize, text: &str) {
        let mut previous: Option<u32> = None;
        let mut sentence = usize::MAX;
        let mut sentence_seen: HashSet<u32> = HashSet::new();
        let all = words(text, 0);
        for window in all.windows(3) {
            self.trigrams.insert(trigram_hash(
                &window[0].lower,
                &window[1].lower,
                &window[2].lower,
            ));
        }
        for word in all {
            if word.sentence_start || sentence == usize::MAX {
                sentence = self.sentences.len();
                self.sentences.push(SourceSentence {
                    passage,
                    span: word.span,
                    negations: 0,
                    stems: 0,
                });
                sentence_seen.clear();
            }
            self.sentences[sentence].span.end = word.span.end;
            let raw = &text[word.span.start..word.span.end];
            for part in glued_parts(raw) {
                let lower = part.to_lowercase();
                if let (WordClass::Content, stem) = classify(&lower) {
                    let id = self.intern(&stem);
                    if sentence_seen.insert(id) {
                        self.postings[id as usize].push(sentence as u32);
                        self.sentences[sentence].stems += 1;
                    }
                }
                self.words.insert(lower);
            }
            match word.class {
                WordClass::Negation => self.sentences[sentence].negations += 1,
                WordClass::Number => {
                    self.numbers.insert(word.key.clone());
                }
                WordClass::Content => {
                    let id = self.intern(&word.key);
                    if sentence_seen.insert(id) {
                        self.postings[id as usize].push(sentence as u32);
                        self.sentences[sentence].stems += 1;
                    }
                    if let Some(prev) = previous {
                        self.bigrams.insert((prev, id));
                    }
                    previous = Some(id);
                }
                WordClass::Stop => {}
            }
            self.words.insert(word.lower);
        }
    }

    fn intern(&mut self, stem: &str) -> u32 {
        if let Some(&id) = self.stem_ids.get(stem) {
            return id;
        }
        let id = self.postings.len() as u32;
        self.stem_ids.insert(stem.to_string(), id);
        self.postings.push(Vec::new());
        id
    }

    /// Whether there is anything to ground in.
    pub fn has_context(&self) -> bool {
        !self.sentences.is_empty()
    }

    pub fn stem_id(&self, stem: &str) -> Option<u32> {
        self.stem_ids.get(stem).copied()
    }

    pub fn sentences_with(&self, id: u32) -> &[u32] {
        &self.postings[id as usize]
    }

    pub fn has_trigram(&self, hash: u64) -> bool {
        self.trigrams.contains(&hash)
    }

    pub fn has_bigram(&self, a: u32, b: u32) -> bool {
        self.bigrams.contains(&(a, b))
    }

    /// Whether a word (lower case or stem) appears in the context or the prompt.
    pub fn knows_word(&self, lower: &str, stem: &str) -> bool {
        self.words.contains(lower)
            || self.stem_ids.contains_key(stem)
            || self.prompt_words.contains(lower)
            || self.prompt_words.contains(stem)
    }

    /// Whether a word (lower case or stem) appears in the prompt.
    pub fn prompt_knows(&self, lower: &str, stem: &str) -> bool {
        self.prompt_words.contains(lower) || self.prompt_words.contains(stem)
    }

    /// Whether a normalised number appears in the context or the prompt.
    pub fn knows_number(&self, value: &str) -> bool {
        self.numbers.contains(value) || self.prompt_numbers.contains(value)
    }
}

/// Hash of three consecutive lower-case words.
pub fn trigram_hash(a: &str, b: &str, c: &str) -> u64 {
    // Fixed seeds: the same trigram hashes the same in every thread of the process.
    static STATE: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
    STATE
        .get_or_init(|| ahash::RandomState::with_seeds(1, 2, 3, 4))
        .hash_one((a, b, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_sentences_numbers_and_glued_words() {
        let source = Source::build(
            &["A Walk to RememberA Walk to Remember is produced by Hunt Lowry. It cost $11,000,000."],
            Some("Is that the one with Zac?"),
        );
        assert_eq!(source.sentences.len(), 2);
        assert!(source.knows_number("11000000"));
        assert!(source.knows_word("remember", "rememb"));
        assert!(source.knows_word("zac", "zac"), "prompt words count");
        let id = source.stem_id("produc").expect("stem of produced");
        assert_eq!(source.sentences_with(id), &[0]);
    }
}

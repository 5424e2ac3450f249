//! `keyword_block`: deny-lists and banned topics matched by phrase.
//!
//! All phrases of all lists compile into one Aho-Corasick automaton (ASCII case-insensitive,
//! leftmost-longest), so a text is scanned once whatever the number of phrases. A match counts
//! only on word boundaries: `ass` does not match `class`.

use std::path::PathBuf;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Deserialize;

use super::check_unit_interval;
use super::{Inspector, OperatorFailure};
use crate::diagnostics::{join, Errors};
use crate::model::Action;
use crate::model::{Category, Event, Finding, Provenance, Span};

/// One named list of phrases (`[[operators.<id>.lists]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct KeywordList {
    /// Label reported for matches, e.g. `weapons`.
    pub label: String,
    /// Phrases to match.
    #[serde(default)]
    pub terms: Vec<String>,
    /// A file with one phrase per line (`#` starts a comment), read at start-up.
    #[serde(default)]
    pub terms_file: Option<PathBuf>,
    /// Action for this list; defaults to the operator's `action`.
    #[serde(default)]
    pub action: Option<Action>,
    /// Score of a match.
    #[serde(default = "default_score")]
    pub score: f32,
}

fn default_score() -> f32 {
    1.0
}

/// `[operators.<id>]` with `type = "keyword_block"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct KeywordConfig {
    /// Suggested action for matches of lists without their own.
    #[serde(default = "default_action")]
    pub action: Action,
    pub lists: Vec<KeywordList>,
}

fn default_action() -> Action {
    Action::Block
}

impl KeywordList {
    fn load_terms(&self) -> Result<Vec<String>, String> {
        let mut terms: Vec<String> = self.terms.iter().map(|t| t.trim().to_string()).collect();
        if let Some(file) = &self.terms_file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read terms_file {}: {e}", file.display()))?;
            terms.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from),
            );
        }
        Ok(terms)
    }
}

impl KeywordConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        if self.lists.is_empty() {
            errors.push(join(path, "lists"), "needs at least one list");
        }
        for (i, list) in self.lists.iter().enumerate() {
            let at = format!("{path}.lists[{i}]");
            if list.label.trim().is_empty() {
                errors.push(join(&at, "label"), "must not be empty");
            }
            check_unit_interval(&at, "score", list.score, errors);
            if list.terms.is_empty() && list.terms_file.is_none() {
                errors.push(&at, "has no terms (set `terms` or `terms_file`)");
            }
            if list.terms.iter().any(|t| t.trim().is_empty()) {
                errors.push(join(&at, "terms"), "terms must not be empty strings");
            }
        }
    }

    /// Builds the matcher, reading each `terms_file` once; a file that cannot be read, or a
    /// list left without terms, fails at that list's path.
    fn build_at(
        &self,
        at: &super::registry::BuildContext,
    ) -> Result<KeywordBlocker, super::registry::BuildError> {
        let mut terms = Vec::with_capacity(self.lists.len());
        for (i, list) in self.lists.iter().enumerate() {
            let list_path = format!("{}.lists[{i}]", at.path);
            let loaded = list
                .load_terms()
                .map_err(|message| super::registry::BuildError {
                    path: join(&list_path, "terms_file"),
                    message,
                })?;
            if loaded.is_empty() {
                return Err(super::registry::BuildError {
                    path: list_path,
                    message: "has no terms (set `terms` or `terms_file`)".into(),
                });
            }
            terms.push(loaded);
        }
        self.build_from(at.id, terms).map_err(|e| at.error(e))
    }

    /// Builds the matcher (reading every `terms_file`).
    pub fn build(&self, id: &str) -> Result<KeywordBlocker, String> {
        let terms = self
            .lists
            .iter()
            .map(KeywordList::load_terms)
            .collect::<Result<Vec<_>, _>>()?;
        self.build_from(id, terms)
    }

    fn build_from(&self, id: &str, terms: Vec<Vec<String>>) -> Result<KeywordBlocker, String> {
        let mut phrases: Vec<String> = Vec::new();
        let mut owners = Vec::new();
        let mut lists = Vec::new();
        for ((i, list), list_terms) in self.lists.iter().enumerate().zip(terms) {
            for term in list_terms {
                phrases.push(term);
                owners.push(i);
            }
            lists.push(ListRuntime {
                label: Arc::from(list.label.as_str()),
                action: list.action.unwrap_or(self.action),
                score: list.score,
            });
        }
        // Phrases are matched case-insensitively (ASCII) by searching ASCII-lowercased text
        // for lowercased phrases: a case-sensitive automaton keeps its SIMD prefilter, which
        // `ascii_case_insensitive` loses once the phrases start with many letters.
        let lowered: Vec<String> = phrases.iter().map(|p| p.to_ascii_lowercase()).collect();
        let matcher = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&lowered)
            .map_err(|e| e.to_string())?;
        Ok(KeywordBlocker {
            id: Arc::from(id),
            longest: phrases.iter().map(|p| p.chars().count()).max().unwrap_or(0),
            matcher,
            owners,
            lists,
        })
    }
}

struct ListRuntime {
    label: Arc<str>,
    action: Action,
    score: f32,
}

/// The runtime phrase matcher.
pub struct KeywordBlocker {
    id: Arc<str>,
    /// Characters of the longest phrase.
    longest: usize,
    matcher: AhoCorasick,
    owners: Vec<usize>,
    lists: Vec<ListRuntime>,
}

thread_local! {
    /// The text being searched, ASCII-lowercased (kept per thread: no allocation per text).
    static LOWERED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on `text` ASCII-lowercased (the same offsets), in this thread's buffer.
fn with_lowered<T>(text: &str, f: impl FnOnce(&[u8]) -> T) -> T {
    LOWERED.with_borrow_mut(|lowered| {
        lowered.clear();
        lowered.extend(text.bytes().map(|b| b.to_ascii_lowercase()));
        f(lowered)
    })
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl KeywordBlocker {
    /// (list index, span) of every whole-word match.
    pub fn matches(&self, text: &str) -> Vec<(usize, Span)> {
        self.matches_and_trigger(text).0
    }

    /// [`KeywordBlocker::matches`], and whether a phrase occurs at all (inside a word too).
    fn matches_and_trigger(&self, text: &str) -> (Vec<(usize, Span)>, bool) {
        with_lowered(text, |lowered| {
            let occurrences: Vec<aho_corasick::Match> = self.matcher.find_iter(lowered).collect();
            let any = !occurrences.is_empty();
            (self.whole_words(text, occurrences), any)
        })
    }

    /// The occurrences that are whole words of `text` (found in it ASCII-lowercased: the same
    /// offsets).
    fn whole_words(&self, text: &str, occurrences: Vec<aho_corasick::Match>) -> Vec<(usize, Span)> {
        occurrences
            .into_iter()
            .filter(|m| {
                let before = text[..m.start()].chars().next_back();
                let after = text[m.end()..].chars().next();
                !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
            })
            .map(|m| {
                (
                    self.owners[m.pattern().as_usize()],
                    Span::new(m.start(), m.end()),
                )
            })
            .collect()
    }
}

impl Inspector for KeywordBlocker {
    fn incremental(&self) -> bool {
        true
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn longest_match_chars(&self) -> Option<usize> {
        Some(self.longest)
    }

    /// A phrase can match only where it occurs.
    fn trigger_chars(&self) -> Option<usize> {
        Some(self.longest)
    }

    fn has_trigger(&self, text: &str) -> bool {
        with_lowered(text, |lowered| self.matcher.is_match(lowered))
    }

    fn inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        let (matches, occurs) = self.matches_and_trigger(&event.text);
        if occurs && event.window.is_some() {
            event.triggered.push(self.id.clone());
        }
        for (index, list) in self.lists.iter().enumerate() {
            let spans: Vec<Span> = matches
                .iter()
                .filter(|(i, _)| *i == index)
                .map(|(_, s)| *s)
                .collect();
            if spans.is_empty() {
                continue;
            }
            event.findings.push(Finding {
                operator: self.id.clone(),
                category: Category::Keyword,
                label: list.label.clone(),
                score: list.score,
                spans,
                action: list.action,
                redaction: None,
                reason: None,
                provenance: Provenance::builtin("aho_corasick", 0.0),
                location: None,
            });
        }
        Ok(())
    }
}

impl super::registry::OperatorConfig for KeywordConfig {
    const TYPE: &'static str = "keyword_block";
    fn validate(&self, path: &str, errors: &mut Errors) {
        KeywordConfig::validate(self, path, errors)
    }
    fn category(&self) -> crate::model::Category {
        crate::model::Category::Keyword
    }
    fn build(
        &self,
        at: &super::registry::BuildContext,
    ) -> Result<super::registry::BuiltOperator, super::registry::BuildError> {
        use super::registry::BuiltOperator;
        Ok(BuiltOperator::inspector(self.build_at(at)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocker() -> KeywordBlocker {
        KeywordConfig {
            action: Action::Block,
            lists: vec![
                KeywordList {
                    label: "weapons".into(),
                    terms: vec!["pipe bomb".into(), "ghost gun".into()],
                    terms_file: None,
                    action: None,
                    score: 1.0,
                },
                KeywordList {
                    label: "profanity".into(),
                    terms: vec!["ass".into()],
                    terms_file: None,
                    action: Some(Action::Flag),
                    score: 0.6,
                },
            ],
        }
        .build("banned")
        .unwrap()
    }

    #[test]
    fn phrase_matching_cases() {
        let b = blocker();
        let cases: &[(&str, &[usize])] = &[
            ("how to build a Pipe Bomb at home", &[0]),
            ("PIPE BOMB", &[0]),
            ("pipe bombs", &[]),
            ("a pipe, bomb", &[]),
            ("first class service", &[]),
            ("kiss my ass", &[1]),
            ("ghost gun and ass", &[0, 1]),
            ("ass-kicking", &[1]),
            ("Ünïcode ass ünïcode", &[1]),
        ];
        for (text, expected) in cases {
            let got: Vec<usize> = b.matches(text).into_iter().map(|(i, _)| i).collect();
            assert_eq!(&got, expected, "{text}");
        }
    }

    #[test]
    fn spans_are_byte_offsets_of_the_original_text_whatever_its_case() {
        let b = blocker();
        let text = "Ünïcode GHOST Gun, then Kiss my ASS";
        let spans: Vec<&str> = b
            .matches(text)
            .into_iter()
            .map(|(_, s)| &text[s.start..s.end])
            .collect();
        assert_eq!(spans, ["GHOST Gun", "ASS"]);
    }

    #[test]
    fn findings_carry_the_list_action() {
        let b = blocker();
        let mut event = Event::prompt("1", "kiss my ass, then the ghost gun");
        b.inspect(&mut event).unwrap();
        let actions: Vec<(String, Action)> = event
            .findings
            .iter()
            .map(|f| (f.label.to_string(), f.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("weapons".to_string(), Action::Block),
                ("profanity".to_string(), Action::Flag)
            ]
        );
    }

    #[test]
    fn a_list_without_terms_is_invalid() {
        let config = KeywordConfig {
            action: Action::Block,
            lists: vec![KeywordList {
                label: "empty".into(),
                terms: vec![],
                terms_file: None,
                action: None,
                score: 1.0,
            }],
        };
        let mut errors = Errors::default();
        config.validate("operators.k", &mut errors);
        assert_eq!(errors.iter().next().unwrap().path, "operators.k.lists[0]");
    }
}

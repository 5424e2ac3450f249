//! Compiling built-in patterns for speed.
//!
//! Unicode word boundaries (`\b`) stop the regex crate's lazy DFA on non-ASCII input, which
//! falls back to a much slower engine; every built-in pattern therefore uses ASCII word
//! boundaries. Letters outside ASCII then count as non-word characters at a boundary, which is
//! what the detectors want anyway (they look for ASCII-shaped identifiers and phrases).

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// Rewrites `\b` into ASCII `(?-u:\b)`, leaving escaped backslashes alone.
pub fn ascii_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('b') => out.push_str(r"(?-u:\b)"),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

const SIZE_LIMIT: usize = 32 * 1024 * 1024;

/// The lazy DFA's cache of a set or a regex. A set of many patterns searched for overlapping
/// matches builds many states; with the default 2 MiB cache it filled and was rebuilt over and
/// over (the PII recognizers' set: a third of the default topology's time went to building
/// states).
const DFA_CACHE_LIMIT: usize = 32 * 1024 * 1024;

/// A regex with ASCII word boundaries.
pub fn fast_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(&ascii_boundaries(pattern))
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_CACHE_LIMIT)
        .build()
}

/// A regex set with ASCII word boundaries.
pub fn fast_set<I, S>(patterns: I) -> Result<RegexSet, regex::Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    RegexSetBuilder::new(patterns.into_iter().map(|p| ascii_boundaries(p.as_ref())))
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_CACHE_LIMIT)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unescaped_word_boundaries_are_rewritten() {
        assert_eq!(ascii_boundaries(r"\bab\b"), r"(?-u:\b)ab(?-u:\b)");
        assert_eq!(ascii_boundaries(r"\\b\d"), r"\\b\d");
    }
}

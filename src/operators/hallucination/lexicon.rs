//! Words as the groundedness check sees them: UAX #29 words with byte spans, each classed as a
//! stop word, a negation, a number (normalised: `1,000` = `1000`, `3.50` = `3.5`, `twelve` =
//! `12`, `Sept` = `September`; months count as numbers so a changed date is a changed value)
//! or a content word (Snowball-stemmed, so `starred` = `stars` = `star`).

use ahash::AHashMap as HashMap;
use std::cell::RefCell;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

use crate::model::Span;

/// What a word contributes to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordClass {
    /// Function words: ignored for support.
    Stop,
    /// `not`, `never`, `n't`...: flips a claim.
    Negation,
    /// A quantity, year or ordinal; `key` is its normalised value.
    Number,
    /// Everything else; `key` is its stem.
    Content,
}

/// One word of a text.
#[derive(Debug, Clone)]
pub struct Word {
    pub span: Span,
    pub class: WordClass,
    /// Lower-case form (possessive `'s` removed).
    pub lower: String,
    /// Stem of a content word, normalised value of a number, else `lower`.
    pub key: String,
    /// Starts with an upper-case letter.
    pub capitalized: bool,
    /// First word of its sentence (capitalised for grammar, not as a name).
    pub sentence_start: bool,
}

/// English function words (a compact list: pronouns, determiners, auxiliaries, prepositions,
/// conjunctions, discourse words common in chat replies).
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "actually",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "either",
    "else",
    "even",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "however",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "let",
    "like",
    "may",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "myself",
    "oh",
    "of",
    "off",
    "ok",
    "okay",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "really",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "upon",
    "us",
    "very",
    "was",
    "we",
    "well",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "would",
    "yeah",
    "yes",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "one",
    "once",
    "ones",
    "s",
    "t",
    "d",
    "ll",
    "re",
    "ve",
    "m",
    "im",
    "it's",
    "i'm",
    "you're",
    "that's",
    "there's",
    "he's",
    "she's",
    "we're",
    "they're",
    "i've",
    "you've",
    "i'd",
    "you'd",
    "i'll",
    "you'll",
    "let's",
    "what's",
];

/// Words that negate a clause.
const NEGATIONS: &[&str] = &[
    "not",
    "no",
    "never",
    "none",
    "nobody",
    "nothing",
    "neither",
    "nor",
    "nowhere",
    "without",
    "cannot",
    "n't",
    "don't",
    "doesn't",
    "didn't",
    "isn't",
    "aren't",
    "wasn't",
    "weren't",
    "won't",
    "wouldn't",
    "can't",
    "couldn't",
    "shouldn't",
    "haven't",
    "hasn't",
    "hadn't",
];

/// Number words and their values (`one` is left out: it is mostly a pronoun).
const NUMBER_WORDS: &[(&str, &str)] = &[
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
    ("thirteen", "13"),
    ("fourteen", "14"),
    ("fifteen", "15"),
    ("sixteen", "16"),
    ("seventeen", "17"),
    ("eighteen", "18"),
    ("nineteen", "19"),
    ("twenty", "20"),
    ("thirty", "30"),
    ("forty", "40"),
    ("fifty", "50"),
    ("sixty", "60"),
    ("seventy", "70"),
    ("eighty", "80"),
    ("ninety", "90"),
    ("hundred", "100"),
    ("thousand", "1000"),
    ("million", "1000000"),
    ("billion", "1000000000"),
    ("dozen", "12"),
    ("first", "1st"),
    ("second", "2nd"),
    ("third", "3rd"),
    ("fourth", "4th"),
    ("fifth", "5th"),
    ("sixth", "6th"),
    ("seventh", "7th"),
    ("eighth", "8th"),
    ("ninth", "9th"),
    ("tenth", "10th"),
    ("twice", "2"),
    ("half", "0.5"),
];

/// Month names (and common abbreviations): dates are compared by value, `Sept` = `September`.
const MONTHS: &[(&str, &str)] = &[
    ("january", "month:1"),
    ("jan", "month:1"),
    ("february", "month:2"),
    ("feb", "month:2"),
    ("march", "month:3"),
    ("mar", "month:3"),
    ("april", "month:4"),
    ("apr", "month:4"),
    ("may", "month:5"),
    ("june", "month:6"),
    ("jun", "month:6"),
    ("july", "month:7"),
    ("jul", "month:7"),
    ("august", "month:8"),
    ("aug", "month:8"),
    ("september", "month:9"),
    ("sept", "month:9"),
    ("sep", "month:9"),
    ("october", "month:10"),
    ("oct", "month:10"),
    ("november", "month:11"),
    ("nov", "month:11"),
    ("december", "month:12"),
    ("dec", "month:12"),
];

/// The month a word names: `May` only capitalised mid-sentence (else it is the verb), other
/// names in any case.
fn month(lower: &str, capitalized: bool, sentence_start: bool) -> Option<&'static str> {
    let (_, value) = MONTHS.iter().find(|(name, _)| *name == lower)?;
    let bare_may = lower == "may" && (!capitalized || sentence_start);
    let short = lower.len() <= 4 && lower != "june" && lower != "july" && !capitalized;
    (!bare_may && !short).then_some(*value)
}

/// Class (and value, for numbers) of every listed word, for one hash lookup per word.
fn listed() -> &'static HashMap<&'static str, (WordClass, &'static str)> {
    static LISTED: OnceLock<HashMap<&'static str, (WordClass, &'static str)>> = OnceLock::new();
    LISTED.get_or_init(|| {
        let mut map = HashMap::new();
        for w in STOP_WORDS {
            map.insert(*w, (WordClass::Stop, *w));
        }
        for (w, value) in NUMBER_WORDS {
            map.insert(*w, (WordClass::Number, *value));
        }
        for w in NEGATIONS {
            map.insert(*w, (WordClass::Negation, *w));
        }
        map
    })
}

/// Most stems a thread keeps cached before starting over.
const STEM_CACHE_LIMIT: usize = 65_536;

thread_local! {
    static STEMS: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// The Snowball English stem of a lower-case word (cached per thread: text repeats words).
fn stem(lower: &str) -> String {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(stem) = cache.get(lower) {
            return stem.clone();
        }
        if cache.len() >= STEM_CACHE_LIMIT {
            cache.clear();
        }
        let stem = STEMMER
            .get_or_init(|| Stemmer::create(Algorithm::English))
            .stem(lower)
            .into_owned();
        cache.insert(lower.to_string(), stem.clone());
        stem
    })
}

/// The normalised value of a numeric token (`1,000` -> `1000`, `3.50` -> `3.5`,
/// `1990s` -> `1990`, `2nd` -> `2nd`), or `None` when it is not a number.
pub fn number_value(lower: &str) -> Option<String> {
    if let Some((WordClass::Number, value)) = listed().get(lower) {
        return Some((*value).to_string());
    }
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
        .unwrap_or(lower.len());
    let (number, suffix) = lower.split_at(digits_end);
    if !number.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let ordinal = matches!(suffix, "st" | "nd" | "rd" | "th");
    if !(suffix.is_empty() || ordinal || suffix.chars().all(|c| c.is_ascii_alphabetic())) {
        return None;
    }
    let plain: String = number.chars().filter(|&c| c != ',').collect();
    let plain = plain.trim_end_matches('.');
    let mut value = if plain.contains('.') {
        plain
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        plain.to_string()
    };
    if ordinal {
        value.push_str(suffix);
    }
    Some(value)
}

/// The class of a lower-case word and its key (stem or normalised number).
pub fn classify(lower: &str) -> (WordClass, String) {
    if let Some((class, value)) = listed().get(lower) {
        return (*class, (*value).to_string());
    }
    if lower.ends_with("n't") {
        return (WordClass::Negation, lower.to_string());
    }
    if lower.starts_with(|c: char| c.is_ascii_digit()) {
        if let Some(value) = number_value(lower) {
            return (WordClass::Number, value);
        }
    }
    (WordClass::Content, stem(lower))
}

/// The words of `text` (offsets added to `base`), sentence starts marked: a word starts a
/// sentence when it is the first or when the gap before it holds `.`, `!`, `?` or a line break
/// (cheaper than full UAX #29 sentence breaking, which matters on long context documents).
pub fn words(text: &str, base: usize) -> Vec<Word> {
    let mut out = Vec::new();
    let mut previous_end = 0;
    for (at, raw) in text.unicode_word_indices() {
        let gap = &text.as_bytes()[previous_end..at];
        let sentence_start =
            out.is_empty() || gap.iter().any(|b| matches!(b, b'.' | b'!' | b'?' | b'\n'));
        previous_end = at + raw.len();
        let trimmed = raw
            .strip_suffix("'s")
            .or_else(|| raw.strip_suffix("’s"))
            .unwrap_or(raw);
        if trimmed.is_empty() {
            continue;
        }
        let lower = if trimmed.contains('’') {
            trimmed.to_lowercase().replace('’', "'")
        } else {
            trimmed.to_lowercase()
        };
        let capitalized = trimmed.starts_with(char::is_uppercase);
        let (class, key) = match month(&lower, capitalized, sentence_start) {
            Some(value) => (WordClass::Number, value.to_string()),
            None => classify(&lower),
        };
        out.push(Word {
            span: Span::new(base + at, base + at + raw.len()),
            class,
            capitalized,
            sentence_start,
            lower,
            key,
        });
    }
    out
}

/// Extra forms under which a source word may be cited: knowledge strings glued together
/// (`RememberA`, `Jr.Robert`) are split at a lower-to-upper case change and at inner dots.
pub fn glued_parts(raw: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let inner_upper = raw
        .char_indices()
        .skip(1)
        .any(|(_, c)| c.is_uppercase() || c == '.');
    if !inner_upper {
        return parts;
    }
    let mut start = 0;
    let mut previous: Option<char> = None;
    for (i, c) in raw.char_indices() {
        let boundary = match previous {
            Some(p) => (p.is_lowercase() && c.is_uppercase()) || (p == '.' && c.is_alphabetic()),
            None => false,
        };
        if boundary {
            parts.push(raw[start..i].trim_matches('.').to_string());
            start = i;
        }
        previous = Some(c);
    }
    if start > 0 {
        parts.push(raw[start..].trim_matches('.').to_string());
    }
    parts.retain(|p| !p.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised() {
        for (raw, value) in [
            ("1,000", Some("1000")),
            ("3.50", Some("3.5")),
            ("1990s", Some("1990")),
            ("2nd", Some("2nd")),
            ("twelve", Some("12")),
            ("2.0", Some("2")),
            ("apple", None),
            ("b2b", None),
        ] {
            assert_eq!(number_value(raw).as_deref(), value, "{raw}");
        }
    }

    #[test]
    fn words_are_classed_and_stemmed() {
        let w = words("Tom Hanks didn't star in 3 films. He starred", 0);
        let classes: Vec<_> = w.iter().map(|w| (w.key.as_str(), w.class)).collect();
        assert_eq!(classes[0], ("tom", WordClass::Content));
        assert_eq!(classes[2], ("didn't", WordClass::Negation));
        assert_eq!(classes[3].0, classes[8].0, "star = starred");
        assert_eq!(classes[5], ("3", WordClass::Number));
        assert!(w[0].sentence_start && !w[1].sentence_start && w[7].sentence_start);
        let dates = words("It opened on 31 May 1889. May I ask? Sept 3", 0);
        let keys: Vec<_> = dates
            .iter()
            .filter(|w| w.class == WordClass::Number)
            .map(|w| w.key.as_str())
            .collect();
        assert_eq!(keys, vec!["31", "month:5", "1889", "month:9", "3"]);
        assert_eq!(
            &"Tom Hanks didn't"[w[2].span.start..w[2].span.end],
            "didn't"
        );
    }

    #[test]
    fn glued_knowledge_is_split() {
        assert_eq!(glued_parts("RememberA"), vec!["Remember", "A"]);
        assert_eq!(glued_parts("Jr.Robert"), vec!["Jr", "Robert"]);
        assert!(glued_parts("Gyllenhaal").is_empty());
    }
}

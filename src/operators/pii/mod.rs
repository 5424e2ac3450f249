//! `pii_detect`: personal data found by pattern, checksum and context.
//!
//! One pass per recognizer whose cheap byte prefilter passes (no digit in the text: no
//! digit-based regex runs). Candidates are validated (Luhn, mod-97, SSN rules, ...), scored
//! with context words, filtered by threshold, and overlaps are resolved by keeping the
//! highest-scoring, then longest, candidate. With a `ner` table, the model's names, places
//! and organisations then fill the gaps: an entity overlapping a kept pattern finding is
//! dropped. Findings are grouped per label, one span per occurrence; the detected values
//! themselves are never stored.

pub mod address;
pub mod context;
pub mod recognizers;
pub mod validators;

use std::collections::BTreeMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;
use serde::Deserialize;

use self::context::ContextWords;
use self::recognizers::{Needs, Recognizer};
use super::check_unit_interval;
use super::ner::recognizer::NerRecognizer;
use super::ner::NerConfig;
use super::redaction::RedactionConfig;
use super::{group_in_order, Inspector, OperatorFailure};
use crate::diagnostics::{join, Errors};
use crate::model::Action;
use crate::model::{Category, Event, Finding, Provenance, Redaction, Span};

/// A user-defined entity: a regex or a dictionary of terms (`[[operators.<id>.custom]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CustomEntity {
    /// Label reported for matches, e.g. `EMPLOYEE_ID`.
    pub label: String,
    /// A regex (linear-time `regex` syntax); exclusive with `terms`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Literal terms matched on word boundaries; exclusive with `pattern`.
    #[serde(default)]
    pub terms: Vec<String>,
    /// Match terms with exact case (default: ASCII case-insensitive).
    #[serde(default)]
    pub case_sensitive: bool,
    /// Score of a match before context.
    #[serde(default = "default_custom_score")]
    pub score: f32,
    /// Words that raise the score by `context_boost` when near a match.
    #[serde(default)]
    pub context: Vec<String>,
    #[serde(default = "default_boost")]
    pub context_boost: f32,
}

fn default_custom_score() -> f32 {
    0.8
}
fn default_boost() -> f32 {
    0.2
}

/// `[operators.<id>]` with `type = "pii_detect"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PiiConfig {
    /// Built-in labels to detect; empty means all of them.
    #[serde(default)]
    pub entities: Vec<String>,
    /// Minimum score (after context) for a candidate to be reported.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Per-label thresholds overriding `threshold`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, f32>,
    /// Suggested action per label; default `redact` (`DATE_TIME` and `URL`: `flag`).
    #[serde(default)]
    pub actions: BTreeMap<String, Action>,
    /// Extra context words per label, added to the built-in ones.
    #[serde(default)]
    pub context: BTreeMap<String, Vec<String>>,
    /// User-defined regex and dictionary entities.
    #[serde(default)]
    pub custom: Vec<CustomEntity>,
    #[serde(default)]
    pub redaction: RedactionConfig,
    /// Names, places and organisations from a token-classification model; its entities fill
    /// the gaps between the resolved pattern findings (an overlapping entity is dropped).
    #[serde(default)]
    pub ner: Option<Box<NerConfig>>,
    /// Street addresses (`STREET_ADDRESS`, `address.rs`): off unless set here or listed in
    /// `entities`, because on address-dense text they cost about a third of the operator's
    /// speed.
    #[serde(default)]
    pub addresses: bool,
}

fn default_threshold() -> f32 {
    0.5
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            entities: Vec::new(),
            threshold: default_threshold(),
            thresholds: BTreeMap::new(),
            actions: BTreeMap::new(),
            context: BTreeMap::new(),
            custom: Vec::new(),
            redaction: RedactionConfig::default(),
            ner: None,
            addresses: false,
        }
    }
}

/// Labels whose default suggestion is `flag` rather than `redact`: on their own, a date, a URL,
/// a place ("the capital of Australia") or a company name is rarely personal data.
pub const FLAG_BY_DEFAULT: &[&str] = &["DATE_TIME", "URL", "LOCATION", "ORGANIZATION"];

/// A label's suggested action: the configured one, else `flag` for [`FLAG_BY_DEFAULT`] labels
/// and `redact` for the rest (`pii_detect` and `ner_detect`).
pub fn action_for(label: &str, actions: &BTreeMap<String, Action>) -> Action {
    actions
        .get(label)
        .copied()
        .unwrap_or(if FLAG_BY_DEFAULT.contains(&label) {
            Action::Flag
        } else {
            Action::Redact
        })
}

impl PiiConfig {
    fn all_labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = recognizers::builtin_labels()
            .iter()
            .map(|l| l.to_string())
            .collect();
        labels.extend(self.custom.iter().map(|c| c.label.clone()));
        for label in self.ner.iter().flat_map(|n| n.reported_labels()) {
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        labels
    }

    pub fn validate(&self, path: &str, errors: &mut Errors) {
        let builtin = recognizers::builtin_labels();
        for (i, entity) in self.entities.iter().enumerate() {
            if !builtin.contains(&entity.as_str()) {
                errors.push(
                    format!("{path}.entities[{i}]"),
                    format!("unknown entity `{entity}`, expected one of {builtin:?}"),
                );
            }
        }
        check_unit_interval(path, "threshold", self.threshold, errors);
        let labels = self.all_labels();
        let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        for (label, value) in &self.thresholds {
            let at = join(path, "thresholds");
            if !label_refs.contains(&label.as_str()) {
                errors.push(join(&at, label), "unknown label");
            }
            check_unit_interval(&at, label, *value, errors);
        }
        for label in self.actions.keys().chain(self.context.keys()) {
            if !label_refs.contains(&label.as_str()) {
                errors.push(join(path, label), format!("unknown label `{label}`"));
            }
        }
        for (i, custom) in self.custom.iter().enumerate() {
            let at = format!("{path}.custom[{i}]");
            if custom.label.is_empty()
                || !custom
                    .label
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                errors.push(
                    join(&at, "label"),
                    "must be UPPER_SNAKE_CASE, e.g. EMPLOYEE_ID",
                );
            }
            match (&custom.pattern, custom.terms.is_empty()) {
                (Some(_), false) => errors.push(&at, "set either `pattern` or `terms`, not both"),
                (None, true) => errors.push(&at, "needs a `pattern` or a list of `terms`"),
                (Some(pattern), true) => {
                    if let Err(e) = Regex::new(pattern) {
                        errors.push(join(&at, "pattern"), format!("invalid regex: {e}"));
                    }
                }
                (None, false) => {
                    if custom.terms.iter().any(|t| t.trim().is_empty()) {
                        errors.push(join(&at, "terms"), "terms must not be empty strings");
                    }
                }
            }
            check_unit_interval(&at, "score", custom.score, errors);
            check_unit_interval(&at, "context_boost", custom.context_boost, errors);
        }
        self.redaction
            .validate(&join(path, "redaction"), &label_refs, errors);
        if let Some(ner) = &self.ner {
            let at = join(path, "ner");
            ner.validate(&at, errors);
            if !ner.actions.is_empty() {
                errors.push(
                    join(&at, "actions"),
                    "set `actions` on the pii_detect operator",
                );
            }
            if ner.redaction.is_some() {
                errors.push(
                    join(&at, "redaction"),
                    "set `redaction` on the pii_detect operator",
                );
            }
        }
    }

    pub fn build(&self, id: &str) -> Result<PiiDetector, String> {
        let labels = self.all_labels();
        let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let redactions = self.redaction.resolve(&label_refs)?;
        let mut label_info: Vec<LabelInfo> = Vec::new();
        let mut label_index = |label: &str| -> usize {
            if let Some(i) = label_info.iter().position(|l| &*l.name == label) {
                return i;
            }
            let action = action_for(label, &self.actions);
            label_info.push(LabelInfo {
                name: Arc::from(label),
                threshold: self
                    .thresholds
                    .get(label)
                    .copied()
                    .unwrap_or(self.threshold),
                action,
                redaction: redactions.get(label).cloned().flatten(),
            });
            label_info.len() - 1
        };
        let mut patterns = Vec::new();
        for recognizer in recognizers::builtin() {
            let enabled = self.entities.is_empty()
                || self.entities.iter().any(|e| e == recognizer.label)
                || (recognizer.label == "DATE_TIME"
                    && self.entities.iter().any(|e| e == "DATE_OF_BIRTH"));
            if !enabled {
                continue;
            }
            let mut words: Vec<String> = recognizer.context.iter().map(|w| w.to_string()).collect();
            words.extend(
                self.context
                    .get(recognizer.label)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            patterns.push(CompiledRecognizer {
                label: label_index(recognizer.label),
                regex: super::patterns::fast_regex(recognizer.pattern)
                    .map_err(|e| format!("built-in pattern: {e}"))?,
                context: ContextWords::new(&words),
                negative: ContextWords::new(recognizer.negative_context),
                spec: recognizer,
            });
        }
        let dob_label = label_index("DATE_OF_BIRTH");
        let address_label = (self.addresses || self.entities.iter().any(|e| e == "STREET_ADDRESS"))
            .then(|| label_index("STREET_ADDRESS"));
        let any_match =
            super::patterns::fast_set(patterns.iter().map(|r: &CompiledRecognizer| r.spec.pattern))
                .map_err(|e| format!("built-in patterns: {e}"))?;
        let mut custom_patterns = Vec::new();
        let mut terms = Vec::new();
        let mut term_entities = Vec::new();
        for custom in &self.custom {
            let label = label_index(&custom.label);
            let entity = CustomRuntime {
                label,
                score: custom.score,
                context: ContextWords::new(&custom.context),
                context_boost: custom.context_boost,
                case_sensitive: custom.case_sensitive,
            };
            if let Some(pattern) = &custom.pattern {
                custom_patterns.push((Regex::new(pattern).map_err(|e| e.to_string())?, entity));
            } else {
                let entity_index = term_entities.len();
                term_entities.push(entity);
                for term in &custom.terms {
                    terms.push((term.clone(), entity_index));
                }
            }
        }
        let dictionary = if terms.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(terms.iter().map(|(t, _)| t))
                    .map_err(|e| e.to_string())?,
            )
        };
        let ner = match &self.ner {
            Some(config) => {
                let recognizer = NerRecognizer::build(config).map_err(|e| format!("ner: {e}"))?;
                let labels = config
                    .reported_labels()
                    .iter()
                    .map(|label| {
                        let mut words = self.context.get(label).cloned().unwrap_or_default();
                        words.retain(|w| !w.trim().is_empty());
                        NerLabel {
                            name: Arc::from(label.as_str()),
                            index: label_index(label),
                            context: ContextWords::new(&words),
                        }
                    })
                    .collect();
                Some(NerPart { recognizer, labels })
            }
            None => None,
        };
        Ok(PiiDetector {
            id: Arc::from(id),
            ner,
            any_match,
            recognizers: patterns,
            custom_patterns,
            dictionary,
            dictionary_terms: terms,
            term_entities,
            labels: label_info,
            dob_label,
            dob_context: ContextWords::new(&["born", "birth", "dob", "birthday", "b-day"]),
            address_label,
        })
    }
}

#[derive(Debug)]
struct LabelInfo {
    name: Arc<str>,
    threshold: f32,
    action: Action,
    redaction: Option<Redaction>,
}

struct CompiledRecognizer {
    label: usize,
    regex: Regex,
    context: ContextWords,
    negative: ContextWords,
    spec: Recognizer,
}

struct CustomRuntime {
    label: usize,
    score: f32,
    context: ContextWords,
    context_boost: f32,
    case_sensitive: bool,
}

impl CustomRuntime {
    /// The entity's score for a match at `start..end`, raised by nearby context words.
    fn score_at(&self, text: &str, start: usize, end: usize) -> f32 {
        let boost = if self.context.near(text, start, end) {
            self.context_boost
        } else {
            0.0
        };
        self.score + boost
    }
}

/// The model part of a detector with a `ner` table.
struct NerPart {
    recognizer: NerRecognizer,
    labels: Vec<NerLabel>,
}

struct NerLabel {
    name: Arc<str>,
    /// Index into the detector's labels.
    index: usize,
    /// The operator's `context` words for this label: each raises the score by
    /// [`NER_CONTEXT_BOOST`].
    context: ContextWords,
}

/// Score added to a model entity with one of its label's context words nearby.
const NER_CONTEXT_BOOST: f32 = 0.2;

/// Non-overlapping, group-aligned parts of a separated digit run that `score` accepts, left
/// to right, each the longest accepted from its first group (the whole run excluded), and
/// where to scan again: the start of the first group after the last part accepted (or the
/// second group when none was), the run's end when every group was used.
fn valid_group_spans(
    run: &str,
    score: impl Fn(&str, usize) -> Option<f32>,
) -> (Vec<(usize, usize, f32)>, usize) {
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in run.char_indices() {
        match (c.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                groups.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        groups.push((s, run.len()));
    }
    let mut found = Vec::new();
    let mut first = 0;
    while first < groups.len() {
        let accepted = (first..groups.len()).rev().find_map(|last| {
            if first == 0 && last == groups.len() - 1 {
                return None;
            }
            let (start, end) = (groups[first].0, groups[last].1);
            score(&run[start..end], start).map(|s| (last, start, end, s))
        });
        match accepted {
            Some((last, start, end, s)) => {
                found.push((start, end, s));
                first = last + 1;
            }
            None => first += 1,
        }
    }
    let next_group = match found.last() {
        Some((_, end, _)) => groups.iter().position(|g| g.0 >= *end),
        None => (groups.len() > 1).then_some(1),
    };
    let resume = next_group.map_or(run.len(), |g| groups[g].0);
    (found, resume)
}

/// A scored candidate before overlap resolution.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    label: usize,
    span: Span,
    score: f32,
    detector: &'static str,
}

/// Which cheap byte tests a text passes.
struct TextTraits {
    digits: usize,
    at: bool,
    colon: bool,
    url: bool,
    dotted: bool,
    hex_pair: bool,
}

impl TextTraits {
    fn of(text: &str) -> Self {
        let bytes = text.as_bytes();
        let colon = memchr::memchr(b':', bytes).is_some();
        TextTraits {
            digits: bytes.iter().filter(|b| b.is_ascii_digit()).count(),
            at: memchr::memchr(b'@', bytes).is_some(),
            colon,
            url: url_marker(bytes),
            hex_pair: memchr::memchr2_iter(b'-', b':', bytes).any(|at| {
                at > 0
                    && bytes[at - 1].is_ascii_hexdigit()
                    && bytes.get(at + 1).is_some_and(u8::is_ascii_hexdigit)
            }),
            dotted: memchr::memchr_iter(b'.', bytes)
                .any(|at| bytes.get(at + 1).is_some_and(u8::is_ascii_alphanumeric)),
        }
    }

    fn allows(&self, needs: Needs) -> bool {
        match needs {
            Needs::Digit => self.digits > 0,
            Needs::At => self.at,
            Needs::Colon => self.colon,
            Needs::UrlMarker => self.url,
            Needs::Dotted => self.dotted,
            Needs::HexPair => self.hex_pair,
        }
    }

    /// Whether any built-in recognizer may match (the triggers of `pii_detect` without a
    /// model, custom patterns or terms).
    fn any(&self) -> bool {
        self.digits > 0 || self.at || self.colon || self.url || self.dotted || self.hex_pair
    }
}

/// Whether `bytes` hold `://`, `www.` or `WWW.` (searchers built once: building one per
/// text cost more than the search).
fn url_marker(bytes: &[u8]) -> bool {
    static MARKERS: std::sync::OnceLock<[memchr::memmem::Finder<'static>; 3]> =
        std::sync::OnceLock::new();
    let markers = MARKERS
        .get_or_init(|| ["://", "www.", "WWW."].map(|m| memchr::memmem::Finder::new(m.as_bytes())));
    markers.iter().any(|m| m.find(bytes).is_some())
}

/// Characters of the longest trigger `TextTraits::any` looks for (`www.`).
const TRIGGER_CHARS: usize = 4;

/// The runtime PII detector built from a [`PiiConfig`].
pub struct PiiDetector {
    id: Arc<str>,
    ner: Option<NerPart>,
    /// All recognizer patterns in one set: one pass says which can match at all.
    any_match: regex::RegexSet,
    recognizers: Vec<CompiledRecognizer>,
    custom_patterns: Vec<(Regex, CustomRuntime)>,
    dictionary: Option<AhoCorasick>,
    dictionary_terms: Vec<(String, usize)>,
    term_entities: Vec<CustomRuntime>,
    labels: Vec<LabelInfo>,
    dob_label: usize,
    /// `STREET_ADDRESS`'s label, when it is enabled.
    address_label: Option<usize>,
    dob_context: ContextWords,
}

impl PiiDetector {
    /// Every label/span/score this detector reports for `text`, overlaps resolved, sorted by
    /// position. Used by `inspect` and by `railyard eval`.
    pub fn detect(&self, text: &str) -> Vec<(Arc<str>, Span, f32)> {
        self.resolve(self.candidates(text))
            .into_iter()
            .map(|c| (self.labels[c.label].name.clone(), c.span, c.score))
            .collect()
    }

    fn candidates(&self, text: &str) -> Vec<Candidate> {
        self.candidates_with(text, &TextTraits::of(text))
    }

    /// Only built-in recognizers: nothing is found in a text whose traits allow none.
    fn gated(&self) -> bool {
        self.ner.is_none() && self.custom_patterns.is_empty() && self.dictionary.is_none()
    }

    fn candidates_with(&self, text: &str, traits: &TextTraits) -> Vec<Candidate> {
        let mut out = Vec::new();
        let worth_a_look = self
            .recognizers
            .iter()
            .any(|r| traits.allows(r.spec.needs) && traits.digits >= r.spec.min_digits);
        if !worth_a_look && self.custom_patterns.is_empty() && self.dictionary.is_none() {
            return out;
        }
        let possible = self.any_match.matches(text);
        for (index, r) in self.recognizers.iter().enumerate() {
            if !traits.allows(r.spec.needs)
                || traits.digits < r.spec.min_digits
                || !possible.matched(index)
            {
                continue;
            }
            let mut at = 0;
            while let Some(m) = r.regex.find_at(text, at) {
                at = m.end();
                let mut matched = m.as_str();
                let mut scored = (r.spec.score)(matched, text, m.start());
                if scored.is_none() && r.spec.detector == "mod97" {
                    // The optional last group may have taken the next word (`... 8741 ALL`):
                    // the code without it.
                    if let Some(cut) = matched.rfind([' ', '-']) {
                        matched = &matched[..cut];
                        scored = (r.spec.score)(matched, text, m.start());
                    }
                }
                let Some(mut score) = scored else {
                    // A run of digit groups may hold a valid number after (or before) other
                    // digits: `0 4111 1111 1111 1111`. Checksum-validated labels retry the
                    // group-aligned parts, longest first, and scan again from the first group
                    // not used (it may begin a number that runs on past this match).
                    if r.spec.detector == "luhn" {
                        let (parts, resume) = valid_group_spans(m.as_str(), |part, at| {
                            (r.spec.score)(part, text, m.start() + at)
                        });
                        for (start, end, score) in parts {
                            let (start, end) = (m.start() + start, m.start() + end);
                            self.push_candidate(
                                &mut out,
                                r.label,
                                start,
                                end,
                                score,
                                r.spec.detector,
                            );
                        }
                        at = m.start() + resume;
                    }
                    continue;
                };
                let end = m.start() + matched.len();
                if r.context.near(text, m.start(), end) {
                    score += r.spec.context_boost;
                }
                if r.negative.near(text, m.start(), end) {
                    score -= r.spec.context_boost;
                }
                let mut label = r.label;
                if r.spec.label == "DATE_TIME" && self.dob_context.near(text, m.start(), end) {
                    label = self.dob_label;
                    score = score.max(0.85);
                }
                self.push_candidate(&mut out, label, m.start(), end, score, r.spec.detector);
            }
        }
        if let Some(label) = self.address_label {
            for (start, end, score) in address::find(text) {
                self.push_candidate(&mut out, label, start, end, score, "address");
            }
        }
        for (regex, entity) in &self.custom_patterns {
            for m in regex.find_iter(text) {
                let score = entity.score_at(text, m.start(), m.end());
                self.push_candidate(
                    &mut out,
                    entity.label,
                    m.start(),
                    m.end(),
                    score,
                    "custom_regex",
                );
            }
        }
        if let Some(dictionary) = &self.dictionary {
            let bytes = text.as_bytes();
            for m in dictionary.find_iter(text) {
                let (term, entity_index) = &self.dictionary_terms[m.pattern().as_usize()];
                let entity = &self.term_entities[*entity_index];
                let on_boundaries = (m.start() == 0
                    || !bytes[m.start() - 1].is_ascii_alphanumeric())
                    && (m.end() == bytes.len() || !bytes[m.end()].is_ascii_alphanumeric());
                if !on_boundaries || (entity.case_sensitive && &text[m.start()..m.end()] != term) {
                    continue;
                }
                let score = entity.score_at(text, m.start(), m.end());
                self.push_candidate(
                    &mut out,
                    entity.label,
                    m.start(),
                    m.end(),
                    score,
                    "dictionary",
                );
            }
        }
        out
    }

    fn push_candidate(
        &self,
        out: &mut Vec<Candidate>,
        label: usize,
        start: usize,
        end: usize,
        score: f32,
        detector: &'static str,
    ) {
        let score = score.clamp(0.0, 1.0);
        if score >= self.labels[label].threshold && end > start {
            out.push(Candidate {
                label,
                span: Span::new(start, end),
                score,
                detector,
            });
        }
    }

    /// Model entities as candidates (a model failure fails the event, under `on_error`).
    /// Context words of the entity's label raise its score by [`NER_CONTEXT_BOOST`].
    fn ner_candidates(
        &self,
        event: &mut Event,
        out: &mut Vec<Candidate>,
    ) -> Result<(), OperatorFailure> {
        let Some(ner) = &self.ner else {
            return Ok(());
        };
        if event.window == Some(crate::model::StreamWindow::Patterns) {
            // A stream's NER runs on its sentence windows.
            return Ok(());
        }
        for entity in ner.recognizer.entities(event)? {
            let Some(label) = ner.labels.iter().find(|l| l.name == entity.label) else {
                continue;
            };
            let mut score = entity.score;
            if label
                .context
                .near(&event.text, entity.span.start, entity.span.end)
            {
                score += NER_CONTEXT_BOOST;
            }
            self.push_candidate(
                out,
                label.index,
                entity.span.start,
                entity.span.end,
                score,
                "onnx_ner",
            );
        }
        Ok(())
    }

    /// Keeps the best non-overlapping candidates: higher score first, then longer span.
    fn resolve(&self, mut candidates: Vec<Candidate>) -> Vec<Candidate> {
        if candidates.len() < 2 {
            return candidates;
        }
        candidates.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.span.len().cmp(&a.span.len()))
                .then(a.span.start.cmp(&b.span.start))
        });
        let mut kept: Vec<Candidate> = Vec::with_capacity(candidates.len());
        for c in candidates {
            if !kept.iter().any(|k| k.span.overlaps(&c.span)) {
                kept.push(c);
            }
        }
        kept.sort_by_key(|c| c.span.start);
        kept
    }
}

impl Inspector for PiiDetector {
    /// Patterns only: with NER (a model reading the whole text) it is not incremental.
    fn incremental(&self) -> bool {
        self.ner.is_none()
    }

    /// With its built-in recognizers only, every one needs a digit, `@`, `:`, `://` or
    /// `www.`, a dotted name, or a hex pair around `-` or `:` in the text.
    fn trigger_chars(&self) -> Option<usize> {
        self.gated().then_some(TRIGGER_CHARS)
    }

    fn has_trigger(&self, text: &str) -> bool {
        TextTraits::of(text).any()
    }

    /// Patterns on every scan window; NER on sentences.
    fn stream_role(&self) -> crate::operators::StreamRole {
        match self.ner {
            Some(_) => crate::operators::StreamRole::Both,
            None => crate::operators::StreamRole::Patterns,
        }
    }

    fn longest_match_chars(&self) -> Option<usize> {
        self.dictionary_terms
            .iter()
            .map(|(t, _)| t.chars().count())
            .max()
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn model_digests(&self) -> Vec<&'static str> {
        self.ner
            .iter()
            .map(|ner| ner.recognizer.model().digest())
            .collect()
    }

    fn prepare(&self, events: &mut [Event]) {
        if let Some(ner) = &self.ner {
            ner.recognizer.prepare(events);
        }
    }

    fn inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        // Pattern findings are resolved first and kept; model entities fill the gaps (one that
        // overlaps a kept pattern finding is dropped): a checksum- or syntax-validated match
        // is surer than a probabilistic span, and the model sometimes sees a name in an
        // email address or a URL.
        let traits = TextTraits::of(&event.text);
        if event.window.is_some() && self.gated() && traits.any() {
            event.triggered.push(self.id.clone());
        }
        let mut found = self.resolve(self.candidates_with(&event.text, &traits));
        let mut entities = Vec::new();
        self.ner_candidates(event, &mut entities)?;
        if !entities.is_empty() {
            entities.retain(|e| !found.iter().any(|f| f.span.overlaps(&e.span)));
            found.extend(self.resolve(entities));
            found.sort_by_key(|c| c.span.start);
        }
        if found.is_empty() {
            return Ok(());
        }
        for (label, of_label) in group_in_order(&found, |c| c.label) {
            let info = &self.labels[label];
            let spans: Vec<Span> = of_label.iter().map(|c| c.span).collect();
            let best = of_label.iter().map(|c| c.score).fold(0.0, f32::max);
            let detector = of_label[0].detector;
            event.findings.push(Finding {
                operator: self.id.clone(),
                category: Category::Pii,
                label: info.name.clone(),
                score: best,
                spans,
                action: info.action,
                redaction: info.redaction.clone(),
                reason: None,
                // Model entities carry the model file's digest; patterns, the crate version.
                provenance: match (&self.ner, detector) {
                    (Some(ner), "onnx_ner") => Provenance {
                        detector,
                        version: ner.recognizer.model().digest(),
                        threshold: info.threshold,
                    },
                    _ => Provenance::builtin(detector, info.threshold),
                },
                location: None,
            });
        }
        Ok(())
    }
}

crate::operators::registry::register_inspector!(
    PiiConfig, "pii_detect", crate::model::Category::Pii,
    build(c, id) => c.build(id),
    model(c) => c.ner.as_ref().map(|n| &n.model), c.ner.as_mut().map(|n| &mut n.model),
    files(c, path) => c.ner.as_ref().map(|n| n.model.files(&crate::diagnostics::join(path, "ner.model"))).unwrap_or_default(),
);

#[cfg(test)]
mod tests;

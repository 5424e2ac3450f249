//! Named entities (people, places, organisations) from a token-classification ONNX model.
//!
//! [`NerConfig`] is the model table and the rules around it; [`recognizer::NerRecognizer`]
//! turns a model's per-token output into scored entity spans ([`decode`]), drops those on the
//! allow-list or next to a suppressing word. It serves two operators: `ner_detect` on its own
//! ([`detector`]) and `pii_detect` with a `ner` table, where its spans join the regex
//! candidates.

pub mod decode;
pub mod detector;
pub mod recognizer;

use std::collections::BTreeMap;

use serde::Deserialize;

use super::check_unit_interval;
use super::redaction::RedactionConfig;
use crate::diagnostics::{join, Errors};
use crate::inference::ModelConfig;
use crate::model::Action;

/// The labels of railyard's MiniLM NER head (CoNLL-2003 types), by output column.
pub const DEFAULT_LABELS: &[&str] = &[
    "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC",
];

/// Model entity types reported by default, and the label each is reported as.
pub const DEFAULT_ENTITIES: &[(&str, &str)] = &[
    ("PER", "PERSON"),
    ("LOC", "LOCATION"),
    ("ORG", "ORGANIZATION"),
];

/// The output of railyard's own NER head in the shipped graph.
pub const SHIPPED_HEAD_OUTPUT: &str = "ner_logits";

/// Lowest thresholds per label for the shipped head, unless `thresholds` names the label:
/// ORGANIZATION at 0.7, its best ORG F1 on the CoNLL-2003 dev split (0.868, against 0.864 at
/// 0.5, with precision 0.909 against 0.860). Organisation names are where the head errs most
/// outside news (capitalised titles, bands, address lines), so the cut that is best on news is
/// the precise end of a flat curve. Another model's scores are its own: no floor applies.
pub const SHIPPED_HEAD_FLOORS: &[(&str, f32)] = &[("ORGANIZATION", 0.7)];

impl NerConfig {
    /// The threshold of a reported label.
    pub fn threshold_of(&self, label: &str) -> f32 {
        if let Some(t) = self.thresholds.get(label) {
            return *t;
        }
        let floor = SHIPPED_HEAD_FLOORS
            .iter()
            .find(|(l, _)| *l == label && self.output == SHIPPED_HEAD_OUTPUT)
            .map_or(0.0, |(_, t)| *t);
        self.threshold.max(floor)
    }
}

/// Words that, right after a name, make it part of an address (`Maria Street`), which is
/// `pii_detect`'s `STREET_ADDRESS`, not a person or a place.
pub const ADDRESS_WORDS: &[&str] = &[
    "street",
    "st",
    "road",
    "rd",
    "avenue",
    "ave",
    "boulevard",
    "blvd",
    "lane",
    "ln",
    "drive",
    "court",
    "ct",
    "place",
    "pl",
    "square",
    "sq",
    "way",
    "terrace",
    "crescent",
    "close",
    "highway",
    "hwy",
    "parkway",
    "pkwy",
    "alley",
    "strasse",
    "straße",
    "gasse",
    "weg",
    "platz",
    "chaussee",
    "allee",
    "row",
];

/// `type = "ner_detect"`, or the `ner` table of a `pii_detect` operator.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct NerConfig {
    pub model: ModelConfig,
    /// The per-token logits output ([batch, sequence, labels]).
    pub output: String,
    /// The model's labels by output column, IOB2 (`O`, `B-PER`, `I-PER`, ...).
    pub labels: Vec<String>,
    /// Model entity type -> reported label. Types not listed still shape the decoding but are
    /// not reported (railyard's head also knows `MISC`).
    pub entities: BTreeMap<String, String>,
    /// Minimum entity score (mean probability of its tags).
    pub threshold: f32,
    /// Per reported label thresholds overriding `threshold` (and, for the shipped head,
    /// [`SHIPPED_HEAD_FLOORS`]).
    pub thresholds: BTreeMap<String, f32>,
    /// Entity texts never reported (public figures, product names); ASCII case-insensitive,
    /// whole entity.
    pub allow: Vec<String>,
    /// Per reported label, words that suppress an entity when they are near it.
    pub suppress: BTreeMap<String, Vec<String>>,
    /// Drop a PERSON, LOCATION or ORGANIZATION that is part of an address: ending with or
    /// followed by a street word ([`ADDRESS_WORDS`]), after a street prefix or a house number,
    /// or a postal designator (`PSC`, `APO`, `P.O. Box`, a fleet post office ship).
    pub skip_street_names: bool,
    /// Suggested action per reported label (`ner_detect` only; default `redact`, `flag` for
    /// LOCATION and ORGANIZATION).
    pub actions: BTreeMap<String, Action>,
    /// How spans are redacted (`ner_detect` only; `pii_detect` has its own).
    pub redaction: Option<RedactionConfig>,
}

impl Default for NerConfig {
    fn default() -> Self {
        NerConfig {
            model: ModelConfig::default(),
            output: "ner_logits".into(),
            labels: DEFAULT_LABELS.iter().map(|s| s.to_string()).collect(),
            entities: DEFAULT_ENTITIES
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            threshold: 0.5,
            thresholds: BTreeMap::new(),
            allow: Vec::new(),
            suppress: BTreeMap::new(),
            skip_street_names: true,
            actions: BTreeMap::new(),
            redaction: None,
        }
    }
}

impl NerConfig {
    /// The labels this configuration reports, in a stable order.
    pub fn reported_labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self.entities.values().cloned().collect();
        labels.sort();
        labels.dedup();
        labels
    }

    /// Checks everything but the model itself (that is loaded at build).
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        self.model.validate(&join(path, "model"), errors);
        match decode::TagScheme::parse(&self.labels) {
            Ok(scheme) => {
                for kind in self.entities.keys() {
                    if !scheme.types.contains(kind) {
                        errors.push(
                            join(&join(path, "entities"), kind),
                            format!(
                                "no entity type `{kind}` in `labels` (types: {:?})",
                                scheme.types
                            ),
                        );
                    }
                }
            }
            Err(message) => errors.push(join(path, "labels"), message),
        }
        if self.entities.is_empty() {
            errors.push(
                join(path, "entities"),
                "reports nothing; map at least one type",
            );
        }
        for (kind, label) in &self.entities {
            if label.is_empty()
                || !label
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                errors.push(
                    join(&join(path, "entities"), kind),
                    "must map to an UPPER_SNAKE_CASE label, e.g. PERSON",
                );
            }
        }
        check_unit_interval(path, "threshold", self.threshold, errors);
        let reported = self.reported_labels();
        let known = |label: &String| reported.contains(label);
        for (label, value) in &self.thresholds {
            let at = join(path, "thresholds");
            if !known(label) {
                errors.push(
                    join(&at, label),
                    format!("unknown label, expected one of {reported:?}"),
                );
            }
            check_unit_interval(&at, label, *value, errors);
        }
        for (field, labels) in [
            ("suppress", self.suppress.keys().collect::<Vec<_>>()),
            ("actions", self.actions.keys().collect()),
        ] {
            for label in labels.into_iter().filter(|l| !known(l)) {
                errors.push(
                    join(&join(path, field), label),
                    format!("unknown label, expected one of {reported:?}"),
                );
            }
        }
        if self.allow.iter().any(|a| a.trim().is_empty()) {
            errors.push(join(path, "allow"), "entries must not be empty");
        }
        if let Some(redaction) = &self.redaction {
            let refs: Vec<&str> = reported.iter().map(String::as_str).collect();
            redaction.validate(&join(path, "redaction"), &refs, errors);
        }
    }
}

crate::operators::registry::register_inspector!(
    NerConfig, "ner_detect", crate::model::Category::Pii,
    build(c, id) => c.build_detector(id),
    model(c) => Some(&c.model), Some(&mut c.model),
);

#[cfg(test)]
mod tests {
    use super::NerConfig;

    #[test]
    fn the_shipped_head_reports_organisations_from_its_floor() {
        let shipped = NerConfig::default();
        assert_eq!(shipped.threshold_of("PERSON"), 0.5);
        assert_eq!(shipped.threshold_of("ORGANIZATION"), 0.7);
        let mut named = shipped.clone();
        named.thresholds.insert("ORGANIZATION".into(), 0.4);
        named.threshold = 0.8;
        assert_eq!(named.threshold_of("ORGANIZATION"), 0.4);
        assert_eq!(named.threshold_of("PERSON"), 0.8);
        let other_model = NerConfig {
            output: "logits".into(),
            ..NerConfig::default()
        };
        assert_eq!(other_model.threshold_of("ORGANIZATION"), 0.5);
    }
}

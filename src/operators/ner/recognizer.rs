//! `NerRecognizer`: a loaded token-classification model and the rules that turn its output
//! into reported entities (thresholds, allow-list, suppressing context words, street names).

use std::collections::HashSet;
use std::sync::Arc;

use super::decode::{self, TagScheme};
use super::{NerConfig, ADDRESS_WORDS};
use crate::inference::{registry, Model, TextOutputs};
use crate::model::{Event, Span};
use crate::operators::onnx_classify::{ensure_outputs, outputs_for};
use crate::operators::pii::context::ContextWords;
use crate::operators::OperatorFailure;

/// Words that, right before a name, make it a street (`Via Roma`, `Rue Lepic`).
const ADDRESS_PREFIXES: &[&str] = &[
    "via", "rue", "calle", "avenida", "rua", "viale", "piazza", "ul", "ulica", "str", "strada",
];

/// Greetings the model sometimes runs into the name that follows (`Hi Keiran`): a capitalised
/// greeting opening a sentence looks like a name's first word to an uncased encoder.
const GREETINGS: &[&str] = &[
    "hi", "hello", "hey", "dear", "thanks", "thank", "welcome", "bye",
];

/// Drops a leading greeting word from an entity span.
fn without_greeting(text: &str, start: usize, end: usize) -> usize {
    let span = &text[start..end];
    let Some((first, rest)) = span.split_once(' ') else {
        return start;
    };
    let first = first.trim_end_matches(',');
    if GREETINGS.contains(&first.to_lowercase().as_str()) && !rest.trim().is_empty() {
        end - rest.trim_start().len()
    } else {
        start
    }
}

/// What a model entity type is reported as.
struct Reported {
    label: Arc<str>,
    threshold: f32,
    suppress: ContextWords,
    /// Drop names that are part of an address (PERSON, LOCATION).
    street_check: bool,
    /// Drop organisations that end with or precede a street word, or are postal designators.
    postal_check: bool,
}

/// One entity to report.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedEntity {
    pub label: Arc<str>,
    pub span: Span,
    pub score: f32,
}

pub struct NerRecognizer {
    model: Arc<Model>,
    output: usize,
    scheme: TagScheme,
    /// By entity type index of the scheme; `None` for types not reported.
    reported: Vec<Option<Reported>>,
    /// Lower-cased allow-list entries.
    allow: HashSet<String>,
}

impl NerRecognizer {
    pub fn build(config: &NerConfig) -> Result<NerRecognizer, String> {
        let scheme = TagScheme::parse(&config.labels)?;
        let model = registry::shared(&config.model).map_err(|e| e.to_string())?;
        let output =
            model.require_output_columns(&config.output, true, scheme.tags.len(), "NER")?;
        let reported = scheme
            .types
            .iter()
            .map(|kind| {
                config.entities.get(kind).map(|label| Reported {
                    label: Arc::from(label.as_str()),
                    threshold: config.threshold_of(label),
                    suppress: ContextWords::new(
                        config.suppress.get(label).map(Vec::as_slice).unwrap_or(&[]),
                    ),
                    street_check: config.skip_street_names
                        && matches!(label.as_str(), "PERSON" | "LOCATION"),
                    // Organisations after a number are common in result tables ("Leeds 2
                    // Chelsea 1"): only street words and postal designators drop them.
                    postal_check: config.skip_street_names && label == "ORGANIZATION",
                })
            })
            .collect();
        Ok(NerRecognizer {
            model,
            output,
            scheme,
            reported,
            allow: config
                .allow
                .iter()
                .map(|a| a.trim().to_lowercase())
                .collect(),
        })
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Queues every event's text for the model (one batch for the whole event batch).
    pub fn prepare(&self, events: &mut [Event]) {
        ensure_outputs(&self.model, events, |_, _| true);
    }

    /// The reported entities of an event, in text order.
    pub fn entities(&self, event: &mut Event) -> Result<Vec<NamedEntity>, OperatorFailure> {
        let outputs = outputs_for(&self.model, event)?;
        Ok(self.entities_in(&event.text, &outputs))
    }

    /// The reported entities of `text`, from the model's outputs for it.
    pub fn entities_in(&self, text: &str, outputs: &TextOutputs) -> Vec<NamedEntity> {
        let windows = outputs
            .offsets
            .iter()
            .zip(&outputs.windows)
            .map(|(offsets, values)| (offsets.as_slice(), values[self.output].as_slice()));
        decode::decode(&self.scheme, text, windows)
            .into_iter()
            .filter_map(|mut entity| {
                let reported = self.reported[entity.kind].as_ref()?;
                entity.start = without_greeting(text, entity.start, entity.end);
                if reported.postal_check {
                    entity.end = with_abbreviation_period(text, entity.start, entity.end);
                }
                let allowed = self
                    .allow
                    .contains(&text[entity.start..entity.end].to_lowercase());
                let suppressed = reported.suppress.near(text, entity.start, entity.end)
                    || part_of_technical_token(text, entity.start, entity.end)
                    || (reported.street_check && is_street_name(text, entity.start, entity.end))
                    || (reported.postal_check
                        && (has_street_word(text, entity.start, entity.end)
                            || is_postal_token(&text[entity.start..entity.end])
                            || is_currency_code(&text[entity.start..entity.end])));
                let keep = entity.score >= reported.threshold && !allowed && !suppressed;
                keep.then(|| NamedEntity {
                    label: reported.label.clone(),
                    span: Span::new(entity.start, entity.end),
                    score: entity.score,
                })
            })
            .collect()
    }
}

/// Whether `start..end` is glued to a URL scheme, an `@`, or `=`, `_`, `\\` (`postgres://...`,
/// `maria@host`, `user=Maria`): part of an address, identifier or setting, not a name in prose.
fn part_of_technical_token(text: &str, start: usize, end: usize) -> bool {
    const GLUE: [char; 4] = ['@', '=', '_', '\\'];
    let after = &text[end..];
    after.starts_with("://") || after.starts_with(GLUE) || text[..start].ends_with(GLUE)
}

/// Whether `start..end` ends with or is followed by a street word, follows a street prefix,
/// or follows a house number on the same line (`4823 Del Sauzal`, `71236 Mühle 77`).
fn is_street_name(text: &str, start: usize, end: usize) -> bool {
    follows_house_number(&text[..start]) || has_street_word(text, start, end)
}

/// Whether `before` ends with a house number after a word on the same line (`to 4823 `,
/// `Strasse 61 `): 1 to 6 digits, optionally with one letter (`12a`), then only spaces. A number
/// that opens a line or follows another number is a table (ranks, scores), and a year (1900 to
/// 2099) is a date ("In 2019 Maria moved"), not a house number.
fn follows_house_number(before: &str) -> bool {
    let trimmed = before.trim_end_matches([' ', '\t']);
    if trimmed.len() == before.len() {
        return false;
    }
    let line = trimmed.rsplit('\n').next().unwrap_or("");
    let mut tokens = line.rsplit([' ', '\t']).filter(|t| !t.is_empty());
    let (Some(number), Some(word)) = (tokens.next(), tokens.next()) else {
        return false;
    };
    let digits = number.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let is_number = (1..=6).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && number.len() - digits.len() <= 1;
    let is_year = number.len() == 4
        && digits
            .parse::<u32>()
            .is_ok_and(|year| (1900..=2099).contains(&year));
    is_number && !is_year && word.chars().any(char::is_alphabetic)
}

/// Whether an entity is a postal designator or an address line's unit word rather than a
/// name: the military `PSC`, `APO`, `FPO`, `DPO` (alone or with their state code, `APO AE`),
/// a rural route (`RR`), `Suite`, `Apt.`, `Unit`, `Fax`, a `P.O. Box`, or a ship of a fleet
/// post office address (`USNS Šimić`).
fn is_postal_token(span: &str) -> bool {
    const DESIGNATORS: &[&str] = &[
        "PSC",
        "APO",
        "FPO",
        "DPO",
        "UNIT",
        "BOX",
        "RR",
        "SUITE",
        "APT",
        "APARTMENT",
        "FAX",
    ];
    const MILITARY: &[&str] = &["APO", "FPO", "DPO"];
    const MILITARY_STATES: &[&str] = &["AA", "AE", "AP"];
    const SHIPS: &[&str] = &["USNS ", "USNV ", "USS ", "USCGC "];
    let upper = span.trim().trim_end_matches('.').to_uppercase();
    let compact: String = upper.chars().filter(|c| c.is_alphanumeric()).collect();
    let military = upper.split_once(' ').is_some_and(|(first, state)| {
        MILITARY.contains(&first) && MILITARY_STATES.contains(&state)
    });
    DESIGNATORS.contains(&upper.as_str())
        || military
        || compact.starts_with("POBOX")
        || SHIPS.iter().any(|s| upper.starts_with(s))
}

/// Whether an entity is the ISO code of a widely traded currency (`USD`, `GBP`): an amount's
/// unit, not an organisation.
fn is_currency_code(span: &str) -> bool {
    const CODES: &[&str] = &[
        "USD", "EUR", "GBP", "JPY", "CHF", "CNY", "CAD", "AUD", "NZD", "INR", "HKD", "SGD", "SEK",
        "NOK", "DKK", "PLN", "CZK", "HUF", "RUB", "BRL", "MXN", "ZAR", "KRW", "TRY", "ILS",
    ];
    CODES.contains(&span.trim())
}

/// Company-form abbreviations written with a period (`Inc.`, `Corp.`, `Co.Ltd.`).
const COMPANY_ABBREVIATIONS: &[&str] = &[
    "inc", "corp", "co", "ltd", "bros", "cos", "plc", "llc", "lp", "sa", "nv", "bv", "ag", "pty",
    "intl", "mfg", "assn",
];

/// The end of an organisation that ends with a company-form abbreviation, widened over the
/// abbreviation's period (`Acme Inc` + `.`): the period is part of the name, as in the
/// company's own registered form.
fn with_abbreviation_period(text: &str, start: usize, end: usize) -> usize {
    let last = text[start..end]
        .rsplit(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_lowercase();
    if text[end..].starts_with('.') && COMPANY_ABBREVIATIONS.contains(&last.as_str()) {
        end + 1
    } else {
        end
    }
}

fn has_street_word(text: &str, start: usize, end: usize) -> bool {
    let last = text[start..end]
        .trim_end_matches('.')
        .rsplit(|c: char| !c.is_alphanumeric() && c != 'ß')
        .next()
        .unwrap_or("")
        .to_lowercase();
    let next = text[end..]
        .trim_start()
        .split(|c: char| !c.is_alphanumeric() && c != 'ß')
        .next()
        .unwrap_or("")
        .to_lowercase();
    let previous = text[..start]
        .trim_end()
        .trim_end_matches('.')
        .rsplit(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_lowercase();
    [last, next]
        .iter()
        .any(|w| ADDRESS_WORDS.contains(&w.as_str()))
        || ADDRESS_PREFIXES.contains(&previous.as_str())
}

#[cfg(test)]
mod tests {
    use super::{
        has_street_word, is_currency_code, is_postal_token, is_street_name,
        part_of_technical_token, with_abbreviation_period, without_greeting,
    };

    #[test]
    fn postal_designators_are_not_organisations() {
        for span in [
            "PSC",
            "APO",
            "FPO",
            "DPO",
            "P.O. Box",
            "PO Box",
            "USNS Šimić",
            "USS Cole",
            "APO AE",
            "FPO AP",
            "Suite",
            "Apt.",
            "RR",
        ] {
            assert!(is_postal_token(span), "{span}");
        }
        for span in [
            "APO Holdings",
            "Boxer Inc",
            "Pos Malaysia",
            "US Steel",
            "FPO Capital",
            "Suite Hotels",
        ] {
            assert!(!is_postal_token(span), "{span}");
        }
        assert!(is_currency_code("GBP") && !is_currency_code("GBP Holdings"));
    }

    #[test]
    fn a_company_form_keeps_its_period() {
        for (text, entity, want) in [
            (
                "Mimount from Cornerstone Brands Inc. is here",
                "Cornerstone Brands Inc",
                "Cornerstone Brands Inc.",
            ),
            (
                "EM SYSTEMS CO.LTD.\nUnit 0345",
                "EM SYSTEMS CO.LTD",
                "EM SYSTEMS CO.LTD.",
            ),
            ("She joined Acme Corp. in May", "Acme Corp", "Acme Corp."),
            ("She joined Acme. Then left", "Acme", "Acme"),
            ("Tesco Inc, then", "Tesco Inc", "Tesco Inc"),
        ] {
            let start = text.find(entity).unwrap();
            let end = with_abbreviation_period(text, start, start + entity.len());
            assert_eq!(&text[start..end], want);
        }
    }

    #[test]
    fn a_street_word_with_its_period_is_a_street() {
        let text = "ózsa György út 78. St. and Mstislav Radial St. today";
        let start = text.find("Mstislav").unwrap();
        assert!(has_street_word(
            text,
            start,
            start + "Mstislav Radial St.".len()
        ));
    }

    /// Asserts `rule(text, start, end)` for the first occurrence of each entity in its text.
    fn check(rule: fn(&str, usize, usize) -> bool, cases: &[(&str, &str, bool)]) {
        for &(text, entity, want) in cases {
            let start = text.find(entity).unwrap();
            assert_eq!(rule(text, start, start + entity.len()), want, "{text}");
        }
    }

    #[test]
    fn names_glued_to_technical_tokens_are_not_names() {
        let cases = [
            ("Connect with postgres://app@db", "postgres", true),
            ("mail maria@example.com", "maria", true),
            ("set user=Maria now", "Maria", true),
            ("Maria: can you call me?", "Maria", false),
            ("Ask Maria's team (Maria Lopez).", "Maria Lopez", false),
        ];
        check(part_of_technical_token, &cases);
    }

    #[test]
    fn street_names() {
        let cases = [
            ("I live on Maria Street now", "Maria", true),
            ("Turn onto Baker Street", "Baker Street", true),
            ("Via Pasquale Scura 127", "Pasquale Scura", true),
            ("Maria Gonzalez from Leeds", "Maria Gonzalez", false),
            ("Call Drew", "Drew", false),
            (
                "Please return to 4823 Del Sauzal 2174 Suite 629",
                "Del Sauzal",
                true,
            ),
            ("sent to 71236 Mühle 77 Suite 160", "Mühle", true),
            ("office at 16152 ul. Asnyka Adama 82", "Asnyka Adama", true),
            ("In 2019 Maria Lopez joined us", "Maria Lopez", false),
            ("our 3 founders: Maria Lopez and Tom", "Maria Lopez", false),
            ("Ticket 4411\nMaria Lopez", "Maria Lopez", false),
            ("287 Ian Woosnam 70 76 71 70", "Ian Woosnam", false),
            (
                "( Spain ) 6-2 6-1 Alex Corretja ( Spain )",
                "Alex Corretja",
                false,
            ),
            ("Freistädter Strasse 61 Anna Shoals", "Anna Shoals", true),
        ];
        check(is_street_name, &cases);
    }

    #[test]
    fn greetings_are_not_part_of_names() {
        for (text, want) in [
            ("Hi Keiran", "Keiran"),
            ("Dear  Ms Olsen", "Ms Olsen"),
            ("Hilda Keiran", "Hilda Keiran"),
            ("Hi", "Hi"),
        ] {
            let start = without_greeting(text, 0, text.len());
            assert_eq!(&text[start..], want);
        }
    }
}

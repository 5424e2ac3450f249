//! Per-slice rates for a classification eval (`railyard eval --slices FILE`): rows grouped by
//! a metadata field's value or by a term list (whole words, case-insensitive), each with its
//! false-positive and true-positive rate beside the overall ones, and the spread of FPR over
//! the slices (max/min, and which slices exceed twice the overall FPR).
//!
//! The slice file is TOML:
//! ```toml
//! [[slices]]
//! name = "dialect=aae"
//! field = "dialect"        # metadata.dialect (or a top-level field of the row)
//! equals = "aae"
//! [[slices]]
//! name = "identity:women"
//! terms = ["woman", "women"]
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::metrics::BinaryScores;

/// One slice definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slice {
    pub name: String,
    /// A row belongs when this field (of `metadata`, else of the row) equals `equals`.
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub equals: Option<String>,
    /// A row belongs when its text holds one of these words or phrases.
    #[serde(default)]
    pub terms: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceFile {
    pub slices: Vec<Slice>,
}

impl SliceFile {
    /// Reads and checks a slice file: every slice has a field and value, or terms.
    pub fn read(path: &Path) -> Result<SliceFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: SliceFile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut errors = Vec::new();
        for (i, s) in file.slices.iter().enumerate() {
            let by_field = s.field.is_some() && s.equals.is_some();
            if by_field != s.terms.is_empty() {
                errors.push(format!(
                    "slices[{i}] (`{}`): give either field and equals, or terms",
                    s.name
                ));
            }
        }
        match errors.is_empty() {
            true => Ok(file),
            false => Err(errors.join("; ")),
        }
    }
}

/// One evaluated row, as slicing needs it.
pub struct SlicedRow<'a> {
    pub text: &'a str,
    pub row: &'a serde_json::Value,
    pub gold: bool,
    pub predicted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SliceRates {
    pub name: String,
    pub rows: usize,
    pub positives: usize,
    pub negatives: usize,
    pub false_positive_rate: Option<f64>,
    pub true_positive_rate: Option<f64>,
    /// This slice's FPR over the overall FPR.
    pub fpr_ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SliceReport {
    pub overall: SliceRates,
    pub slices: Vec<SliceRates>,
    /// Highest over lowest FPR among slices with negatives (absent when the lowest is 0 and
    /// the highest is not: `max_min_ratio_infinite`).
    pub max_min_ratio: Option<f64>,
    pub max_min_ratio_infinite: bool,
    /// Slices whose FPR is above twice the overall FPR.
    pub above_twice_overall: Vec<String>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn holds(words: &[String], term: &str) -> bool {
    let term = self::words(term);
    !term.is_empty() && words.windows(term.len()).any(|w| w == term.as_slice())
}

fn field<'a>(row: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    row.get("metadata")
        .and_then(|m| m.get(name))
        .or_else(|| row.get(name))
}

fn rates(name: &str, scores: &BinaryScores, rows: usize) -> SliceRates {
    let negatives = scores.fp + scores.tn;
    let positives = scores.tp + scores.fn_;
    SliceRates {
        name: name.to_string(),
        rows,
        positives,
        negatives,
        false_positive_rate: (negatives > 0).then(|| scores.fp as f64 / negatives as f64),
        true_positive_rate: (positives > 0).then(|| scores.tp as f64 / positives as f64),
        fpr_ratio: None,
    }
}

pub fn slice_report(file: &SliceFile, rows: &[SlicedRow<'_>]) -> SliceReport {
    let mut overall = BinaryScores::default();
    for r in rows {
        overall.record(r.gold, r.predicted);
    }
    let overall = rates("overall", &overall, rows.len());
    let tokenized: Vec<Vec<String>> = rows.iter().map(|r| words(r.text)).collect();
    let mut slices = Vec::new();
    for slice in &file.slices {
        let mut scores = BinaryScores::default();
        let mut count = 0;
        for (r, w) in rows.iter().zip(&tokenized) {
            let member = match (&slice.field, &slice.equals) {
                (Some(f), Some(v)) => field(r.row, f).is_some_and(|x| match x {
                    serde_json::Value::String(s) => s == v,
                    other => {
                        serde_json::from_str::<serde_json::Value>(v).is_ok_and(|x| x == *other)
                    }
                }),
                _ => slice.terms.iter().any(|t| holds(w, t)),
            };
            if member {
                scores.record(r.gold, r.predicted);
                count += 1;
            }
        }
        let mut rates = rates(&slice.name, &scores, count);
        rates.fpr_ratio = match (rates.false_positive_rate, overall.false_positive_rate) {
            (Some(s), Some(o)) if o > 0.0 => Some(s / o),
            _ => None,
        };
        slices.push(rates);
    }
    let fprs: Vec<f64> = slices
        .iter()
        .filter_map(|s| s.false_positive_rate)
        .collect();
    let max = fprs.iter().copied().fold(f64::NAN, f64::max);
    let min = fprs.iter().copied().fold(f64::NAN, f64::min);
    let (max_min_ratio, infinite) = match (max.is_nan(), min > 0.0) {
        (true, _) => (None, false),
        (false, true) => (Some(max / min), false),
        (false, false) if max == 0.0 => (Some(1.0), false),
        (false, false) => (None, true),
    };
    let above_twice_overall = slices
        .iter()
        .filter(
            |s| match (s.false_positive_rate, overall.false_positive_rate) {
                (Some(f), Some(o)) => f > 2.0 * o && f > 0.0,
                _ => false,
            },
        )
        .map(|s| s.name.clone())
        .collect();
    SliceReport {
        overall,
        slices,
        max_min_ratio,
        max_min_ratio_infinite: infinite,
        above_twice_overall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_by_term_and_field_count_their_rows_and_rates() {
        let file: SliceFile = toml::from_str(
            "[[slices]]\nname = \"women\"\nterms = [\"women\", \"a woman\"]\n[[slices]]\nname = \"fr\"\nfield = \"lang\"\nequals = \"fr\"\n",
        )
        .unwrap();
        let rows: Vec<(&str, serde_json::Value, bool, bool)> = vec![
            ("Women can vote.", serde_json::json!({}), false, true),
            (
                "She is a woman engineer.",
                serde_json::json!({}),
                false,
                false,
            ),
            ("Womenswear sale", serde_json::json!({}), false, false),
            (
                "Bonjour",
                serde_json::json!({"metadata": {"lang": "fr"}}),
                true,
                true,
            ),
            (
                "Salut",
                serde_json::json!({"metadata": {"lang": "fr"}}),
                false,
                false,
            ),
        ];
        let sliced: Vec<SlicedRow> = rows
            .iter()
            .map(|(t, r, g, p)| SlicedRow {
                text: t,
                row: r,
                gold: *g,
                predicted: *p,
            })
            .collect();
        let report = slice_report(&file, &sliced);
        // Overall: 4 negatives, 1 false positive.
        assert_eq!(report.overall.false_positive_rate, Some(0.25));
        let women = &report.slices[0];
        assert_eq!((women.rows, women.negatives), (2, 2), "whole words only");
        assert_eq!(women.false_positive_rate, Some(0.5));
        assert_eq!(women.fpr_ratio, Some(2.0));
        let fr = &report.slices[1];
        assert_eq!((fr.rows, fr.positives), (2, 1));
        assert_eq!(fr.true_positive_rate, Some(1.0));
        assert_eq!(fr.false_positive_rate, Some(0.0));
        assert!(report.max_min_ratio_infinite);
        assert!(report.above_twice_overall.is_empty(), "2x is not above 2x");
    }
}

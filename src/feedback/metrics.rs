//! Feedback metrics: per operator and label (and per category over every operator), the
//! confusion of what the verdicts found against what reviewers said, and from the recorded
//! scores the lowest threshold whose false-positive rate on the reviewed negatives meets a
//! target.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::labels::Reviews;
use crate::model::Category;
use crate::replay::recorded::{OperatorLabel, RecordedVerdict, VerdictSet};

/// One operator and label (or, with operator `*`, one category over every operator).
#[derive(Debug, Clone, Serialize)]
pub struct UnitMetrics {
    pub operator: Arc<str>,
    pub label: Arc<str>,
    /// Absent for a label only recorded as scores by an operator that never found anything.
    pub category: Option<Category>,
    /// The review key the truth came from (the label, else the category).
    pub key: String,
    pub reviewed: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub true_negatives: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub false_positive_rate: Option<f64>,
    /// The threshold the verdicts record for it (from a finding's provenance or a score).
    pub current_threshold: Option<f32>,
    /// Reviewed events with a recorded score (`record_scores`), of `reviewed`.
    pub scored: usize,
    /// The lowest threshold with a false-positive rate at most the target on the reviewed
    /// negatives, and the recall and FPR it gives; absent without scores on every event.
    pub suggested_threshold: Option<f32>,
    pub recall_at_suggested: Option<f64>,
    pub fpr_at_suggested: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FeedbackReport {
    pub verdicts: usize,
    pub reviewed_events: usize,
    /// Reviewed events with no verdict (not in the verdict set).
    pub reviews_without_verdict: usize,
    pub disagreements: usize,
    /// Label records that could not be read.
    pub unreadable_labels: usize,
    pub target_fpr: f64,
    pub units: Vec<UnitMetrics>,
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The threshold for `target` FPR: above the `k+1`-th highest negative score, where `k` is
/// how many negatives the target allows.
fn threshold_for(target: f64, negatives: &mut [f32], positives: &[f32]) -> Option<(f32, f64, f64)> {
    if negatives.is_empty() && positives.is_empty() {
        return None;
    }
    negatives.sort_by(|a, b| b.total_cmp(a));
    let allowed = (target * negatives.len() as f64).floor() as usize;
    let threshold = match negatives.get(allowed) {
        // Just above the first negative that must not pass (scores are rounded to 1e-4).
        Some(&s) => (s + 1e-4).min(1.0),
        None => positives
            .iter()
            .chain(negatives.iter())
            .copied()
            .fold(1.0f32, f32::min),
    };
    let passed = |xs: &[f32]| xs.iter().filter(|&&s| s >= threshold).count();
    Some((
        threshold,
        ratio(passed(positives), positives.len()).unwrap_or(0.0),
        ratio(passed(negatives), negatives.len()).unwrap_or(0.0),
    ))
}

/// The confusion of `found` against the reviewed truth over every reviewed verdict, and the
/// scores of the reviewed positives and negatives where `score` has one.
struct Counted {
    metrics: UnitMetrics,
    positives: Vec<f32>,
    negatives: Vec<f32>,
}

fn count(
    mut metrics: UnitMetrics,
    verdicts: &VerdictSet,
    reviews: &Reviews,
    keys: &[&str],
    found: impl Fn(&RecordedVerdict) -> bool,
    score: impl Fn(&RecordedVerdict) -> Option<f32>,
) -> Counted {
    let (mut positives, mut negatives) = (Vec::new(), Vec::new());
    for v in &verdicts.verdicts {
        let Some((key, truth)) = keys
            .iter()
            .find_map(|k| reviews.answer(&v.event_id, k).map(|t| (*k, t)))
        else {
            continue;
        };
        if metrics.key.is_empty() {
            metrics.key = key.to_string();
        }
        metrics.reviewed += 1;
        match (found(v), truth) {
            (true, true) => metrics.true_positives += 1,
            (true, false) => metrics.false_positives += 1,
            (false, true) => metrics.false_negatives += 1,
            (false, false) => metrics.true_negatives += 1,
        }
        if let Some(s) = score(v) {
            metrics.scored += 1;
            match truth {
                true => positives.push(s),
                false => negatives.push(s),
            }
        }
    }
    let m = &mut metrics;
    m.precision = ratio(m.true_positives, m.true_positives + m.false_positives);
    m.recall = ratio(m.true_positives, m.true_positives + m.false_negatives);
    m.false_positive_rate = ratio(m.false_positives, m.false_positives + m.true_negatives);
    Counted {
        metrics,
        positives,
        negatives,
    }
}

fn unit(operator: &Arc<str>, label: &Arc<str>, category: Option<Category>) -> UnitMetrics {
    UnitMetrics {
        operator: operator.clone(),
        label: label.clone(),
        category,
        key: String::new(),
        reviewed: 0,
        true_positives: 0,
        false_positives: 0,
        false_negatives: 0,
        true_negatives: 0,
        precision: None,
        recall: None,
        false_positive_rate: None,
        current_threshold: None,
        scored: 0,
        suggested_threshold: None,
        recall_at_suggested: None,
        fpr_at_suggested: None,
    }
}

/// Every `(operator, label)` the verdicts know (from findings and recorded scores), with its
/// category (when a finding names it) and threshold.
fn known_units(verdicts: &VerdictSet) -> BTreeMap<OperatorLabel, (Option<Category>, Option<f32>)> {
    let mut units: BTreeMap<OperatorLabel, (Option<Category>, Option<f32>)> = BTreeMap::new();
    for v in &verdicts.verdicts {
        for f in &v.findings {
            let entry = units
                .entry((f.operator.clone(), f.label.clone()))
                .or_default();
            entry.0 = Some(f.category);
            entry.1 = entry.1.or(f.threshold());
        }
        for s in &v.scores {
            let entry = units
                .entry((s.operator.clone(), s.label.clone()))
                .or_default();
            entry.1 = Some(s.threshold);
        }
    }
    // A scored label never found takes the category its operator's other findings have.
    let by_operator: BTreeMap<Arc<str>, Category> = units
        .iter()
        .filter_map(|((op, _), (c, _))| c.map(|c| (op.clone(), c)))
        .collect();
    for ((op, _), (category, _)) in units.iter_mut() {
        if category.is_none() {
            *category = by_operator.get(op).copied();
        }
    }
    units
}

/// Per operator and label: the confusion against the reviews (keyed by the label, else its
/// category), and from recorded scores the threshold for `target_fpr`; then per category over
/// every operator (operator `*`, label the category), keyed by the category.
pub fn feedback_report(
    verdicts: &VerdictSet,
    reviews: &Reviews,
    target_fpr: f64,
) -> FeedbackReport {
    let mut out = Vec::new();
    for ((operator, label), (category, threshold)) in known_units(verdicts) {
        let keys: Vec<&str> = std::iter::once(&*label)
            .chain(category.map(Category::as_str))
            .collect();
        let mut m = unit(&operator, &label, category);
        m.current_threshold = threshold;
        let Counted {
            metrics: mut m,
            positives,
            mut negatives,
        } = count(
            m,
            verdicts,
            reviews,
            &keys,
            |v| {
                v.findings
                    .iter()
                    .any(|f| f.operator == operator && f.label == label)
            },
            |v| {
                v.scores
                    .iter()
                    .find(|s| s.operator == operator && s.label == label)
                    .map(|s| s.score)
            },
        );
        if m.reviewed == 0 {
            continue;
        }
        if m.scored == m.reviewed {
            if let Some((t, recall, fpr)) = threshold_for(target_fpr, &mut negatives, &positives) {
                m.suggested_threshold = Some(t);
                m.recall_at_suggested = Some(recall);
                m.fpr_at_suggested = Some(fpr);
            }
        }
        out.push(m);
    }
    for category in Category::ALL {
        let (all, name): (Arc<str>, Arc<str>) = (Arc::from("*"), Arc::from(category.as_str()));
        let Counted { metrics, .. } = count(
            unit(&all, &name, Some(category)),
            verdicts,
            reviews,
            &[category.as_str()],
            |v| v.has(category, None),
            |_| None,
        );
        if metrics.reviewed > 0 {
            out.push(metrics);
        }
    }
    let reviews_without_verdict = reviews
        .events
        .keys()
        .filter(|id| verdicts.get(id).is_none())
        .count();
    FeedbackReport {
        verdicts: verdicts.len(),
        reviewed_events: reviews.events.len() - reviews_without_verdict,
        reviews_without_verdict,
        disagreements: reviews.disagreements,
        unreadable_labels: reviews.unreadable,
        target_fpr,
        units: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_lets_through_no_more_negatives_than_the_target_allows() {
        let mut negatives = vec![0.1, 0.2, 0.3, 0.9, 0.4, 0.05, 0.15, 0.25, 0.35, 0.45];
        let positives = vec![0.95, 0.8, 0.5, 0.3];
        // 10% of 10 negatives: one may pass (0.9); the threshold sits just above 0.45.
        let (t, recall, fpr) = threshold_for(0.1, &mut negatives, &positives).unwrap();
        assert!((t - 0.4501).abs() < 1e-6, "{t}");
        assert_eq!(recall, 0.75);
        assert_eq!(fpr, 0.1);
    }
}

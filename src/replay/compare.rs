//! Baseline verdicts against candidate verdicts, event by event: the change matrix, rates
//! before and after, changes grouped by cause, score distributions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::cause::{causes, CauseKey};
use super::recorded::{OperatorLabel, RecordedVerdict, VerdictSet};
use super::report::*;
use crate::model::{Action, Category};

/// What the candidate's redacted texts are, by event id (`--show-text`).
pub type Texts = HashMap<Arc<str>, Arc<str>>;

/// Compares the two sets; `baseline` and `candidate` describe where each came from.
pub fn compare(
    before: &VerdictSet,
    after: &VerdictSet,
    mut baseline: Side,
    mut candidate: Side,
    texts: Option<&Texts>,
) -> Report {
    fill_side(&mut baseline, before);
    fill_side(&mut candidate, after);
    let pairs: Vec<(&RecordedVerdict, &RecordedVerdict)> = before
        .verdicts
        .iter()
        .filter_map(|b| after.get(&b.event_id).map(|a| (b, a)))
        .collect();
    let compared = pairs.len();
    let index = |a: Action| Action::ALL.iter().position(|x| *x == a).unwrap_or(0);
    let mut matrix = vec![vec![0usize; Action::ALL.len()]; Action::ALL.len()];
    let mut groups: BTreeMap<CauseKey, CauseGroup> = BTreeMap::new();
    let mut by_category: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut changed_events = Vec::new();
    let (mut changed, mut stricter) = (0, 0);
    let thresholds_before = thresholds(before);
    let thresholds_after = thresholds(after);
    for (b, a) in &pairs {
        matrix[index(b.action)][index(a.action)] += 1;
        if b.action == a.action {
            continue;
        }
        changed += 1;
        let is_stricter = a.action > b.action;
        stricter += usize::from(is_stricter);
        let transition = format!("{}->{}", b.action, a.action);
        let keys = causes(b, a);
        let mut categories: Vec<String> = keys
            .iter()
            .map(|k| k.category.map_or("policy", Category::as_str).to_string())
            .collect();
        categories.sort();
        categories.dedup();
        for category in categories {
            let entry = by_category.entry(category).or_default();
            match is_stricter {
                true => entry.0 += 1,
                false => entry.1 += 1,
            }
        }
        let described = keys
            .iter()
            .map(|k| format!("{}/{}: {}", k.operator, k.label, k.change.as_str()))
            .collect();
        for key in keys {
            let pair = (key.operator.clone(), key.label.clone());
            let group = groups.entry(key.clone()).or_insert_with(|| CauseGroup {
                operator: key.operator.clone(),
                category: key.category,
                label: key.label.clone(),
                change: key.change,
                events: 0,
                transitions: BTreeMap::new(),
                threshold_before: thresholds_before.get(&pair).copied(),
                threshold_after: thresholds_after.get(&pair).copied(),
                event_ids: Vec::new(),
            });
            group.events += 1;
            *group.transitions.entry(transition.clone()).or_default() += 1;
            if group.event_ids.len() < MAX_IDS_PER_CAUSE {
                group.event_ids.push(b.event_id.clone());
            }
        }
        if changed_events.len() < MAX_CHANGED_EVENTS {
            changed_events.push(ChangedEvent {
                event_id: b.event_id.clone(),
                before: b.action,
                after: a.action,
                causes: described,
                text: texts.and_then(|t| t.get(&b.event_id).cloned()),
            });
        }
    }
    let mut causes: Vec<CauseGroup> = groups.into_values().collect();
    causes.sort_by_key(|c| std::cmp::Reverse(c.events));
    Report {
        report_version: "1",
        generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        only_in_baseline: before.len() - compared,
        only_in_candidate: after.len() - compared,
        compared,
        changed,
        stricter,
        more_lenient: changed - stricter,
        actions: Action::ALL.to_vec(),
        matrix,
        action_rates: Action::ALL
            .iter()
            .map(|&action| rate(action.as_str(), &pairs, |v| v.action == action))
            .collect(),
        category_rates: Category::ALL
            .iter()
            .map(|&c| rate(c.as_str(), &pairs, |v| v.has(c, None)))
            .filter(|r| r.before_events + r.after_events > 0)
            .collect(),
        label_rates: labels(&pairs)
            .into_iter()
            .map(|(c, l)| {
                rate(&format!("{}/{l}", c.as_str()), &pairs, |v| {
                    v.has(c, Some(&l))
                })
            })
            .collect(),
        causes,
        changes_by_category: by_category
            .into_iter()
            .map(|(category, (stricter, more_lenient))| CategoryChanges {
                category,
                stricter,
                more_lenient,
            })
            .collect(),
        score_bins: SCORE_BINS,
        scores: scores(&pairs),
        changed_events_truncated: changed > changed_events.len(),
        changed_events,
        baseline,
        candidate,
    }
}

fn fill_side(side: &mut Side, set: &VerdictSet) {
    side.verdicts = set.len();
    side.duplicates = set.duplicates;
    side.unreadable = set.unreadable;
    side.unreadable_lines = set.unreadable_lines.clone();
    if side.topology.is_none() {
        side.topology = set.topology();
    }
}

fn rate(
    name: &str,
    pairs: &[(&RecordedVerdict, &RecordedVerdict)],
    holds: impl Fn(&RecordedVerdict) -> bool,
) -> Rate {
    let before_events = pairs.iter().filter(|(b, _)| holds(b)).count();
    let after_events = pairs.iter().filter(|(_, a)| holds(a)).count();
    let share = |n: usize| match pairs.len() {
        0 => 0.0,
        total => n as f64 / total as f64,
    };
    Rate {
        name: name.to_string(),
        before: share(before_events),
        after: share(after_events),
        before_events,
        after_events,
    }
}

/// Every `(category, label)` found on either side, sorted.
fn labels(pairs: &[(&RecordedVerdict, &RecordedVerdict)]) -> Vec<(Category, Arc<str>)> {
    let mut out: Vec<(Category, Arc<str>)> = pairs
        .iter()
        .flat_map(|(b, a)| b.findings.iter().chain(&a.findings))
        .map(|f| (f.category, f.label.clone()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The threshold each `(operator, label)` was found at (the highest one recorded).
fn thresholds(set: &VerdictSet) -> HashMap<(Arc<str>, Arc<str>), f32> {
    let mut out: HashMap<(Arc<str>, Arc<str>), f32> = HashMap::new();
    for f in set.verdicts.iter().flat_map(|v| &v.findings) {
        if let Some(t) = f.threshold() {
            let entry = out
                .entry((f.operator.clone(), f.label.clone()))
                .or_insert(t);
            *entry = entry.max(t);
        }
    }
    out
}

/// Histograms of each scored `(operator, label)`; labels with constant scores on both
/// sides (pattern matches score 1) are left out.
fn scores(pairs: &[(&RecordedVerdict, &RecordedVerdict)]) -> Vec<ScoreDistribution> {
    let mut hist: BTreeMap<OperatorLabel, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    let bin = |s: f32| ((s.clamp(0.0, 1.0) * SCORE_BINS as f32) as usize).min(SCORE_BINS - 1);
    for (side, verdict) in pairs.iter().flat_map(|(b, a)| [(0, *b), (1, *a)]) {
        let mut seen: HashMap<(Arc<str>, Arc<str>), f32> = HashMap::new();
        for f in &verdict.findings {
            let entry = seen
                .entry((f.operator.clone(), f.label.clone()))
                .or_insert(f.score);
            *entry = entry.max(f.score);
        }
        for s in &verdict.scores {
            seen.entry((s.operator.clone(), s.label.clone()))
                .or_insert(s.score);
        }
        for (key, score) in seen {
            let entry = hist
                .entry(key)
                .or_insert_with(|| (vec![0; SCORE_BINS], vec![0; SCORE_BINS]));
            match side {
                0 => entry.0[bin(score)] += 1,
                _ => entry.1[bin(score)] += 1,
            }
        }
    }
    hist.into_iter()
        .filter(|(_, (b, a))| {
            let filled = |h: &Vec<usize>| h.iter().filter(|&&n| n > 0).count();
            filled(b).max(filled(a)) > 1
        })
        .map(|((operator, label), (before, after))| ScoreDistribution {
            operator,
            label,
            before,
            after,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(lines: &[&str]) -> VerdictSet {
        let mut set = VerdictSet::default();
        for (i, l) in lines.iter().enumerate() {
            set.push_json(l.as_bytes(), i as u64 + 1);
        }
        set
    }

    #[test]
    fn the_matrix_counts_each_compared_event_once_and_causes_group_the_changes() {
        let before = set(&[
            r#"{"event_id":"a","action":"allow"}"#,
            r#"{"event_id":"b","action":"redact","findings":[{"operator":"pii","category":"pii","label":"EMAIL_ADDRESS","score":1,"action":"redact"}]}"#,
            r#"{"event_id":"c","action":"allow"}"#,
            r#"{"event_id":"gone","action":"allow"}"#,
        ]);
        let after = set(&[
            r#"{"event_id":"a","action":"allow"}"#,
            r#"{"event_id":"b","action":"block","findings":[{"operator":"pii","category":"pii","label":"EMAIL_ADDRESS","score":1,"action":"block"}]}"#,
            r#"{"event_id":"c","action":"block","findings":[{"operator":"pii","category":"pii","label":"EMAIL_ADDRESS","score":1,"action":"block"}]}"#,
        ]);
        let r = compare(&before, &after, Side::default(), Side::default(), None);
        assert_eq!((r.compared, r.changed, r.only_in_baseline), (3, 2, 1));
        let (allow, redact, block) = (0, 2, 3);
        assert_eq!(r.matrix[allow][allow], 1);
        assert_eq!(r.matrix[redact][block], 1);
        assert_eq!(r.matrix[allow][block], 1);
        assert_eq!(r.causes.len(), 2, "{:?}", r.causes);
        assert!(r.causes.iter().all(|c| c.events == 1));
        let pii = r.category_rates.iter().find(|c| c.name == "pii").unwrap();
        assert_eq!((pii.before_events, pii.after_events), (1, 2));
    }
}

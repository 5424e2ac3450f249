//! Why one event's action changed: the findings that decide each side's action, set against
//! the other side's. A cause names the operator and label, what changed (found only by the
//! candidate, no longer found, or the same finding with another action) and the thresholds.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::recorded::{OperatorLabel, RecordedVerdict};
use crate::model::{Action, Category};

/// What changed about one operator's label between the two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Found by the candidate only (a new operator, a lower threshold, a new pattern).
    Found,
    /// Found by the baseline only (a removed operator, a higher threshold, an allow-list).
    NoLongerFound,
    /// Found by both with a different action (a policy rule or the operator's action).
    Action,
    /// No finding explains it: a `block_if` rule, a tenant limit or the default action.
    Policy,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Found => "found",
            Change::NoLongerFound => "no_longer_found",
            Change::Action => "action",
            Change::Policy => "policy",
        }
    }
}

/// One cause's key: which operator, which label, what changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CauseKey {
    pub operator: Arc<str>,
    pub category: Option<Category>,
    pub label: Arc<str>,
    pub change: Change,
}

/// The strongest action per `(operator, label)` of a verdict, with its category and score.
fn decisive(v: &RecordedVerdict) -> BTreeMap<OperatorLabel, (Category, Action, f32)> {
    let mut out: BTreeMap<OperatorLabel, (Category, Action, f32)> = BTreeMap::new();
    for f in &v.findings {
        let entry = out
            .entry((f.operator.clone(), f.label.clone()))
            .or_insert((f.category, f.action, f.score));
        entry.1 = entry.1.max(f.action);
        entry.2 = entry.2.max(f.score);
    }
    out
}

/// The causes of a change from `before` to `after` (empty when the action is the same).
/// A stricter candidate is explained by its findings at the new action; a more lenient one
/// by the baseline's findings at the old action.
pub fn causes(before: &RecordedVerdict, after: &RecordedVerdict) -> Vec<CauseKey> {
    if before.action == after.action {
        return Vec::new();
    }
    let (old, new) = (decisive(before), decisive(after));
    let stricter = after.action > before.action;
    let (deciding, other, action) = match stricter {
        true => (&new, &old, after.action),
        false => (&old, &new, before.action),
    };
    let mut keys: Vec<CauseKey> = deciding
        .iter()
        .filter(|(_, (_, a, _))| *a == action)
        .filter_map(|((operator, label), (category, _, _))| {
            let change = match other.get(&(operator.clone(), label.clone())) {
                None if stricter => Change::Found,
                None => Change::NoLongerFound,
                Some((_, a, _)) if *a < action => Change::Action,
                // Present at the same action on the other side: not what changed.
                Some(_) => return None,
            };
            Some(CauseKey {
                operator: operator.clone(),
                category: Some(*category),
                label: label.clone(),
                change,
            })
        })
        .collect();
    if keys.is_empty() {
        keys.push(CauseKey {
            operator: Arc::from("policy"),
            category: None,
            label: Arc::from(format!("{}->{}", before.action, after.action)),
            change: Change::Policy,
        });
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::recorded::RecordedFinding;

    fn verdict(action: Action, findings: &[(&str, &str, Action)]) -> RecordedVerdict {
        RecordedVerdict {
            event_id: Arc::from("e"),
            action,
            findings: findings
                .iter()
                .map(|(op, label, action)| RecordedFinding {
                    operator: Arc::from(*op),
                    category: Category::Pii,
                    label: Arc::from(*label),
                    score: 0.9,
                    action: *action,
                    provenance: None,
                })
                .collect(),
            scores: Vec::new(),
            topology: None,
        }
    }

    #[test]
    fn a_stricter_policy_rule_is_an_action_change_and_a_new_finding_is_found() {
        let before = verdict(Action::Redact, &[("pii", "EMAIL_ADDRESS", Action::Redact)]);
        let after = verdict(
            Action::Block,
            &[
                ("pii", "EMAIL_ADDRESS", Action::Block),
                ("inj", "ignore_previous", Action::Block),
                ("pii", "PHONE_NUMBER", Action::Flag),
            ],
        );
        let keys = causes(&before, &after);
        let got: Vec<(&str, &str, Change)> = keys
            .iter()
            .map(|k| (&*k.operator, &*k.label, k.change))
            .collect();
        assert_eq!(
            got,
            vec![
                ("inj", "ignore_previous", Change::Found),
                ("pii", "EMAIL_ADDRESS", Change::Action),
            ]
        );
    }

    #[test]
    fn a_more_lenient_candidate_is_explained_by_what_it_no_longer_finds() {
        let before = verdict(Action::Block, &[("inj", "role_play", Action::Block)]);
        let after = verdict(Action::Allow, &[]);
        let keys = causes(&before, &after);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].change, Change::NoLongerFound);
        assert!(causes(&after, &after).is_empty());
        let policy = causes(&verdict(Action::Allow, &[]), &verdict(Action::Block, &[]));
        assert_eq!(policy[0].change, Change::Policy);
    }
}

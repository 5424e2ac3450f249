//! `decide`: the policy that turns findings into the verdict's action.
//!
//! Per finding, the first matching rule (by category and/or label) may drop it (score under
//! `min_score`) or override its suggested action. Allow-lists drop findings by label or by
//! detected value. `block_if` rules block an event on combinations (any of some categories,
//! at least N spans, all of several categories). The verdict action is the most severe action
//! left, or `default_action` when nothing is left.

use serde::Deserialize;

use super::check_unit_interval;
use crate::diagnostics::{join, Errors};
use crate::model::Action;
use crate::model::{Category, Event};

/// `[[operators.<id>.rules]]`: overrides for findings that match.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PolicyRule {
    /// Category to match (`pii`, `secret`, `keyword`, `injection`, `toxicity`, `hallucination`).
    #[serde(default)]
    pub category: Option<String>,
    /// Label to match, e.g. `CREDIT_CARD`.
    #[serde(default)]
    pub label: Option<String>,
    /// Findings scoring below this are dropped.
    #[serde(default)]
    pub min_score: f32,
    /// Replaces the finding's suggested action.
    #[serde(default)]
    pub action: Option<Action>,
}

/// `[operators.<id>.allow]`: findings to ignore.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct AllowList {
    /// Labels never reported.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Detected values (case-insensitive, exact) never reported, e.g. a support address.
    #[serde(default)]
    pub values: Vec<String>,
}

/// `[[operators.<id>.block_if]]`: blocks an event when every condition given holds.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct BlockRule {
    /// At least one finding in any of these categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// At least one finding with any of these labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Findings in every one of these categories.
    #[serde(default)]
    pub all_categories: Vec<String>,
    /// At least this many spans across the matching findings.
    #[serde(default = "one")]
    pub min_spans: usize,
}

fn one() -> usize {
    1
}

/// `[operators.<id>]` with `type = "decide"`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct DecideConfig {
    /// Action when no finding is left.
    #[serde(default)]
    pub default_action: Action,
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    #[serde(default)]
    pub allow: AllowList,
    #[serde(default)]
    pub block_if: Vec<BlockRule>,
}

fn check_categories(path: &str, names: &[String], errors: &mut Errors) {
    for (i, name) in names.iter().enumerate() {
        if Category::parse(name).is_none() {
            let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            errors.push(
                format!("{path}[{i}]"),
                format!("unknown category `{name}`, expected one of {known:?}"),
            );
        }
    }
}

fn parse_categories(names: &[String]) -> Vec<Category> {
    names.iter().filter_map(|n| Category::parse(n)).collect()
}

impl DecideConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("{path}.rules[{i}]");
            if let Some(category) = &rule.category {
                check_categories(
                    &join(&at, "category"),
                    std::slice::from_ref(category),
                    errors,
                );
            }
            if rule.category.is_none() && rule.label.is_none() {
                errors.push(&at, "needs a `category`, a `label`, or both");
            }
            if rule.action.is_none() && rule.min_score == 0.0 {
                errors.push(&at, "does nothing: set `action` and/or `min_score`");
            }
            check_unit_interval(&at, "min_score", rule.min_score, errors);
        }
        for (i, rule) in self.block_if.iter().enumerate() {
            let at = format!("{path}.block_if[{i}]");
            check_categories(&join(&at, "categories"), &rule.categories, errors);
            check_categories(&join(&at, "all_categories"), &rule.all_categories, errors);
            if rule.categories.is_empty()
                && rule.labels.is_empty()
                && rule.all_categories.is_empty()
            {
                errors.push(&at, "needs `categories`, `labels` or `all_categories`");
            }
            if rule.min_spans == 0 {
                errors.push(join(&at, "min_spans"), "must be at least 1");
            }
        }
    }

    pub fn build(&self) -> Result<Policy, String> {
        Ok(Policy {
            default_action: self.default_action,
            rules: self
                .rules
                .iter()
                .map(|r| CompiledRule {
                    category: r.category.as_deref().and_then(Category::parse),
                    label: r.label.clone(),
                    min_score: r.min_score,
                    action: r.action,
                })
                .collect(),
            allow_labels: self.allow.labels.clone(),
            allow_values: self.allow.values.iter().map(|v| v.to_lowercase()).collect(),
            block_if: self
                .block_if
                .iter()
                .map(|b| CompiledBlockRule {
                    categories: parse_categories(&b.categories),
                    labels: b.labels.clone(),
                    all_categories: parse_categories(&b.all_categories),
                    min_spans: b.min_spans,
                })
                .collect(),
        })
    }
}

#[derive(Debug, Clone)]
struct CompiledRule {
    category: Option<Category>,
    label: Option<String>,
    min_score: f32,
    action: Option<Action>,
}

#[derive(Debug, Clone)]
struct CompiledBlockRule {
    categories: Vec<Category>,
    labels: Vec<String>,
    all_categories: Vec<Category>,
    min_spans: usize,
}

/// The runtime policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    default_action: Action,
    rules: Vec<CompiledRule>,
    allow_labels: Vec<String>,
    allow_values: Vec<String>,
    block_if: Vec<CompiledBlockRule>,
}

impl Policy {
    /// Applies rules and allow-lists to the event's findings (dropping or re-actioning them)
    /// and returns the verdict action.
    pub fn decide(&self, event: &mut Event) -> Action {
        let text = event.text.clone();
        event.findings.retain_mut(|finding| {
            if self.allow_labels.iter().any(|l| **l == *finding.label) {
                return false;
            }
            if !self.allow_values.is_empty() {
                finding.spans.retain(|span| {
                    let value = text.get(span.start..span.end).unwrap_or("").to_lowercase();
                    !self.allow_values.contains(&value)
                });
                if finding.spans.is_empty() {
                    return false;
                }
            }
            let rule = self.rules.iter().find(|r| {
                r.category.is_none_or(|c| c == finding.category)
                    && r.label.as_deref().is_none_or(|l| l == &*finding.label)
            });
            if let Some(rule) = rule {
                if finding.score < rule.min_score {
                    return false;
                }
                if let Some(action) = rule.action {
                    finding.action = action;
                }
            }
            true
        });
        let mut action = event
            .findings
            .iter()
            .map(|f| f.action)
            .max()
            .unwrap_or(self.default_action);
        if self.block_if.iter().any(|rule| rule.fires(event)) {
            action = Action::Block;
        }
        action
    }
}

impl CompiledBlockRule {
    fn fires(&self, event: &Event) -> bool {
        let matching = event.findings.iter().filter(|f| {
            (self.categories.is_empty() || self.categories.contains(&f.category))
                && (self.labels.is_empty() || self.labels.iter().any(|l| **l == *f.label))
        });
        let spans: usize = matching.map(|f| f.spans.len().max(1)).sum();
        let all_present = self
            .all_categories
            .iter()
            .all(|c| event.findings.iter().any(|f| f.category == *c));
        spans >= self.min_spans && all_present
    }
}

impl super::registry::OperatorConfig for DecideConfig {
    const TYPE: &'static str = "decide";
    fn validate(&self, path: &str, errors: &mut Errors) {
        DecideConfig::validate(self, path, errors)
    }
    fn category(&self) -> crate::model::Category {
        crate::model::Category::Injection
    }
    fn build(
        &self,
        at: &super::registry::BuildContext,
    ) -> Result<super::registry::BuiltOperator, super::registry::BuildError> {
        use super::registry::BuiltOperator;
        Ok(BuiltOperator::Policy(
            self.build().map_err(|e| at.error(e))?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, Provenance, Span};
    use std::sync::Arc;

    fn finding(
        category: Category,
        label: &str,
        score: f32,
        action: Action,
        span: (usize, usize),
    ) -> Finding {
        Finding {
            operator: Arc::from("op"),
            category,
            label: Arc::from(label),
            score,
            spans: vec![Span::new(span.0, span.1)],
            action,
            redaction: None,
            reason: None,
            provenance: Provenance {
                detector: "test",
                version: "0",
                threshold: 0.0,
            },
            location: None,
        }
    }

    fn event_with(findings: Vec<Finding>) -> Event {
        let mut event = Event::prompt("1", "mail support@example.com or bob@example.com now");
        event.findings = findings;
        event
    }

    fn policy(toml_text: &str) -> Policy {
        let config: DecideConfig = toml::from_str(toml_text).unwrap();
        let mut errors = Errors::default();
        config.validate("operators.policy", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        config.build().unwrap()
    }

    #[test]
    fn policy_cases() {
        use Category::*;
        let email_support = || finding(Pii, "EMAIL_ADDRESS", 0.9, Action::Redact, (5, 24));
        let email_bob = || finding(Pii, "EMAIL_ADDRESS", 0.9, Action::Redact, (28, 43));
        let weak_phone = || finding(Pii, "PHONE_NUMBER", 0.55, Action::Redact, (0, 4));
        let secret = || finding(Secret, "AWS_ACCESS_KEY", 0.95, Action::Redact, (0, 4));
        let injection = || finding(Injection, "ignore_instructions", 0.9, Action::Flag, (0, 4));
        let cases: Vec<(&str, &str, Vec<Finding>, Action, usize)> = vec![
            ("no findings: default", "", vec![], Action::Allow, 0),
            (
                "default can be flag",
                "default_action = 'flag'",
                vec![],
                Action::Flag,
                0,
            ),
            (
                "most severe wins",
                "",
                vec![email_bob(), injection()],
                Action::Redact,
                2,
            ),
            (
                "rule overrides action",
                "[[rules]]\ncategory = 'injection'\naction = 'block'",
                vec![email_bob(), injection()],
                Action::Block,
                2,
            ),
            (
                "rule threshold drops weak findings",
                "[[rules]]\nlabel = 'PHONE_NUMBER'\nmin_score = 0.7",
                vec![weak_phone()],
                Action::Allow,
                0,
            ),
            (
                "allow-listed label",
                "[allow]\nlabels = ['EMAIL_ADDRESS']",
                vec![email_bob()],
                Action::Allow,
                0,
            ),
            (
                "allow-listed value keeps other values",
                "[allow]\nvalues = ['Support@Example.com']",
                vec![email_support(), email_bob()],
                Action::Redact,
                1,
            ),
            (
                "block_if category",
                "[[block_if]]\ncategories = ['secret']",
                vec![secret()],
                Action::Block,
                1,
            ),
            (
                "block_if min_spans not reached",
                "[[block_if]]\nlabels = ['EMAIL_ADDRESS']\nmin_spans = 3",
                vec![email_support(), email_bob()],
                Action::Redact,
                2,
            ),
            (
                "block_if all categories",
                "[[block_if]]\nall_categories = ['pii', 'injection']",
                vec![email_bob(), injection()],
                Action::Block,
                2,
            ),
        ];
        for (name, config, findings, expected, kept) in cases {
            let mut event = event_with(findings);
            let action = policy(config).decide(&mut event);
            assert_eq!(action, expected, "{name}");
            assert_eq!(event.findings.len(), kept, "{name}");
        }
    }

    #[test]
    fn invalid_policies_list_every_error() {
        let config: DecideConfig = toml::from_str(
            "[[rules]]\ncategory = 'pi'\nmin_score = 1.5\n[[block_if]]\nmin_spans = 0",
        )
        .unwrap();
        let mut errors = Errors::default();
        config.validate("operators.policy", &mut errors);
        let paths: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
        assert_eq!(
            paths,
            [
                "operators.policy.rules[0].category[0]",
                "operators.policy.rules[0].min_score",
                "operators.policy.block_if[0]",
                "operators.policy.block_if[0].min_spans"
            ]
        );
    }
}

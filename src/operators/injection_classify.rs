//! `injection_classify`: prompt-injection and jailbreak detection as a cascade.
//!
//! The `injection_heuristics` rules run first (microseconds per event). When their combined
//! score reaches `rules_decide_at` the rules decide and the model is not consulted for that
//! event; otherwise the MiniLM injection head (or any binary classifier output) scores the text,
//! worst window first. When toxicity runs on the same model, the model pass is shared and the
//! cascade saves nothing but also costs nothing.

use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;

use super::injection_heuristics::{InjectionConfig, InjectionDetector};
use super::onnx_classify::{ensure_outputs, label_scores, outputs_for, Activation};
use super::{check_unit_interval, Inspector, OperatorFailure};
use crate::diagnostics::{join, Errors};
use crate::inference::{registry, Model, ModelConfig};
use crate::model::Action;
use crate::model::{Category, Event, Finding, Provenance, Score};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct InjectionClassifyConfig {
    pub model: ModelConfig,
    /// The model output with the injection logit (column `column`).
    pub output: String,
    pub column: usize,
    pub activation: Activation,
    /// Score at or above which the event is reported.
    pub threshold: f32,
    pub action: Action,
    /// A rules score at or above this decides without the model.
    pub rules_decide_at: f32,
    /// Options of the rule stage (`disabled` rule families).
    pub rules: InjectionConfig,
    /// Record the score on the verdict, below the threshold too (feedback and replay).
    pub record_scores: bool,
}

/// Threshold of the shipped injection head, chosen on the dev split (best F1) by
/// `scripts/models/train_heads.py`; a test checks it against `models/heads/minilm_heads.json`.
pub const INJECTION_THRESHOLD: f32 = 0.159;

impl Default for InjectionClassifyConfig {
    fn default() -> Self {
        InjectionClassifyConfig {
            model: ModelConfig::default(),
            output: "injection_logits".into(),
            column: 0,
            activation: Activation::Sigmoid,
            threshold: INJECTION_THRESHOLD,
            action: Action::Block,
            rules_decide_at: 0.85,
            rules: InjectionConfig::default(),
            record_scores: false,
        }
    }
}

impl InjectionClassifyConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        self.model.validate(&join(path, "model"), errors);
        self.rules.validate(&join(path, "rules"), errors);
        check_unit_interval(path, "threshold", self.threshold, errors);
        check_unit_interval(path, "rules_decide_at", self.rules_decide_at, errors);
        if self.action == Action::Redact {
            errors.push(join(path, "action"), "use flag, block or allow");
        }
    }

    pub fn build(&self, id: &str) -> Result<InjectionClassifier, String> {
        let model = registry::shared(&self.model).map_err(|e| e.to_string())?;
        let output = model.require_output(&self.output)?;
        let columns = model.output_width(output);
        if self.column >= columns {
            return Err(format!(
                "`column` is {} but output `{}` has {columns} column(s)",
                self.column, self.output
            ));
        }
        Ok(InjectionClassifier {
            id: Arc::from(id),
            rules: self.rules.build(id)?,
            model,
            output,
            column: self.column,
            activation: self.activation,
            threshold: self.threshold,
            action: self.action,
            rules_decide_at: self.rules_decide_at,
            record_scores: self.record_scores,
        })
    }
}

pub struct InjectionClassifier {
    id: Arc<str>,
    rules: InjectionDetector,
    model: Arc<Model>,
    output: usize,
    column: usize,
    activation: Activation,
    threshold: f32,
    record_scores: bool,
    action: Action,
    rules_decide_at: f32,
}

impl InjectionClassifier {
    fn rules_decide(&self, text: &str) -> bool {
        self.rules.assess(text).score >= self.rules_decide_at
    }
}

impl Inspector for InjectionClassifier {
    fn id(&self) -> &str {
        &self.id
    }

    fn stream_role(&self) -> super::StreamRole {
        super::StreamRole::Sentences
    }

    fn model_digests(&self) -> Vec<&'static str> {
        vec![self.model.digest()]
    }

    fn prepare(&self, events: &mut [Event]) {
        let needs_model: Vec<bool> = events
            .par_iter()
            .map(|e| !self.rules_decide(&e.text))
            .collect();
        ensure_outputs(&self.model, events, |i, _| needs_model[i]);
    }

    fn inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        let rules = self.rules.assess(&event.text);
        let spans = rules.spans();
        let matched = rules.labels();
        let (label, score, detector, reason): (Arc<str>, f32, &'static str, String) =
            if rules.score >= self.rules_decide_at {
                (
                    rules.matched[0].0.clone(),
                    rules.score,
                    "rules",
                    format!("rules decided: {}", matched.join(", ")),
                )
            } else {
                let outputs = outputs_for(&self.model, event)?;
                let scores = label_scores(&outputs, self.output, self.activation);
                // `column` was checked against the output's width at build.
                let score = scores[self.column];
                let mut reason = format!("model {} scored {score:.3}", self.model.label());
                if !matched.is_empty() {
                    reason.push_str(&format!("; rules matched: {}", matched.join(", ")));
                }
                (Arc::from("prompt_injection"), score, "onnx", reason)
            };
        if self.record_scores {
            event.scores.push(Score {
                operator: self.id.clone(),
                label: label.clone(),
                score,
                threshold: self.threshold,
            });
        }
        if score < self.threshold {
            return Ok(());
        }
        event.findings.push(Finding {
            operator: self.id.clone(),
            category: Category::Injection,
            label,
            score,
            spans,
            action: self.action,
            redaction: None,
            reason: Some(Arc::from(reason)),
            provenance: Provenance {
                detector,
                version: if detector == "onnx" {
                    self.model.digest()
                } else {
                    env!("CARGO_PKG_VERSION")
                },
                threshold: self.threshold,
            },
        });
        Ok(())
    }
}

super::registry::register_inspector!(
    InjectionClassifyConfig, "injection_classify", crate::model::Category::Injection,
    build(c, id) => c.build(id),
    model(c) => Some(&c.model), Some(&mut c.model),
);

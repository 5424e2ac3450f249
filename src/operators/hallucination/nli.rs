//! The optional NLI / cross-encoder signal: a user-provided ONNX model scores each claim
//! (hypothesis) against its best-supporting context sentence (premise), configured like
//! `onnx_classify` (output, labels, activation). No such model ships with railyard, and the
//! shipped calibration was trained without it, so its entailment is blended with the calibrated
//! probability by a documented rule: `p = (1 - weight) * p + weight * (1 - min entailment)`.

use std::sync::Arc;

use serde::Deserialize;

use super::assess::ClaimSignals;
use crate::diagnostics::{join, Errors};
use crate::inference::{registry, InferenceError, Model, ModelConfig};
use crate::operators::check_unit_interval;
use crate::operators::onnx_classify::{label_scores, Activation};

/// Options of the `[nli]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NliConfig {
    pub model: ModelConfig,
    /// The output holding one logit per label.
    pub output: String,
    /// Label of each output column, in order (a single column for HHEM-style consistency
    /// models, with `activation = "sigmoid"`).
    pub labels: Vec<String>,
    pub activation: Activation,
    /// The label whose probability is "the premise supports the claim".
    pub entailment: String,
    /// The label whose probability is "the premise contradicts the claim", if the model has one.
    pub contradiction: Option<String>,
    /// Share of the final score that comes from `1 - min entailment` over the claims.
    pub weight: f32,
    /// A claim whose contradiction probability reaches this gets the reason "contradicted".
    pub contradiction_threshold: f32,
}

impl Default for NliConfig {
    fn default() -> Self {
        NliConfig {
            model: ModelConfig::default(),
            output: "logits".into(),
            labels: vec![
                "contradiction".into(),
                "neutral".into(),
                "entailment".into(),
            ],
            activation: Activation::Softmax,
            entailment: "entailment".into(),
            contradiction: Some("contradiction".into()),
            weight: 0.5,
            contradiction_threshold: 0.5,
        }
    }
}

impl NliConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        self.model.validate(&join(path, "model"), errors);
        check_unit_interval(path, "weight", self.weight, errors);
        check_unit_interval(
            path,
            "contradiction_threshold",
            self.contradiction_threshold,
            errors,
        );
        let known = |label: &str| self.labels.iter().any(|l| l == label);
        if !known(&self.entailment) {
            errors.push(
                join(path, "entailment"),
                format!(
                    "`{}` is not one of labels {:?}",
                    self.entailment, self.labels
                ),
            );
        }
        if let Some(contradiction) = self.contradiction.as_deref().filter(|c| !known(c)) {
            errors.push(
                join(path, "contradiction"),
                format!("`{contradiction}` is not one of labels {:?}", self.labels),
            );
        }
    }

    pub fn build(&self) -> Result<NliScorer, String> {
        let model = registry::shared(&self.model).map_err(|e| e.to_string())?;
        let output = model.require_output_columns(
            &self.output,
            false,
            self.labels.len(),
            "the nli table",
        )?;
        let column = |label: &str| self.labels.iter().position(|l| l == label);
        Ok(NliScorer {
            model,
            output,
            activation: self.activation,
            entailment: column(&self.entailment).ok_or("entailment label not in labels")?,
            contradiction: self.contradiction.as_deref().and_then(column),
            weight: self.weight,
            contradiction_threshold: self.contradiction_threshold,
        })
    }
}

pub struct NliScorer {
    model: Arc<Model>,
    output: usize,
    activation: Activation,
    entailment: usize,
    contradiction: Option<usize>,
    pub weight: f32,
    pub contradiction_threshold: f32,
}

impl NliScorer {
    pub fn model_digest(&self) -> &'static str {
        self.model.digest()
    }

    /// Scores (premise, claim) pairs; `targets[i]` says which claim pair `i` belongs to.
    pub fn score(
        &self,
        pairs: &[(&str, &str)],
        mut apply: impl FnMut(usize, f32, Option<f32>),
    ) -> Result<(), InferenceError> {
        for (i, outcome) in self.model.infer_pairs(pairs).into_iter().enumerate() {
            let scores = label_scores(&*outcome?, self.output, self.activation);
            apply(
                i,
                scores[self.entailment],
                self.contradiction.map(|c| scores[c]),
            );
        }
        Ok(())
    }

    /// The calibrated probability blended with the claims' weakest entailment.
    pub fn blend(&self, probability: f32, claims: &[ClaimSignals]) -> f32 {
        let weakest = claims
            .iter()
            .filter_map(|c| c.entailment)
            .fold(None, |acc: Option<f32>, e| {
                Some(acc.map_or(e, |a| a.min(e)))
            });
        match weakest {
            Some(entailment) => {
                (1.0 - self.weight) * probability + self.weight * (1.0 - entailment)
            }
            None => probability,
        }
    }
}

//! `onnx_classify` and `toxicity_classify`: text classification with an ONNX model.
//!
//! `onnx_classify` runs any sequence-classification model exported to ONNX (model, tokenizer,
//! output name, labels, sigmoid or softmax, per-label thresholds and actions: TOML only).
//! `toxicity_classify` is the same operator with defaults for the MiniLM model that
//! `scripts/setup.sh` builds (`toxicity_logits`: toxic, hate, offensive, insult; thresholds
//! chosen on the dev split by `scripts/models/train_heads.py`).
//!
//! Scores are computed per token window; a text scores as its worst window.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::cascade::{Cascade, CascadeConfig, Decided};
use super::{check_unit_interval, Inspector, OperatorFailure};
use crate::diagnostics::{join, Errors};
use crate::inference::outputs::ModelOutcome;
use crate::inference::{registry, Model, ModelConfig, TextOutputs};
use crate::model::Action;
use crate::model::{Category, Event, Finding, Provenance, Score};

/// How logits become scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Independent labels (multi-label heads).
    #[default]
    Sigmoid,
    /// Mutually exclusive classes (most Hugging Face classifiers).
    Softmax,
    /// The output already holds probabilities.
    None,
}

/// Options of `onnx_classify` (and, with other defaults, `toxicity_classify`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ClassifyConfig {
    pub model: ModelConfig,
    /// The model output holding one logit per label.
    pub output: String,
    /// Label of each output column, in order.
    pub labels: Vec<String>,
    pub activation: Activation,
    /// Score at or above which a label is reported, unless `thresholds` names it.
    pub threshold: f32,
    pub thresholds: BTreeMap<String, f32>,
    /// Suggested action for a reported label, unless `actions` names it.
    pub action: Action,
    pub actions: BTreeMap<String, Action>,
    /// Labels never reported (e.g. the `neutral` class of a softmax model).
    pub ignore: Vec<String>,
    /// Category of the findings: toxicity, injection, ...
    pub category: String,
    /// Record every label's score on the verdict, below its threshold too (feedback and
    /// replay choose thresholds from them).
    pub record_scores: bool,
    /// Ask a cheap student first; the encoder scores only the texts it defers.
    pub cascade: Option<CascadeConfig>,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        ClassifyConfig {
            model: ModelConfig::default(),
            output: String::new(),
            labels: Vec::new(),
            activation: Activation::Sigmoid,
            threshold: 0.5,
            thresholds: BTreeMap::new(),
            action: Action::Flag,
            actions: BTreeMap::new(),
            ignore: Vec::new(),
            category: "toxicity".into(),
            record_scores: false,
            cascade: None,
        }
    }
}

/// Thresholds of the shipped toxicity head, chosen on the dev split (best F1) by
/// `scripts/models/train_heads.py`; a test checks them against `models/heads/minilm_heads.json`.
pub const TOXICITY_THRESHOLDS: &[(&str, f32)] = &[
    ("toxic", 0.566),
    ("hate", 0.241),
    ("offensive", 0.558),
    ("insult", 0.305),
];

/// Defaults of `toxicity_classify`, as a TOML table the user's table is merged over.
pub fn toxicity_defaults() -> toml::Value {
    let thresholds: toml::Table = TOXICITY_THRESHOLDS
        .iter()
        .map(|(l, t)| (l.to_string(), toml::Value::Float(f64::from(*t))))
        .collect();
    let labels = TOXICITY_THRESHOLDS
        .iter()
        .map(|(l, _)| toml::Value::String(l.to_string()))
        .collect();
    let mut table = toml::Table::new();
    table.insert("output".into(), "toxicity_logits".into());
    table.insert("labels".into(), toml::Value::Array(labels));
    table.insert("thresholds".into(), toml::Value::Table(thresholds));
    table.insert("category".into(), "toxicity".into());
    toml::Value::Table(table)
}

/// Defaults of `toxicity_classify` for the user's table `user`: when it names its own
/// `labels`, the MiniLM head's per-label thresholds apply only to the labels it keeps (a
/// threshold for a label the user never listed is not the user's mistake).
pub fn toxicity_defaults_for(user: &toml::Value) -> toml::Value {
    let mut defaults = toxicity_defaults();
    let kept: Option<Vec<&str>> = user
        .get("labels")
        .and_then(toml::Value::as_array)
        .map(|labels| labels.iter().filter_map(toml::Value::as_str).collect());
    if let (Some(kept), Some(toml::Value::Table(thresholds))) =
        (kept, defaults.get_mut("thresholds"))
    {
        thresholds.retain(|label, _| kept.contains(&label));
    }
    defaults
}

/// `defaults` with `user` merged over it (tables recursively, other values replaced).
pub fn merge_over(defaults: toml::Value, user: toml::Value) -> toml::Value {
    match (defaults, user) {
        (toml::Value::Table(mut base), toml::Value::Table(over)) => {
            for (key, value) in over {
                let merged = match base.remove(&key) {
                    Some(existing) if key != "labels" => merge_over(existing, value),
                    _ => value,
                };
                base.insert(key, merged);
            }
            toml::Value::Table(base)
        }
        (_, user) => user,
    }
}

impl ClassifyConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        self.model.validate(&join(path, "model"), errors);
        if self.output.is_empty() {
            errors.push(join(path, "output"), "missing: the model output to read");
        }
        if self.labels.is_empty() {
            errors.push(join(path, "labels"), "missing: one label per output column");
        }
        check_unit_interval(path, "threshold", self.threshold, errors);
        for (label, &t) in &self.thresholds {
            check_unit_interval(&join(path, "thresholds"), label, t, errors);
        }
        let known = |field: &str, label: &String, errors: &mut Errors| {
            if !self.labels.contains(label) {
                errors.push(
                    join(&join(path, field), label),
                    format!("not one of the labels {:?}", self.labels),
                );
            }
        };
        for label in self.thresholds.keys() {
            known("thresholds", label, errors);
        }
        for (label, action) in &self.actions {
            known("actions", label, errors);
            check_action(&join(path, "actions"), label, *action, errors);
        }
        check_action(path, "action", self.action, errors);
        for label in &self.ignore {
            known("ignore", label, errors);
        }
        if let Some(cascade) = &self.cascade {
            cascade.validate(&join(path, "cascade"), errors);
        }
        if Category::parse(&self.category).is_none() {
            errors.push(
                join(path, "category"),
                format!(
                    "unknown category `{}`, expected one of {:?}",
                    self.category,
                    Category::ALL.map(Category::as_str)
                ),
            );
        }
    }

    pub fn build(&self, id: &str) -> Result<ModelClassifier, String> {
        let model = registry::shared(&self.model).map_err(|e| e.to_string())?;
        let output = model.require_output_columns(
            &self.output,
            false,
            self.labels.len(),
            "onnx_classify",
        )?;
        let labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        let cascade = self
            .cascade
            .as_ref()
            .map(|c| c.build(id, &self.model.tokenizer, &self.category, &labels))
            .transpose()?;
        Ok(ModelClassifier {
            cascade,
            id: Arc::from(id),
            category: Category::parse(&self.category).unwrap_or(Category::Toxicity),
            output,
            activation: self.activation,
            labels: self
                .labels
                .iter()
                .map(|label| ClassLabel {
                    name: Arc::from(label.as_str()),
                    threshold: *self.thresholds.get(label).unwrap_or(&self.threshold),
                    action: *self.actions.get(label).unwrap_or(&self.action),
                    reported: !self.ignore.contains(label),
                })
                .collect(),
            model,
            record_scores: self.record_scores,
        })
    }
}

fn check_action(path: &str, field: &str, action: Action, errors: &mut Errors) {
    if action == Action::Redact {
        errors.push(
            join(path, field),
            "a classifier has no spans to redact: use flag, block or allow",
        );
    }
}

struct ClassLabel {
    name: Arc<str>,
    threshold: f32,
    action: Action,
    reported: bool,
}

/// The built classifier.
pub struct ModelClassifier {
    id: Arc<str>,
    model: Arc<Model>,
    output: usize,
    activation: Activation,
    labels: Vec<ClassLabel>,
    category: Category,
    record_scores: bool,
    cascade: Option<Cascade>,
}

/// Runs `model` over the events that have no outputs from it yet (one batched call).
pub fn ensure_outputs(
    model: &Arc<Model>,
    events: &mut [Event],
    wanted: impl Fn(usize, &Event) -> bool,
) {
    let pending: Vec<usize> = (0..events.len())
        .filter(|&i| {
            events[i]
                .prepared
                .get::<ModelOutcome, Model>(model)
                .is_none()
                && wanted(i, &events[i])
        })
        .collect();
    if pending.is_empty() {
        return;
    }
    let texts: Vec<Arc<str>> = pending.iter().map(|&i| events[i].text.clone()).collect();
    let refs: Vec<&str> = texts.iter().map(|t| &**t).collect();
    for (&i, outcome) in pending.iter().zip(model.infer(&refs)) {
        events[i]
            .prepared
            .insert::<ModelOutcome, Model>(model, outcome);
    }
}

/// This event's outputs from `model`, computing them alone if no batch pass did.
pub fn outputs_for(
    model: &Arc<Model>,
    event: &mut Event,
) -> Result<Arc<TextOutputs>, OperatorFailure> {
    if event.prepared.get::<ModelOutcome, Model>(model).is_none() {
        ensure_outputs(model, std::slice::from_mut(event), |_, _| true);
    }
    match event.prepared.get::<ModelOutcome, Model>(model).as_deref() {
        Some(Ok(outputs)) => Ok(outputs.clone()),
        Some(Err(error)) => Err(OperatorFailure(error.to_string())),
        None => Err(OperatorFailure("model produced no outputs".into())),
    }
}

/// Scores per label: the activation per window, then the max over windows.
pub fn label_scores(outputs: &TextOutputs, output: usize, activation: Activation) -> Vec<f32> {
    let mut best: Option<Vec<f32>> = None;
    for window in &outputs.windows {
        let logits = &window[output];
        let scores: Vec<f32> = match activation {
            Activation::Sigmoid => logits.iter().map(|&x| sigmoid(x)).collect(),
            Activation::Softmax => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exp: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
                let sum: f32 = exp.iter().sum();
                exp.iter().map(|e| e / sum).collect()
            }
            Activation::None => logits.clone(),
        };
        best = Some(match best {
            None => scores,
            Some(prev) => prev.iter().zip(&scores).map(|(a, b)| a.max(*b)).collect(),
        });
    }
    best.unwrap_or_default()
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl ModelClassifier {
    /// A finding of `label`; `detector` is the stage that decided and its version.
    fn finding(
        &self,
        label: &ClassLabel,
        score: f32,
        threshold: f32,
        (detector, version): (&'static str, &'static str),
        reason: String,
    ) -> Finding {
        Finding {
            operator: self.id.clone(),
            category: self.category,
            label: label.name.clone(),
            score,
            spans: Vec::new(),
            action: label.action,
            redaction: None,
            reason: Some(Arc::from(reason)),
            provenance: Provenance {
                detector,
                version,
                threshold,
            },
            location: None,
        }
    }

    /// Records `label`'s score on the verdict when the operator records scores.
    fn record_score(&self, event: &mut Event, label: &ClassLabel, score: f32, threshold: f32) {
        if self.record_scores && label.reported {
            event.scores.push(Score {
                operator: self.id.clone(),
                label: label.name.clone(),
                score,
                threshold,
            });
        }
    }

    /// Findings (and recorded scores) from the cascade's student, which decided the event.
    fn report_student(&self, event: &mut Event, cascade: &Cascade, decided: &Decided) {
        for (i, label) in self.labels.iter().enumerate() {
            let (score, threshold) = (decided.scores[i], cascade.threshold(i));
            self.record_score(event, label, score, threshold);
            if !label.reported || !decided.flagged[i] {
                continue;
            }
            let reason = format!(
                "cascade student scored {} {score:.3} (decides at {threshold})",
                label.name
            );
            let detector = ("student", cascade.digest());
            let finding = self.finding(label, score, threshold, detector, reason);
            event.findings.push(finding);
        }
    }
}

impl Inspector for ModelClassifier {
    fn id(&self) -> &str {
        &self.id
    }

    fn stream_role(&self) -> super::StreamRole {
        super::StreamRole::Sentences
    }

    fn prepare(&self, events: &mut [Event]) {
        match &self.cascade {
            Some(cascade) => {
                let needs = cascade.screen(&self.model, events, |_| true);
                ensure_outputs(&self.model, events, |i, _| needs[i]);
            }
            None => ensure_outputs(&self.model, events, |_, _| true),
        }
    }

    fn model_digests(&self) -> Vec<&'static str> {
        vec![self.model.digest()]
    }

    fn inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        if let Some(cascade) = &self.cascade {
            if let Some(decided) = cascade.decided(&self.model, event) {
                self.report_student(event, cascade, &decided);
                return Ok(());
            }
        }
        let outputs = outputs_for(&self.model, event)?;
        let scores = label_scores(&outputs, self.output, self.activation);
        for (label, score) in self.labels.iter().zip(scores) {
            self.record_score(event, label, score, label.threshold);
            if !label.reported || score < label.threshold {
                continue;
            }
            let reason = format!(
                "model {} scored {} {score:.3} (threshold {})",
                self.model.label(),
                label.name,
                label.threshold
            );
            let detector = ("onnx", self.model.digest());
            let finding = self.finding(label, score, label.threshold, detector, reason);
            event.findings.push(finding);
        }
        Ok(())
    }
}

/// Options of `toxicity_classify`: `onnx_classify` with the toxicity head's defaults (labels,
/// thresholds and actions), merged under what the user wrote.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct ToxicityConfig(pub ClassifyConfig);

impl super::registry::OperatorConfig for ClassifyConfig {
    const TYPE: &'static str = "onnx_classify";
    fn validate(&self, path: &str, errors: &mut Errors) {
        ClassifyConfig::validate(self, path, errors)
    }
    fn category(&self) -> Category {
        Category::parse(&self.category).unwrap_or(Category::Toxicity)
    }
    fn build(
        &self,
        at: &super::registry::BuildContext,
    ) -> Result<super::registry::BuiltOperator, super::registry::BuildError> {
        Ok(super::registry::BuiltOperator::inspector(
            ClassifyConfig::build(self, at.id).map_err(|e| at.error(e))?,
        ))
    }
    fn model(&self) -> Option<&ModelConfig> {
        Some(&self.model)
    }
    fn model_mut(&mut self) -> Option<&mut ModelConfig> {
        Some(&mut self.model)
    }
    fn cascade(&self) -> Option<&CascadeConfig> {
        self.cascade.as_ref()
    }
    fn cascade_mut(&mut self) -> Option<&mut Option<CascadeConfig>> {
        Some(&mut self.cascade)
    }
}

impl super::registry::OperatorConfig for ToxicityConfig {
    const TYPE: &'static str = "toxicity_classify";
    fn with_defaults(table: toml::Value) -> toml::Value {
        merge_over(toxicity_defaults_for(&table), table)
    }
    fn validate(&self, path: &str, errors: &mut Errors) {
        self.0.validate(path, errors)
    }
    fn category(&self) -> Category {
        super::registry::OperatorConfig::category(&self.0)
    }
    fn build(
        &self,
        at: &super::registry::BuildContext,
    ) -> Result<super::registry::BuiltOperator, super::registry::BuildError> {
        super::registry::OperatorConfig::build(&self.0, at)
    }
    fn model(&self) -> Option<&ModelConfig> {
        Some(&self.0.model)
    }
    fn model_mut(&mut self) -> Option<&mut ModelConfig> {
        Some(&mut self.0.model)
    }
    fn cascade(&self) -> Option<&CascadeConfig> {
        self.0.cascade.as_ref()
    }
    fn cascade_mut(&mut self) -> Option<&mut Option<CascadeConfig>> {
        Some(&mut self.0.cascade)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold_errors(user: &str) -> Vec<String> {
        let user: toml::Value = toml::from_str(user).unwrap();
        let merged = merge_over(toxicity_defaults_for(&user), user);
        let config: ClassifyConfig = merged.try_into().expect("parses");
        let mut errors = Errors::default();
        config.validate("operators.tox", &mut errors);
        errors
            .iter()
            .map(ToString::to_string)
            .filter(|e| e.contains("thresholds"))
            .collect()
    }

    #[test]
    fn custom_labels_are_not_checked_against_default_thresholds() {
        // Before: `operators.tox.thresholds.toxic: not one of the labels ["spam", "ham"]`,
        // for thresholds the user never wrote.
        assert_eq!(
            threshold_errors("labels = [\"spam\", \"ham\"]"),
            Vec::<String>::new()
        );
        // Kept labels keep their default threshold; the user's own thresholds are checked.
        let user: toml::Value = toml::from_str("labels = [\"toxic\", \"spam\"]").unwrap();
        let merged = merge_over(toxicity_defaults_for(&user), user);
        assert!(merged["thresholds"].get("toxic").is_some());
        assert!(merged["thresholds"].get("hate").is_none());
        let errors = threshold_errors("labels = [\"spam\"]\nthresholds = { eggs = 0.5 }");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("eggs"), "{errors:?}");
    }
}

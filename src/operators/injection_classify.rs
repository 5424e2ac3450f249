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

use super::cascade::{Cascade, CascadeConfig};
use super::injection_heuristics::{InjectionConfig, InjectionDetector};
use super::onnx_classify::{ensure_outputs, label_scores, outputs_for, Activation};
use super::{check_unit_interval, Inspector, OperatorFailure};
use crate::diagnostics::{join, Errors};
use crate::inference::{registry, Model, ModelConfig};
use crate::model::Action;
use crate::model::{Category, Event, EventField, Finding, Location, Provenance, Score};

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
    /// What it reads: `text`, `prompt`, `context` (each passage scored on its own, the
    /// passages of a whole batch in one model call).
    pub fields: Vec<EventField>,
    /// Ask a cheap student after the rules; the encoder scores only the texts it defers
    /// (the `text` field; context passages always go to the encoder).
    pub cascade: Option<CascadeConfig>,
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
            fields: super::fields::default_fields(),
            cascade: None,
        }
    }
}

impl InjectionClassifyConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        self.model.validate(&join(path, "model"), errors);
        self.rules.validate(&join(path, "rules"), errors);
        check_unit_interval(path, "threshold", self.threshold, errors);
        check_unit_interval(path, "rules_decide_at", self.rules_decide_at, errors);
        super::fields::validate(path, &self.fields, errors);
        if self.rules.fields != super::fields::default_fields() {
            errors.push(
                join(&join(path, "rules"), "fields"),
                "the rule stage reads what the operator reads: set `fields` on the operator",
            );
        }
        if self.action == Action::Redact {
            errors.push(join(path, "action"), "use flag, block or allow");
        }
        if let Some(cascade) = &self.cascade {
            cascade.validate(&join(path, "cascade"), errors);
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
        let cascade = self
            .cascade
            .as_ref()
            .map(|c| c.build(id, &self.model.tokenizer, "injection", &["injection"]))
            .transpose()?;
        Ok(InjectionClassifier {
            cascade,
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
            fields: self.fields.clone(),
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
    fields: Vec<EventField>,
    cascade: Option<Cascade>,
}

/// The decision on one passage besides the text: by the rules or by the model's score.
struct PassageDecision {
    location: Location,
    label: Arc<str>,
    score: f32,
    detector: &'static str,
    reason: String,
}

/// An event's passage decisions, made in `prepare` (keyed by the operator on the event).
struct PassageDecisions(Result<Vec<PassageDecision>, String>);

impl InjectionClassifier {
    fn rules_decide(&self, text: &str) -> bool {
        self.rules.assess(text).score >= self.rules_decide_at
    }

    /// Decides every passage of `events` (rules first; the passages they leave open go to the
    /// model together) and keeps the decisions on each event.
    fn decide_passages(&self, events: &mut [Event]) {
        let mut decided: Vec<Vec<PassageDecision>> = Vec::with_capacity(events.len());
        // The passages the rules leave open (event, location, rules matched), and their texts,
        // borrowed from the events until the model has read them.
        let mut open: Vec<(usize, Location, String)> = Vec::new();
        let mut texts: Vec<&str> = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let mut own = Vec::new();
            for (location, passage) in super::fields::passages(event, &self.fields) {
                let rules = self.rules.assess(passage);
                let matched = rules.labels().join(", ");
                if rules.score >= self.rules_decide_at {
                    let at = super::fields::describe(&location);
                    own.push(PassageDecision {
                        location,
                        label: rules.matched[0].0.clone(),
                        score: rules.score,
                        detector: "rules",
                        reason: format!("rules decided in {at}: {matched}"),
                    });
                } else {
                    open.push((i, location, matched));
                    texts.push(passage);
                }
            }
            decided.push(own);
        }
        let outcomes = if texts.is_empty() {
            Vec::new()
        } else {
            self.model.infer(&texts)
        };
        let mut failed: Vec<Option<String>> = vec![None; events.len()];
        for ((i, location, matched), outcome) in open.into_iter().zip(outcomes) {
            match outcome {
                Ok(outputs) => {
                    let score = label_scores(&outputs, self.output, self.activation)[self.column];
                    let at = super::fields::describe(&location);
                    let mut reason =
                        format!("model {} scored {score:.3} in {at}", self.model.label());
                    if !matched.is_empty() {
                        reason.push_str(&format!("; rules matched: {matched}"));
                    }
                    decided[i].push(PassageDecision {
                        location,
                        label: Arc::from("prompt_injection"),
                        score,
                        detector: "onnx",
                        reason,
                    });
                }
                Err(error) => failed[i] = Some(error.to_string()),
            }
        }
        for ((event, own), failure) in events.iter_mut().zip(decided).zip(failed) {
            let decisions = match failure {
                Some(error) => PassageDecisions(Err(error)),
                None => PassageDecisions(Ok(own)),
            };
            event
                .prepared
                .insert::<PassageDecisions, Self>(self, decisions);
        }
    }

    /// The provenance of a finding decided by the rules or the model (the student's carries
    /// its own file and threshold).
    fn provenance(&self, detector: &'static str) -> Provenance {
        Provenance {
            detector,
            version: if detector == "onnx" {
                self.model.digest()
            } else {
                env!("CARGO_PKG_VERSION")
            },
            threshold: self.threshold,
        }
    }

    fn finding(
        &self,
        label: Arc<str>,
        score: f32,
        provenance: Provenance,
        reason: String,
        spans: Vec<crate::model::Span>,
        location: Option<Location>,
    ) -> Finding {
        Finding {
            operator: self.id.clone(),
            category: Category::Injection,
            label,
            score,
            spans,
            action: self.action,
            redaction: None,
            reason: Some(Arc::from(reason)),
            provenance,
            location,
        }
    }

    /// The model or rules verdict on the event's text.
    fn inspect_text(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        let rules = self.rules.assess(&event.text);
        let spans = rules.spans();
        let matched = rules.labels();
        let (label, score, detector, reason): (Arc<str>, f32, &'static str, String) =
            if rules.score >= self.rules_decide_at {
                if let Some(cascade) = &self.cascade {
                    cascade.count_rules();
                }
                (
                    rules.matched[0].0.clone(),
                    rules.score,
                    "rules",
                    format!("rules decided: {}", matched.join(", ")),
                )
            } else if let Some((cascade, decided)) = self
                .cascade
                .as_ref()
                .and_then(|c| c.decided(&self.model, event).map(|d| (c, d)))
            {
                let score = decided.scores[0];
                let threshold = cascade.threshold(0);
                if self.record_scores {
                    event.scores.push(Score {
                        operator: self.id.clone(),
                        label: Arc::from("prompt_injection"),
                        score,
                        threshold,
                    });
                }
                if decided.flagged[0] {
                    let provenance = Provenance {
                        detector: "student",
                        version: cascade.digest(),
                        threshold,
                    };
                    let finding = self.finding(
                        Arc::from("prompt_injection"),
                        score,
                        provenance,
                        format!("cascade student scored {score:.3} (decides at {threshold})"),
                        spans,
                        None,
                    );
                    event.findings.push(finding);
                }
                return Ok(());
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
        if score >= self.threshold {
            let finding =
                self.finding(label, score, self.provenance(detector), reason, spans, None);
            event.findings.push(finding);
        }
        Ok(())
    }

    /// Findings in the passages besides the text (decided in `prepare`, or here when it did
    /// not run); a model failure on a passage fails the event.
    fn inspect_passages(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        if !super::fields::reads_passages(&self.fields) {
            return Ok(());
        }
        if event.prepared.get::<PassageDecisions, Self>(self).is_none() {
            self.decide_passages(std::slice::from_mut(event));
        }
        let decisions = event
            .prepared
            .get::<PassageDecisions, Self>(self)
            .expect("decided above");
        let decisions = decisions
            .0
            .as_ref()
            .map_err(|e| OperatorFailure(e.clone()))?;
        for d in decisions.iter().filter(|d| d.score >= self.threshold) {
            let finding = self.finding(
                d.label.clone(),
                d.score,
                self.provenance(d.detector),
                d.reason.clone(),
                Vec::new(),
                Some(d.location),
            );
            event.findings.push(finding);
        }
        Ok(())
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
        if self.fields.contains(&EventField::Text) {
            let mut needs_model: Vec<bool> = events
                .par_iter()
                .map(|e| !self.rules_decide(&e.text))
                .collect();
            if let Some(cascade) = &self.cascade {
                needs_model = cascade.screen(&self.model, events, |i| needs_model[i]);
            }
            ensure_outputs(&self.model, events, |i, _| needs_model[i]);
        }
        if super::fields::reads_passages(&self.fields) {
            self.decide_passages(events);
        }
    }

    fn inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        if self.fields.contains(&EventField::Text) {
            self.inspect_text(event)?;
        }
        self.inspect_passages(event)
    }
}

super::registry::register_inspector!(
    InjectionClassifyConfig, "injection_classify", crate::model::Category::Injection,
    build(c, id) => c.build(id),
    model(c) => Some(&c.model), Some(&mut c.model),
    cascade(c) => c.cascade.as_ref(), Some(&mut c.cascade),
);

//! `harm_classify`: does a response comply with a harmful request? Category `harm`.
//!
//! It judges what a response does given its prompt: a refusal or an ordinary answer is not
//! harm, instructions for a weapon or working malware are, however politely worded. The
//! response-harm head (`models/heads/harm.json`, [`HarmHead`]) reads the MiniLM `features`
//! output that the toxicity, injection and NER heads read, so the response's encoder pass is
//! shared with them; the prompt gets one more pass (batched across the events of a batch). A
//! response scores as its worst window. The finding's label is its most likely category
//! (`violent_crimes`, `weapons`, `cyber_attacks`, ...); the reason lists each category's score.
//! Prompts (events of kind `prompt`) are not judged: the injection and toxicity operators
//! cover them. With a `cascade` table, the student's `harm` head (over the response's word
//! pieces) first decides the responses it is sure are clean; only the rest are encoded, with
//! their prompts. The student never decides "harm": that depends on the prompt.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::cascade::{Cascade, CascadeConfig};
use super::harm_prompts::PromptEncoder;
use super::onnx_classify::{ensure_outputs, outputs_for};
use super::{check_unit_interval, Inspector, OperatorFailure};
use crate::diagnostics::{join, Errors};
use crate::inference::digest::validate_pinned;
use crate::inference::harm_head::HarmHead;
use crate::inference::outputs::ModelOutcome;
use crate::inference::{registry, Model, ModelConfig, ModelFile};
use crate::model::{Action, Category, Event, EventKind, Finding, Provenance, Score};

/// The head `scripts/models/train_harm.py` writes.
pub const DEFAULT_HEAD: &str = "models/heads/harm.json";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HarmClassifyConfig {
    /// The encoder (equal to the other model operators' tables to share its pass).
    pub model: ModelConfig,
    /// The harm head file.
    pub head: PathBuf,
    /// Optional pin of the head file (`sha256` hex).
    pub sha256: Option<String>,
    /// Score at or above which a response is reported; the head's dev-chosen threshold
    /// when unset.
    pub threshold: Option<f32>,
    pub action: Action,
    /// Record the score on the verdict, below the threshold too (feedback and replay).
    pub record_scores: bool,
    /// Ask the cascade student's `harm` head first; the encoder reads only the responses it
    /// does not decide are clean.
    pub cascade: Option<CascadeConfig>,
}

impl Default for HarmClassifyConfig {
    fn default() -> Self {
        HarmClassifyConfig {
            model: ModelConfig::default(),
            head: PathBuf::from(DEFAULT_HEAD),
            sha256: None,
            threshold: None,
            action: Action::Block,
            record_scores: false,
            cascade: None,
        }
    }
}

impl HarmClassifyConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        self.model.validate(&join(path, "model"), errors);
        validate_pinned(path, "head", &self.head, self.sha256.as_deref(), errors);
        if let Some(threshold) = self.threshold {
            check_unit_interval(path, "threshold", threshold, errors);
        }
        if self.action == Action::Redact {
            errors.push(join(path, "action"), "use flag, block or allow");
        }
        if let Some(cascade) = &self.cascade {
            cascade.validate(&join(path, "cascade"), errors);
        }
    }

    /// The encoder's files, the student's and the head, for pinning.
    pub fn files(&self, path: &str) -> Vec<ModelFile> {
        let mut files =
            super::cascade::files_with_student(&self.model, self.cascade.as_ref(), path);
        let key = join(path, "head");
        files.push(ModelFile::pinned(key, &self.head, self.sha256.as_deref()));
        files
    }

    pub fn build(&self, id: &str) -> Result<HarmClassifier, String> {
        let head = HarmHead::load(&self.head)?;
        let model = registry::shared(&self.model).map_err(|e| e.to_string())?;
        let features = model.require_features(head.width(), "the harm head")?;
        let cascade = self
            .cascade
            .as_ref()
            .map(|c| c.build(id, &self.model.tokenizer, "harm", &["harm"]))
            .transpose()?;
        if cascade.as_ref().is_some_and(|c| c.threshold(0) <= 1.0) {
            return Err(
                "cascade: the student's `harm` head must never flag (`flag_above` over 1): harm depends on the prompt, which it does not read"
                    .into(),
            );
        }
        Ok(HarmClassifier {
            cascade,
            id: Arc::from(id),
            threshold: self.threshold.unwrap_or(head.threshold),
            labels: head.labels.iter().map(|l| Arc::from(l.as_str())).collect(),
            head,
            prompts: PromptEncoder::new(model.clone(), features),
            model,
            features,
            action: self.action,
            record_scores: self.record_scores,
        })
    }
}

pub struct HarmClassifier {
    id: Arc<str>,
    head: HarmHead,
    labels: Vec<Arc<str>>,
    model: Arc<Model>,
    /// Index of the `features` output.
    features: usize,
    prompts: PromptEncoder,
    threshold: f32,
    action: Action,
    record_scores: bool,
    cascade: Option<Cascade>,
}

/// The prompt's features (max over its windows), computed in `prepare`; `None` without a
/// prompt.
struct PromptFeatures(Result<Option<Arc<[f32]>>, String>);

fn judged(event: &Event) -> bool {
    event.kind == EventKind::Response
}

fn prompt_of(event: &Event) -> Option<&str> {
    event.prompt.as_deref().filter(|p| !p.trim().is_empty())
}

impl HarmClassifier {
    /// Encodes the prompts of `events` (the judged ones that have one and whose response the
    /// encoder read): each distinct prompt once, recent ones from memory.
    fn encode_prompts(&self, events: &mut [Event]) {
        let pending: Vec<usize> = (0..events.len())
            .filter(|&i| judged(&events[i]) && self.encoder_read(&events[i]))
            .filter(|&i| {
                events[i]
                    .prepared
                    .get::<PromptFeatures, Self>(self)
                    .is_none()
            })
            .collect();
        let prompts: Vec<Arc<str>> = pending
            .iter()
            .filter_map(|&i| prompt_of(&events[i]).map(Arc::from))
            .collect();
        let mut outcomes = self.prompts.encode(&prompts).into_iter();
        for i in pending {
            let features = match prompt_of(&events[i]) {
                Some(_) => outcomes.next().expect("one outcome per prompt").map(Some),
                None => Ok(None),
            };
            events[i]
                .prepared
                .insert::<PromptFeatures, Self>(self, PromptFeatures(features));
        }
    }

    fn encoder_read(&self, event: &Event) -> bool {
        event
            .prepared
            .get::<ModelOutcome, Model>(&self.model)
            .is_some()
    }

    /// Records the student's score of a response it decided is clean.
    fn student_decided(&self, event: &mut Event) -> bool {
        let Some((cascade, decided)) = self
            .cascade
            .as_ref()
            .and_then(|c| c.decided(&self.model, event).map(|d| (c, d)))
        else {
            return false;
        };
        if self.record_scores {
            event.scores.push(Score {
                operator: self.id.clone(),
                label: Arc::from("harm"),
                score: decided.scores[0],
                threshold: cascade.threshold(0),
            });
        }
        true
    }

    fn describe(&self, categories: &[f32]) -> String {
        let mut ranked: Vec<(f32, &str)> = categories
            .iter()
            .zip(&self.labels)
            .map(|(s, l)| (*s, &**l))
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked
            .iter()
            .take(3)
            .map(|(s, l)| format!("{l} {s:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Inspector for HarmClassifier {
    fn id(&self) -> &str {
        &self.id
    }

    fn stream_role(&self) -> super::StreamRole {
        super::StreamRole::Sentences
    }

    fn model_digests(&self) -> Vec<&'static str> {
        vec![self.model.digest(), self.head.digest]
    }

    fn prepare(&self, events: &mut [Event]) {
        let mut needs_model: Vec<bool> = events.iter().map(judged).collect();
        if let Some(cascade) = &self.cascade {
            needs_model = cascade.screen(&self.model, events, |i| needs_model[i]);
        }
        ensure_outputs(&self.model, events, |i, _| needs_model[i]);
        self.encode_prompts(events);
    }

    fn inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        if !judged(event) || self.student_decided(event) {
            return Ok(());
        }
        // The encoder reads the response (if no batch pass did), then the prompt.
        let outputs = outputs_for(&self.model, event)?;
        if event.prepared.get::<PromptFeatures, Self>(self).is_none() {
            self.encode_prompts(std::slice::from_mut(event));
        }
        let prompt = match &event
            .prepared
            .get::<PromptFeatures, Self>(self)
            .expect("encoded above")
            .0
        {
            Ok(features) => features.clone(),
            Err(error) => return Err(OperatorFailure(error.clone())),
        };
        let windows: Vec<&[f32]> = outputs
            .windows
            .iter()
            .map(|w| w[self.features].as_slice())
            .collect();
        let judged = self.head.score(&windows, prompt.as_deref());
        if self.record_scores {
            event.scores.push(Score {
                operator: self.id.clone(),
                label: Arc::from("harm"),
                score: judged.score,
                threshold: self.threshold,
            });
        }
        if judged.score < self.threshold {
            return Ok(());
        }
        let top = judged
            .categories
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let reason = format!(
            "harm head scored {:.3} ({}), window {} of {}{}",
            judged.score,
            self.describe(&judged.categories),
            judged.window + 1,
            windows.len(),
            if prompt.is_some() {
                ", with its prompt"
            } else {
                ", no prompt"
            }
        );
        event.findings.push(Finding {
            operator: self.id.clone(),
            category: Category::Harm,
            label: self.labels[top].clone(),
            score: judged.score,
            spans: Vec::new(),
            action: self.action,
            redaction: None,
            reason: Some(Arc::from(reason)),
            provenance: Provenance {
                detector: "onnx",
                version: self.head.digest,
                threshold: self.threshold,
            },
            location: None,
        });
        Ok(())
    }
}

super::registry::register_inspector!(
    HarmClassifyConfig, "harm_classify", crate::model::Category::Harm,
    build(c, id) => c.build(id),
    model(c) => Some(&c.model), Some(&mut c.model),
    cascade(c) => c.cascade.as_ref(), Some(&mut c.cascade),
    files(c, path) => c.files(path),
);

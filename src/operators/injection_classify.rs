//! `injection_classify`: prompt-injection and jailbreak detection as a cascade.
//!
//! The `injection_heuristics` rules run first (microseconds per event). When their combined
//! score reaches `rules_decide_at` the rules decide and the model is not consulted for that
//! event; otherwise the MiniLM injection head (or any binary classifier output) scores the text,
//! worst window first. When toxicity runs on the same model, the model pass is shared and the
//! cascade saves nothing but also costs nothing.
//!
//! Context passages (`fields = ["context"]`) are documents, not requests: after the rules, each
//! is split into lines and sentences and the document-injection head
//! ([`super::document_injection`]) asks of each whether it addresses the assistant; a passage
//! scores as its worst segment. The prompt (`"prompt"`) is a request and is scored like the
//! text.

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;

use super::cascade::{Cascade, CascadeConfig};
use super::document_injection::{self, DocumentHead, DEFAULT_DOCUMENT_HEAD};
use super::injection_heuristics::{InjectionConfig, InjectionDetector};
use super::onnx_classify::{ensure_outputs, label_scores, outputs_for, Activation};
use super::{check_unit_interval, Inspector, OperatorFailure};
use crate::diagnostics::{join, Errors};
use crate::inference::digest::{validate_pinned, ModelFile};
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
    /// The head that scores the segments of context passages.
    pub document_head: PathBuf,
    /// Optional pin of the document head file (`sha256` hex).
    pub document_sha256: Option<String>,
    /// Segment score at or above which a passage is reported; the head's dev-chosen threshold
    /// by default.
    pub document_threshold: Option<f32>,
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
            document_head: PathBuf::from(DEFAULT_DOCUMENT_HEAD),
            document_sha256: None,
            document_threshold: None,
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
        if let Some(threshold) = self.document_threshold {
            check_unit_interval(path, "document_threshold", threshold, errors);
        }
        if self.reads_documents() {
            let pin = self.document_sha256.as_deref();
            validate_pinned(path, "document_head", &self.document_head, pin, errors);
        }
    }

    /// Whether it reads context passages (which the document head scores).
    fn reads_documents(&self) -> bool {
        self.fields.contains(&EventField::Context)
    }

    /// The encoder's files, the student's and, when context passages are read, the document
    /// head.
    pub fn files(&self, path: &str) -> Vec<ModelFile> {
        let mut files =
            super::cascade::files_with_student(&self.model, self.cascade.as_ref(), path);
        if self.reads_documents() {
            let key = join(path, "document_head");
            let pin = self.document_sha256.as_deref();
            files.push(ModelFile::pinned(key, &self.document_head, pin));
        }
        files
    }

    /// The document head and the index of the model's `features` output, when context
    /// passages are read.
    fn document_scorer(&self, model: &Model) -> Result<Option<DocumentScorer>, String> {
        if !self.reads_documents() {
            return Ok(None);
        }
        let head = DocumentHead::load(&self.document_head)?;
        let features = model.require_features(head.width(), "the document head")?;
        Ok(Some(DocumentScorer {
            threshold: self.document_threshold.unwrap_or(head.threshold),
            head,
            features,
        }))
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
        let documents = self.document_scorer(&model)?;
        Ok(InjectionClassifier {
            documents,
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

/// The document head with its threshold, and where the model's `features` output is.
struct DocumentScorer {
    head: DocumentHead,
    features: usize,
    threshold: f32,
}

pub struct InjectionClassifier {
    id: Arc<str>,
    documents: Option<DocumentScorer>,
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
    provenance: Provenance,
    reason: String,
}

/// A passage the rules left open.
struct OpenPassage<'e> {
    event: usize,
    location: Location,
    /// The rules that matched without deciding, listed in the reason.
    matched: String,
    text: &'e str,
}

impl OpenPassage<'_> {
    fn with_rules(&self, mut reason: String) -> String {
        if !self.matched.is_empty() {
            reason.push_str(&format!("; rules matched: {}", self.matched));
        }
        reason
    }
}

/// An event's passage decisions, made in `prepare` (keyed by the operator on the event).
struct PassageDecisions(Result<Vec<PassageDecision>, String>);

impl InjectionClassifier {
    fn rules_decide(&self, text: &str) -> bool {
        self.rules.assess(text).score >= self.rules_decide_at
    }

    /// Decides every passage of `events` (rules first; the passages they leave open go to the
    /// model together: context passages segment by segment through the document head, the
    /// prompt through the injection output like the text) and keeps the decisions on each
    /// event.
    fn decide_passages(&self, events: &mut [Event]) {
        let mut decided: Vec<Vec<PassageDecision>> = Vec::with_capacity(events.len());
        // The passages the rules leave open, borrowed from the events until the model has read
        // them: documents (context) and requests (the prompt).
        let mut documents: Vec<OpenPassage<'_>> = Vec::new();
        let mut requests: Vec<OpenPassage<'_>> = Vec::new();
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
                        provenance: self.provenance("rules"),
                        reason: format!("rules decided in {at}: {matched}"),
                    });
                    continue;
                }
                let open = OpenPassage {
                    event: i,
                    location,
                    matched,
                    text: passage,
                };
                match location.field {
                    EventField::Context => documents.push(open),
                    _ => requests.push(open),
                }
            }
            decided.push(own);
        }
        let mut failed: Vec<Option<String>> = vec![None; events.len()];
        let scored = self
            .score_documents(&documents)
            .into_iter()
            .zip(&documents)
            .chain(self.score_requests(&requests).into_iter().zip(&requests));
        for (outcome, open) in scored {
            match outcome {
                Ok(decision) => decided[open.event].push(decision),
                Err(error) => failed[open.event] = Some(error),
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

    /// Context passages: each segment through the document head (all segments of all passages
    /// in one model call); a passage scores as its worst segment.
    fn score_documents(&self, open: &[OpenPassage<'_>]) -> Vec<Result<PassageDecision, String>> {
        let Some(documents) = self.documents.as_ref() else {
            return Vec::new();
        };
        let segments: Vec<Vec<crate::model::Span>> = open
            .iter()
            .map(|p| document_injection::segments(p.text))
            .collect();
        let segment_texts: Vec<&str> = open
            .iter()
            .zip(&segments)
            .flat_map(|(p, spans)| spans.iter().map(move |s| &p.text[s.start..s.end]))
            .collect();
        let mut outcomes = if segment_texts.is_empty() {
            Vec::new()
        } else {
            self.model.infer(&segment_texts)
        }
        .into_iter();
        let mut out = Vec::with_capacity(open.len());
        for (passage, spans) in open.iter().zip(&segments) {
            // The worst segment: (score, segment index).
            let mut worst = (0.0f32, None);
            let mut error = None;
            for (k, outcome) in outcomes.by_ref().take(spans.len()).enumerate() {
                match outcome {
                    Ok(outputs) => {
                        for window in &outputs.windows {
                            let score = documents.head.score(&window[documents.features]);
                            if score > worst.0 || worst.1.is_none() {
                                worst = (score, Some(k));
                            }
                        }
                    }
                    Err(e) => error = Some(e.to_string()),
                }
            }
            if let Some(error) = error {
                out.push(Err(error));
                continue;
            }
            let (score, segment) = worst;
            let at = super::fields::describe(&passage.location);
            let reason = match segment {
                Some(k) => format!(
                    "document head scored {score:.3} at bytes {}..{} in {at}",
                    spans[k].start, spans[k].end
                ),
                None => format!("no text to score in {at}"),
            };
            out.push(Ok(PassageDecision {
                location: passage.location,
                label: Arc::from("prompt_injection"),
                score,
                provenance: Provenance {
                    detector: "onnx",
                    version: documents.head.digest,
                    threshold: documents.threshold,
                },
                reason: passage.with_rules(reason),
            }));
        }
        out
    }

    /// The prompt: a request, scored by the injection output like the text.
    fn score_requests(&self, open: &[OpenPassage<'_>]) -> Vec<Result<PassageDecision, String>> {
        if open.is_empty() {
            return Vec::new();
        }
        let texts: Vec<&str> = open.iter().map(|p| p.text).collect();
        let outcomes = self.model.infer(&texts);
        open.iter()
            .zip(outcomes)
            .map(|(passage, outcome)| {
                let outputs = outcome.map_err(|e| e.to_string())?;
                let score = label_scores(&outputs, self.output, self.activation)[self.column];
                let at = super::fields::describe(&passage.location);
                let reason = format!("model {} scored {score:.3} in {at}", self.model.label());
                Ok(PassageDecision {
                    location: passage.location,
                    label: Arc::from("prompt_injection"),
                    score,
                    provenance: self.provenance("onnx"),
                    reason: passage.with_rules(reason),
                })
            })
            .collect()
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
        for d in decisions
            .iter()
            .filter(|d| d.score >= d.provenance.threshold)
        {
            let finding = self.finding(
                d.label.clone(),
                d.score,
                d.provenance.clone(),
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
        let head = self.documents.as_ref().map(|d| d.head.digest);
        std::iter::once(self.model.digest()).chain(head).collect()
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
    files(c, path) => c.files(path),
);

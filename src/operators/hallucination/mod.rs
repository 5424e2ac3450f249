//! `hallucination_check`: whether a response's claims are supported by its context passages.
//!
//! The response is split into claims ([`claims`]); each is matched against an index of the
//! context and prompt ([`source`]) for lexical coverage, the best single supporting sentence,
//! stem bigrams, names and numbers found nowhere in the sources, and negation flips
//! ([`assess`]); optionally the MiniLM embedding cosine between a claim and its best sentence
//! is added, or else the learned encoder signal ([`encoder`]: embeddings of the response and
//! of its evidence pair, read by a per-profile combiner). A small model trained on HaluEval dev
//! splits ([`calibration`]) turns the response's features into a calibrated probability; an
//! answer to a question is judged against a threshold of its own ([`shape`]).
//! Without context, grounding is not possible and the verdict says so; relevance to the prompt
//! and contradictions between the response's own claims are checked instead ([`consistency`]).

pub mod assess;
pub mod calibration;
pub mod claims;
pub mod consistency;
pub mod encoder;
pub mod lexicon;
pub mod nli;
pub mod shape;
pub mod source;

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;

use self::assess::{assess_claims, ClaimSignals};
use self::calibration::{Calibration, Combiner};
use self::claims::Response;
use self::consistency::{contradictions, lexical_relevance, Contradiction};
use self::encoder::{EncoderConfig, EncoderSignal, SHIPPED_ENCODER_TOKENS};
use self::shape::{AnswerShape, ShapeChoice};
use self::source::Source;
use super::{check_unit_interval, Inspector, OperatorFailure};
use crate::diagnostics::{join, Errors};
use crate::inference::{registry, InferenceError, Model, ModelConfig, TextOutputs};
use crate::model::Action;
use crate::model::{Category, Event, EventKind, Finding, Provenance, Span};

/// Claim-level reasons that are reported on their own, even when the response as a whole
/// scores below the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimReason {
    UnsupportedEntity,
    UnsupportedNumber,
    NegationMismatch,
    SelfContradiction,
}

impl ClaimReason {
    pub fn label(self) -> &'static str {
        match self {
            ClaimReason::UnsupportedEntity => "unsupported_entity",
            ClaimReason::UnsupportedNumber => "unsupported_number",
            ClaimReason::NegationMismatch => "negation_mismatch",
            ClaimReason::SelfContradiction => "self_contradiction",
        }
    }
}

/// The embedding signal: a sentence-embedding output of an ONNX model.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EmbeddingConfig {
    pub model: ModelConfig,
    /// Output holding one (L2-normalised) embedding per text.
    pub output: String,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        EmbeddingConfig {
            model: ModelConfig::default(),
            output: "sentence_embedding".into(),
        }
    }
}

/// Options of `hallucination_check`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HallucinationConfig {
    /// Event kinds checked (prompts carry no claims to ground).
    pub kinds: Vec<EventKind>,
    /// Calibrated probability at or above which a response is reported as `hallucination`;
    /// unset: the threshold chosen on the dev split, from the calibration file (each lexical
    /// combiner has its own).
    pub threshold: Option<f32>,
    /// Which threshold of the lexical combiner judges a response: by the event's shape (`auto`),
    /// or always the `question` or the `general` one.
    pub shape: ShapeChoice,
    /// Suggested action for hallucination findings.
    pub action: Action,
    /// Claim-level reasons reported on their own whatever the response's score.
    pub report: Vec<ClaimReason>,
    /// Claims whose content-word coverage is below this are listed as `low support`.
    pub low_support: f32,
    /// Quote the unsupported name or number in reasons (`unsupported entity "X"`); off, reasons
    /// give byte offsets only, so verdicts carry no response text.
    pub quote_reasons: bool,
    /// A calibration file from `scripts/models/train_hallucination.py`; unset: the shipped one.
    pub calibration: Option<PathBuf>,
    /// The sha256 the calibration file must have.
    pub calibration_sha256: Option<String>,
    /// Adds the embedding-similarity signal (and embedding relevance without context).
    pub embedding: Option<EmbeddingConfig>,
    /// Adds the learned encoder signal (response and evidence-pair embeddings); an
    /// alternative to `embedding`.
    pub encoder: Option<Box<EncoderConfig>>,
    /// Adds a user-provided NLI / cross-encoder model's entailment of each claim.
    pub nli: Option<nli::NliConfig>,
    /// Without context: relevance to the prompt below this reports `off_topic`.
    pub relevance_threshold: f32,
    /// Action of the `grounding_unavailable` finding a response without context gets.
    pub no_context_action: Action,
    /// Action of `off_topic` and claim-level findings.
    pub claim_action: Action,
}

impl Default for HallucinationConfig {
    fn default() -> Self {
        HallucinationConfig {
            kinds: vec![EventKind::Response],
            threshold: None,
            shape: ShapeChoice::Auto,
            action: Action::Flag,
            report: vec![
                ClaimReason::UnsupportedEntity,
                ClaimReason::UnsupportedNumber,
                ClaimReason::NegationMismatch,
                ClaimReason::SelfContradiction,
            ],
            low_support: 0.5,
            quote_reasons: true,
            calibration: None,
            calibration_sha256: None,
            embedding: None,
            encoder: None,
            nli: None,
            relevance_threshold: 0.1,
            no_context_action: Action::Allow,
            claim_action: Action::Flag,
        }
    }
}

impl HallucinationConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        if let Some(threshold) = self.threshold {
            check_unit_interval(path, "threshold", threshold, errors);
        }
        check_unit_interval(path, "low_support", self.low_support, errors);
        check_unit_interval(
            path,
            "relevance_threshold",
            self.relevance_threshold,
            errors,
        );
        for (field, action) in [
            ("action", self.action),
            ("no_context_action", self.no_context_action),
            ("claim_action", self.claim_action),
        ] {
            if action == Action::Redact {
                errors.push(
                    join(path, field),
                    "use allow, flag or block (claims are not redacted)",
                );
            }
        }
        if self.kinds.is_empty() {
            errors.push(join(path, "kinds"), "must name at least one event kind");
        }
        if self
            .calibration_sha256
            .as_deref()
            .is_some_and(|p| crate::inference::digest::normalize_pin(p).is_none())
        {
            errors.push(
                join(path, "calibration_sha256"),
                "must be a sha256: 64 hex digits, optionally after `sha256:`",
            );
        }
        if let Some(embedding) = &self.embedding {
            embedding
                .model
                .validate(&join(path, "embedding.model"), errors);
        }
        if let Some(encoder) = &self.encoder {
            encoder.model.validate(&join(path, "encoder.model"), errors);
            if self.embedding.is_some() {
                errors.push(
                    join(path, "encoder"),
                    "`encoder` and `embedding` are alternative signals; configure one",
                );
            }
            if self.calibration.is_none() && encoder.model.max_tokens != SHIPPED_ENCODER_TOKENS {
                errors.push(
                    join(path, "encoder.model.max_tokens"),
                    format!(
                        "the shipped encoder combiners were trained on {SHIPPED_ENCODER_TOKENS}-token windows; \
                         set max_tokens = {SHIPPED_ENCODER_TOKENS} or give a calibration trained with yours"
                    ),
                );
            }
        }
        if let Some(nli) = &self.nli {
            nli.validate(&join(path, "nli"), errors);
        }
        if self.shape == ShapeChoice::Question
            && (self.embedding.is_some() || self.encoder.is_some())
        {
            errors.push(
                join(path, "shape"),
                "the question threshold is the lexical combiner's; use `auto` or `general` with `embedding` or `encoder`",
            );
        }
    }

    /// Its model tables' files and its calibration file, under `path`.
    fn model_files(&self, path: &str) -> Vec<crate::inference::ModelFile> {
        let mut files = Vec::new();
        if let Some(e) = &self.embedding {
            files.extend(e.model.files(&join(path, "embedding.model")));
        }
        if let Some(e) = &self.encoder {
            files.extend(e.model.files(&join(path, "encoder.model")));
        }
        if let Some(n) = &self.nli {
            files.extend(n.model.files(&join(path, "nli.model")));
        }
        if let Some(calibration) = &self.calibration {
            files.push(crate::inference::ModelFile {
                key: join(path, "calibration"),
                file: calibration.clone(),
                pin: self
                    .calibration_sha256
                    .as_deref()
                    .and_then(crate::inference::digest::normalize_pin),
            });
        }
        files
    }

    pub fn build(&self, id: &str) -> Result<HallucinationChecker, String> {
        let calibration = match &self.calibration {
            Some(path) => Calibration::load(path)?,
            None => Calibration::shipped(),
        };
        let embedding = match &self.embedding {
            Some(e) => {
                let model = registry::shared(&e.model).map_err(|e| e.to_string())?;
                let output = model.require_output(&e.output)?;
                if model.is_per_token(output) {
                    return Err(format!("embedding output `{}` is per token", e.output));
                }
                Some((model, output))
            }
            None => None,
        };
        let encoder = match &self.encoder {
            Some(config) => Some(EncoderSignal::build(config)?),
            None => None,
        };
        let combiner = calibration
            .combiner(
                embedding.is_some(),
                self.encoder.as_ref().map(|e| e.profile),
            )?
            .clone();
        let nli = match &self.nli {
            Some(config) => Some(config.build().map_err(|e| format!("nli: {e}"))?),
            None => None,
        };
        let lexical_only = embedding.is_none() && self.encoder.is_none();
        let question_threshold = match self.shape {
            ShapeChoice::General => None,
            _ if !lexical_only => None,
            _ => Some(
                self.threshold
                    .or(calibration.question_threshold)
                    .unwrap_or(combiner.threshold),
            ),
        };
        Ok(HallucinationChecker {
            nli,
            id: Arc::from(id),
            threshold: self.threshold.unwrap_or(combiner.threshold),
            question_threshold,
            combiner,
            embedding,
            encoder,
            config: self.clone(),
        })
    }
}

/// What one response's check found.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// Whether there was context to ground in.
    pub grounded: bool,
    pub claims: Vec<ClaimSignals>,
    /// Calibrated probability of an unsupported claim (grounded responses).
    pub score: Option<f32>,
    /// The shape it was judged as, and that shape's threshold.
    pub shape: AnswerShape,
    pub threshold: f32,
    /// Relevance to the prompt (responses without context that answer a prompt).
    pub relevance: Option<f32>,
    pub contradictions: Vec<Contradiction>,
    /// Response and evidence-pair embeddings (the encoder signal, grounded responses).
    pub encoder: Option<Vec<f32>>,
}

/// The texts one check needs.
pub struct CheckInput<'a> {
    pub text: &'a str,
    pub prompt: Option<&'a str>,
    pub context: Vec<&'a str>,
}

impl<'a> CheckInput<'a> {
    pub fn of(event: &'a Event) -> Self {
        CheckInput {
            text: &event.text,
            prompt: event.prompt.as_deref(),
            context: event.context.iter().map(|c| &**c).collect(),
        }
    }
}

pub struct HallucinationChecker {
    id: Arc<str>,
    config: HallucinationConfig,
    combiner: Combiner,
    threshold: f32,
    /// The threshold for answers to a question, when the shape can pick it.
    question_threshold: Option<f32>,
    embedding: Option<(Arc<Model>, usize)>,
    encoder: Option<EncoderSignal>,
    nli: Option<nli::NliScorer>,
}

impl HallucinationChecker {
    /// The thresholds the checker may use, by shape.
    pub fn thresholds(&self) -> Vec<(AnswerShape, f32)> {
        let mut out = vec![(AnswerShape::General, self.threshold)];
        out.extend(self.question_threshold.map(|t| (AnswerShape::Question, t)));
        out
    }

    /// The shape an input is scored as, and its threshold.
    fn shape_of(&self, input: &CheckInput<'_>) -> (AnswerShape, f32) {
        match self.question_threshold {
            Some(threshold) if self.config.shape.of(input.prompt) == AnswerShape::Question => {
                (AnswerShape::Question, threshold)
            }
            _ => (AnswerShape::General, self.threshold),
        }
    }

    /// Names of the features the combiner reads, in order.
    pub fn feature_names(&self) -> &[String] {
        &self.combiner.features
    }

    /// The combiner's input for one grounded assessment: lexical features, then the embedding
    /// cosines or the encoder embeddings when those signals are on.
    pub fn features(&self, a: &Assessment) -> Result<Vec<f32>, InferenceError> {
        let mut features = assess::features(&a.claims, self.embedding.is_some());
        if self.encoder.is_some() {
            let encoded = a
                .encoder
                .as_deref()
                .ok_or_else(|| InferenceError::Run("missing encoder features".into()))?;
            features.extend_from_slice(encoded);
        }
        if features.len() != self.combiner.features.len() {
            return Err(InferenceError::Run(format!(
                "the model gives {} features; the calibration expects {}",
                features.len(),
                self.combiner.features.len()
            )));
        }
        Ok(features)
    }

    /// Checks a batch of responses (embeddings of every claim in one model call).
    pub fn assess_batch(
        &self,
        inputs: &[CheckInput<'_>],
    ) -> Result<Vec<Assessment>, InferenceError> {
        let mut assessments: Vec<Assessment> = inputs
            .par_iter()
            .map(|input| {
                let source = Source::build(&input.context, input.prompt);
                let grounded = source.has_context();
                let response = Response::new(input.text);
                let claims = if grounded {
                    assess_claims(&response, &source)
                } else {
                    Vec::new()
                };
                let relevance = match (grounded, input.prompt) {
                    (false, Some(prompt)) => Some(lexical_relevance(prompt, input.text)),
                    _ => None,
                };
                Assessment {
                    grounded,
                    claims,
                    score: None,
                    shape: AnswerShape::General,
                    threshold: self.threshold,
                    relevance,
                    contradictions: contradictions(&response),
                    encoder: None,
                }
            })
            .collect();
        if let Some((model, output)) = &self.embedding {
            self.add_cosines(model, *output, inputs, &mut assessments)?;
        }
        if let Some(encoder) = &self.encoder {
            encoder.add(inputs, &mut assessments)?;
        }
        if let Some(nli) = &self.nli {
            Self::add_entailment(nli, inputs, &mut assessments)?;
        }
        for (input, a) in inputs.iter().zip(assessments.iter_mut()) {
            if !a.grounded {
                continue;
            }
            (a.shape, a.threshold) = self.shape_of(input);
            let p = self.combiner.score(&self.features(a)?);
            a.score = Some(match &self.nli {
                Some(nli) => nli.blend(p, &a.claims),
                None => p,
            });
        }
        Ok(assessments)
    }

    /// Each claim with a best sentence, as (item, claim, claim text, sentence text).
    fn claim_pairs<'a>(
        inputs: &[CheckInput<'a>],
        assessments: &[Assessment],
    ) -> Vec<(usize, usize, &'a str, &'a str)> {
        let mut pairs = Vec::new();
        for (i, (input, a)) in inputs.iter().zip(assessments).enumerate() {
            for (c, claim) in a.claims.iter().enumerate() {
                if let Some(best) = claim.best_sentence {
                    let passage = input.context[best.passage];
                    pairs.push((
                        i,
                        c,
                        &input.text[claim.span.start..claim.span.end],
                        &passage[best.span.start..best.span.end],
                    ));
                }
            }
        }
        pairs
    }

    fn add_entailment(
        nli: &nli::NliScorer,
        inputs: &[CheckInput<'_>],
        assessments: &mut [Assessment],
    ) -> Result<(), InferenceError> {
        let pairs = Self::claim_pairs(inputs, assessments);
        let premises: Vec<(&str, &str)> = pairs.iter().map(|p| (p.3, p.2)).collect();
        nli.score(&premises, |i, entailment, contradiction| {
            let claim = &mut assessments[pairs[i].0].claims[pairs[i].1];
            claim.entailment = Some(entailment);
            claim.contradiction = contradiction;
        })
    }

    /// Embedding cosines: each claim against its best context sentence; without context, the
    /// response against its prompt (replacing the lexical relevance).
    fn add_cosines(
        &self,
        model: &Model,
        output: usize,
        inputs: &[CheckInput<'_>],
        assessments: &mut [Assessment],
    ) -> Result<(), InferenceError> {
        let mut pairs: Vec<(usize, Option<usize>, &str, &str)> =
            Self::claim_pairs(inputs, assessments)
                .into_iter()
                .map(|(i, c, claim, sentence)| (i, Some(c), claim, sentence))
                .collect();
        for (i, (input, a)) in inputs.iter().zip(assessments.iter()).enumerate() {
            if let (false, Some(prompt)) = (a.grounded, input.prompt) {
                pairs.push((i, None, input.text, prompt));
            }
        }
        let texts: Vec<&str> = pairs.iter().flat_map(|p| [p.2, p.3]).collect();
        let outputs = model.infer(&texts);
        let mut outputs = outputs.into_iter();
        for (item, claim, _, _) in pairs {
            let left = embedding(outputs.next(), output)?;
            let right = embedding(outputs.next(), output)?;
            let cosine: f32 = left.iter().zip(&right).map(|(a, b)| a * b).sum();
            match claim {
                Some(c) => assessments[item].claims[c].cosine = Some(cosine),
                None => assessments[item].relevance = Some(cosine.max(0.0)),
            }
        }
        Ok(())
    }

    fn findings(&self, event: &Event, a: &Assessment) -> Vec<Finding> {
        let text = &*event.text;
        let mut out = Vec::new();
        let finding =
            |label: &'static str, score: f32, spans: Vec<Span>, action, reason: String| Finding {
                operator: self.id.clone(),
                category: Category::Hallucination,
                label: Arc::from(label),
                score,
                spans,
                action,
                redaction: None,
                reason: Some(Arc::from(reason)),
                provenance: Provenance::builtin("groundedness", a.threshold),
                location: None,
            };
        if !a.grounded {
            let mut reason = String::from("no context passages: grounding was not possible");
            if let Some(relevance) = a.relevance {
                reason.push_str(&format!("; relevance to the prompt {relevance:.2}"));
            }
            out.push(finding(
                "grounding_unavailable",
                0.0,
                Vec::new(),
                self.config.no_context_action,
                reason,
            ));
            if let Some(relevance) = a.relevance.filter(|r| *r < self.config.relevance_threshold) {
                out.push(finding(
                    "off_topic",
                    1.0 - relevance,
                    Vec::new(),
                    self.config.claim_action,
                    format!("the response barely addresses the prompt (relevance {relevance:.2})"),
                ));
            }
        }
        let score = a.score.unwrap_or(0.0);
        let reports = |reason: ClaimReason| self.config.report.contains(&reason);
        if let Some(p) = a.score.filter(|p| *p >= a.threshold) {
            let (spans, reasons) = self.claim_reasons(text, &a.claims);
            let scored_as = match a.shape {
                AnswerShape::Question => ", as an answer to a question",
                AnswerShape::General => "",
            };
            out.push(finding(
                "hallucination",
                p,
                spans,
                self.config.action,
                format!(
                    "unsupported by the context (p = {p:.2}{scored_as}): {}",
                    reasons.join("; ")
                ),
            ));
        }
        for (reason, spans) in [
            (
                ClaimReason::UnsupportedEntity,
                a.claims
                    .iter()
                    .flat_map(|c| c.unsupported_entities.iter().copied())
                    .collect::<Vec<_>>(),
            ),
            (
                ClaimReason::UnsupportedNumber,
                a.claims
                    .iter()
                    .flat_map(|c| c.unsupported_numbers.iter().copied())
                    .collect(),
            ),
            (
                ClaimReason::NegationMismatch,
                a.claims
                    .iter()
                    .filter(|c| c.negation_mismatch)
                    .map(|c| c.span)
                    .collect(),
            ),
        ] {
            if spans.is_empty() || !reports(reason) {
                continue;
            }
            let what = match reason {
                ClaimReason::UnsupportedEntity => "unsupported entity",
                ClaimReason::UnsupportedNumber => "unsupported number",
                _ => "negation not in the supporting sentence",
            };
            let listed: Vec<String> = spans
                .iter()
                .map(|s| format!("{what} {}", self.quote(text, *s)))
                .collect();
            out.push(finding(
                reason.label(),
                score,
                spans,
                self.config.claim_action,
                listed.join("; "),
            ));
        }
        if reports(ClaimReason::SelfContradiction) {
            for c in &a.contradictions {
                out.push(finding(
                    ClaimReason::SelfContradiction.label(),
                    1.0,
                    vec![c.first, c.second],
                    self.config.claim_action,
                    format!(
                        "claims {} and {} contradict each other ({})",
                        self.quote(text, c.first),
                        self.quote(text, c.second),
                        c.how
                    ),
                ));
            }
        }
        out
    }

    /// The claims to show a reviewer and why each is unsupported.
    fn claim_reasons(&self, text: &str, claims: &[ClaimSignals]) -> (Vec<Span>, Vec<String>) {
        let mut spans = Vec::new();
        let mut reasons = Vec::new();
        for claim in claims.iter().filter(|c| c.asserts_something()) {
            let mut why: Vec<String> = Vec::new();
            why.extend(
                claim
                    .unsupported_entities
                    .iter()
                    .map(|s| format!("unsupported entity {}", self.quote(text, *s))),
            );
            why.extend(
                claim
                    .unsupported_numbers
                    .iter()
                    .map(|s| format!("unsupported number {}", self.quote(text, *s))),
            );
            if claim.negation_mismatch {
                why.push("negation not in the supporting sentence".into());
            }
            let contradicted = self.nli.as_ref().map_or(1.1, |n| n.contradiction_threshold);
            if let Some(c) = claim.contradiction.filter(|c| *c >= contradicted) {
                why.push(format!("contradicted by the context (NLI {c:.2})"));
            }
            if claim.coverage() < self.config.low_support {
                why.push(format!("low support (coverage {:.2})", claim.coverage()));
            }
            if !why.is_empty() {
                spans.push(claim.span);
                reasons.push(format!(
                    "claim at {}..{}: {}",
                    claim.span.start,
                    claim.span.end,
                    why.join(", ")
                ));
            }
        }
        if spans.is_empty() {
            reasons.push(
                "no single claim stands out; the response as a whole is weakly supported".into(),
            );
        }
        (spans, reasons)
    }

    fn quote(&self, text: &str, span: Span) -> String {
        if !self.config.quote_reasons {
            return format!("at {}..{}", span.start, span.end);
        }
        let value = &text[span.start..span.end];
        match value.char_indices().nth(60) {
            Some((cut, _)) => format!("\"{}...\"", &value[..cut]),
            None => format!("\"{value}\""),
        }
    }

    fn wants(&self, event: &Event) -> bool {
        self.config.kinds.contains(&event.kind)
    }
}

fn embedding(
    outcome: Option<Result<Arc<TextOutputs>, InferenceError>>,
    output: usize,
) -> Result<Vec<f32>, InferenceError> {
    let outputs = outcome.ok_or_else(|| InferenceError::Run("missing embedding".into()))??;
    Ok(outputs.mean_embedding(output))
}

impl Inspector for HallucinationChecker {
    fn id(&self) -> &str {
        &self.id
    }

    fn stream_role(&self) -> crate::operators::StreamRole {
        crate::operators::StreamRole::WholeResponse
    }

    fn model_digests(&self) -> Vec<&'static str> {
        let embedding = self.embedding.iter().map(|(model, _)| model.digest());
        embedding
            .chain(self.encoder.iter().map(|e| e.model().digest()))
            .chain(self.nli.iter().map(|n| n.model_digest()))
            .collect()
    }

    fn prepare(&self, events: &mut [Event]) {
        let wanted: Vec<usize> = (0..events.len())
            .filter(|&i| self.wants(&events[i]))
            .collect();
        if wanted.is_empty() {
            return;
        }
        let inputs: Vec<CheckInput<'_>> =
            wanted.iter().map(|&i| CheckInput::of(&events[i])).collect();
        let outcome = self.assess_batch(&inputs).map_err(|e| e.to_string());
        drop(inputs);
        match outcome {
            Ok(assessments) => {
                for (i, a) in wanted.into_iter().zip(assessments) {
                    events[i]
                        .prepared
                        .insert::<Result<Assessment, String>, _>(self, Ok(a));
                }
            }
            Err(error) => {
                for i in wanted {
                    events[i]
                        .prepared
                        .insert::<Result<Assessment, String>, _>(self, Err(error.clone()));
                }
            }
        }
    }

    fn inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        if !self.wants(event) {
            return Ok(());
        }
        let assessment = match event.prepared.get::<Result<Assessment, String>, _>(self) {
            Some(prepared) => (*prepared).clone().map_err(OperatorFailure)?,
            None => self
                .assess_batch(&[CheckInput::of(event)])
                .map_err(|e| OperatorFailure(e.to_string()))?
                .remove(0),
        };
        let findings = self.findings(event, &assessment);
        event.findings.extend(findings);
        Ok(())
    }
}

crate::operators::registry::register_inspector!(
    HallucinationConfig, "hallucination_check", crate::model::Category::Hallucination,
    build(c, id) => c.build(id),
    model(c) => c.embedding.as_ref().map(|e| &e.model), c.embedding.as_mut().map(|e| &mut e.model),
    files(c, path) => c.model_files(path),
);

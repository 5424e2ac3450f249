//! Operators: the checks an event flows through.
//!
//! Each operator is one module with a `<Thing>Config` (serde, validation, `build`) and the
//! runtime type it builds. [`OperatorSpec`] is the closed set selected by the TOML `type`
//! field: adding an operator is one variant, one match arm in each method below, one module.
//!
//! CPU-bound detectors implement [`Inspector`]: they look at one event and append findings.
//! The runtime fuses consecutive inspectors and runs them data-parallel over a batch (one pass
//! per event over all of them, which keeps the event's text hot in cache). The `decide`
//! operator is not an inspector: it builds the [`decide::Policy`] that turns findings into
//! the verdict's action.

pub mod decide;
pub mod hallucination;
pub mod injection_classify;
pub mod injection_heuristics;
pub mod keyword_block;
pub mod ner;
pub mod onnx_classify;
pub mod patterns;
pub mod pii;
pub mod redaction;
pub mod secret_detect;

use std::sync::Arc;

use serde::Deserialize;

use crate::diagnostics::{join, Errors};
use crate::event::{Category, Event};

/// A detector that inspects one event at a time.
pub trait Inspector: Send + Sync {
    /// The operator id (its TOML table name).
    fn id(&self) -> &str;
    /// Batch-level work before the per-event pass: model operators queue every event's text
    /// for inference here, so the batcher sees the whole batch at once. Results (and
    /// failures) are stored on the events for `try_inspect`.
    fn prepare(&self, _events: &mut [Event]) {}
    /// Appends whatever it finds to `event.findings`.
    fn inspect(&self, event: &mut Event);
    /// Like `inspect`, for operators that can fail on an event (a model call, a timeout).
    /// The runtime applies the operator's `on_error` policy to a failure, and to a panic.
    fn try_inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        self.inspect(event);
        Ok(())
    }
    /// Digests (`sha256:...`) of the models it runs, for the audit log.
    fn model_digests(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// Why an operator could not inspect an event (never holds event text).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct OperatorFailure(pub String);

/// What happens to an event when an operator fails on it (`on_error` on any operator).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The event goes on, flagged with an `operator_error` finding.
    FailOpen,
    /// The event is blocked with an `operator_error` finding (default: a guardrail that
    /// cannot check an event does not let it through).
    #[default]
    FailClosed,
    /// The event goes to the dead-letter outputs with the reason instead of a verdict.
    DeadLetter,
}

impl OnError {
    pub const NAMES: &'static [&'static str] = &["fail_open", "fail_closed", "dead_letter"];

    /// Removes `on_error` from an operator's table and parses it.
    pub fn take(body: &mut toml::Value, path: &str, errors: &mut Errors) -> OnError {
        let Some(value) = body.as_table_mut().and_then(|t| t.remove("on_error")) else {
            return OnError::default();
        };
        match OnError::deserialize(value.clone()) {
            Ok(on_error) => on_error,
            Err(_) => {
                errors.push(
                    join(path, "on_error"),
                    format!("must be one of {:?}, got {value}", Self::NAMES),
                );
                OnError::default()
            }
        }
    }
}

/// The options of one operator, by TOML `type`.
#[derive(Debug, Clone)]
pub enum OperatorSpec {
    PiiDetect(pii::PiiConfig),
    NerDetect(ner::NerConfig),
    SecretDetect(secret_detect::SecretConfig),
    KeywordBlock(keyword_block::KeywordConfig),
    InjectionHeuristics(injection_heuristics::InjectionConfig),
    OnnxClassify(onnx_classify::ClassifyConfig),
    ToxicityClassify(onnx_classify::ClassifyConfig),
    InjectionClassify(injection_classify::InjectionClassifyConfig),
    HallucinationCheck(hallucination::HallucinationConfig),
    Decide(decide::DecideConfig),
}

/// What building an operator yields.
pub enum BuiltOperator {
    Inspector(Arc<dyn Inspector>),
    Policy(decide::Policy),
}

/// Why an operator that passed validation could still not be built (e.g. a key file vanished).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct BuildError {
    /// The node's TOML path, e.g. `operators.toxicity` or `sinks.audit`.
    pub path: String,
    pub message: String,
}

impl OperatorSpec {
    pub const TYPES: &'static [&'static str] = &[
        "pii_detect",
        "ner_detect",
        "secret_detect",
        "keyword_block",
        "injection_heuristics",
        "onnx_classify",
        "toxicity_classify",
        "injection_classify",
        "hallucination_check",
        "decide",
    ];

    /// Parses and validates the body of `[operators.<id>]`, recording every error.
    pub fn parse(
        type_name: &str,
        body: toml::Value,
        path: &str,
        errors: &mut Errors,
    ) -> Option<Self> {
        use crate::diagnostics::parse_table;
        let before = errors.len();
        let spec = match type_name {
            "pii_detect" => parse_table(body, path, errors).map(OperatorSpec::PiiDetect),
            "ner_detect" => parse_table(body, path, errors).map(OperatorSpec::NerDetect),
            "secret_detect" => parse_table(body, path, errors).map(OperatorSpec::SecretDetect),
            "keyword_block" => parse_table(body, path, errors).map(OperatorSpec::KeywordBlock),
            "injection_heuristics" => {
                parse_table(body, path, errors).map(OperatorSpec::InjectionHeuristics)
            }
            "onnx_classify" => parse_table(body, path, errors).map(OperatorSpec::OnnxClassify),
            "toxicity_classify" => {
                let defaults = onnx_classify::toxicity_defaults_for(&body);
                let merged = onnx_classify::merge_over(defaults, body);
                parse_table(merged, path, errors).map(OperatorSpec::ToxicityClassify)
            }
            "injection_classify" => {
                parse_table(body, path, errors).map(OperatorSpec::InjectionClassify)
            }
            "hallucination_check" => {
                parse_table(body, path, errors).map(OperatorSpec::HallucinationCheck)
            }
            "decide" => parse_table(body, path, errors).map(OperatorSpec::Decide),
            other => {
                errors.push(
                    join(path, "type"),
                    format!(
                        "unknown operator type `{other}`, expected one of {:?}",
                        Self::TYPES
                    ),
                );
                None
            }
        }?;
        spec.validate(path, errors);
        if errors.len() != before {
            return None;
        }
        // Building compiles every pattern and reads every file: a topology that validates
        // also starts.
        let id = path.rsplit('.').next().unwrap_or(path);
        if let Err(err) = spec.build(id) {
            errors.push(path, err.message);
            return None;
        }
        Some(spec)
    }

    fn validate(&self, path: &str, errors: &mut Errors) {
        match self {
            OperatorSpec::PiiDetect(c) => c.validate(path, errors),
            OperatorSpec::NerDetect(c) => c.validate(path, errors),
            OperatorSpec::SecretDetect(c) => c.validate(path, errors),
            OperatorSpec::KeywordBlock(c) => c.validate(path, errors),
            OperatorSpec::InjectionHeuristics(c) => c.validate(path, errors),
            OperatorSpec::OnnxClassify(c) | OperatorSpec::ToxicityClassify(c) => {
                c.validate(path, errors)
            }
            OperatorSpec::InjectionClassify(c) => c.validate(path, errors),
            OperatorSpec::HallucinationCheck(c) => c.validate(path, errors),
            OperatorSpec::Decide(c) => c.validate(path, errors),
        }
    }

    /// The category of this operator's findings (and of its `operator_error` findings).
    pub fn category(&self) -> Category {
        match self {
            OperatorSpec::PiiDetect(_) | OperatorSpec::NerDetect(_) => Category::Pii,
            OperatorSpec::SecretDetect(_) => Category::Secret,
            OperatorSpec::KeywordBlock(_) => Category::Keyword,
            OperatorSpec::HallucinationCheck(_) => Category::Hallucination,
            OperatorSpec::OnnxClassify(c) | OperatorSpec::ToxicityClassify(c) => {
                Category::parse(&c.category).unwrap_or(Category::Toxicity)
            }
            OperatorSpec::InjectionHeuristics(_)
            | OperatorSpec::InjectionClassify(_)
            | OperatorSpec::Decide(_) => Category::Injection,
        }
    }

    /// The model table of a model operator.
    pub fn model(&self) -> Option<&crate::inference::ModelConfig> {
        match self {
            OperatorSpec::OnnxClassify(c) | OperatorSpec::ToxicityClassify(c) => Some(&c.model),
            OperatorSpec::InjectionClassify(c) => Some(&c.model),
            OperatorSpec::NerDetect(c) => Some(&c.model),
            OperatorSpec::PiiDetect(c) => c.ner.as_ref().map(|n| &n.model),
            OperatorSpec::HallucinationCheck(c) => c.embedding.as_ref().map(|e| &e.model),
            _ => None,
        }
    }

    /// The model table of a model operator, to change (benchmarks).
    pub fn model_mut(&mut self) -> Option<&mut crate::inference::ModelConfig> {
        match self {
            OperatorSpec::OnnxClassify(c) | OperatorSpec::ToxicityClassify(c) => Some(&mut c.model),
            OperatorSpec::InjectionClassify(c) => Some(&mut c.model),
            OperatorSpec::NerDetect(c) => Some(&mut c.model),
            OperatorSpec::PiiDetect(c) => c.ner.as_mut().map(|n| &mut n.model),
            OperatorSpec::HallucinationCheck(c) => c.embedding.as_mut().map(|e| &mut e.model),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            OperatorSpec::PiiDetect(_) => "pii_detect",
            OperatorSpec::NerDetect(_) => "ner_detect",
            OperatorSpec::SecretDetect(_) => "secret_detect",
            OperatorSpec::KeywordBlock(_) => "keyword_block",
            OperatorSpec::InjectionHeuristics(_) => "injection_heuristics",
            OperatorSpec::OnnxClassify(_) => "onnx_classify",
            OperatorSpec::ToxicityClassify(_) => "toxicity_classify",
            OperatorSpec::InjectionClassify(_) => "injection_classify",
            OperatorSpec::HallucinationCheck(_) => "hallucination_check",
            OperatorSpec::Decide(_) => "decide",
        }
    }

    /// Builds the runtime operator (compiles patterns, loads keys).
    pub fn build(&self, id: &str) -> Result<BuiltOperator, BuildError> {
        let fail = |message: String| BuildError {
            path: format!("operators.{id}"),
            message,
        };
        Ok(match self {
            OperatorSpec::PiiDetect(c) => {
                BuiltOperator::Inspector(Arc::new(c.build(id).map_err(fail)?))
            }
            OperatorSpec::NerDetect(c) => {
                BuiltOperator::Inspector(Arc::new(c.build_detector(id).map_err(fail)?))
            }
            OperatorSpec::SecretDetect(c) => {
                BuiltOperator::Inspector(Arc::new(c.build(id).map_err(fail)?))
            }
            OperatorSpec::KeywordBlock(c) => {
                BuiltOperator::Inspector(Arc::new(c.build(id).map_err(fail)?))
            }
            OperatorSpec::InjectionHeuristics(c) => {
                BuiltOperator::Inspector(Arc::new(c.build(id).map_err(fail)?))
            }
            OperatorSpec::OnnxClassify(c) | OperatorSpec::ToxicityClassify(c) => {
                BuiltOperator::Inspector(Arc::new(c.build(id).map_err(fail)?))
            }
            OperatorSpec::InjectionClassify(c) => {
                BuiltOperator::Inspector(Arc::new(c.build(id).map_err(fail)?))
            }
            OperatorSpec::HallucinationCheck(c) => {
                BuiltOperator::Inspector(Arc::new(c.build(id).map_err(fail)?))
            }
            OperatorSpec::Decide(c) => BuiltOperator::Policy(c.build().map_err(fail)?),
        })
    }
}

/// Items grouped by `key`, groups in order of their first item (one finding per label, in
/// text order, for the span operators).
pub fn group_in_order<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<(K, Vec<&T>)> {
    let mut groups: Vec<(K, Vec<&T>)> = Vec::new();
    for item in items {
        let k = key(item);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, members)) => members.push(item),
            None => groups.push((k, vec![item])),
        }
    }
    groups
}

/// Records an error unless `value` is a score within `0..=1`.
pub fn check_unit_interval(path: &str, field: &str, value: f32, errors: &mut Errors) {
    if !(0.0..=1.0).contains(&value) || value.is_nan() {
        errors.push(
            join(path, field),
            format!("must be within 0..=1, got {value}"),
        );
    }
}

//! The operator registry: the one list of operator types.
//!
//! Each operator module implements [`OperatorConfig`] for its config type, in the same file
//! as the config: its TOML `type`, validation, build, category and model use. [`OPERATORS`]
//! then has one line per type. Adding an operator is one module and one line here; nothing
//! else in the crate names operator types (compare Vector's
//! `#[configurable_component(transform("..."))]`).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::cascade::CascadeConfig;
use super::decide::Policy;
use super::Inspector;
use crate::diagnostics::{join, parse_table, Errors};
use crate::inference::{ModelConfig, ModelFile};
use crate::model::Category;

/// Every operator type, in the order `railyard validate` lists them.
pub static OPERATORS: &[Registration] = &[
    register::<super::pii::PiiConfig>(),
    register::<super::ner::NerConfig>(),
    register::<super::secret_detect::SecretConfig>(),
    register::<super::keyword_block::KeywordConfig>(),
    register::<super::injection_heuristics::InjectionConfig>(),
    register::<super::onnx_classify::ClassifyConfig>(),
    register::<super::onnx_classify::ToxicityConfig>(),
    register::<super::injection_classify::InjectionClassifyConfig>(),
    register::<super::harm_classify::HarmClassifyConfig>(),
    register::<super::hallucination::HallucinationConfig>(),
    register::<super::decide::DecideConfig>(),
];

/// What an operator's config type declares. Implemented once per operator module.
pub trait OperatorConfig: DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static {
    /// The TOML `type` that selects this operator.
    const TYPE: &'static str;
    /// Rewrites the user's table before parsing (defaults that depend on what was written).
    fn with_defaults(table: toml::Value) -> toml::Value {
        table
    }
    /// Records every error of the parsed options, with its TOML path under `path`.
    fn validate(&self, path: &str, errors: &mut Errors);
    /// The category of its findings (and of its `operator_error` findings).
    fn category(&self) -> Category;
    /// Builds the runtime operator: compiles patterns, reads files, loads models.
    fn build(&self, at: &BuildContext) -> Result<BuiltOperator, BuildError>;
    /// The model table, for model operators.
    fn model(&self) -> Option<&ModelConfig> {
        None
    }
    fn model_mut(&mut self) -> Option<&mut ModelConfig> {
        None
    }
    /// The cascade table, for model operators that take one.
    fn cascade(&self) -> Option<&CascadeConfig> {
        None
    }
    /// Where the cascade table sits, for model operators that take one (`--no-cascade`
    /// takes it out).
    fn cascade_mut(&mut self) -> Option<&mut Option<CascadeConfig>> {
        None
    }
    /// Every model file it loads (ONNX graphs, tokenizers, the cascade's student, head
    /// files), for pinning; `path` is the operator's TOML path.
    fn model_files(&self, path: &str) -> Vec<ModelFile> {
        self.model()
            .map(|m| super::cascade::files_with_student(m, self.cascade(), path))
            .unwrap_or_default()
    }
}

/// Implements [`OperatorConfig`] for a detector's config type, in its module: its TOML type,
/// category, how it builds its [`Inspector`] (`build(config, id) => Result<_, String>`) and,
/// for model operators, where its model table is. Validation is the type's own `validate`.
///
/// ```ignore
/// register_inspector!(SecretConfig, "secret_detect", Category::Secret, build(c, id) => c.build(id));
/// ```
macro_rules! register_inspector {
    (
        $config:ty, $type_name:literal, $category:expr,
        build($c:ident, $id:ident) => $build:expr
        $(, model($m:ident) => $model:expr, $model_mut:expr)?
        $(, cascade($k:ident) => $cascade:expr, $cascade_mut:expr)?
        $(, files($f:ident, $p:ident) => $files:expr)? $(,)?
    ) => {
        impl $crate::operators::registry::OperatorConfig for $config {
            const TYPE: &'static str = $type_name;
            fn validate(&self, path: &str, errors: &mut $crate::diagnostics::Errors) {
                <$config>::validate(self, path, errors)
            }
            fn category(&self) -> $crate::model::Category {
                $category
            }
            fn build(
                &self,
                at: &$crate::operators::registry::BuildContext,
            ) -> Result<$crate::operators::registry::BuiltOperator, $crate::operators::registry::BuildError>
            {
                let ($c, $id) = (self, at.id);
                ($build)
                    .map($crate::operators::registry::BuiltOperator::inspector)
                    .map_err(|e| at.error(e))
            }
            $(
                fn model(&self) -> Option<&$crate::inference::ModelConfig> {
                    let $m = self;
                    $model
                }
                fn model_mut(&mut self) -> Option<&mut $crate::inference::ModelConfig> {
                    let $m = self;
                    $model_mut
                }
            )?
            $(
                fn cascade(&self) -> Option<&$crate::operators::cascade::CascadeConfig> {
                    let $k = self;
                    $cascade
                }
                fn cascade_mut(
                    &mut self,
                ) -> Option<&mut Option<$crate::operators::cascade::CascadeConfig>> {
                    let $k = self;
                    $cascade_mut
                }
            )?
            $(
                fn model_files(&self, path: &str) -> Vec<$crate::inference::ModelFile> {
                    let ($f, $p) = (self, path);
                    $files
                }
            )?
        }
    };
}
pub(crate) use register_inspector;

/// Where an operator is being built: its id and its TOML path.
pub struct BuildContext<'a> {
    pub id: &'a str,
    pub path: &'a str,
}

impl BuildContext<'_> {
    /// A build error at the operator's own path.
    pub fn error(&self, message: impl Into<String>) -> BuildError {
        BuildError {
            path: self.path.to_string(),
            message: message.into(),
        }
    }
}

/// What building an operator yields.
#[derive(Clone)]
pub enum BuiltOperator {
    Inspector(Arc<dyn Inspector>),
    Policy(Policy),
}

impl BuiltOperator {
    /// Wraps a detector.
    pub fn inspector(inspector: impl Inspector + 'static) -> BuiltOperator {
        BuiltOperator::Inspector(Arc::new(inspector))
    }
}

impl fmt::Debug for BuiltOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuiltOperator::Inspector(i) => write!(f, "Inspector({})", i.id()),
            BuiltOperator::Policy(_) => f.write_str("Policy"),
        }
    }
}

/// Why an operator (or a sink's keys) could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct BuildError {
    /// The TOML path of what failed, e.g. `operators.toxicity` or `sinks.audit`.
    pub path: String,
    pub message: String,
}

/// One registered operator type.
pub struct Registration {
    pub type_name: &'static str,
    parse: fn(toml::Value, &str, &mut Errors) -> Option<Box<dyn AnyOperatorConfig>>,
    /// The keys of the operator's table (for the documentation check).
    pub fields: fn() -> Vec<&'static str>,
}

/// Registers a config type.
pub const fn register<C: OperatorConfig>() -> Registration {
    Registration {
        type_name: C::TYPE,
        parse: parse_as::<C>,
        fields: crate::diagnostics::fields::field_names::<C>,
    }
}

fn parse_as<C: OperatorConfig>(
    table: toml::Value,
    path: &str,
    errors: &mut Errors,
) -> Option<Box<dyn AnyOperatorConfig>> {
    let config: C = parse_table(C::with_defaults(table), path, errors)?;
    let before = errors.len();
    config.validate(path, errors);
    (errors.len() == before).then(|| Box::new(config) as Box<dyn AnyOperatorConfig>)
}

/// The object-safe face of an [`OperatorConfig`].
trait AnyOperatorConfig: fmt::Debug + Send + Sync {
    fn type_name(&self) -> &'static str;
    fn category(&self) -> Category;
    fn build(&self, at: &BuildContext) -> Result<BuiltOperator, BuildError>;
    fn model(&self) -> Option<&ModelConfig>;
    fn model_mut(&mut self) -> Option<&mut ModelConfig>;
    fn cascade_mut(&mut self) -> Option<&mut Option<CascadeConfig>>;
    fn model_files(&self, path: &str) -> Vec<ModelFile>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn clone_box(&self) -> Box<dyn AnyOperatorConfig>;
}

impl<C: OperatorConfig> AnyOperatorConfig for C {
    fn type_name(&self) -> &'static str {
        C::TYPE
    }
    fn category(&self) -> Category {
        OperatorConfig::category(self)
    }
    fn build(&self, at: &BuildContext) -> Result<BuiltOperator, BuildError> {
        OperatorConfig::build(self, at)
    }
    fn model(&self) -> Option<&ModelConfig> {
        OperatorConfig::model(self)
    }
    fn model_mut(&mut self) -> Option<&mut ModelConfig> {
        OperatorConfig::model_mut(self)
    }
    fn cascade_mut(&mut self) -> Option<&mut Option<CascadeConfig>> {
        OperatorConfig::cascade_mut(self)
    }
    fn model_files(&self, path: &str) -> Vec<ModelFile> {
        OperatorConfig::model_files(self, path)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn clone_box(&self) -> Box<dyn AnyOperatorConfig> {
        Box::new(self.clone())
    }
}

/// The parsed, validated options of one operator, of any registered type.
#[derive(Debug)]
pub struct OperatorSpec(Box<dyn AnyOperatorConfig>);

impl Clone for OperatorSpec {
    fn clone(&self) -> Self {
        OperatorSpec(self.0.clone_box())
    }
}

impl OperatorSpec {
    /// Every registered TOML `type`.
    pub fn types() -> Vec<&'static str> {
        OPERATORS.iter().map(|r| r.type_name).collect()
    }

    /// Parses and validates the body of the operator table at `path`, recording every error.
    pub fn parse(
        type_name: &str,
        table: toml::Value,
        path: &str,
        errors: &mut Errors,
    ) -> Option<Self> {
        let Some(registration) = OPERATORS.iter().find(|r| r.type_name == type_name) else {
            errors.push(
                join(path, "type"),
                format!(
                    "unknown operator type `{type_name}`, expected one of {:?}",
                    Self::types()
                ),
            );
            return None;
        };
        (registration.parse)(table, path, errors).map(OperatorSpec)
    }

    /// Wraps a config value (tests and tools that build operators without TOML).
    pub fn of<C: OperatorConfig>(config: C) -> Self {
        OperatorSpec(Box::new(config))
    }

    pub fn type_name(&self) -> &'static str {
        self.0.type_name()
    }

    pub fn category(&self) -> Category {
        self.0.category()
    }

    /// Builds the runtime operator with id `id`, its table at `operators.<id>`.
    pub fn build(&self, id: &str) -> Result<BuiltOperator, BuildError> {
        let path = format!("operators.{id}");
        self.build_at(&BuildContext { id, path: &path })
    }

    /// Builds the runtime operator; errors carry the paths under `at.path`.
    pub fn build_at(&self, at: &BuildContext) -> Result<BuiltOperator, BuildError> {
        self.0.build(at)
    }

    pub fn model(&self) -> Option<&ModelConfig> {
        self.0.model()
    }

    pub fn model_mut(&mut self) -> Option<&mut ModelConfig> {
        self.0.model_mut()
    }

    /// Where its cascade table sits, for model operators that take one.
    pub fn cascade_mut(&mut self) -> Option<&mut Option<CascadeConfig>> {
        self.0.cascade_mut()
    }

    /// Every model file it loads, keyed by TOML paths under `path` (the operator's table).
    pub fn model_files(&self, path: &str) -> Vec<ModelFile> {
        self.0.model_files(path)
    }

    /// The typed config, when it is a `C`.
    pub fn config<C: OperatorConfig>(&self) -> Option<&C> {
        self.0.as_any().downcast_ref()
    }

    pub fn config_mut<C: OperatorConfig>(&mut self) -> Option<&mut C> {
        self.0.as_any_mut().downcast_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_registered_once() {
        let mut types = OperatorSpec::types();
        let count = types.len();
        types.sort();
        types.dedup();
        assert_eq!(types.len(), count, "a type is registered twice");
    }

    #[test]
    fn an_unknown_type_lists_the_registered_ones() {
        let mut errors = Errors::default();
        let table = toml::Value::Table(Default::default());
        assert!(OperatorSpec::parse("pii_detekt", table, "operators.x", &mut errors).is_none());
        let message: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let message = message.join("\n");
        assert!(message.contains("operators.x.type"), "{message}");
        assert!(message.contains("pii_detect"), "{message}");
    }
}

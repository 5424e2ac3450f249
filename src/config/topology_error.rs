//! Why a topology could not be loaded.

use crate::diagnostics::ConfigError;

/// Why a topology could not be loaded: unreadable, not TOML, or invalid (every error listed).
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read topology {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("topology is not valid TOML: {0}")]
    Syntax(String),
    #[error("topology has {} error(s):\n{}", .0.len(), list(.0))]
    Invalid(Vec<ConfigError>),
}

impl TopologyError {
    /// The individual problems (a syntax error counts as one).
    pub fn errors(&self) -> Vec<ConfigError> {
        match self {
            TopologyError::Invalid(errors) => errors.clone(),
            other => vec![ConfigError {
                path: String::new(),
                message: other.to_string(),
            }],
        }
    }
}

fn list(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

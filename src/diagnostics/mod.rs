//! Configuration diagnostics: every problem found, each with the TOML path it belongs to.
//!
//! A leaf module so that operators can validate their own options without depending on the
//! topology loader. [`fields`] reads the keys a config type accepts (for the documentation
//! check).

pub mod fields;

use std::fmt;

/// One problem in a topology, e.g. `operators.toxicity.threshold: must be within 0..=1, got 1.5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Collects errors while a topology is checked, so all of them are reported at once.
#[derive(Debug, Default, Clone)]
pub struct Errors(Vec<ConfigError>);

impl Errors {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn into_vec(self) -> Vec<ConfigError> {
        self.0
    }
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }
}

/// Joins a TOML path and a key: `join("operators", "pii") == "operators.pii"`.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Deserializes one TOML table into `T`, recording every unknown field and the first type
/// error, each with its full path. Returns `None` when the table could not be read.
pub fn parse_table<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    path: &str,
    errors: &mut Errors,
) -> Option<T> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result = {
        let tracked = serde_path_to_error::Deserializer::new(value, &mut track);
        serde_ignored::deserialize(tracked, |ignored| unknown.push(ignored.to_string()))
    };
    for field in unknown {
        // serde_ignored writes `?` for an `Option` layer; it is not part of the TOML path.
        let field = field.replace(".?", "").replace("?.", "");
        errors.push(join(path, &field), "unknown field");
    }
    match result {
        Ok(parsed) => Some(parsed),
        Err(err) => {
            let inner = track.path().to_string();
            let at = if inner == "." {
                path.to_string()
            } else {
                join(path, &inner)
            };
            errors.push(at, err.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Sample {
        threshold: f32,
        #[serde(default)]
        nested: Option<Nested>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Nested {
        mode: String,
    }

    #[test]
    fn every_unknown_field_is_reported_with_its_path() {
        let value: toml::Value =
            toml::from_str("threshold = 0.5\nextra = 1\n[nested]\nmode = 'x'\ntypo = 2").unwrap();
        let mut errors = Errors::default();
        let parsed: Option<Sample> = parse_table(value, "operators.t", &mut errors);
        assert!(parsed.is_some());
        let paths: Vec<_> = errors.iter().map(|e| e.path.clone()).collect();
        assert_eq!(paths, ["operators.t.extra", "operators.t.nested.typo"]);
    }

    #[test]
    fn type_errors_carry_the_field_path() {
        let value: toml::Value = toml::from_str("threshold = 'high'").unwrap();
        let mut errors = Errors::default();
        let parsed: Option<Sample> = parse_table(value, "operators.t", &mut errors);
        assert!(parsed.is_none());
        let only = errors.iter().next().unwrap();
        assert_eq!(only.path, "operators.t.threshold");
        assert!(only.message.contains("invalid type"), "{}", only.message);
    }
}

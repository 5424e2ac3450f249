//! `mode` on any operator (and `[settings] mode` for a whole topology): `live` operators
//! decide; `shadow` operators run on the same traffic and record what they find in a shadow
//! verdict stream (`records = "shadow_verdicts"`) without changing any decision.

use serde::Deserialize;

use crate::diagnostics::{join, Errors};

/// Whether an operator's findings count in the decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Its findings feed the policy (the default).
    #[default]
    Live,
    /// Its findings go only to the shadow verdict: what the policy would decide with them.
    Shadow,
}

impl Mode {
    pub const NAMES: &'static [&'static str] = &["live", "shadow"];

    /// Removes `mode` from a table and parses it (`None` when absent).
    pub fn take(body: &mut toml::Value, path: &str, errors: &mut Errors) -> Option<Mode> {
        let value = body.as_table_mut().and_then(|t| t.remove("mode"))?;
        match Mode::deserialize(value.clone()) {
            Ok(mode) => Some(mode),
            Err(_) => {
                errors.push(
                    join(path, "mode"),
                    format!("must be one of {:?}, got {value}", Self::NAMES),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_is_taken_from_the_table_and_a_bad_one_is_an_error_at_its_path() {
        let mut body: toml::Value = toml::from_str("mode = \"shadow\"\nthreshold = 0.4").unwrap();
        let mut errors = Errors::default();
        assert_eq!(
            Mode::take(&mut body, "operators.x", &mut errors),
            Some(Mode::Shadow)
        );
        assert!(body.get("mode").is_none() && body.get("threshold").is_some());
        let mut bad: toml::Value = toml::from_str("mode = \"dark\"").unwrap();
        assert_eq!(Mode::take(&mut bad, "operators.x", &mut errors), None);
        assert!(format!("{errors:?}").contains("operators.x.mode"));
    }
}

//! What to do with an event: [`Action`], ordered by severity.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What to do with an event, ordered by severity: `Allow < Flag < Redact < Block`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Allow,
    Flag,
    Redact,
    Block,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Allow, Action::Flag, Action::Redact, Action::Block];
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Flag => "flag",
            Action::Redact => "redact",
            Action::Block => "block",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown action `{s}`, expected allow, flag, redact or block"))
    }
}

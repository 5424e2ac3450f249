//! Redaction options shared by detecting operators: which mode rewrites which label.
//!
//! Config only: the rewriting itself happens when the enriched record is built
//! (`topology::redact`), after the policy has decided which findings redact.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use crate::diagnostics::{join, Errors};
use crate::model::Redaction;

/// How a label's spans are rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactionMode {
    /// `****1111`: characters replaced, the last `keep_last` kept.
    Mask,
    /// `<EMAIL_ADDRESS_1>`, numbered consistently within a conversation.
    Placeholder,
    /// `<EMAIL_ADDRESS:1f2e3d4c5b6a7988>`: keyed HMAC-SHA256 of the value.
    Hash,
    /// The span is removed.
    Drop,
    /// The span is left as it is (the finding is still reported).
    Keep,
}

/// `[operators.<id>.redaction]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RedactionConfig {
    /// Mode for labels not listed in `modes`.
    #[serde(default = "default_mode")]
    pub default: RedactionMode,
    /// Per-label modes, e.g. `CREDIT_CARD = "mask"`.
    #[serde(default)]
    pub modes: BTreeMap<String, RedactionMode>,
    /// Character used by `mask`.
    #[serde(default = "default_mask_char")]
    pub mask_char: char,
    /// Trailing characters `mask` leaves visible.
    #[serde(default)]
    pub keep_last: usize,
    /// Environment variable holding the HMAC key for `hash` (at least 16 bytes).
    #[serde(default)]
    pub hash_key_env: Option<String>,
    /// File holding the HMAC key for `hash` (at least 16 bytes), read at start-up.
    #[serde(default)]
    pub hash_key_file: Option<PathBuf>,
}

fn default_mode() -> RedactionMode {
    RedactionMode::Placeholder
}
fn default_mask_char() -> char {
    '*'
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            default: default_mode(),
            modes: BTreeMap::new(),
            mask_char: default_mask_char(),
            keep_last: 0,
            hash_key_env: None,
            hash_key_file: None,
        }
    }
}

/// Shortest accepted HMAC key.
pub const MIN_KEY_BYTES: usize = 16;

impl RedactionConfig {
    fn uses_hash(&self) -> bool {
        self.default == RedactionMode::Hash
            || self.modes.values().any(|m| *m == RedactionMode::Hash)
    }

    /// Checks the options; `labels` are the labels the operator can emit (unknown keys in
    /// `modes` are errors).
    pub fn validate(&self, path: &str, labels: &[&str], errors: &mut Errors) {
        for label in self.modes.keys() {
            if !labels.contains(&label.as_str()) {
                errors.push(
                    join(&join(path, "modes"), label),
                    format!("unknown label, expected one of {labels:?}"),
                );
            }
        }
        if self.uses_hash() {
            match (&self.hash_key_env, &self.hash_key_file) {
                (None, None) => errors.push(
                    path,
                    "`hash` redaction needs `hash_key_env` or `hash_key_file`",
                ),
                (Some(_), Some(_)) => {
                    errors.push(path, "set only one of `hash_key_env` and `hash_key_file`")
                }
                _ => {
                    if let Err(message) = self.load_key() {
                        errors.push(path, message);
                    }
                }
            }
        }
    }

    fn load_key(&self) -> Result<Option<Arc<[u8]>>, String> {
        let key: Vec<u8> = match (&self.hash_key_env, &self.hash_key_file) {
            (Some(var), _) => std::env::var(var)
                .map_err(|_| format!("environment variable `{var}` (hash key) is not set"))?
                .into_bytes(),
            (None, Some(file)) => std::fs::read(file)
                .map_err(|e| format!("cannot read hash key file {}: {e}", file.display()))?,
            (None, None) => return Ok(None),
        };
        let trimmed = key.trim_ascii().to_vec();
        if trimmed.len() < MIN_KEY_BYTES {
            return Err(format!(
                "hash key is {} bytes, need at least {MIN_KEY_BYTES}",
                trimmed.len()
            ));
        }
        Ok(Some(Arc::from(trimmed)))
    }

    /// Resolves the mode of every label into a runtime [`Redaction`] (`None` for `keep`).
    pub fn resolve(&self, labels: &[&str]) -> Result<BTreeMap<String, Option<Redaction>>, String> {
        let key = if self.uses_hash() {
            self.load_key()?
        } else {
            None
        };
        let mut out = BTreeMap::new();
        for label in labels {
            let mode = self.modes.get(*label).copied().unwrap_or(self.default);
            let redaction = match mode {
                RedactionMode::Mask => Some(Redaction::Mask {
                    ch: self.mask_char,
                    keep_last: self.keep_last,
                }),
                RedactionMode::Placeholder => Some(Redaction::Placeholder),
                RedactionMode::Hash => Some(Redaction::Hash {
                    key: key.clone().ok_or("hash key missing")?,
                }),
                RedactionMode::Drop => Some(Redaction::Drop),
                RedactionMode::Keep => None,
            };
            out.insert(label.to_string(), redaction);
        }
        Ok(out)
    }
}

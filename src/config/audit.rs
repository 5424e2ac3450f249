//! Options of the `audit_log` and `vault` sinks as written in a topology.
//!
//! Both hold secrets only by reference: the name of an environment variable that carries the
//! key, read when the topology starts (never in the TOML text, so never in its hash).

use std::path::PathBuf;

use serde::Deserialize;

use super::names::check_topic;
use crate::diagnostics::{join, Errors};

/// A tamper-evident audit log (`type = "audit_log"`): one hash-chained record per decision,
/// to an append-only JSONL file (rotated by size), to a Kafka topic, or both.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AuditLogConfig {
    /// Append-only JSONL file; rotated to `PATH.1`, `PATH.2`, ... past `rotate_bytes`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Kafka topic (needs Kafka sources); records are keyed by their chain.
    #[serde(default)]
    pub topic: Option<String>,
    /// Size at which the file is rotated; 0 never rotates.
    #[serde(default = "default_rotate_bytes")]
    pub rotate_bytes: u64,
    /// Environment variable holding the HMAC key (at least 16 bytes): records are signed and
    /// removed values hashed with it. Unset: records are chained but not signed.
    #[serde(default = "default_audit_key_env")]
    pub key_env: String,
    /// Refuse to start when the key variable is unset or too short.
    #[serde(default)]
    pub require_key: bool,
}

fn default_rotate_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_audit_key_env() -> String {
    "RAILYARD_AUDIT_KEY".to_string()
}

impl AuditLogConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        if self.path.is_none() && self.topic.is_none() {
            errors.push(path, "needs a `path`, a `topic`, or both");
        }
        if let Some(topic) = &self.topic {
            check_topic(topic, &join(path, "topic"), errors);
        }
        check_env_name(&self.key_env, &join(path, "key_env"), errors);
        if self.rotate_bytes != 0 && self.rotate_bytes < 4096 {
            errors.push(
                join(path, "rotate_bytes"),
                format!(
                    "must be 0 (never) or at least 4096, got {}",
                    self.rotate_bytes
                ),
            );
        }
    }
}

/// The pseudonymization vault (`type = "vault"`): for every placeholder a redaction assigns,
/// the original value encrypted with AES-256-GCM, keyed by conversation and placeholder, to a
/// compacted Kafka topic and/or a JSONL file. `railyard reveal` restores originals.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct VaultConfig {
    /// Compacted Kafka topic (create it with `cleanup.policy=compact`).
    #[serde(default)]
    pub topic: Option<String>,
    /// JSONL file (appended), for broker-free topologies.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Environment variable holding the 32-byte key as 64 hex digits; required at start-up.
    #[serde(default = "default_vault_key_env")]
    pub key_env: String,
}

fn default_vault_key_env() -> String {
    "RAILYARD_VAULT_KEY".to_string()
}

impl VaultConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        if self.path.is_none() && self.topic.is_none() {
            errors.push(path, "needs a `topic`, a `path`, or both");
        }
        if let Some(topic) = &self.topic {
            check_topic(topic, &join(path, "topic"), errors);
        }
        check_env_name(&self.key_env, &join(path, "key_env"), errors);
    }
}

fn check_env_name(name: &str, path: &str, errors: &mut Errors) {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        errors.push(
            path,
            format!("must be an environment variable name (letters, digits, `_`), got `{name}`"),
        );
    }
}

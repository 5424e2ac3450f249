//! `secret_detect`: credentials with known formats, and high-entropy tokens near context words.
//!
//! One `RegexSet` pass tells which known formats occur at all; only those run `find_iter`.
//! Findings carry the kind of secret (the label), never its value. High-entropy tokens are
//! reported only when a context word (`key`, `token`, `secret`, ...) is near, which keeps hashes
//! and ids in ordinary text from being flagged.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::anchor_gate::{AnchorGate, Case};

use base64::Engine;
use regex::{Regex, RegexSet};
use serde::Deserialize;

use super::check_unit_interval;
use super::pii::context::ContextWords;
use super::redaction::RedactionConfig;
use super::{Inspector, OperatorFailure};
use crate::diagnostics::{join, Errors};
use crate::model::Action;
use crate::model::{Category, Event, Finding, Provenance, Redaction, Span};

/// A known secret format: label, pattern, capture group holding the secret (0 = whole match;
/// with alternatives, the first group from this one on that took part), and a check the
/// matched value must pass beyond the pattern.
struct Format {
    label: &'static str,
    pattern: &'static str,
    group: usize,
    score: f32,
    confirm: Option<fn(&str) -> bool>,
}

/// The start of a credential assignment: a key (alone or ending an identifier: `db_password`,
/// `API_SECRET`, `GITHUB_TOKEN`) and `=`, `:`, `=>` or Go's `:=`; with `quoted`, also a
/// comparison (`==`, `!=`, `===`, `!==`), which holds a secret only when it compares with a
/// literal (`if (api_key == "...")`, not `if (password == confirmation)`). The
/// `PASSWORD_ASSIGNMENT` rows add the value's form.
macro_rules! credential_key {
    () => {
        concat!(credential_key!(name), r#"\s*(?:=>|:=|[:=])\s*"#)
    };
    (quoted) => {
        concat!(credential_key!(name), r#"\s*(?:=>|:=|[=!]==?|[:=])\s*"#)
    };
    (name) => {
        r#"(?i)\b[a-z0-9_\-]*?(?:password|passwd|pwd|passphrase|secret|api[_\-]?key|access[_\-]?token|auth[_\-]?token|client[_\-]?secret|secret[_\-]?key|access[_\-]?key|private[_\-]?key|_token|_pass)\b["']?"#
    };
}

const FORMATS: &[Format] = &[
    Format {
        label: "PRIVATE_KEY",
        pattern: r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----|\z)",
        group: 0,
        score: 0.99,
        confirm: None,
    },
    Format {
        label: "AWS_ACCESS_KEY",
        pattern: r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AIDA|AROA)[0-9A-Z]{16}\b",
        group: 0,
        score: 0.95,
        confirm: None,
    },
    Format {
        label: "GITHUB_TOKEN",
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        group: 0,
        score: 0.99,
        confirm: None,
    },
    Format {
        label: "GITLAB_TOKEN",
        // GitLab's token kinds, each with its documented length: personal, deploy, feed, SCIM,
        // runner and feature-flag tokens and runner registration tokens (20 to 50 characters),
        // CI build tokens (an optional 2-hex partition), incoming mail (25), pipeline trigger
        // (40), agent (50 to 1024) and OAuth application secrets (64). The token ends where the
        // token alphabet ends.
        pattern: concat!(
            r"\b((?:(?:glpat|gldt|glft|glsoat|glrt|glffct)-|GR1348941|glcbt-(?:[0-9a-fA-F]{2}_)?)[A-Za-z0-9_\-]{20,50}",
            r"|glimt-[A-Za-z0-9_\-]{25}|glptt-[A-Za-z0-9_\-]{40}|glagent-[A-Za-z0-9_\-]{50,1024}",
            r"|gloas-[A-Za-z0-9_\-]{64})(?:[^A-Za-z0-9_\-]|\z)"
        ),
        group: 1,
        score: 0.99,
        confirm: None,
    },
    Format {
        label: "SLACK_TOKEN",
        pattern: r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
        group: 0,
        score: 0.97,
        confirm: None,
    },
    Format {
        label: "SLACK_WEBHOOK",
        pattern: r"https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20,}",
        group: 0,
        score: 0.97,
        confirm: None,
    },
    Format {
        label: "STRIPE_KEY",
        // Secret and restricted keys; a publishable key (`pk_`) is public by design.
        pattern: r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b",
        group: 0,
        score: 0.97,
        confirm: None,
    },
    Format {
        label: "GOOGLE_API_KEY",
        pattern: r"\bAIza[0-9A-Za-z_\-]{35}",
        group: 0,
        score: 0.95,
        confirm: None,
    },
    Format {
        label: "ANTHROPIC_API_KEY",
        pattern: r"\bsk-ant-[A-Za-z0-9_\-]{20,}",
        group: 0,
        score: 0.98,
        confirm: None,
    },
    Format {
        label: "OPENAI_API_KEY",
        pattern: r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
        group: 0,
        score: 0.9,
        confirm: None,
    },
    Format {
        label: "HUGGINGFACE_TOKEN",
        pattern: r"\bhf_[A-Za-z0-9]{34,}\b",
        group: 0,
        score: 0.95,
        confirm: None,
    },
    Format {
        label: "NPM_TOKEN",
        pattern: r"\bnpm_[A-Za-z0-9]{36}\b",
        group: 0,
        score: 0.95,
        confirm: None,
    },
    Format {
        label: "SENDGRID_KEY",
        pattern: r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b",
        group: 0,
        score: 0.97,
        confirm: None,
    },
    Format {
        label: "TWILIO_KEY",
        pattern: r"\bSK[0-9a-f]{32}\b",
        group: 0,
        score: 0.8,
        confirm: None,
    },
    Format {
        label: "AZURE_STORAGE_KEY",
        pattern: r"AccountKey=([A-Za-z0-9+/=]{80,90})",
        group: 1,
        score: 0.95,
        confirm: None,
    },
    Format {
        label: "DIGITALOCEAN_TOKEN",
        pattern: r"\bdo[por]_v1_[a-f0-9]{64}\b",
        group: 0,
        score: 0.97,
        confirm: None,
    },
    Format {
        label: "SHOPIFY_TOKEN",
        pattern: r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b",
        group: 0,
        score: 0.97,
        confirm: None,
    },
    Format {
        label: "PYPI_TOKEN",
        pattern: r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}",
        group: 0,
        score: 0.97,
        confirm: None,
    },
    Format {
        label: "TELEGRAM_BOT_TOKEN",
        pattern: r"\b[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}\b",
        group: 0,
        score: 0.9,
        confirm: None,
    },
    Format {
        label: "SQUARE_TOKEN",
        pattern: r"\b(?:sq0atp|sq0csp|EAAA)[A-Za-z0-9_\-]{22,60}\b",
        group: 0,
        score: 0.9,
        confirm: None,
    },
    Format {
        label: "DATABRICKS_TOKEN",
        pattern: r"\bdapi[a-f0-9]{32}(?:-[0-9])?\b",
        group: 0,
        score: 0.95,
        confirm: None,
    },
    Format {
        label: "VAULT_TOKEN",
        pattern: r"\bhv[sbr]\.[A-Za-z0-9_\-]{24,}",
        group: 0,
        score: 0.9,
        confirm: None,
    },
    Format {
        label: "POSTMAN_KEY",
        pattern: r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b",
        group: 0,
        score: 0.97,
        confirm: None,
    },
    Format {
        label: "NEWRELIC_KEY",
        pattern: r"\bNRAK-[A-Z0-9]{27}\b",
        group: 0,
        score: 0.95,
        confirm: None,
    },
    Format {
        label: "GRAFANA_TOKEN",
        pattern: r"\bgl(?:sa|c)_[A-Za-z0-9_+/=]{32,}",
        group: 0,
        score: 0.95,
        confirm: None,
    },
    Format {
        label: "JWT",
        // Signed, or header and claims alone (an unsigned token still carries its claims);
        // the header must decode to a JSON object naming `alg` or `typ` (`is_jwt_header`).
        pattern: r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]{8,})?",
        group: 0,
        score: 0.9,
        confirm: Some(is_jwt_header),
    },
    Format {
        label: "CONNECTION_STRING_PASSWORD",
        // The password never holds a quote: `"https://host:8000";@x` is a quoted URL, then text.
        pattern: r#"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s:/@"']{0,64}:([^\s@/"']{1,128})@[^\s/]{2,}"#,
        group: 1,
        score: 0.9,
        confirm: None,
    },
    // A credential key (alone or ending an identifier: `db_password`, `API_SECRET`,
    // `GITHUB_TOKEN`), an assignment (`=`, `:`, `=>`), then the value: unquoted up to a
    // space, a quote or a bracket; or quoted, with any printable characters but the quote.
    Format {
        label: "PASSWORD_ASSIGNMENT",
        pattern: concat!(credential_key!(), r#"([^\s"'`,;()\[\]{}]{8,128})"#),
        group: 1,
        score: 0.75,
        confirm: None,
    },
    Format {
        label: "PASSWORD_ASSIGNMENT",
        // `@"..."` is an Objective-C string.
        pattern: concat!(credential_key!(quoted), r#"@?"([^"\n]{6,128})""#),
        group: 1,
        score: 0.75,
        confirm: None,
    },
    Format {
        label: "PASSWORD_ASSIGNMENT",
        pattern: concat!(credential_key!(quoted), r#"'([^'\n]{6,128})'"#),
        group: 1,
        score: 0.75,
        confirm: None,
    },
    // A Go raw string or a JavaScript template literal.
    Format {
        label: "PASSWORD_ASSIGNMENT",
        pattern: concat!(credential_key!(quoted), r#"`([^`\n]{6,128})`"#),
        group: 1,
        score: 0.75,
        confirm: None,
    },
    // The literal first: `if ("..." == password)`.
    Format {
        label: "PASSWORD_ASSIGNMENT",
        pattern: concat!(
            r#"(?:"([^"\n]{6,128})"|'([^'\n]{6,128})')\s*[=!]==?\s*"#,
            credential_key!(name)
        ),
        group: 1,
        score: 0.75,
        confirm: None,
    },
    // A password on a command line: `mysql -p'...'`, `--password=...`.
    Format {
        label: "PASSWORD_ASSIGNMENT",
        pattern: r#"(?:\s-p(?:'([^'\n]{6,128})'|"([^"\n]{6,128})")|--password[= ]([^\s"']{6,128}))"#,
        group: 1,
        score: 0.75,
        confirm: None,
    },
];

/// Literal anchors: every known format contains one of them (case-sensitive). A text with
/// none skips the format set; with `ASSIGNMENT_ANCHORS` below this is one cheap pass.
const FORMAT_ANCHORS: &[&str] = &[
    "-----BEGIN",
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "AIDA",
    "AROA",
    "A3T",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "glptt-",
    "gldt-",
    "glrt-",
    "glcbt-",
    "glimt-",
    "gloas-",
    "glsoat-",
    "glagent-",
    "glft-",
    "glffct-",
    "GR1348941",
    "xoxa-",
    "xoxb-",
    "xoxp-",
    "xoxo-",
    "xoxs-",
    "xoxr-",
    "hooks.slack.com",
    "_live_",
    "_test_",
    "AIza",
    "sk-",
    "hf_",
    "npm_",
    "SG.",
    "SK",
    "AccountKey=",
    "do_v1_",
    "dop_v1_",
    "dor_v1_",
    "shpat_",
    "shpca_",
    "shppa_",
    "shpss_",
    "pypi-AgEIcHlwaS5vcmc",
    ":AA",
    "sq0atp",
    "sq0csp",
    "EAAA",
    "dapi",
    "hvs.",
    "hvb.",
    "hvr.",
    "PMAK-",
    "NRAK-",
    "glsa_",
    "glc_",
    "eyJ",
    "://",
];

/// Gate bits: a format anchor or an assignment word; an entropy context word.
const ANCHORED: u64 = 0b011;
const ENTROPY_WORD: u64 = 0b100;

/// Words that introduce a credential assignment (ASCII case-insensitive).
const ASSIGNMENT_ANCHORS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "api_key",
    "api-key",
    "apikey",
    "access_token",
    "access-token",
    "accesstoken",
    "auth_token",
    "auth-token",
    "authtoken",
    "client_secret",
    "client-secret",
    "clientsecret",
    "secret_key",
    "secret-key",
    "secretkey",
    "_token",
    "_pass",
    "access_key",
    "access-key",
    "accesskey",
    "private_key",
    "private-key",
    " -p'",
    " -p\"",
    "--password",
];

/// Label used for high-entropy tokens near context words.
pub const HIGH_ENTROPY_LABEL: &str = "HIGH_ENTROPY_TOKEN";

const ENTROPY_CONTEXT: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "api",
    "auth_",
    "auth-",
    "auth ",
    "auth:",
    "auth=",
    "authorization",
    "bearer",
    "credential",
    "apikey",
    "access",
    "private",
];

/// `[operators.<id>]` with `type = "secret_detect"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SecretConfig {
    /// Minimum score for a finding.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Suggested action for every secret finding.
    #[serde(default = "default_action")]
    pub action: Action,
    /// Look for high-entropy tokens near context words.
    #[serde(default = "default_true")]
    pub entropy: bool,
    /// Shortest token considered for the entropy check.
    #[serde(default = "default_min_token_len")]
    pub entropy_min_len: usize,
    /// Shannon entropy (bits per character) a token must reach.
    #[serde(default = "default_min_entropy")]
    pub entropy_min_bits: f32,
    /// Labels to leave out, e.g. `["JWT"]`.
    #[serde(default)]
    pub disabled: Vec<String>,
    #[serde(default)]
    pub redaction: RedactionConfig,
}

fn default_threshold() -> f32 {
    0.5
}
fn default_action() -> Action {
    Action::Redact
}
fn default_true() -> bool {
    true
}
fn default_min_token_len() -> usize {
    20
}
fn default_min_entropy() -> f32 {
    3.5
}

impl Default for SecretConfig {
    fn default() -> Self {
        SecretConfig {
            threshold: default_threshold(),
            action: default_action(),
            entropy: true,
            entropy_min_len: default_min_token_len(),
            entropy_min_bits: default_min_entropy(),
            disabled: Vec::new(),
            redaction: RedactionConfig::default(),
        }
    }
}

/// Every label this operator can report (once each).
pub fn labels() -> Vec<&'static str> {
    let mut labels: Vec<&'static str> = Vec::new();
    for label in FORMATS.iter().map(|f| f.label).chain([HIGH_ENTROPY_LABEL]) {
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels
}

impl SecretConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        check_unit_interval(path, "threshold", self.threshold, errors);
        let known = labels();
        for (i, label) in self.disabled.iter().enumerate() {
            if !known.contains(&label.as_str()) {
                errors.push(
                    format!("{path}.disabled[{i}]"),
                    format!("unknown secret label `{label}`, expected one of {known:?}"),
                );
            }
        }
        if !(8..=512).contains(&self.entropy_min_len) {
            errors.push(
                join(path, "entropy_min_len"),
                format!("must be within 8..=512, got {}", self.entropy_min_len),
            );
        }
        if !(1.0..=8.0).contains(&self.entropy_min_bits) {
            errors.push(
                join(path, "entropy_min_bits"),
                format!(
                    "must be within 1..=8 bits per character, got {}",
                    self.entropy_min_bits
                ),
            );
        }
        self.redaction
            .validate(&join(path, "redaction"), &known, errors);
    }

    pub fn build(&self, id: &str) -> Result<SecretDetector, String> {
        let formats: Vec<&Format> = FORMATS
            .iter()
            .filter(|f| !self.disabled.iter().any(|d| d == f.label))
            .collect();
        let set = super::patterns::fast_set(formats.iter().map(|f| f.pattern))
            .map_err(|e| e.to_string())?;
        let regexes = formats
            .iter()
            .map(|f| super::patterns::fast_regex(f.pattern).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let all = labels();
        let redactions = self.redaction.resolve(&all)?;
        let label_arcs: BTreeMap<&'static str, (Arc<str>, Option<Redaction>)> = all
            .iter()
            .map(|l| (*l, (Arc::from(*l), redactions.get(*l).cloned().flatten())))
            .collect();
        let gate = AnchorGate::new(&[
            (FORMAT_ANCHORS, Case::Exact),
            (ASSIGNMENT_ANCHORS, Case::Insensitive),
            (ENTROPY_CONTEXT, Case::Insensitive),
        ])?;
        let longest_anchor = [FORMAT_ANCHORS, ASSIGNMENT_ANCHORS, ENTROPY_CONTEXT]
            .iter()
            .flat_map(|group| group.iter().map(|a| a.chars().count()))
            .max()
            .unwrap_or(0);
        Ok(SecretDetector {
            id: Arc::from(id),
            gate,
            longest_anchor,
            formats: formats.into_iter().zip(regexes).collect(),
            set,
            entropy: self.entropy && !self.disabled.iter().any(|d| d == HIGH_ENTROPY_LABEL),
            entropy_context: ContextWords::new(ENTROPY_CONTEXT),
            token_regex: Regex::new(r"[A-Za-z0-9+/_\-]{8,}={0,2}").map_err(|e| e.to_string())?,
            min_len: self.entropy_min_len,
            min_bits: self.entropy_min_bits,
            threshold: self.threshold,
            action: self.action,
            labels: label_arcs,
        })
    }
}

/// Shannon entropy of `s` in bits per character.
pub fn shannon_entropy(s: &str) -> f32 {
    let mut counts = [0u32; 256];
    for &b in s.as_bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f32 / n;
            -p * p.log2()
        })
        .sum()
}

/// The runtime secret detector.
pub struct SecretDetector {
    id: Arc<str>,
    /// One pass for the format anchors, the assignment words and the entropy context.
    gate: AnchorGate,
    /// Characters of the longest anchor.
    longest_anchor: usize,
    formats: Vec<(&'static Format, Regex)>,
    set: RegexSet,
    entropy: bool,
    entropy_context: ContextWords,
    token_regex: Regex,
    min_len: usize,
    min_bits: f32,
    threshold: f32,
    action: Action,
    labels: BTreeMap<&'static str, (Arc<str>, Option<Redaction>)>,
}

impl SecretDetector {
    /// Label, span and score of every secret in `text`, overlaps resolved, by position.
    pub fn detect(&self, text: &str) -> Vec<(&'static str, Span, f32)> {
        self.detect_gated(text).0
    }

    /// The anchor groups a finding can start from.
    fn anchors(&self) -> u64 {
        match self.entropy {
            true => ANCHORED | ENTROPY_WORD,
            false => ANCHORED,
        }
    }

    /// [`SecretDetector::detect`], and the anchor groups found in `text` (all of them when
    /// none of `ANCHORED` is there, since the gate then reads the whole text).
    fn detect_gated(&self, text: &str) -> (Vec<(&'static str, Span, f32)>, u64) {
        let mut found: Vec<(&'static str, Span, f32)> = Vec::new();
        let entropy = self.entropy && text.len() >= self.min_len && 0.7 >= self.threshold;
        let wanted = if entropy {
            ANCHORED | ENTROPY_WORD
        } else {
            ANCHORED
        };
        let gates = self.gate.scan(text, wanted);
        let anchored = gates & ANCHORED != 0;
        let matched: Vec<usize> = if anchored {
            self.set.matches(text).into_iter().collect()
        } else {
            Vec::new()
        };
        for index in matched {
            let (format, regex) = &self.formats[index];
            if format.score < self.threshold {
                continue;
            }
            for caps in regex.captures_iter(text) {
                // The first group from `format.group` on that took part (alternatives).
                if let Some(m) = (format.group..caps.len().max(1)).find_map(|g| caps.get(g)) {
                    if format.confirm.is_some_and(|confirm| !confirm(m.as_str())) {
                        continue;
                    }
                    push_unless_overlapping(
                        &mut found,
                        format.label,
                        Span::new(m.start(), m.end()),
                        format.score,
                    );
                }
            }
        }
        if entropy && gates & ENTROPY_WORD != 0 {
            for m in self.token_regex.find_iter(text) {
                let token = m.as_str();
                let mixed = token.bytes().any(|b| b.is_ascii_digit())
                    && token.bytes().any(|b| b.is_ascii_alphabetic());
                if token.len() >= self.min_len
                    && mixed
                    && shannon_entropy(token) >= min_bits_for(token, self.min_bits)
                    && self.entropy_context.near(text, m.start(), m.end())
                {
                    push_unless_overlapping(
                        &mut found,
                        HIGH_ENTROPY_LABEL,
                        Span::new(m.start(), m.end()),
                        0.7,
                    );
                }
            }
        }
        found.sort_by_key(|(_, span, _)| span.start);
        (found, gates)
    }
}

/// Whether a token's first part decodes (base64url) to a JSON object that names `alg` or
/// `typ`, as every JWT header does: `eyJ` alone only says it starts with `{"`.
fn is_jwt_header(token: &str) -> bool {
    let header = token.split('.').next().unwrap_or("");
    let Ok(decoded) = JWT_BASE64.decode(header) else {
        return false;
    };
    let Ok(json) = std::str::from_utf8(&decoded) else {
        return false;
    };
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json)
        .is_ok_and(|header| header.contains_key("alg") || header.contains_key("typ"))
}

/// Base64url without padding, as JWTs write it; trailing bits are not checked.
const JWT_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Hex digits carry at most 4 bits per character, so a random hex token of 32 or more (a
/// SHA-1 or MD5-sized key) reaches only about 3.7: it needs `HEX_MIN_BITS`, not the
/// alphabet-wide threshold. Hex tokens are still only reported near a context word.
const HEX_MIN_BITS: f32 = 3.0;

fn min_bits_for(token: &str, configured: f32) -> f32 {
    let hex = token.len() >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit());
    match hex {
        true => configured.min(HEX_MIN_BITS),
        false => configured,
    }
}

fn push_unless_overlapping(
    found: &mut Vec<(&'static str, Span, f32)>,
    label: &'static str,
    span: Span,
    score: f32,
) {
    if let Some(existing) = found.iter_mut().find(|(_, s, _)| s.overlaps(&span)) {
        if score > existing.2 {
            *existing = (label, span, score);
        }
        return;
    }
    found.push((label, span, score));
}

impl Inspector for SecretDetector {
    fn incremental(&self) -> bool {
        true
    }

    fn id(&self) -> &str {
        &self.id
    }

    /// Every finding starts from an anchor: a format's literal, an assignment word, or (for
    /// high-entropy tokens) a context word.
    fn trigger_chars(&self) -> Option<usize> {
        Some(self.longest_anchor)
    }

    fn has_trigger(&self, text: &str) -> bool {
        self.gate.any(text, self.anchors())
    }

    fn inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        let (found, gates) = self.detect_gated(&event.text);
        if event.window.is_some() && gates & self.anchors() != 0 {
            event.triggered.push(self.id.clone());
        }
        let mut labels: Vec<&'static str> = found.iter().map(|(l, _, _)| *l).collect();
        labels.dedup();
        labels.sort_unstable();
        labels.dedup();
        for label in labels {
            let (name, redaction) = &self.labels[label];
            let of_label = found.iter().filter(|(l, _, _)| *l == label);
            event.findings.push(Finding {
                operator: self.id.clone(),
                category: Category::Secret,
                label: name.clone(),
                score: of_label.clone().map(|(_, _, s)| *s).fold(0.0, f32::max),
                spans: of_label.map(|(_, span, _)| *span).collect(),
                action: self.action,
                redaction: redaction.clone(),
                reason: None,
                provenance: Provenance::builtin(
                    if label == HIGH_ENTROPY_LABEL {
                        "entropy"
                    } else {
                        "regex"
                    },
                    self.threshold,
                ),
                location: None,
            });
        }
        Ok(())
    }
}

super::registry::register_inspector!(
    SecretConfig, "secret_detect", crate::model::Category::Secret,
    build(c, id) => c.build(id),
);

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> SecretDetector {
        SecretConfig::default().build("secrets").unwrap()
    }

    #[test]
    fn known_formats_are_found_by_kind() {
        let cases: &[(&str, &str, &str)] = &[
            ("aws", "key AKIAIOSFODNN7EXAMPLE in config", "AKIAIOSFODNN7EXAMPLE"),
            ("github", "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 ok", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
            ("gitlab", "glpat-abcdefghij0123456789 here", "glpat-abcdefghij0123456789"),
            ("aws a3t", "key A3T0ZZZZZZZZZZZZZZZZ in config", "A3T0ZZZZZZZZZZZZZZZZ"),
            ("gitlab deploy", "use gldt-HwllOuhfw-wu0rlD_yep now", "gldt-HwllOuhfw-wu0rlD_yep"),
            ("gitlab runner registration", "GR1348941PREfix_helloworld380", "GR1348941PREfix_helloworld380"),
            ("unsigned jwt", "t=eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJuYW1lIjoiSm9lIn0", "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJuYW1lIjoiSm9lIn0"),
            ("go assignment", "apiKey := \"q8Vz!r2#Lm0p\"", "q8Vz!r2#Lm0p"),
            ("comparison", "if (api_key == \"q8Vz!r2#Lm0p\") {", "q8Vz!r2#Lm0p"),
            ("literal first", "if (\"q8Vz!r2#Lm0p\" !== db_password) {", "q8Vz!r2#Lm0p"),
            ("raw string", "secret := `q8Vz!r2#Lm0p`", "q8Vz!r2#Lm0p"),
            ("objective-c", "password = @\"q8Vz!r2#Lm0p\";", "q8Vz!r2#Lm0p"),
            ("slack", "xoxb-123456789012-abcdefghij", "xoxb-123456789012-abcdefghij"),
            ("stripe", "use sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
            ("google", "AIzaSyA-1234567890abcdefghijklmnopqrstu", "AIzaSyA-1234567890abcdefghijklmnopqrstu"),
            ("openai", "my key is sk-proj-abcdefghijklmnopqrstuvwxyz012345", "sk-proj-abcdefghijklmnopqrstuvwxyz012345"),
            ("anthropic", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"),
            ("jwt", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
            ("pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"),
            ("postgres", "postgres://admin:s3cr3tP4ss@db.internal:5432/app", "s3cr3tP4ss"),
            ("assignment", "password = \"hunter2hunter2\"", "hunter2hunter2"),
            ("entropy", "the api token is Zx8qP2mN7vL4kR9tW3yB6cD1", "Zx8qP2mN7vL4kR9tW3yB6cD1"),
            ("export", "export API_SECRET=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr"),
            ("env", "PORT=8080\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            ("quoted", "db_password = \"p@ss w0rd!#%^&*\"", "p@ss w0rd!#%^&*"),
            ("single", "smtp_pass = 'S3cr3t$$!'", "S3cr3t$$!"),
            ("cli", "mysql -u root -p'Y/*M:N$_||eO' shop", "Y/*M:N$_||eO"),
            ("empty user", "redis://:taezR3!5wAqL@cache:6379/0", "taezR3!5wAqL"),
            ("hex token", "token: 995ae95fefd95995c54bacd5f7e79ccf5b23df50", "995ae95fefd95995c54bacd5f7e79ccf5b23df50"),
            ("digitalocean", "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            ("shopify", "use shpat_0123456789abcdef0123456789ABCDEF now", "shpat_0123456789abcdef0123456789ABCDEF"),
            ("pypi", "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAACKlsz", "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAACKlsz"),
            ("telegram", "bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9 here", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"),
            ("databricks", "dapi0123456789abcdef0123456789abcdef", "dapi0123456789abcdef0123456789abcdef"),
            ("vault", "VAULT hvs.CAESIJlU9JMYEhOPYv4KMNzrZQ2TcA9m2Ow8", "hvs.CAESIJlU9JMYEhOPYv4KMNzrZQ2TcA9m2Ow8"),
            ("postman", "PMAK-0123456789abcdef01234567-0123456789abcdef0123456789abcdef01", "PMAK-0123456789abcdef01234567-0123456789abcdef0123456789abcdef01"),
            ("newrelic", "NRAK-ABCDEFGHIJKLMNOPQRSTUVWXYZ0", "NRAK-ABCDEFGHIJKLMNOPQRSTUVWXYZ0"),
        ];
        let d = detector();
        for (name, text, secret) in cases {
            let found = d.detect(text);
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            let span = found[0].1;
            assert_eq!(&text[span.start..span.end], *secret, "{name}");
        }
    }

    #[test]
    fn a_jwt_needs_a_header_that_decodes() {
        let d = detector();
        // `eyJ` + garbage: not a header that decodes to JSON with `alg` or `typ`.
        let bad = "eyJhbasdGciOiJIUaddasdasfsasdasdzI1NiIasdsInR5cCI6IkpXVCasdJasd9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        assert!(d.detect(bad).is_empty());
        assert!(super::is_jwt_header("eyJhbGciOiJIUzI1NiJ9"));
        assert!(!super::is_jwt_header("eyJuYW1lIjoiSm9lIn0"));
    }

    #[test]
    fn ordinary_text_has_no_secrets() {
        let d = detector();
        for text in [
            "The quick brown fox jumps over the lazy dog.",
            "commit 3f2a9c1b7e4d5a6b8c9d0e1f2a3b4c5d6e7f8a9b merged",
            "My password is weak",
            "Call sk-8 on monday",
            "Order AKIA123 shipped",
            "commit 3f2a9c1b7e4d5a6b8c9d0e1f2a3b4c5d6e7f8a9b\nAuthor: Ana <ana@example.com>",
            "max_tokens = 512\ntoken_ttl_seconds = 3600\npassword_min_length = 12",
            "token = request.headers.get(\"x-token\")",
            "docker pull postgres@sha256:0f45f595495c4f2be4b4345df694f442483f60b10f45f595495c4f2be4b43",
            "'https://url:8000';@something else",
            "stripe.js loads with pk_live_j5krY8XTgIcDaHDb3YrsAfCl",
            "if (password == confirmation) {",
        ] {
            assert!(d.detect(text).is_empty(), "{text}: {:?}", d.detect(text));
        }
    }

    #[test]
    fn disabled_labels_are_not_reported() {
        let config = SecretConfig {
            disabled: vec!["JWT".into()],
            ..SecretConfig::default()
        };
        let d = config.build("s").unwrap();
        let text = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert!(d.detect(text).iter().all(|(l, _, _)| *l != "JWT"));
    }

    #[test]
    fn entropy_of_uniform_and_random_strings() {
        assert!(shannon_entropy("aaaaaaaa") < 0.01);
        assert!(shannon_entropy("Zx8qP2mN7vL4kR9tW3yB6cD1") > 4.0);
    }
}

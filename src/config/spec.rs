//! Raw topology types: the TOML document split into settings, sources, operators and sinks.
//!
//! Nothing here checks the graph; [`super::compile`] does that. Source and sink option types
//! live here (not in `io`/`kafka`) so the loader can validate a topology without building it.

use std::path::PathBuf;

use serde::Deserialize;

use super::audit::{AuditLogConfig, VaultConfig};
use super::kafka::{KafkaConfig, KafkaSinkConfig, KafkaSourceConfig};
use super::monitor::{DriftConfig, LimitsConfig};
use super::names::{Format, RecordKind};
use super::stream::StreamConfig;
use crate::diagnostics::{join, parse_table, Errors};

/// Runtime settings shared by every node (`[settings]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Settings {
    /// Events per batch handed to the operators.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Events larger than this (in bytes) go to the dead-letter output undecoded.
    #[serde(default = "default_max_event_bytes")]
    pub max_event_bytes: usize,
    /// Worker threads for data-parallel operators; 0 means one per core.
    #[serde(default)]
    pub threads: usize,
    /// Conversations whose placeholder numbering is remembered (least recently used evicted).
    #[serde(default = "default_max_conversations")]
    pub max_conversations: usize,
    /// `shadow`: every operator runs in shadow mode (a shadow deployment beside the live
    /// one, writing only shadow verdicts); an operator's own `mode` overrides it.
    #[serde(default)]
    pub mode: crate::operators::Mode,
}

fn default_batch_size() -> usize {
    1024
}
fn default_max_event_bytes() -> usize {
    1024 * 1024
}
fn default_max_conversations() -> usize {
    100_000
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            batch_size: default_batch_size(),
            max_event_bytes: default_max_event_bytes(),
            threads: 0,
            mode: crate::operators::Mode::Live,
            max_conversations: default_max_conversations(),
        }
    }
}

impl Settings {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        if !(1..=1_000_000).contains(&self.batch_size) {
            errors.push(
                join(path, "batch_size"),
                format!("must be within 1..=1000000, got {}", self.batch_size),
            );
        }
        if self.max_event_bytes < 64 {
            errors.push(
                join(path, "max_event_bytes"),
                format!("must be at least 64, got {}", self.max_event_bytes),
            );
        }
        if self.max_conversations == 0 {
            errors.push(join(path, "max_conversations"), "must be at least 1");
        }
    }
}

/// `[telemetry]`: where `/metrics`, `/healthz` and `/readyz` are served. Absent: not served.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TelemetryConfig {
    /// Address to listen on; localhost by default so metrics are not exposed by accident.
    #[serde(default = "default_bind")]
    pub bind: String,
}

fn default_bind() -> String {
    "127.0.0.1:9898".to_string()
}

impl TelemetryConfig {
    /// The `[telemetry]` table of a topology file, read ahead of compiling it (so the
    /// endpoints answer while models load); `None` when absent or not readable as such
    /// (compiling then reports why).
    pub fn read_ahead(path: &std::path::Path) -> Option<TelemetryConfig> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut document: toml::Table = toml::from_str(&text).ok()?;
        let mut value = document.remove("telemetry")?;
        let mut errors = Errors::default();
        super::interpolate::interpolate_value(
            &mut value,
            "telemetry",
            &super::interpolate::ProcessEnv,
            &mut errors,
        );
        let parsed: TelemetryConfig = parse_table(value, "telemetry", &mut errors)?;
        parsed.validate("telemetry", &mut errors);
        errors.is_empty().then_some(parsed)
    }

    pub fn validate(&self, path: &str, errors: &mut Errors) {
        if self.bind.parse::<std::net::SocketAddr>().is_err() {
            errors.push(
                join(path, "bind"),
                format!(
                    "must be an IP address and port like 127.0.0.1:9898, got `{}`",
                    self.bind
                ),
            );
        }
    }
}

fn json_only(format: Format, path: &str, errors: &mut Errors) {
    if format != Format::Json {
        errors.push(
            join(path, "format"),
            format!(
                "`{}` needs a Kafka node and a Schema Registry; files are JSON lines",
                format.as_str()
            ),
        );
    }
}

/// A JSONL file (`type = "file"`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct FileSourceConfig {
    /// Path of the JSONL file, relative to the working directory.
    pub path: PathBuf,
    #[serde(default)]
    pub format: Format,
}

/// Standard input, one JSON event per line (`type = "stdin"`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct StdinSourceConfig {
    #[serde(default)]
    pub format: Format,
}

/// Where events come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    File(FileSourceConfig),
    Stdin(StdinSourceConfig),
    Kafka(KafkaSourceConfig),
}

impl SourceSpec {
    pub const TYPES: &'static [&'static str] = &["file", "stdin", "kafka"];

    pub fn parse(
        type_name: &str,
        body: toml::Value,
        path: &str,
        errors: &mut Errors,
    ) -> Option<Self> {
        match type_name {
            "file" => parse_table::<FileSourceConfig>(body, path, errors).map(|c| {
                json_only(c.format, path, errors);
                SourceSpec::File(c)
            }),
            "stdin" => parse_table::<StdinSourceConfig>(body, path, errors).map(|c| {
                json_only(c.format, path, errors);
                SourceSpec::Stdin(c)
            }),
            "kafka" => parse_table::<KafkaSourceConfig>(body, path, errors).map(|c| {
                c.validate(path, errors);
                SourceSpec::Kafka(c)
            }),
            other => {
                errors.push(
                    join(path, "type"),
                    format!(
                        "unknown source type `{other}`, expected one of {:?}",
                        Self::TYPES
                    ),
                );
                None
            }
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            SourceSpec::File(_) => "file",
            SourceSpec::Stdin(_) => "stdin",
            SourceSpec::Kafka(_) => "kafka",
        }
    }
}

/// A JSONL file sink (`type = "file"`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct FileSinkConfig {
    /// Output path; parent directories are created.
    pub path: PathBuf,
    #[serde(default)]
    pub records: RecordKind,
    /// Append instead of truncating at start-up.
    #[serde(default)]
    pub append: bool,
}

/// Standard output, one JSON record per line (`type = "stdout"`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct StdoutSinkConfig {
    #[serde(default)]
    pub records: RecordKind,
}

/// Where records go.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkSpec {
    File(FileSinkConfig),
    Stdout(StdoutSinkConfig),
    Kafka(KafkaSinkConfig),
    AuditLog(AuditLogConfig),
    Vault(VaultConfig),
}

impl SinkSpec {
    pub const TYPES: &'static [&'static str] = &["file", "stdout", "kafka", "audit_log", "vault"];

    pub fn parse(
        type_name: &str,
        body: toml::Value,
        path: &str,
        errors: &mut Errors,
    ) -> Option<Self> {
        match type_name {
            "file" => parse_table(body, path, errors).map(SinkSpec::File),
            "stdout" => parse_table(body, path, errors).map(SinkSpec::Stdout),
            "kafka" => parse_table::<KafkaSinkConfig>(body, path, errors).map(|c| {
                c.validate(path, errors);
                SinkSpec::Kafka(c)
            }),
            "audit_log" => parse_table::<AuditLogConfig>(body, path, errors).map(|c| {
                c.validate(path, errors);
                SinkSpec::AuditLog(c)
            }),
            "vault" => parse_table::<VaultConfig>(body, path, errors).map(|c| {
                c.validate(path, errors);
                SinkSpec::Vault(c)
            }),
            other => {
                errors.push(
                    join(path, "type"),
                    format!(
                        "unknown sink type `{other}`, expected one of {:?}",
                        Self::TYPES
                    ),
                );
                None
            }
        }
    }

    pub fn records(&self) -> RecordKind {
        match self {
            SinkSpec::File(c) => c.records,
            SinkSpec::Stdout(c) => c.records,
            SinkSpec::Kafka(c) => c.records,
            SinkSpec::AuditLog(_) => RecordKind::Audit,
            SinkSpec::Vault(_) => RecordKind::Vault,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            SinkSpec::File(_) => "file",
            SinkSpec::Stdout(_) => "stdout",
            SinkSpec::Kafka(_) => "kafka",
            SinkSpec::AuditLog(_) => "audit_log",
            SinkSpec::Vault(_) => "vault",
        }
    }

    /// The Kafka topic this sink produces to, if any.
    pub fn topic(&self) -> Option<&str> {
        match self {
            SinkSpec::Kafka(c) => Some(&c.topic),
            SinkSpec::AuditLog(c) => c.topic.as_deref(),
            SinkSpec::Vault(c) => c.topic.as_deref(),
            SinkSpec::File(_) | SinkSpec::Stdout(_) => None,
        }
    }

    /// Whether the sink writes to this machine (a file or standard output).
    pub fn is_local(&self) -> bool {
        match self {
            SinkSpec::File(_) | SinkSpec::Stdout(_) => true,
            SinkSpec::Kafka(_) => false,
            SinkSpec::AuditLog(c) => c.path.is_some(),
            SinkSpec::Vault(c) => c.path.is_some(),
        }
    }
}

/// Which section a node was declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Sources,
    Operators,
    Sinks,
}

impl Section {
    pub fn key(self) -> &'static str {
        match self {
            Section::Sources => "sources",
            Section::Operators => "operators",
            Section::Sinks => "sinks",
        }
    }
}

/// A node as written: its id, `type`, `inputs`, and the rest of its table unparsed.
#[derive(Debug, Clone)]
pub struct RawNode {
    pub section: Section,
    pub id: String,
    pub type_name: String,
    pub inputs: Vec<String>,
    pub body: toml::Value,
}

impl RawNode {
    pub fn path(&self) -> String {
        format!("{}.{}", self.section.key(), self.id)
    }
}

/// The whole document before graph checks.
#[derive(Debug, Clone)]
pub struct RawTopology {
    pub name: String,
    pub description: Option<String>,
    pub settings: Settings,
    pub telemetry: Option<TelemetryConfig>,
    pub kafka: Option<KafkaConfig>,
    pub drift: Option<DriftConfig>,
    pub limits: Option<LimitsConfig>,
    pub stream: StreamConfig,
    pub nodes: Vec<RawNode>,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "description",
    "settings",
    "telemetry",
    "kafka",
    "drift",
    "limits",
    "stream",
    "sources",
    "operators",
    "sinks",
];

/// Splits an (interpolated) document into its parts, recording every structural error.
pub fn split(document: toml::Table, errors: &mut Errors) -> RawTopology {
    let mut name = String::new();
    let mut description = None;
    let mut settings = Settings::default();
    let mut telemetry = None;
    let mut kafka = None;
    let mut drift = None;
    let mut limits = None;
    let mut stream = StreamConfig::default();
    let mut nodes = Vec::new();
    for (key, value) in document {
        match key.as_str() {
            "name" => match value {
                toml::Value::String(s) if valid_id(&s) => name = s,
                other => errors.push(
                    "name",
                    format!("must be a string of letters, digits, `_`, `-` or `.`, got {other}"),
                ),
            },
            "description" => match value {
                toml::Value::String(s) => description = Some(s),
                _ => errors.push("description", "must be a string"),
            },
            "settings" => {
                if let Some(parsed) = parse_table::<Settings>(value, "settings", errors) {
                    parsed.validate("settings", errors);
                    settings = parsed;
                }
            }
            "telemetry" => {
                if let Some(parsed) = parse_table::<TelemetryConfig>(value, "telemetry", errors) {
                    parsed.validate("telemetry", errors);
                    telemetry = Some(parsed);
                }
            }
            "kafka" => {
                if let Some(parsed) = parse_table::<KafkaConfig>(value, "kafka", errors) {
                    parsed.validate("kafka", errors);
                    kafka = Some(parsed);
                }
            }
            "drift" => {
                if let Some(parsed) = parse_table::<DriftConfig>(value, "drift", errors) {
                    parsed.validate("drift", errors);
                    drift = Some(parsed);
                }
            }
            "limits" => {
                if let Some(parsed) = parse_table::<LimitsConfig>(value, "limits", errors) {
                    parsed.validate("limits", errors);
                    limits = Some(parsed);
                }
            }
            "stream" => {
                if let Some(parsed) = parse_table::<StreamConfig>(value, "stream", errors) {
                    parsed.validate("stream", errors);
                    stream = parsed;
                }
            }
            "sources" => split_section(Section::Sources, value, &mut nodes, errors),
            "operators" => split_section(Section::Operators, value, &mut nodes, errors),
            "sinks" => split_section(Section::Sinks, value, &mut nodes, errors),
            _ => errors.push(
                key.as_str(),
                format!("unknown top-level key, expected one of {TOP_LEVEL_KEYS:?}"),
            ),
        }
    }
    if name.is_empty() && !errors.iter().any(|e| e.path == "name") {
        errors.push("name", "missing: every topology needs a name");
    }
    RawTopology {
        name,
        description,
        settings,
        telemetry,
        kafka,
        drift,
        limits,
        stream,
        nodes,
    }
}

fn split_section(
    section: Section,
    value: toml::Value,
    nodes: &mut Vec<RawNode>,
    errors: &mut Errors,
) {
    let toml::Value::Table(table) = value else {
        errors.push(section.key(), "must be a table of named nodes");
        return;
    };
    for (id, node) in table {
        let path = join(section.key(), &id);
        if !valid_id(&id) {
            errors.push(
                &path,
                "node ids may use letters, digits, `_`, `-` and `.` only",
            );
        }
        let toml::Value::Table(mut body) = node else {
            errors.push(&path, "must be a table");
            continue;
        };
        let type_name = match body.remove("type") {
            Some(toml::Value::String(t)) => t,
            Some(_) => {
                errors.push(join(&path, "type"), "must be a string");
                continue;
            }
            None => {
                errors.push(join(&path, "type"), "missing");
                continue;
            }
        };
        let inputs = match body.remove("inputs") {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => {
                let mut inputs = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        toml::Value::String(s) => inputs.push(s),
                        _ => errors.push(format!("{path}.inputs[{i}]"), "must be a node id string"),
                    }
                }
                inputs
            }
            Some(_) => {
                errors.push(join(&path, "inputs"), "must be an array of node ids");
                Vec::new()
            }
        };
        nodes.push(RawNode {
            section,
            id,
            type_name,
            inputs,
            body: toml::Value::Table(body),
        });
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

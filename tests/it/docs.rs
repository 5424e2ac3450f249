//! `docs/configuration.md` is checked against the config types: every key each type accepts
//! (read from its `Deserialize` impl) is documented in that type's section, so the reference
//! cannot drift from the code.

use railyard::config::audit::{AuditLogConfig, VaultConfig};
use railyard::config::kafka::{
    KafkaConfig, KafkaSinkConfig, KafkaSourceConfig, SchemaRegistryConfig,
};
use railyard::config::monitor::{BreakerConfig, DriftConfig, LimitsConfig};
use railyard::config::spec::{
    FileSinkConfig, FileSourceConfig, Settings, StdinSourceConfig, StdoutSinkConfig,
    TelemetryConfig,
};
use railyard::config::stream::StreamConfig;
use railyard::diagnostics::fields::field_names;
use railyard::operators::registry::OPERATORS;

fn reference() -> String {
    std::fs::read_to_string(crate::common::repo().join("docs/configuration.md")).unwrap()
}

/// Every `## ` section whose heading contains `needle`, joined.
fn sections_naming(doc: &str, needle: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            inside = heading.contains(needle);
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The table row of `type_name` in the section named `section`.
fn row(doc: &str, section: &str, type_name: &str) -> String {
    let prefix = format!("| `{type_name}` |");
    sections_naming(doc, section)
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no `{type_name}` row under `{section}`"))
        .to_string()
}

/// Keys that `text` does not mention: as `` `key` `` (or `` `key = ...` ``), or as a table,
/// `[key]`, `[[key]]` or `[parent.key]`.
fn undocumented(text: &str, keys: &[&'static str]) -> Vec<&'static str> {
    keys.iter()
        .copied()
        .filter(|key| {
            let quoted = format!("`{key}");
            let as_key = text.match_indices(&quoted).any(|(at, _)| {
                matches!(
                    text[at + quoted.len()..].chars().next(),
                    Some('`' | ' ' | '=' | '.' | '[')
                )
            });
            let as_table = [format!("[{key}]"), format!(".{key}]")]
                .iter()
                .any(|t| text.contains(t.as_str()));
            !(as_key || as_table)
        })
        .collect()
}

#[test]
fn every_operator_key_is_in_the_configuration_reference() {
    let doc = reference();
    let mut missing = Vec::new();
    for registration in OPERATORS {
        let text = sections_naming(&doc, &format!("`{}`", registration.type_name));
        assert!(
            !text.is_empty(),
            "docs/configuration.md has no section naming `{}`",
            registration.type_name
        );
        let keys = (registration.fields)();
        assert!(!keys.is_empty(), "{} has no keys", registration.type_name);
        for key in undocumented(&text, &keys) {
            missing.push(format!("{}.{key}", registration.type_name));
        }
    }
    assert!(
        missing.is_empty(),
        "undocumented operator keys: {missing:?}"
    );
}

#[test]
fn every_table_source_and_sink_key_is_in_the_configuration_reference() {
    let doc = reference();
    let checks: Vec<(String, Vec<&'static str>)> = vec![
        (
            sections_naming(&doc, "`[settings]`"),
            field_names::<Settings>(),
        ),
        (
            sections_naming(&doc, "`[telemetry]`"),
            field_names::<TelemetryConfig>(),
        ),
        (
            sections_naming(&doc, "`[kafka]`"),
            field_names::<KafkaConfig>(),
        ),
        (
            sections_naming(&doc, "`[kafka]`"),
            field_names::<SchemaRegistryConfig>(),
        ),
        (
            row(&doc, "Sources", "file"),
            field_names::<FileSourceConfig>(),
        ),
        (
            row(&doc, "Sources", "stdin"),
            field_names::<StdinSourceConfig>(),
        ),
        (
            row(&doc, "Sources", "kafka"),
            field_names::<KafkaSourceConfig>(),
        ),
        (row(&doc, "Sinks", "file"), field_names::<FileSinkConfig>()),
        (
            row(&doc, "Sinks", "stdout"),
            field_names::<StdoutSinkConfig>(),
        ),
        (
            row(&doc, "Sinks", "kafka"),
            field_names::<KafkaSinkConfig>(),
        ),
        (
            row(&doc, "Sinks", "audit_log"),
            field_names::<AuditLogConfig>(),
        ),
        (row(&doc, "Sinks", "vault"), field_names::<VaultConfig>()),
        (
            sections_naming(&doc, "`[drift]`"),
            field_names::<DriftConfig>(),
        ),
        (
            sections_naming(&doc, "`[limits]`"),
            field_names::<LimitsConfig>(),
        ),
        (
            sections_naming(&doc, "`[limits]`"),
            field_names::<BreakerConfig>(),
        ),
        (
            sections_naming(&doc, "`[stream]`"),
            field_names::<StreamConfig>(),
        ),
    ];
    let mut missing = Vec::new();
    for (i, (text, keys)) in checks.iter().enumerate() {
        assert!(!keys.is_empty(), "check {i} read no keys");
        missing.extend(
            undocumented(text, keys)
                .into_iter()
                .map(|k| format!("{i}:{k}")),
        );
    }
    assert!(
        missing.is_empty(),
        "undocumented keys (check index:key): {missing:?}"
    );
}

//! A small builder for test topologies, so tests say what differs instead of writing TOML
//! by hand. It writes an ordinary topology file: the code under test still parses TOML.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// A topology under construction.
pub struct TopologyBuilder {
    doc: Table,
}

fn table(options: &str) -> Table {
    toml::from_str(options).unwrap_or_else(|e| panic!("test options `{options}`: {e}"))
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect())
}

impl TopologyBuilder {
    pub fn new(name: &str) -> Self {
        let mut doc = Table::new();
        doc.insert("name".into(), name.into());
        TopologyBuilder { doc }
    }

    fn section(&mut self, name: &str) -> &mut Table {
        self.doc
            .entry(name)
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .expect("a table")
    }

    fn node(mut self, section: &str, id: &str, body: Table) -> Self {
        self.section(section).insert(id.into(), Value::Table(body));
        self
    }

    /// `[settings]` entries, as TOML (`batch_size = 256`).
    pub fn settings(mut self, options: &str) -> Self {
        self.section("settings").extend(table(options));
        self
    }

    /// `[telemetry]` on a local port.
    pub fn telemetry(mut self, port: u16) -> Self {
        self.section("telemetry")
            .insert("bind".into(), format!("127.0.0.1:{port}").into());
        self
    }

    /// `[kafka]` with `brokers`, `options` (TOML), and the client settings every test uses
    /// (short session timeouts, so a killed member leaves its group quickly).
    pub fn kafka(mut self, brokers: &str, options: &str) -> Self {
        let kafka = self.section("kafka");
        kafka.insert("brokers".into(), brokers.into());
        kafka.extend(table(options));
        let properties = kafka
            .entry("properties")
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .expect("a table");
        properties.insert("session.timeout.ms".into(), 6000.into());
        properties.insert("heartbeat.interval.ms".into(), 500.into());
        self
    }

    /// `[kafka.properties]` entries, as TOML (`"reconnect.backoff.max.ms" = 1000`).
    pub fn kafka_properties(mut self, options: &str) -> Self {
        let kafka = self.section("kafka");
        let properties = kafka
            .entry("properties")
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .expect("a table");
        properties.extend(table(options));
        self
    }

    pub fn file_source(self, id: &str, path: &Path) -> Self {
        let mut body = Table::new();
        body.insert("type".into(), "file".into());
        body.insert("path".into(), path.display().to_string().into());
        self.node("sources", id, body)
    }

    pub fn kafka_source(self, id: &str, topic: &str, group: &str) -> Self {
        let mut body = Table::new();
        body.insert("type".into(), "kafka".into());
        body.insert("topics".into(), strings(&[topic]));
        body.insert("group_id".into(), group.into());
        self.node("sources", id, body)
    }

    /// An operator of `type_name` reading `inputs`, with `options` (TOML).
    pub fn operator(self, id: &str, type_name: &str, inputs: &[&str], options: &str) -> Self {
        let mut body = table(options);
        body.insert("type".into(), type_name.into());
        body.insert("inputs".into(), strings(inputs));
        self.node("operators", id, body)
    }

    /// A file sink of `records` (`verdicts`, `enriched`, `dead_letters`).
    pub fn file_sink(self, id: &str, inputs: &[&str], records: &str, path: &Path) -> Self {
        let mut body = Table::new();
        body.insert("type".into(), "file".into());
        body.insert("path".into(), path.display().to_string().into());
        body.insert("records".into(), records.into());
        if !inputs.is_empty() {
            body.insert("inputs".into(), strings(inputs));
        }
        self.node("sinks", id, body)
    }

    /// A Kafka sink of `records` to `topic`, with more `options` (TOML).
    pub fn kafka_sink(
        self,
        id: &str,
        inputs: &[&str],
        records: &str,
        topic: &str,
        options: &str,
    ) -> Self {
        let mut body = table(options);
        body.insert("type".into(), "kafka".into());
        body.insert("topic".into(), topic.into());
        body.insert("records".into(), records.into());
        if !inputs.is_empty() {
            body.insert("inputs".into(), strings(inputs));
        }
        self.node("sinks", id, body)
    }

    /// Any sink, as TOML (`type = "audit_log"` and its options).
    pub fn sink(self, id: &str, inputs: &[&str], options: &str) -> Self {
        let mut body = table(options);
        if !inputs.is_empty() {
            body.insert("inputs".into(), strings(inputs));
        }
        self.node("sinks", id, body)
    }

    /// Merges a TOML document into the topology (tables whole, e.g. operator tables shared
    /// by several tests).
    pub fn merge(mut self, document: &str) -> Self {
        fn merge_into(into: &mut Table, from: Table) {
            for (key, value) in from {
                match (into.get_mut(&key), value) {
                    (Some(Value::Table(existing)), Value::Table(more)) => {
                        merge_into(existing, more)
                    }
                    (_, value) => {
                        into.insert(key, value);
                    }
                }
            }
        }
        merge_into(&mut self.doc, table(document));
        self
    }

    pub fn toml(&self) -> String {
        toml::to_string(&self.doc).expect("a topology serializes")
    }

    /// Writes the topology to `path` and returns it.
    pub fn write(&self, path: PathBuf) -> PathBuf {
        std::fs::write(&path, self.toml()).unwrap();
        path
    }
}

#[test]
fn a_built_topology_is_valid_and_says_what_it_was_told() {
    let dir = tempfile::tempdir().unwrap();
    let text = TopologyBuilder::new("built")
        .settings("batch_size = 64")
        .file_source("events", &dir.path().join("in.jsonl"))
        .operator("pii.v2", "pii_detect", &["events"], "")
        .operator(
            "policy",
            "decide",
            &["pii.v2"],
            r#"default_action = "allow""#,
        )
        .file_sink(
            "out",
            &["policy"],
            "verdicts",
            &dir.path().join("out.jsonl"),
        )
        .file_sink("dead", &[], "dead_letters", &dir.path().join("dead.jsonl"))
        .toml();
    let topology =
        railyard::config::Topology::from_toml(&text, &railyard::config::interpolate::ProcessEnv)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(topology.name, "built");
    assert_eq!(topology.settings.batch_size, 64);
    let ids: Vec<&str> = topology.operators.iter().map(|o| &*o.id).collect();
    assert_eq!(ids, ["pii.v2", "policy"]);
    assert_eq!(topology.routes[0].dead_letter_sinks.len(), 1);
}

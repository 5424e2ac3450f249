//! Avro end to end through a real Schema Registry: events written in the Confluent wire
//! format with `schemas/event.avsc`, verdicts read back with the schema railyard registered.
//!
//! Needs a Confluent-compatible registry backed by the test broker, which this project's CI
//! cannot install (karapace is not on its PyPI mirror). Run it where one is available:
//!
//! ```sh
//! RAILYARD_SCHEMA_REGISTRY_URL=http://127.0.0.1:8081 RAILYARD_TEST_BROKERS=127.0.0.1:9092 \
//!   cargo test --release --test kafka_avro -- --ignored
//! ```

mod common;

use std::process::Stdio;
use std::time::Duration;

use apache_avro::types::Value;
use schema_registry_converter::blocking::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::blocking::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

use common::kafka::*;

#[test]
#[ignore = "needs a Schema Registry: set RAILYARD_SCHEMA_REGISTRY_URL and RAILYARD_TEST_BROKERS, run with --ignored"]
fn avro_events_in_avro_verdicts_out() {
    let registry = std::env::var("RAILYARD_SCHEMA_REGISTRY_URL").expect("registry url");
    let brokers = std::env::var("RAILYARD_TEST_BROKERS").expect("broker bootstrap");
    let (input, verdicts, dead, group) = (
        unique("avro-in"),
        unique("avro-verdicts"),
        unique("avro-dead"),
        unique("avro-group"),
    );
    create_topics(&brokers, &[(&input, 2), (&verdicts, 2), (&dead, 1)]);

    let encoder = AvroEncoder::new(SrSettings::new(registry.clone()));
    let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
        input.clone(),
        false,
        SuppliedSchema::new(
            Some("dev.railyard.Event".into()),
            SchemaType::Avro,
            std::fs::read_to_string(common::repo().join("schemas/event.avsc")).unwrap(),
        ),
    );
    let mut records = Vec::new();
    for i in 0..20 {
        let bytes = encoder
            .encode(
                vec![
                    (
                        "id",
                        Value::Union(1, Box::new(Value::String(format!("a{i}")))),
                    ),
                    ("kind", Value::Enum(0, "prompt".into())),
                    ("text", Value::String(format!("write to a{i}@example.com"))),
                    ("conversation_id", Value::Union(0, Box::new(Value::Null))),
                    ("prompt", Value::Union(0, Box::new(Value::Null))),
                    ("context", Value::Array(vec![])),
                    ("metadata", Value::Map(Default::default())),
                ],
                &strategy,
            )
            .expect("registered and encoded");
        records.push((format!("k{i}"), bytes));
    }
    records.push(("junk".into(), b"not avro at all".to_vec()));
    produce(&brokers, &input, 2, &records);

    let dir = common::workspace();
    let topology = dir.path().join("avro.toml");
    std::fs::write(
        &topology,
        format!(
            r#"
name = "avro"
[kafka]
brokers = "{brokers}"
[kafka.schema_registry]
url = "{registry}"
[sources.events]
type = "kafka"
topics = ["{input}"]
group_id = "{group}"
format = "avro"
[operators.pii]
type = "pii_detect"
inputs = ["events"]
[sinks.verdicts]
type = "kafka"
inputs = ["pii"]
topic = "{verdicts}"
format = "avro"
[sinks.dead]
type = "kafka"
records = "dead_letters"
topic = "{dead}"
"#
        ),
    )
    .unwrap();
    let mut child = common::binary()
        .args(["run", topology.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = consume(&brokers, &verdicts, 20, Duration::from_secs(60));
    let dead_letters = consume(&brokers, &dead, 1, Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.len(), 20);
    assert_eq!(dead_letters.len(), 1);
    assert_eq!(
        dead_letters[0].headers["railyard.error.kind"],
        "invalid_avro"
    );
    let decoder = AvroDecoder::new(SrSettings::new(registry));
    for record in out {
        let decoded = decoder
            .decode(Some(&record.payload))
            .expect("a registered verdict");
        let Value::Record(fields) = decoded.value else {
            panic!("a record")
        };
        let action = &fields.iter().find(|(k, _)| k == "action").unwrap().1;
        assert_eq!(action, &Value::Enum(2, "redact".into()));
    }
}

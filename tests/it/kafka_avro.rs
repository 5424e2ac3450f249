//! Avro end to end through Apicurio Registry's Confluent-compatible API on Apache Kafka:
//! events written in the Confluent wire format with `schemas/event.avsc`, decoded by railyard
//! by schema id; verdicts written in Avro, registered as `<topic>-value`, decoded by a
//! consumer through the registry. An unknown schema id is a dead letter with the reason; a
//! registry outage mid-run (the process killed, then restarted on its storage) is retried and
//! loses nothing.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use apache_avro::types::Value;
use schema_registry_converter::blocking::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::blocking::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

use common::kafka::*;
use common::process::Instance;
use common::registry::Registry;

/// `schemas/event.avsc`, or its next version with an extra optional field.
fn event_schema(version: u32) -> String {
    let v1 = std::fs::read_to_string(common::repo().join("schemas/event.avsc")).unwrap();
    if version == 1 {
        return v1;
    }
    let mut schema: serde_json::Value = serde_json::from_str(&v1).unwrap();
    schema["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(
            {"name": "tenant", "type": ["null", "string"], "default": null}
        ));
    schema.to_string()
}

/// Encodes events `range` with schema `version` (registering it under `<topic>-value`).
fn encode_events(
    encoder: &AvroEncoder,
    topic: &str,
    version: u32,
    range: std::ops::Range<usize>,
) -> Vec<(String, Vec<u8>)> {
    let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
        topic.to_string(),
        false,
        SuppliedSchema::new(
            Some("dev.railyard.Event".into()),
            SchemaType::Avro,
            event_schema(version),
        ),
    );
    range
        .map(|i| {
            let mut fields = vec![
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
            ];
            if version > 1 {
                fields.push((
                    "tenant",
                    Value::Union(1, Box::new(Value::String("acme".into()))),
                ));
            }
            let bytes = encoder
                .encode(fields, &strategy)
                .expect("registered and encoded");
            (format!("k{i}"), bytes)
        })
        .collect()
}

/// The schema id of a Confluent wire-format record.
fn schema_id(bytes: &[u8]) -> u32 {
    assert_eq!(bytes[0], 0, "magic byte");
    u32::from_be_bytes(bytes[1..5].try_into().unwrap())
}

#[test]
fn avro_through_the_registry_with_unknown_ids_dead_lettered_and_an_outage_retried() {
    let broker = Broker::shared();
    let brokers = broker.bootstrap();
    let registry = Registry::start();
    let (input, verdicts, dead, group) = (
        unique("avro-in"),
        unique("avro-verdicts"),
        unique("avro-dead"),
        unique("avro-group"),
    );
    create_topics(&brokers, &[(&input, 2), (&verdicts, 2), (&dead, 1)]);

    let encoder = AvroEncoder::new(SrSettings::new(registry.url.clone()));
    let mut records = encode_events(&encoder, &input, 1, 0..20);
    let v1 = schema_id(&records[0].1);
    records.push(("junk".into(), b"not avro at all".to_vec()));
    // The wire format with a schema id the registry never issued.
    let mut unknown = vec![0u8];
    unknown.extend_from_slice(&987_654u32.to_be_bytes());
    unknown.extend_from_slice(&records[0].1[5..]);
    records.push(("unknown-id".into(), unknown));
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
commit_interval_ms = 100
[kafka.schema_registry]
url = "{registry}"
retry_ms = 120000
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
"#,
            registry = registry.url
        ),
    )
    .unwrap();
    let mut child = Instance(
        common::binary()
            .args(["run", topology.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let first = consume(&brokers, &verdicts, 20, Duration::from_secs(60));
    let dead_letters = consume(&brokers, &dead, 2, Duration::from_secs(30));
    assert_eq!(first.len(), 20, "one verdict per Avro event");
    let mut kinds: Vec<(String, String)> = dead_letters
        .iter()
        .map(|d| {
            (
                String::from_utf8_lossy(d.key.as_deref().unwrap()).into_owned(),
                d.headers["railyard.error.reason"].clone(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0].0, "junk");
    assert_eq!(kinds[1].0, "unknown-id");
    assert!(
        kinds[1].1.contains("404") || kinds[1].1.to_lowercase().contains("not found"),
        "the reason says the registry does not know the id: {}",
        kinds[1].1
    );
    for d in &dead_letters {
        assert_eq!(d.headers["railyard.error.kind"], "invalid_avro");
    }
    let subjects = registry.subjects();
    assert!(
        subjects.contains(&format!("{verdicts}-value")),
        "verdict schema registered as <topic>-value: {subjects:?}"
    );

    // A second version of the event schema, registered now, first used during an outage:
    // railyard has never seen its id and must ask the registry, which is down.
    // (A fresh encoder: one caches its schema id per subject.)
    let encoder = AvroEncoder::new(SrSettings::new(registry.url.clone()));
    let second = encode_events(&encoder, &input, 2, 20..40);
    let v2 = schema_id(&second[0].1);
    assert_ne!(v1, v2, "a new schema id");
    registry.kill();
    produce(&brokers, &input, 2, &second);
    std::thread::sleep(Duration::from_secs(5));
    let down_for = Instant::now();
    registry.restart();
    eprintln!(
        "registry outage: 5 s killed plus {:.1} s to restart",
        down_for.elapsed().as_secs_f64()
    );
    let all = consume(&brokers, &verdicts, 40, Duration::from_secs(90));
    let dead_after = consume(&brokers, &dead, 3, Duration::from_secs(3));
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(still_running, "railyard rode out the outage");
    assert_eq!(all.len(), 40, "no event lost to the outage");
    assert_eq!(dead_after.len(), 2, "and none dead-lettered for it");

    // A consumer decodes every verdict through the registry.
    let decoder = AvroDecoder::new(SrSettings::new(registry.url.clone()));
    let mut ids = Vec::new();
    for record in all {
        let decoded = decoder
            .decode(Some(&record.payload))
            .expect("a registered verdict");
        let Value::Record(fields) = decoded.value else {
            panic!("a record")
        };
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).unwrap().1.clone();
        assert_eq!(field("action"), Value::Enum(2, "redact".into()));
        if let Value::String(id) = field("event_id") {
            ids.push(id);
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "each event's verdict once");
}

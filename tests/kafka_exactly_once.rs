//! Exactly-once delivery (Kafka transactions) against librdkafka's in-process MockCluster:
//! tansu does not implement transactions (EndTxn), the mock cluster does.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message};

use railyard::config::Topology;
use railyard::topology::RunOptions;

fn read_committed(bootstrap: &str, topic: &str, want: usize) -> Vec<Vec<u8>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{topic}"))
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(m.payload().unwrap_or_default().to_vec());
        }
    }
    // Nothing beyond what was expected (no duplicate from an aborted attempt).
    let extra_deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < extra_deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(m.payload().unwrap_or_default().to_vec());
        }
    }
    out
}

#[test]
fn outputs_and_offsets_commit_together_in_transactions() {
    let mock = MockCluster::new(3).expect("mock cluster");
    mock.create_topic("in", 2, 1).unwrap();
    mock.create_topic("verdicts", 2, 1).unwrap();
    mock.create_topic("dead", 1, 1).unwrap();
    mock.create_topic("audit", 2, 1).unwrap();
    let bootstrap = mock.bootstrap_servers();

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    for i in 0..50 {
        let payload = serde_json::json!({"id": format!("e{i}"), "text": format!("mail me at a{i}@example.com")}).to_string();
        producer
            .send(
                BaseRecord::to("in")
                    .key(&format!("k{i}"))
                    .payload(&payload)
                    .partition(i % 2),
            )
            .unwrap();
    }
    producer
        .send(
            BaseRecord::to("in")
                .key("poison")
                .payload("{oops")
                .partition(0),
        )
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();

    let dir = common::workspace();
    let path = dir.path().join("eos.toml");
    std::fs::write(
        &path,
        format!(
            r#"
name = "eos"
[kafka]
brokers = "{bootstrap}"
delivery = "exactly_once"
[sources.events]
type = "kafka"
topics = ["in"]
group_id = "eos-group"
[operators.pii]
type = "pii_detect"
inputs = ["events"]
[operators.policy]
type = "decide"
inputs = ["pii"]
[sinks.verdicts]
type = "kafka"
inputs = ["policy"]
topic = "verdicts"
[sinks.audit]
type = "audit_log"
inputs = ["policy"]
topic = "audit"
[sinks.dead]
type = "kafka"
records = "dead_letters"
topic = "dead"
"#
        ),
    )
    .unwrap();
    let topology = Topology::from_file(&path).expect("valid topology");
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(railyard::telemetry::metrics::Metrics::new());
    let runner = {
        let (stop, metrics) = (stop.clone(), metrics.clone());
        std::thread::spawn(move || {
            railyard::kafka::run(&topology, &RunOptions::default(), stop, metrics)
        })
    };
    let verdicts = read_committed(&bootstrap, "verdicts", 50);
    let dead = read_committed(&bootstrap, "dead", 1);
    stop.store(true, Ordering::Release);
    let report = runner.join().unwrap().expect("the run ends cleanly");
    assert_eq!(report.events, 50);
    assert_eq!(report.dead_letters, 1);
    assert_eq!(verdicts.len(), 50, "each event's verdict exactly once");
    for v in &verdicts {
        let v: serde_json::Value = serde_json::from_slice(v).unwrap();
        assert_eq!(v["action"], "redact");
    }
    assert_eq!(
        dead,
        vec![b"{oops".to_vec()],
        "the poison message, as it was"
    );

    // Every batch ended in a committed transaction carrying its input positions. (The mock
    // cluster acknowledges TxnOffsetCommit without storing the offsets, so the group's
    // position cannot be read back here.)
    let transactions = metrics
        .commits
        .with_label_values(&["transaction", "ok"])
        .get();
    assert!(transactions >= 1, "transactions committed: {transactions}");
    assert_eq!(
        metrics
            .commits
            .with_label_values(&["transaction", "error"])
            .get(),
        0
    );

    // The audit log went in the same transactions, and its seals in one of their own: one
    // chain per input partition, each decision once, each chain sealed.
    let audit = read_committed(&bootstrap, "audit", 52);
    let mut verifier = railyard::audit::Verifier::new(Default::default());
    for (i, record) in audit.iter().enumerate() {
        verifier.feed(&format!("audit record {i}"), record);
    }
    let report = verifier.finish();
    assert!(!report.tampered(), "{:#?}", report.problems);
    assert_eq!((report.records, report.chains, report.sealed), (52, 2, 2));
}

//! Exactly-once delivery (Kafka transactions, `send_offsets_to_transaction`) on Apache Kafka:
//! outputs and input positions commit together; three SIGKILLs during 100,000 events leave
//! every input with exactly one verdict visible to read_committed (while read_uncommitted
//! sees the aborted attempts, so the same run under at-least-once would have duplicated);
//! a stale instance with the same `transactional.id` is fenced.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use common::http::{free_port, metric};
use common::kafka::*;
use common::process::*;
use common::topology::TopologyBuilder;

/// Topics and group of one test.
struct Names {
    input: String,
    verdicts: String,
    audit: String,
    dead: String,
    group: String,
}

impl Names {
    fn create(bootstrap: &str, partitions: i32) -> Names {
        let names = Names {
            input: unique("eos-in"),
            verdicts: unique("eos-verdicts"),
            audit: unique("eos-audit"),
            dead: unique("eos-dead"),
            group: unique("eos-group"),
        };
        create_topics(
            bootstrap,
            &[
                (&names.input, partitions),
                (&names.verdicts, partitions),
                (&names.audit, partitions),
                (&names.dead, 1),
            ],
        );
        names
    }
}

fn write_topology(
    dir: &Path,
    bootstrap: &str,
    names: &Names,
    port: u16,
    transactional_id: &str,
) -> PathBuf {
    TopologyBuilder::new("eos")
        .settings("batch_size = 500")
        .telemetry(port)
        .kafka(
            bootstrap,
            &format!(
                "delivery = \"exactly_once\"\ntransactional_id = \"{transactional_id}\"\nstatistics_interval_ms = 0"
            ),
        )
        .kafka_source("events", &names.input, &names.group)
        .operator("pii", "pii_detect", &["events"], "")
        .operator("policy", "decide", &["pii"], "")
        .kafka_sink("verdicts", &["policy"], "verdicts", &names.verdicts, "")
        .sink(
            "audit",
            &["policy"],
            &format!("type = \"audit_log\"\ntopic = \"{}\"", names.audit),
        )
        .kafka_sink("dead", &[], "dead_letters", &names.dead, "")
        .write(dir.join(format!("eos-{port}.toml")))
}

fn event(i: usize) -> Vec<u8> {
    let text = match i % 2 {
        0 => format!("mail me at a{i}@example.com"),
        _ => format!("what is the weather in town {i}?"),
    };
    serde_json::json!({"id": format!("e{i}"), "text": text})
        .to_string()
        .into_bytes()
}

fn produce_events(bootstrap: &str, topic: &str, partitions: i32, count: usize) {
    produce_events_from(bootstrap, topic, partitions, 0..count);
}

fn produce_events_from(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    range: std::ops::Range<usize>,
) {
    let records: Vec<(String, Vec<u8>)> = range.map(|i| (format!("k{i}"), event(i))).collect();
    produce(bootstrap, topic, partitions, &records);
}

/// How many verdicts each input position has.
fn verdicts_per_input(records: &[Received]) -> BTreeMap<(i32, i64), usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        let position = (
            r.headers["railyard.source.partition"].parse().unwrap(),
            r.headers["railyard.source.offset"].parse().unwrap(),
        );
        *counts.entry(position).or_insert(0) += 1;
    }
    counts
}

/// A client that reads watermarks at `isolation` (read_committed: the last stable offset).
fn watermark_reader(bootstrap: &str, isolation: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("watermarks"))
        .set("isolation.level", isolation)
        .create()
        .unwrap()
}

/// The group's committed position per partition of `topic`.
fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let positions = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(
            |p| match positions.find_partition(topic, p).unwrap().offset() {
                Offset::Offset(o) => o,
                _ => -1,
            },
        )
        .collect()
}

fn events_in(port: u16) -> f64 {
    metric(port, "railyard_events_in_total{source=\"events\"}")
}

#[test]
fn outputs_audit_and_offsets_commit_together_in_transactions() {
    let broker = Broker::shared();
    let bootstrap = broker.bootstrap();
    let names = Names::create(&bootstrap, 2);
    let mut records: Vec<(String, Vec<u8>)> =
        (0..50).map(|i| (format!("k{i}"), event(i))).collect();
    records.push(("poison".into(), b"{oops".to_vec()));
    produce(&bootstrap, &names.input, 2, &records);

    let dir = common::workspace();
    let port = free_port();
    let path = write_topology(dir.path(), &bootstrap, &names, port, &unique("tx"));
    let mut child = start(&path);
    let verdicts = consume_at(
        &bootstrap,
        &names.verdicts,
        "read_committed",
        50,
        Duration::from_secs(60),
        Duration::from_secs(2),
    );
    let dead = consume_at(
        &bootstrap,
        &names.dead,
        "read_committed",
        1,
        Duration::from_secs(30),
        Duration::from_millis(500),
    );
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());

    assert_eq!(verdicts.len(), 50, "each event's verdict exactly once");
    for v in &verdicts {
        let json = v.json();
        let n: usize = json["event_id"].as_str().unwrap()[1..].parse().unwrap();
        let want = if n.is_multiple_of(2) {
            "redact"
        } else {
            "allow"
        };
        assert_eq!(json["action"], want);
    }
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, b"{oops", "the poison message, as it was");

    // The input positions went in the transactions: the group's committed positions are the
    // end of each input partition (26 and 25 records, the poison one included).
    assert_eq!(
        committed(&bootstrap, &names.group, &names.input, 2),
        vec![26, 25]
    );

    // The audit log went in the same transactions, and its seals in one of their own: one
    // chain per input partition, each decision once, each chain sealed.
    let audit = consume_at(
        &bootstrap,
        &names.audit,
        "read_committed",
        52,
        Duration::from_secs(30),
        Duration::from_secs(1),
    );
    let mut verifier = railyard::audit::Verifier::new(Default::default());
    for (i, record) in audit.iter().enumerate() {
        verifier.feed(&format!("audit record {i}"), &record.payload);
    }
    let report = verifier.finish();
    assert!(!report.tampered(), "{:#?}", report.problems);
    assert_eq!((report.records, report.chains, report.sealed), (52, 2, 2));
}

#[test]
fn three_sigkills_during_100k_events_leave_exactly_one_verdict_per_event() {
    const EVENTS: usize = 100_000;
    const PARTITIONS: i32 = 4;
    let broker = Broker::shared();
    let bootstrap = broker.bootstrap();
    let names = Names::create(&bootstrap, PARTITIONS);
    produce_events(&bootstrap, &names.input, PARTITIONS, EVENTS);

    let dir = common::workspace();
    let port = free_port();
    // The same transactional.id on every restart, as a restarted member has.
    let path = write_topology(dir.path(), &bootstrap, &names, port, &unique("tx"));
    let mut child = start(&path);
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut kills = 0;
    let mut kills_in_open_transactions = 0;
    let mut read_by_killed = 0.0;
    let committed_reader = watermark_reader(&bootstrap, "read_committed");
    let uncommitted_reader = watermark_reader(&bootstrap, "read_uncommitted");
    // SIGKILL (no drain, no commit) once each process has read 15,000 events, at a moment a
    // transaction holds written verdicts (high watermark above the last stable offset) when
    // one is seen within 5 s, then restart.
    let mut due: Option<Instant> = None;
    while kills < 3 {
        assert!(Instant::now() < deadline, "kill loop timed out");
        let read = events_in(port);
        if read < 15_000.0 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let due_at = *due.get_or_insert_with(|| Instant::now() + Duration::from_secs(5));
        let open = (0..PARTITIONS).any(|p| {
            let high = |reader: &BaseConsumer| {
                reader
                    .fetch_watermarks(&names.verdicts, p, Duration::from_secs(5))
                    .map(|(_, high)| high)
                    .unwrap_or(0)
            };
            high(&uncommitted_reader) > high(&committed_reader)
        });
        if open || Instant::now() >= due_at {
            kills_in_open_transactions += usize::from(open);
            due = None;
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            read_by_killed += read;
            child = start(&path);
        }
    }
    let committed_view = consume_at(
        &bootstrap,
        &names.verdicts,
        "read_committed",
        EVENTS,
        Duration::from_secs(240),
        Duration::from_secs(3),
    );
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
    let uncommitted_view = consume_at(
        &bootstrap,
        &names.verdicts,
        "read_uncommitted",
        EVENTS,
        Duration::from_secs(120),
        Duration::from_secs(3),
    );

    let counts = verdicts_per_input(&committed_view);
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    let aborted = uncommitted_view.len() - committed_view.len();
    eprintln!(
        "exactly-once kill test: {kills} SIGKILLs ({kills_in_open_transactions} with a transaction seen open), {EVENTS} events ({read_by_killed} read by killed instances); read_committed: {} verdicts for {} inputs, {} lost, {duplicates} duplicates; read_uncommitted: {} records ({aborted} from aborted transactions)",
        committed_view.len(),
        counts.len(),
        EVENTS - counts.len(),
        uncommitted_view.len(),
    );
    assert_eq!(counts.len(), EVENTS, "no event lost across {kills} kills");
    assert_eq!(duplicates, 0, "no event has two committed verdicts");
    assert!(
        aborted > 0,
        "the kills interrupted open transactions (without transactions these would be duplicates)"
    );
    let ends: Vec<i64> = committed(&bootstrap, &names.group, &names.input, PARTITIONS);
    assert_eq!(
        ends.iter().sum::<i64>(),
        EVENTS as i64,
        "positions: {ends:?}"
    );
}

#[test]
fn a_stale_instance_with_the_same_transactional_id_is_fenced() {
    const EVENTS: usize = 2_000;
    let broker = Broker::shared();
    let bootstrap = broker.bootstrap();
    let names = Names::create(&bootstrap, 2);
    let dir = common::workspace();
    let id = unique("tx");
    let (port_a, port_b) = (free_port(), free_port());
    let path_a = write_topology(dir.path(), &bootstrap, &names, port_a, &id);
    let path_b = write_topology(dir.path(), &bootstrap, &names, port_b, &id);

    // A takes the partitions and is frozen (SIGSTOP) while it holds them: a zombie.
    let mut stale = common::binary();
    stale
        .args(["run", path_a.to_str().unwrap()])
        .env("RUST_LOG", "railyard=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut a = Instance(stale.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(port_a, "railyard_rebalances_total{kind=\"assign\"}") < 1.0 {
        assert!(Instant::now() < deadline, "A never got its partitions");
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&a, "STOP");

    // B starts with the same transactional.id: its producer fences A's. B gets the partitions
    // once A's session times out, and does all the work.
    let mut b = start(&path_b);
    produce_events(&bootstrap, &names.input, 2, EVENTS);
    let verdicts = consume_at(
        &bootstrap,
        &names.verdicts,
        "read_committed",
        EVENTS,
        Duration::from_secs(120),
        Duration::from_secs(2),
    );
    // A wakes up still believing it holds partitions; it rejoins the group, and its next
    // transaction is refused. Its stderr is read as it goes (a full pipe would block it), and
    // the second half of the events is produced in batches while A lives, so that A has work
    // when it gets partitions again, however late that is on a loaded machine (B may have
    // drained a single burst before A rejoined, and an idle A never starts a transaction).
    let mut pipe = a.stderr.take().expect("stderr piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
        text
    });
    signal(&a, "CONT");
    const BATCH: usize = 100;
    let mut produced = EVENTS;
    let mut round = 0usize;
    let deadline = Instant::now() + Duration::from_secs(150);
    let status = loop {
        if let Some(status) = a.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = a.kill();
            panic!("the stale instance did not exit within 150 s of waking");
        }
        // The second half at once (a batch per round), then a batch every 5 s, at most 4x.
        let trickle = produced >= 2 * EVENTS && round.is_multiple_of(25);
        if produced < 2 * EVENTS || (trickle && produced < 4 * EVENTS) {
            produce_events_from(&bootstrap, &names.input, 2, produced..produced + BATCH);
            produced += BATCH;
        }
        round += 1;
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = reader.join().unwrap();
    let all = consume_at(
        &bootstrap,
        &names.verdicts,
        "read_committed",
        produced,
        Duration::from_secs(120),
        Duration::from_secs(3),
    );
    sigterm(&b);
    assert!(wait_exit(&mut b, Duration::from_secs(30)).success());

    let counts = verdicts_per_input(&all);
    eprintln!(
        "fencing: stale instance exited {status:?}; {} verdicts before it woke, {} in all, for {} inputs",
        verdicts.len(),
        all.len(),
        counts.len()
    );
    assert_eq!(verdicts.len(), EVENTS, "B did the first half alone");
    assert!(!status.success(), "the fenced instance stops with an error");
    assert!(
        stderr.to_lowercase().contains("fenced"),
        "the error says the producer was fenced: {stderr}"
    );
    assert_eq!(counts.len(), produced, "every event has a verdict");
    assert!(counts.values().all(|&c| c == 1), "and only one");
}

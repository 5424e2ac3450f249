//! Fault tests against Apache Kafka, each counting lost events (must be 0): the broker
//! process killed mid-stream and restarted on its on-disk log, the leader of a partition
//! killed in a 3-broker cluster (replication 3, `min.insync.replicas=2`, `acks=all`), a model
//! operator past its deadline
//! (`timeout_ms` with each `on_error`), a slow sink (backpressure: peak RSS), SIGTERM under
//! load (drain, commit, exit 0 in time, resume without loss); plus the audit topic and the
//! compacted vault topic read back by `railyard audit verify` and `railyard reveal`.

use crate::common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::http::{free_port, metric};
use common::kafka::*;
use common::process::*;
use common::topology::TopologyBuilder;
use common::*;

/// Topics and group of one test.
struct Names {
    input: String,
    verdicts: String,
    dead: String,
    group: String,
}

impl Names {
    fn create(bootstrap: &str, partitions: i32) -> Names {
        let names = Names {
            input: unique("in"),
            verdicts: unique("verdicts"),
            dead: unique("dead"),
            group: unique("group"),
        };
        create_topics(
            bootstrap,
            &[
                (&names.input, partitions),
                (&names.verdicts, partitions),
                (&names.dead, 1),
            ],
        );
        names
    }
}

/// Most events in flight in the fault topologies (the unit of the duplicate bound).
const MAX_IN_FLIGHT: usize = 2000;

/// A Kafka topology: `operators` (TOML) feed `policy`; verdicts go to `verdict_sink` (TOML
/// body of `[sinks.verdicts]`), dead letters to their topic.
fn topology(
    dir: &Path,
    bootstrap: &str,
    names: &Names,
    port: u16,
    operators: &str,
    verdict_sink: &str,
    extra_sinks: &str,
) -> PathBuf {
    TopologyBuilder::new("faults")
        .settings("batch_size = 256")
        .telemetry(port)
        .kafka(
            bootstrap,
            &format!(
                "commit_interval_ms = 100\ndrain_timeout_ms = 10000\nmax_in_flight = {MAX_IN_FLIGHT}"
            ),
        )
        .kafka_properties(r#""reconnect.backoff.max.ms" = 1000"#)
        .kafka_source("events", &names.input, &names.group)
        .merge(operators)
        .sink("verdicts", &["policy"], verdict_sink)
        .kafka_sink("dead", &[], "dead_letters", &names.dead, "")
        .merge(extra_sinks)
        .write(dir.join(format!("faults-{port}.toml")))
}

const RULE_OPERATORS: &str = r#"
[operators.pii]
type = "pii_detect"
inputs = ["events"]
[operators.pii.redaction]
default = "placeholder"
[operators.policy]
type = "decide"
inputs = ["pii"]
"#;

fn kafka_verdicts(names: &Names) -> String {
    format!("type = \"kafka\"\ntopic = \"{}\"", names.verdicts)
}

fn event(i: usize) -> Vec<u8> {
    let text = match i % 3 {
        0 => format!("Please email me at user{i}@example.com about order {i}"),
        1 => format!("What is the capital of country number {i}?"),
        _ => format!("Call me on +44 20 7946 {:04}", i % 10_000),
    };
    serde_json::to_vec(&serde_json::json!({
        "id": format!("e{i}"),
        "conversation_id": format!("c{}", i / 4),
        "text": text
    }))
    .unwrap()
}

fn produce_events(bootstrap: &str, topic: &str, partitions: i32, range: std::ops::Range<usize>) {
    let records: Vec<(String, Vec<u8>)> = range.map(|i| (format!("k{i}"), event(i))).collect();
    produce(bootstrap, topic, partitions, &records);
}

const EVENTS_IN: &str = "railyard_events_in_total{source=\"events\"}";

/// Input positions covered by verdict records (from their provenance headers).
fn covered(records: &[Received]) -> BTreeSet<(i32, i64)> {
    records
        .iter()
        .map(|r| {
            (
                r.headers["railyard.source.partition"].parse().unwrap(),
                r.headers["railyard.source.offset"].parse().unwrap(),
            )
        })
        .collect()
}

/// Reads `topic` until `count` distinct input positions are covered or `within` passes.
fn await_coverage(
    bootstrap: &str,
    topic: &str,
    count: usize,
    within: Duration,
) -> (BTreeSet<(i32, i64)>, usize) {
    let deadline = Instant::now() + within;
    loop {
        let records = consume(bootstrap, topic, usize::MAX, Duration::from_secs(8));
        let positions = covered(&records);
        if positions.len() >= count || Instant::now() > deadline {
            return (positions, records.len());
        }
    }
}

/// What a fault run measured.
struct FaultRun {
    covered: usize,
    records: usize,
    /// From the fault until reading resumed, and until the first commit after it.
    acked_after: Duration,
    committed_after: Duration,
    /// Partition revocations (each may hand the in-flight window to a re-read).
    revocations: usize,
    /// Events read from the fault until the first offset commit after it.
    read_before_commit: usize,
}

impl FaultRun {
    /// Every event read again was read but not committed: the in-flight window once per loss
    /// of the partitions (and once for the fault itself), plus what was read between the fault
    /// and the first commit after it (acknowledged meanwhile, but not yet committed).
    fn duplicate_bound(&self) -> usize {
        (self.revocations + 1) * MAX_IN_FLIGHT + self.read_before_commit
    }
}

/// Runs the rule operators over `EVENTS` events through `bootstrap`, calls `fault` once a
/// quarter of them are read (it returns once the broker side is back), then waits until every
/// input has a verdict.
fn run_through_fault(
    bootstrap: &str,
    names: &Names,
    events: usize,
    fault: impl FnOnce(),
) -> FaultRun {
    produce_events(bootstrap, &names.input, 4, 0..events);
    let dir = workspace();
    let port = free_port();
    let path = topology(
        dir.path(),
        bootstrap,
        names,
        port,
        RULE_OPERATORS,
        &kafka_verdicts(names),
        "",
    );
    let mut child = start(&path);
    wait_for("a quarter of the events", Duration::from_secs(120), || {
        metric(port, EVENTS_IN) >= (events / 4) as f64
    });
    let commits = || {
        metric(
            port,
            "railyard_offset_commits_total{mode=\"async\",outcome=\"ok\"}",
        )
    };
    let fault_at = Instant::now();
    let commits_before = commits();
    let read_at_fault = metric(port, EVENTS_IN);
    fault();
    // Reading goes on only while fewer than max_in_flight events wait for acknowledgement.
    let read_at_return = metric(port, EVENTS_IN);
    wait_for("reading resumed", Duration::from_secs(90), || {
        metric(port, EVENTS_IN) > read_at_return || read_at_return >= events as f64
    });
    let acked_after = fault_at.elapsed();
    wait_for("a commit after the fault", Duration::from_secs(90), || {
        commits() > commits_before
    });
    let committed_after = fault_at.elapsed();
    let read_before_commit = (metric(port, EVENTS_IN) - read_at_fault) as usize;
    let (positions, records) =
        await_coverage(bootstrap, &names.verdicts, events, Duration::from_secs(180));
    let status = child.try_wait().unwrap();
    assert!(
        status.is_none(),
        "railyard kept running through the fault: {status:?}"
    );
    let revocations = metric(port, "railyard_rebalances_total{kind=\"revoke\"}") as usize;
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
    FaultRun {
        covered: positions.len(),
        records,
        acked_after,
        committed_after,
        revocations,
        read_before_commit,
    }
}

#[test]
fn the_broker_killed_and_restarted_on_its_log_mid_stream_loses_nothing() {
    const EVENTS: usize = 30_000;
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let names = Names::create(&bootstrap, 4);
    let outage = Duration::from_secs(3);
    let run = run_through_fault(&bootstrap, &names, EVENTS, || {
        broker.stop_node(1, true);
        std::thread::sleep(outage);
        broker.start_node(1);
    });
    let duplicates = run.records - run.covered;
    eprintln!(
        "broker restart: {EVENTS} events, SIGKILL after {} events, {}s down then restarted on its log; reading resumed {:.2}s and first commit {:.2}s after the kill; {} covered, {} lost, {duplicates} duplicate verdicts ({} revocations, {} read before the first commit; bound {} = (revocations + 1) x max_in_flight {MAX_IN_FLIGHT} + those)",
        EVENTS / 4,
        outage.as_secs(),
        run.acked_after.as_secs_f64(),
        run.committed_after.as_secs_f64(),
        run.covered,
        EVENTS - run.covered.min(EVENTS),
        run.revocations,
        run.read_before_commit,
        run.duplicate_bound(),
    );
    assert_eq!(run.covered, EVENTS, "no event lost across the restart");
    assert!(
        duplicates <= run.duplicate_bound(),
        "duplicates within the in-flight bound: {duplicates}"
    );
}

#[test]
fn killing_a_partition_leader_of_a_three_broker_cluster_loses_nothing() {
    const EVENTS: usize = 30_000;
    let cluster = Broker::cluster(3);
    let bootstrap = cluster.bootstrap();
    let names = Names {
        input: unique("in"),
        verdicts: unique("verdicts"),
        dead: unique("dead"),
        group: unique("group"),
    };
    create_replicated_topics(
        &bootstrap,
        &[(&names.input, 4), (&names.verdicts, 4), (&names.dead, 1)],
        3,
        &[("min.insync.replicas", "2")],
    );
    let mut killed = 0;
    let run = run_through_fault(&bootstrap, &names, EVENTS, || {
        killed = partition_leader(&bootstrap, &names.verdicts, 0);
        cluster.stop_node(killed, true);
    });
    let duplicates = run.records - run.covered;
    let new_leader = partition_leader(&bootstrap, &names.verdicts, 0);
    eprintln!(
        "leader kill: {EVENTS} events, node {killed} (leader of {}/0) SIGKILLed after {} events, node {new_leader} leads now; reading resumed {:.2}s and first commit {:.2}s after the kill; {} covered, {} lost, {duplicates} duplicate verdicts ({} revocations, {} read before the first commit; bound {} = (revocations + 1) x max_in_flight {MAX_IN_FLIGHT} + those)",
        names.verdicts,
        EVENTS / 4,
        run.acked_after.as_secs_f64(),
        run.committed_after.as_secs_f64(),
        run.covered,
        EVENTS - run.covered.min(EVENTS),
        run.revocations,
        run.read_before_commit,
        run.duplicate_bound(),
    );
    assert_ne!(new_leader, killed, "leadership moved");
    assert_eq!(run.covered, EVENTS, "no event lost with the leader gone");
    assert!(
        duplicates <= run.duplicate_bound(),
        "duplicates within the in-flight bound: {duplicates}"
    );
}

const MODEL_OPERATORS: &str = r#"
[operators.pii]
type = "pii_detect"
inputs = ["events"]
[operators.toxicity]
type = "toxicity_classify"
inputs = ["events"]
timeout_ms = 1
on_error = "ON_ERROR"
[operators.policy]
type = "decide"
inputs = ["pii", "toxicity"]
"#;

#[test]
fn a_model_operator_past_its_deadline_fails_events_under_its_on_error_policy() {
    const EVENTS: usize = 300;
    let broker = Broker::shared();
    let dir = workspace();
    for on_error in ["fail_open", "dead_letter"] {
        let names = Names::create(&broker.bootstrap(), 2);
        produce_events(&broker.bootstrap(), &names.input, 2, 0..EVENTS);
        let port = free_port();
        let operators = MODEL_OPERATORS.replace("ON_ERROR", on_error);
        let path = topology(
            dir.path(),
            &broker.bootstrap(),
            &names,
            port,
            &operators,
            &kafka_verdicts(&names),
            "",
        );
        let mut child = start_in(&path, Some(dir.path()));
        let (verdicts, dead) = if on_error == "fail_open" {
            (
                consume(
                    &broker.bootstrap(),
                    &names.verdicts,
                    EVENTS,
                    Duration::from_secs(120),
                ),
                Vec::new(),
            )
        } else {
            (
                Vec::new(),
                consume(
                    &broker.bootstrap(),
                    &names.dead,
                    EVENTS,
                    Duration::from_secs(120),
                ),
            )
        };
        sigterm(&child);
        assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
        if on_error == "fail_open" {
            assert_eq!(
                covered(&verdicts).len(),
                EVENTS,
                "every event has a verdict"
            );
            for v in &verdicts {
                let json = v.json();
                let failure = json["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["label"] == "operator_error")
                    .expect("the timeout is recorded as a finding");
                let reason = failure["reason"].as_str().unwrap();
                assert!(
                    reason.contains("timed out after 1 ms")
                        || reason.contains("past its 1 ms deadline"),
                    "{reason}"
                );
                assert!(json["action"] != "allow", "fail_open flags at least");
            }
        } else {
            let positions: BTreeSet<(i32, i64)> = covered(&dead);
            assert_eq!(
                positions.len(),
                EVENTS,
                "every event is dead-lettered, none lost"
            );
            for d in &dead {
                assert_eq!(d.headers["railyard.error.kind"], "operator_failed");
                assert!(d.headers["railyard.error.reason"].contains("toxicity"));
            }
        }
        eprintln!("model timeout, on_error = {on_error}: {EVENTS} events, {} verdicts, {} dead letters, 0 lost", verdicts.len(), dead.len());
    }
}

#[test]
fn a_slow_sink_holds_memory_bounded_and_loses_nothing() {
    const EVENTS: usize = 20_000;
    let broker = Broker::shared();
    let dir = workspace();
    let mut peaks = Vec::new();
    for slow in [false, true] {
        let names = Names::create(&broker.bootstrap(), 4);
        produce_events(&broker.bootstrap(), &names.input, 4, 0..EVENTS);
        let out = dir.path().join(format!("verdicts-{slow}.jsonl"));
        if slow {
            assert!(std::process::Command::new("mkfifo")
                .arg(&out)
                .status()
                .unwrap()
                .success());
        }
        let port = free_port();
        let sink = format!("type = \"file\"\npath = \"{}\"", out.display());
        let path = topology(
            dir.path(),
            &broker.bootstrap(),
            &names,
            port,
            RULE_OPERATORS,
            &sink,
            "",
        );
        let started = Instant::now();
        let mut child = start(&path);
        let pid = child.id();
        // The slow reader: 4 KiB every 10 ms (about 400 KB/s, some 1,000 verdicts/s).
        let reader = slow.then(|| {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut fifo = std::fs::File::open(&out).unwrap();
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match fifo.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                data
            })
        });
        let mut peak_rss = 0;
        wait_for("every event read", Duration::from_secs(240), || {
            peak_rss = peak_rss.max(memory_kib(pid, "VmRSS").unwrap_or(0));
            metric(port, EVENTS_IN) >= EVENTS as f64
                && metric(port, "railyard_in_flight_events") == 0.0
        });
        let high_water = memory_kib(pid, "VmHWM").unwrap_or(peak_rss).max(peak_rss);
        let elapsed = started.elapsed();
        sigterm(&child);
        assert!(wait_exit(&mut child, Duration::from_secs(40)).success());
        let data = match reader {
            Some(reader) => reader.join().unwrap(),
            None => std::fs::read(&out).unwrap(),
        };
        let ids: BTreeSet<String> = data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice::<serde_json::Value>(l).unwrap()["event_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        eprintln!(
            "{} sink: {EVENTS} events in {:.1}s, peak RSS {:.1} MiB, {} verdicts, {} lost",
            if slow { "slow" } else { "fast" },
            elapsed.as_secs_f64(),
            high_water as f64 / 1024.0,
            ids.len(),
            EVENTS - ids.len()
        );
        assert_eq!(ids.len(), EVENTS, "no verdict lost");
        peaks.push(high_water);
    }
    // Backpressure: the slow sink blocks the consumer loop; memory stays near the fast run's.
    assert!(
        peaks[1] < peaks[0] + 128 * 1024,
        "slow-sink peak RSS {} KiB vs fast {} KiB",
        peaks[1],
        peaks[0]
    );
}

#[test]
fn sigterm_under_load_drains_commits_exits_zero_and_resumes_without_loss() {
    const EVENTS: usize = 40_000;
    let broker = Broker::shared();
    let names = Names::create(&broker.bootstrap(), 4);
    produce_events(&broker.bootstrap(), &names.input, 4, 0..EVENTS);
    let dir = workspace();
    let port = free_port();
    let path = topology(
        dir.path(),
        &broker.bootstrap(),
        &names,
        port,
        RULE_OPERATORS,
        &kafka_verdicts(&names),
        "",
    );
    let mut child = start(&path);
    wait_for("load", Duration::from_secs(120), || {
        metric(port, EVENTS_IN) >= (EVENTS / 3) as f64
    });
    let signalled = Instant::now();
    sigterm(&child);
    // The deadline: drain_timeout_ms (10 s) plus 15 s to commit and close.
    let status = wait_exit(&mut child, Duration::from_secs(25));
    let exit_after = signalled.elapsed();
    assert!(status.success(), "exit code {status:?}");
    let before = consume(
        &broker.bootstrap(),
        &names.verdicts,
        usize::MAX,
        Duration::from_secs(8),
    );
    let mut second = start(&path);
    let (positions, records) = await_coverage(
        &broker.bootstrap(),
        &names.verdicts,
        EVENTS,
        Duration::from_secs(180),
    );
    sigterm(&second);
    assert!(wait_exit(&mut second, Duration::from_secs(25)).success());
    eprintln!(
        "sigterm under load: exit 0 after {:.2}s with {} verdicts written; after restart {} of {EVENTS} covered, {} lost, {} duplicate verdicts",
        exit_after.as_secs_f64(),
        before.len(),
        positions.len(),
        EVENTS - positions.len().min(EVENTS),
        records - positions.len()
    );
    assert_eq!(positions.len(), EVENTS, "no event lost across the stop");
    assert_eq!(
        records,
        positions.len(),
        "a drained stop commits everything written: no repeats"
    );
}

#[test]
fn audit_and_vault_topics_verify_and_reveal_from_the_broker() {
    const EVENTS: usize = 400;
    let broker = Broker::shared();
    let names = Names::create(&broker.bootstrap(), 3);
    let audit_topic = unique("audit");
    let vault_topic = unique("vault");
    create_topics(&broker.bootstrap(), &[(&audit_topic, 3)]);
    create_compacted_topic(&broker.bootstrap(), &vault_topic);
    produce_events(&broker.bootstrap(), &names.input, 3, 0..EVENTS);
    let dir = workspace();
    let port = free_port();
    let extra = format!(
        "[sinks.audit]\ntype = \"audit_log\"\ninputs = [\"policy\"]\ntopic = \"{audit_topic}\"\npath = \"{}\"\nrequire_key = true\n[sinks.vault]\ntype = \"vault\"\ninputs = [\"policy\"]\ntopic = \"{vault_topic}\"\n",
        dir.path().join("audit.jsonl").display()
    );
    let path = topology(
        dir.path(),
        &broker.bootstrap(),
        &names,
        port,
        RULE_OPERATORS,
        &kafka_verdicts(&names),
        &extra,
    );
    let audit_key = "kafka-audit-key-0123456789";
    let vault_key = "11".repeat(32);
    let mut child = Instance(
        binary()
            .args(["run", path.to_str().unwrap()])
            .env("RAILYARD_AUDIT_KEY", audit_key)
            .env("RAILYARD_VAULT_KEY", &vault_key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let verdicts = consume(
        &broker.bootstrap(),
        &names.verdicts,
        EVENTS,
        Duration::from_secs(60),
    );
    if covered(&verdicts).len() != EVENTS {
        panic!(
            "{} verdicts; railyard said: {}",
            verdicts.len(),
            child.kill_and_read_stderr()
        );
    }
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());

    let verify = |args: &[&str]| {
        binary()
            .args(["audit", "verify"])
            .args(args)
            .env("RAILYARD_AUDIT_KEY", audit_key)
            .output()
            .unwrap()
    };
    let from_topic = verify(&[
        "--topic",
        &audit_topic,
        "--brokers",
        &broker.bootstrap(),
        "--idle-ms",
        "2000",
    ]);
    let stdout = String::from_utf8_lossy(&from_topic.stdout);
    assert_eq!(from_topic.status.code(), Some(0), "{stdout}");
    // One chain per input partition, each sealed at shutdown.
    assert!(
        stdout.contains(&format!(
            "intact: {} records, 3 chains (3 sealed)",
            EVENTS + 3
        )),
        "{stdout}"
    );
    let from_file = verify(&[dir.path().join("audit.jsonl").to_str().unwrap()]);
    assert_eq!(
        from_file.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&from_file.stdout)
    );

    // A record appended by someone without the key is found on the topic.
    let forged = br#"{"type":"decision","chain":"x/y/0","seq":0,"prev":"0","hash":"00"}"#.to_vec();
    produce(
        &broker.bootstrap(),
        &audit_topic,
        1,
        &[("x".to_string(), forged)],
    );
    let tampered = verify(&[
        "--topic",
        &audit_topic,
        "--brokers",
        &broker.bootstrap(),
        "--idle-ms",
        "2000",
    ]);
    assert_eq!(tampered.status.code(), Some(1));

    let reveal = binary()
        .args([
            "reveal",
            "--topic",
            &vault_topic,
            "--brokers",
            &broker.bootstrap(),
            "--conversation",
            "c0",
            "--list",
            "--idle-ms",
            "2000",
        ])
        .env("RAILYARD_VAULT_KEY", &vault_key)
        .output()
        .unwrap();
    assert!(
        reveal.status.success(),
        "{}",
        String::from_utf8_lossy(&reveal.stderr)
    );
    let mapping: serde_json::Value = serde_json::from_slice(&reveal.stdout).unwrap();
    assert_eq!(
        mapping["<EMAIL_ADDRESS_1>"], "user0@example.com",
        "{mapping}"
    );
    assert_eq!(mapping["<PHONE_NUMBER_1>"], "+44 20 7946 0002", "{mapping}");
}

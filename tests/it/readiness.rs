//! `/readyz` over real HTTP in each state: not ready while models load (with `/healthz`
//! already answering), ready once they are; on Kafka, not ready while the member holds no
//! partitions, ready once it is assigned some.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::http::{free_port, get, metric};
use common::kafka::*;
use common::process::*;
use common::topology::TopologyBuilder;
use common::*;

fn readyz(port: u16) -> Option<(u16, String)> {
    get(&format!("http://127.0.0.1:{port}/readyz"))
}

#[test]
fn not_ready_while_models_load_then_ready() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let topology = TopologyBuilder::new("readiness")
        .telemetry(port)
        .merge("[sources.events]\ntype = \"stdin\"")
        .operator("names", "ner_detect", &["events"], "")
        .sink("out", &["names"], "type = \"stdout\"")
        .sink("dead", &[], "type = \"stdout\"\nrecords = \"dead_letters\"")
        .write(dir.path().join("t.toml"));
    // stdin stays open: the run keeps going until the test closes it.
    let mut child = Instance(
        binary()
            .args(["run", topology.to_str().unwrap()])
            .current_dir(repo())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "never ready: {seen:?}");
        if let Some((status, body)) = readyz(port) {
            let healthz = get(&format!("http://127.0.0.1:{port}/healthz"));
            assert_eq!(healthz.map(|h| h.0), Some(200), "alive in every state");
            if seen.last() != Some(&(status, body.clone())) {
                seen.push((status, body));
            }
            if status == 200 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        seen.first().map(|(s, b)| (*s, b.as_str())),
        Some((503, "not ready: loading models\n")),
        "the endpoints answer before the models are loaded: {seen:?}"
    );
    assert_eq!(seen.last().unwrap().1, "ready\n");
    drop(child.stdin.take());
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
}

#[test]
fn a_kafka_member_without_partitions_is_not_ready_until_it_gets_one() {
    let broker = Broker::shared();
    let (input, verdicts, dead) = (unique("in"), unique("verdicts"), unique("dead"));
    let group = unique("group");
    create_topics(
        &broker.bootstrap(),
        &[(&input, 1), (&verdicts, 1), (&dead, 1)],
    );
    let dir = tempfile::tempdir().unwrap();
    let write = |port: u16| {
        TopologyBuilder::new("readiness-kafka")
            .telemetry(port)
            .kafka(&broker.bootstrap(), "commit_interval_ms = 100")
            .kafka_source("events", &input, &group)
            .operator("pii", "pii_detect", &["events"], "")
            .kafka_sink("verdicts", &["pii"], "verdicts", &verdicts, "")
            .kafka_sink("dead", &[], "dead_letters", &dead, "")
            .write(dir.path().join(format!("t-{port}.toml")))
    };
    let (port_a, port_b) = (free_port(), free_port());
    let a = start(&write(port_a));
    wait_until("the first member is ready", Duration::from_secs(60), || {
        readyz(port_a).filter(|(s, _)| *s == 200)
    });

    // One partition, two members: the rebalance gives it to one of them (the
    // assignor orders members by their random ids), the other holds none and
    // says so.
    let b = start(&write(port_b));
    wait_for("the second member joins", Duration::from_secs(60), || {
        metric(port_b, "railyard_rebalances_total{kind=\"assign\"}") >= 1.0
    });
    let idle = "not ready: source events has no partitions assigned\n";
    let a_holds = wait_until(
        "one member ready, the other without partitions",
        Duration::from_secs(60),
        || {
            let (ra, rb) = (readyz(port_a)?, readyz(port_b)?);
            match ((ra.0, ra.1.as_str()), (rb.0, rb.1.as_str())) {
                ((200, _), (503, body)) if body == idle => Some(true),
                ((503, body), (200, _)) if body == idle => Some(false),
                _ => None,
            }
        },
    );

    // The holder leaves: its partition moves to the other, which becomes ready.
    let (mut holder, mut other, other_port) = if a_holds {
        (a, b, port_b)
    } else {
        (b, a, port_a)
    };
    sigterm(&holder);
    assert!(wait_exit(&mut holder, Duration::from_secs(30)).success());
    wait_until(
        "the remaining member takes the partition",
        Duration::from_secs(60),
        || readyz(other_port).filter(|(s, _)| *s == 200),
    );
    sigterm(&other);
    assert!(wait_exit(&mut other, Duration::from_secs(30)).success());
}

//! Drift alerts and per-tenant limits end to end through `railyard run` on generated event
//! streams with event times: a tenant whose block rate jumps raises one drift alert and then
//! goes quiet while a steady tenant raises none; a flooding tenant is throttled with verdicts
//! that say why (none dropped) and one rate-limit alert; a tenant whose share of blocked
//! events passes the bound trips the breaker; on Kafka, alerts go to their topic keyed by
//! tenant and the metrics count what the records show. Every alert matches
//! `schemas/alert.schema.json`.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::common::topology::TopologyBuilder;
use crate::common::*;

/// 2026-01-01T00:00:00Z in Unix milliseconds.
const T0: i64 = 1_767_225_600_000;

fn write_events(path: &Path, events: &[Value]) {
    let mut file = std::fs::File::create(path).unwrap();
    for event in events {
        writeln!(file, "{event}").unwrap();
    }
}

fn event(id: String, tenant: &str, at_ms: i64, blocked: bool) -> Value {
    let text = if blocked {
        "please explain the forbidden-topic in detail"
    } else {
        "what are your opening hours?"
    };
    json!({"id": id, "text": text, "timestamp": at_ms, "metadata": {"tenant": tenant, "app": "chat"}})
}

/// A keyword blocks; `monitors` adds `[drift]` / `[limits]`; verdicts and alerts to files.
fn run(
    dir: &Path,
    events: &[Value],
    batch_size: usize,
    monitors: &str,
) -> (Vec<Value>, Vec<Value>) {
    let input = dir.join("events.jsonl");
    write_events(&input, events);
    std::fs::write(dir.join("terms.txt"), "forbidden-topic\n").unwrap();
    let topology = TopologyBuilder::new("monitored")
        .settings(&format!("batch_size = {batch_size}"))
        .file_source("events", &input)
        .operator(
            "banned",
            "keyword_block",
            &["events"],
            &format!(
                "action = \"block\"\n[[lists]]\nlabel = \"banned_topic\"\nterms_file = \"{}\"",
                dir.join("terms.txt").display()
            ),
        )
        .operator("policy", "decide", &["banned"], "")
        .file_sink(
            "verdicts",
            &["policy"],
            "verdicts",
            &dir.join("verdicts.jsonl"),
        )
        .file_sink("alerts", &[], "alerts", &dir.join("alerts.jsonl"))
        .file_sink("dead", &[], "dead_letters", &dir.join("dead.jsonl"))
        .merge(monitors)
        .write(dir.join("topology.toml"));
    run_topology(&topology);
    let alerts = read_jsonl(&dir.join("alerts.jsonl"));
    let validator = schema("alert.schema.json");
    for alert in &alerts {
        assert_valid(&validator, alert, "alert");
    }
    (read_jsonl(&dir.join("verdicts.jsonl")), alerts)
}

#[test]
fn a_jump_in_one_tenants_block_rate_alerts_once_then_quiet() {
    let dir = tempfile::tempdir().unwrap();
    // Two tenants, 20 events per 10 s of event time each, for 100 steps: acme blocks 10%
    // until step 40, then 60%; beta blocks 10% throughout.
    let mut events = Vec::new();
    for step in 0..100i64 {
        for i in 0..20i64 {
            let at = T0 + step * 10_000 + i * 400;
            let acme_blocked = if step < 40 { i < 2 } else { i < 12 };
            events.push(event(format!("a-{step}-{i}"), "acme", at, acme_blocked));
            events.push(event(format!("b-{step}-{i}"), "beta", at, i < 2));
        }
    }
    let (verdicts, alerts) = run(
        dir.path(),
        &events,
        64,
        "[drift]\nkeys = [\"tenant\"]\nwindow_s = 60\nstep_s = 10\nmin_events = 50\nwarmup = 5",
    );
    assert_eq!(verdicts.len(), events.len());
    let block: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["alert"] == "drift" && a["series"] == "action:block")
        .collect();
    assert_eq!(block.len(), 1, "one alert for the jump: {alerts:#?}");
    let alert = block[0];
    assert_eq!(alert["key"], json!({"field": "tenant", "value": "acme"}));
    let jump = T0 + 40 * 10_000;
    let end = alert["window"]["end_ms"].as_i64().unwrap();
    assert!(
        end > jump && end <= jump + 60_000,
        "raised as the window slid into the jump"
    );
    let (rate, baseline) = (
        alert["rate"].as_f64().unwrap(),
        alert["baseline"].as_f64().unwrap(),
    );
    assert!(rate > baseline && (baseline - 0.1).abs() < 0.02, "{alert}");
    assert!(
        alerts.iter().all(|a| a["key"]["value"] == "acme"),
        "the steady tenant is quiet: {alerts:#?}"
    );
    // Quiet afterwards: nothing about acme from a window ending 2 windows past the jump on.
    assert!(
        alerts
            .iter()
            .all(|a| a["window"]["end_ms"].as_i64().unwrap() <= jump + 120_000),
        "{alerts:#?}"
    );
    // No alert text comes from an event.
    let text = serde_json::to_string(&alerts).unwrap();
    assert!(!text.contains("forbidden") && !text.contains("opening hours"));
}

#[test]
fn a_flooding_tenant_is_throttled_with_a_reason_and_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    // flood: 50 events within one second; calm: one a second.
    for i in 0..50 {
        events.push(event(format!("f{i}"), "flood", T0 + i * 10, false));
    }
    for i in 0..20 {
        events.push(event(format!("c{i}"), "calm", T0 + i * 1000, false));
    }
    let (verdicts, alerts) = run(
        dir.path(),
        &events,
        64,
        "[limits]\nkey = \"tenant\"\nrate_per_s = 5.0\nburst = 10.0\nover_limit = \"throttle\"",
    );
    assert_eq!(verdicts.len(), 70, "a verdict for every event");
    let throttled: Vec<&Value> = verdicts
        .iter()
        .filter(|v| {
            v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["label"] == "throttled")
        })
        .collect();
    // Burst 10, plus 5 tokens/s over the half second the flood lasts: about 12 pass.
    assert!((35..=40).contains(&throttled.len()), "{}", throttled.len());
    for v in &throttled {
        assert_eq!(v["action"], "block");
        assert!(v["event_id"].as_str().unwrap().starts_with('f'));
        let finding = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["label"] == "throttled")
            .unwrap();
        assert_eq!(finding["category"], "abuse");
        assert!(finding["reason"].as_str().unwrap().contains("retry after"));
    }
    let rate_alerts: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["alert"] == "rate_limit")
        .collect();
    assert_eq!(rate_alerts.len(), 1, "{alerts:#?}");
    assert_eq!(rate_alerts[0]["key"]["value"], "flood");
    assert_eq!(rate_alerts[0]["baseline"], 5.0);
}

#[test]
fn a_tenant_whose_blocks_pass_the_share_trips_the_breaker() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    // attacker: 30 events over 30 s, two in three blocked by the policy; then clean ones.
    for i in 0..30 {
        events.push(event(
            format!("x{i}"),
            "attacker",
            T0 + i * 1000,
            i % 3 != 0,
        ));
    }
    for i in 30..40 {
        events.push(event(format!("x{i}"), "attacker", T0 + i * 1000, false));
    }
    // Same mix, under the bound's event count: never trips.
    for i in 0..15 {
        events.push(event(format!("y{i}"), "small", T0 + i * 1000, i % 3 != 0));
    }
    let (verdicts, alerts) = run(
        dir.path(),
        &events,
        8,
        "[limits]\nkey = \"tenant\"\n[limits.breaker]\nblock_share = 0.5\nwindow_s = 60\nmin_events = 20\nopen_s = 300\naction = \"block\"",
    );
    assert_eq!(verdicts.len(), events.len());
    let trips: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["alert"] == "block_rate_breaker")
        .collect();
    assert_eq!(trips.len(), 1, "{alerts:#?}");
    assert_eq!(trips[0]["key"]["value"], "attacker");
    assert!(trips[0]["rate"].as_f64().unwrap() >= 0.5);
    // It trips on x19 (20 events, 13 blocked), in the third batch of 8; the breaker applies
    // from the next batch on (admission precedes the policy within a batch), so the clean
    // events from x30 on are blocked by it, saying so.
    for v in verdicts.iter().filter(|v| {
        let id = v["event_id"].as_str().unwrap();
        id.starts_with('x') && id[1..].parse::<i32>().unwrap() >= 30
    }) {
        assert_eq!(v["action"], "block", "{v}");
        assert!(
            v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["label"] == "block_rate_breaker"),
            "{v}"
        );
    }
}

#[test]
fn on_kafka_alerts_go_to_their_topic_keyed_by_tenant_with_metrics_to_match() {
    use crate::common::http::{free_port, metric};
    use crate::common::kafka::*;
    use crate::common::process::*;
    use std::time::Duration;

    let broker = Broker::shared();
    let (input, verdicts, alerts, dead) = (
        unique("in"),
        unique("verdicts"),
        unique("alerts"),
        unique("dead"),
    );
    create_topics(
        &broker.bootstrap(),
        &[(&input, 2), (&verdicts, 2), (&alerts, 1), (&dead, 1)],
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let topology = TopologyBuilder::new("monitored-kafka")
        .telemetry(port)
        .kafka(&broker.bootstrap(), "commit_interval_ms = 100")
        .kafka_source("events", &input, &unique("group"))
        .operator("pii", "pii_detect", &["events"], "")
        .operator("policy", "decide", &["pii"], "")
        .kafka_sink("verdicts", &["policy"], "verdicts", &verdicts, "")
        .kafka_sink("alerts", &[], "alerts", &alerts, "")
        .kafka_sink("dead", &[], "dead_letters", &dead, "")
        .merge("[limits]\nkey = \"tenant\"\nrate_per_s = 2.0\nburst = 5.0")
        .write(dir.path().join("topology.toml"));
    let mut run = start(&topology);

    // No `timestamp` field: event time is the Kafka record's, set as the producer sends
    // them (all within well under a second, so most are over the rate).
    let records: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| {
            let event = json!({"id": format!("f{i}"), "text": "hello there",
                               "metadata": {"tenant": "flood"}});
            (format!("f{i}"), event.to_string().into_bytes())
        })
        .collect();
    produce(&broker.bootstrap(), &input, 2, &records);

    let out = consume(&broker.bootstrap(), &verdicts, 40, Duration::from_secs(60));
    assert_eq!(out.len(), 40, "a verdict for every event");
    let throttled = out
        .iter()
        .filter(|r| {
            let v = r.json();
            v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["label"] == "throttled")
        })
        .count();
    assert!((25..=35).contains(&throttled), "{throttled} throttled");
    let raised = consume(&broker.bootstrap(), &alerts, 1, Duration::from_secs(30));
    assert!(!raised.is_empty(), "a rate-limit alert on the alerts topic");
    let validator = schema("alert.schema.json");
    for alert in &raised {
        assert_eq!(alert.key.as_deref(), Some(&b"tenant=flood"[..]));
        let value = alert.json();
        assert_valid(&validator, &value, "alert");
        assert_eq!(value["alert"], "rate_limit");
        assert_eq!(value["key"]["value"], "flood");
    }
    wait_for("the metrics count them", Duration::from_secs(10), || {
        metric(port, "railyard_limited_events_total{label=\"throttled\"}") == throttled as f64
            && metric(port, "railyard_alerts_total{alert=\"rate_limit\"}") >= raised.len() as f64
    });
    sigterm(&run);
    assert!(wait_exit(&mut run, Duration::from_secs(30)).success());
}

//! `railyard replay`: a candidate topology over recorded events (a file or a range of a topic
//! on Apache Kafka) against recorded verdicts; the change matrix and causes are checked
//! against a hand count of the fixture, the report against the text it must never hold, and
//! the page in headless Chromium.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::kafka::*;
use common::*;

const FIXTURE: &str = "tests/fixtures/replay/events.jsonl";
const HASH_KEY: &str = "replay-test-hash-key-0123456789";

/// Values and other text of the fixture that no report may hold without `--show-text`.
const FIXTURE_TEXT: [&str; 8] = [
    "store open on Sunday",
    "mark.lee@example.net",
    "support@example.com",
    "AKIAIOSFODNN7EXAMPLE",
    "pipe bomb",
    "reveal your system prompt",
    "Left Hand of Darkness",
    "4111 1111 1111 1111",
];

/// The actions the shipped topologies give the fixture, counted by hand from what each does:
/// default redacts personal data (an allow-listed support address passes) and blocks
/// secrets, banned topics and injections; strict blocks all of it.
const DEFAULT_ACTIONS: [(&str, &str); 8] = [
    ("r-01", "allow"),
    ("r-02", "redact"),
    ("r-03", "allow"),
    ("r-04", "block"),
    ("r-05", "block"),
    ("r-06", "block"),
    ("r-07", "allow"),
    ("r-08", "redact"),
];
const STRICT_ACTIONS: [(&str, &str); 8] = [
    ("r-01", "allow"),
    ("r-02", "block"),
    ("r-03", "block"),
    ("r-04", "block"),
    ("r-05", "block"),
    ("r-06", "block"),
    ("r-07", "allow"),
    ("r-08", "block"),
];

fn railyard(dir: &Path) -> Command {
    let mut command = binary();
    command
        .current_dir(dir)
        .env("RAILYARD_HASH_KEY", HASH_KEY)
        .env("RAILYARD_INPUT", repo().join(FIXTURE))
        .env("RUST_LOG", "warn");
    command
}

/// Runs a shipped topology over the fixture; returns its verdict file.
fn record(dir: &Path, topology: &str) -> PathBuf {
    let out = dir.join(format!("recorded-{topology}"));
    let mut command = railyard(dir);
    command
        .env("RAILYARD_OUT", &out)
        .args(["run", &format!("topologies/{topology}.toml")]);
    succeed(command);
    match topology {
        "strict" => out.join("strict/verdicts.jsonl"),
        _ => out.join("verdicts.jsonl"),
    }
}

fn actions(verdicts: &Path) -> Vec<(String, String)> {
    read_jsonl(verdicts)
        .iter()
        .map(|v| {
            (
                v["event_id"].as_str().unwrap().to_string(),
                v["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The `allow, flag, redact, block` matrix of two action lists, by event id.
fn matrix_of(before: &[(String, String)], after: &[(String, String)]) -> Vec<Vec<u64>> {
    let index = |a: &str| {
        ["allow", "flag", "redact", "block"]
            .iter()
            .position(|x| *x == a)
    };
    let mut m = vec![vec![0u64; 4]; 4];
    for (id, b) in before {
        if let Some((_, a)) = after.iter().find(|(i, _)| i == id) {
            m[index(b).unwrap()][index(a).unwrap()] += 1;
        }
    }
    m
}

fn report_matrix(report: &serde_json::Value) -> Vec<Vec<u64>> {
    serde_json::from_value(report["matrix"].clone()).unwrap()
}

fn read_report(dir: &Path) -> (serde_json::Value, String) {
    let json = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    (serde_json::from_str(&json).unwrap(), html)
}

/// The cause groups as `operator/label: change -> event ids`.
fn causes(report: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ids: Vec<&str> = c["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap())
                .collect();
            format!(
                "{}/{}: {} {}",
                c["operator"].as_str().unwrap(),
                c["label"].as_str().unwrap(),
                c["change"].as_str().unwrap(),
                ids.join(",")
            )
        })
        .collect();
    out.sort();
    out
}

fn assert_no_fixture_text(what: &str, text: &str) {
    for piece in FIXTURE_TEXT {
        assert!(!text.contains(piece), "{what} holds fixture text `{piece}`");
    }
}

#[test]
fn replaying_strict_over_the_default_topologys_verdicts_gives_the_hand_counted_change_matrix() {
    let dir = workspace();
    let baseline = record(dir.path(), "default");
    assert_eq!(actions(&baseline), owned(&DEFAULT_ACTIONS));
    let report_dir = dir.path().join("report");
    std::fs::copy(repo().join(FIXTURE), dir.path().join("events.jsonl")).unwrap();
    let mut command = railyard(dir.path());
    command.args([
        "replay",
        "topologies/strict.toml",
        "--input",
        "events.jsonl",
        "--baseline",
        baseline.to_str().unwrap(),
        "--out",
        report_dir.to_str().unwrap(),
    ]);
    let out = succeed(command);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("8 events compared, 3 changed (3 stricter, 0 more lenient)"),
        "{stderr}"
    );
    let (report, html) = read_report(&report_dir);
    // Hand count: allow->allow r-01 r-07; allow->block r-03; redact->block r-02 r-08;
    // block->block r-04 r-05 r-06.
    let expected = vec![
        vec![2, 0, 0, 1],
        vec![0, 0, 0, 0],
        vec![0, 0, 0, 2],
        vec![0, 0, 0, 3],
    ];
    assert_eq!(report_matrix(&report), expected);
    // The same matrix follows from what strict decides when it runs for real.
    let strict = record(dir.path(), "strict");
    assert_eq!(actions(&strict), owned(&STRICT_ACTIONS));
    assert_eq!(matrix_of(&actions(&baseline), &actions(&strict)), expected);
    assert_eq!(report["compared"], 8);
    assert_eq!(report["changed"], 3);
    assert_eq!(report["stricter"], 3);
    assert_eq!(report["candidate"]["dead_letters"], 1);
    // Each change is explained by the operator and label behind it: the allow-listed address
    // is newly found (strict has no allow list), the others are the same finding blocked.
    assert_eq!(
        causes(&report),
        vec![
            "pii/CREDIT_CARD: action r-08",
            "pii/EMAIL_ADDRESS: action r-02",
            "pii/EMAIL_ADDRESS: found r-03",
        ]
    );
    let email = report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "EMAIL_ADDRESS" && c["change"] == "action")
        .unwrap();
    assert_eq!(email["threshold_before"], 0.5);
    assert_eq!(email["threshold_after"], 0.4);
    assert_eq!(email["transitions"]["redact->block"], 1);
    let pii = report["category_rates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pii")
        .unwrap();
    assert_eq!(
        (pii["before_events"].clone(), pii["after_events"].clone()),
        (2.into(), 3.into())
    );
    // No event text without --show-text, in either file.
    assert_no_fixture_text("report.json", &report.to_string());
    assert_no_fixture_text("report.html", &html);
    // The strict topology's sinks were never opened by the replay.
    assert!(!dir.path().join("out").exists());
    assert_rendered_in_chromium(&report_dir, 9);
}

#[test]
fn replaying_default_over_strict_verdicts_explains_what_it_no_longer_finds() {
    let dir = workspace();
    let baseline = record(dir.path(), "strict");
    let report_dir = dir.path().join("report");
    let mut command = railyard(dir.path());
    command.args([
        "replay",
        "topologies/default.toml",
        "--input",
        FIXTURE,
        "--baseline",
        baseline.to_str().unwrap(),
        "--out",
        report_dir.to_str().unwrap(),
    ]);
    command
        .current_dir(repo())
        .env("RAILYARD_OUT", dir.path().join("never"));
    succeed(command);
    let (report, _) = read_report(&report_dir);
    assert_eq!(
        report_matrix(&report),
        vec![
            vec![2, 0, 0, 0],
            vec![0, 0, 0, 0],
            vec![0, 0, 0, 0],
            vec![1, 0, 2, 3],
        ]
    );
    assert_eq!(report["more_lenient"], 3);
    assert_eq!(
        causes(&report),
        vec![
            "pii/CREDIT_CARD: action r-08",
            "pii/EMAIL_ADDRESS: action r-02",
            "pii/EMAIL_ADDRESS: no_longer_found r-03",
        ]
    );
    assert!(!dir.path().join("never").exists());
}

#[test]
fn show_text_puts_only_the_candidates_redacted_text_in_the_report() {
    let dir = workspace();
    let baseline = record(dir.path(), "default");
    let report_dir = dir.path().join("report");
    let mut command = railyard(dir.path());
    command.args([
        "replay",
        "topologies/strict.toml",
        "--input",
        repo().join(FIXTURE).to_str().unwrap(),
        "--baseline",
        baseline.to_str().unwrap(),
        "--out",
        report_dir.to_str().unwrap(),
        "--show-text",
    ]);
    succeed(command);
    let (report, html) = read_report(&report_dir);
    let changed = report["changed_events"].as_array().unwrap();
    let r02 = changed.iter().find(|e| e["event_id"] == "r-02").unwrap();
    let text = r02["text"]
        .as_str()
        .expect("redacted text of a changed event");
    assert!(text.starts_with("Please send the invoice to "), "{text}");
    assert!(html.contains("Please send the invoice to "));
    // Values never appear, redacted or not; unchanged events carry no text.
    for value in [
        "mark.lee@example.net",
        "support@example.com",
        "4111 1111 1111 1111",
    ] {
        assert!(
            !report.to_string().contains(value),
            "report.json holds {value}"
        );
        assert!(!html.contains(value), "report.html holds {value}");
    }
    assert!(!report.to_string().contains("store open on Sunday"));
}

#[test]
fn replay_reads_a_topic_range_on_kafka_with_its_own_group_and_commits_nothing() {
    let broker = Broker::shared();
    let bootstrap = broker.bootstrap();
    let (events, verdicts) = (unique("replay-events"), unique("replay-verdicts"));
    create_topics(&bootstrap, &[(&events, 1), (&verdicts, 2)]);
    let dir = workspace();
    let baseline = record(dir.path(), "default");
    let lines = |path: &Path| -> Vec<(String, Vec<u8>)> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .enumerate()
            .map(|(i, l)| (format!("k{i}"), l.as_bytes().to_vec()))
            .collect()
    };
    produce(&bootstrap, &events, 1, &lines(&repo().join(FIXTURE)));
    produce(&bootstrap, &verdicts, 2, &lines(&baseline));

    let run = |name: &str, range: &[&str]| -> serde_json::Value {
        let report_dir = dir.path().join(name);
        let mut command = railyard(dir.path());
        command
            .args([
                "replay",
                "topologies/strict.toml",
                "--brokers",
                &bootstrap,
                "--input-topic",
                &events,
                "--baseline-topic",
                &verdicts,
                "--idle-ms",
                "1500",
                "--out",
                report_dir.to_str().unwrap(),
            ])
            .args(range);
        succeed(command);
        read_report(&report_dir).0
    };
    let whole = run("whole", &[]);
    assert_eq!(
        report_matrix(&whole),
        matrix_of(&owned(&DEFAULT_ACTIONS), &owned(&STRICT_ACTIONS))
    );
    assert_eq!(whole["candidate"]["dead_letters"], 1);
    // Offsets 1..4 of the single partition are r-02, r-03, r-04: two changes, and the other
    // recorded verdicts are outside the range, not "only in baseline".
    let part = run("part", &["--from", "offset:1", "--to", "offset:4"]);
    assert_eq!(part["compared"], 3);
    assert_eq!(part["changed"], 2);
    assert_eq!(part["only_in_baseline"], 0);
    assert_eq!(part["baseline"]["outside_range"], 5);
    // A time range after every record holds nothing.
    let later = run("later", &["--from", "time:2999-01-01T00:00:00Z"]);
    assert_eq!(later["compared"], 0);
    // Nothing was produced anywhere and no consumer group committed offsets.
    assert_eq!(
        consume(&bootstrap, &events, 100, Duration::from_secs(5)).len(),
        9
    );
    assert!(!dir.path().join("out").exists());
    let groups = group_names(&bootstrap);
    assert!(
        !groups.iter().any(|g| g.starts_with("railyard-reader-")),
        "a replay reader joined a consumer group: {groups:?}"
    );
}

/// The consumer groups the broker knows.
fn group_names(bootstrap: &str) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    consumer
        .fetch_group_list(None, Duration::from_secs(10))
        .expect("group list")
        .groups()
        .iter()
        .map(|g| g.name().to_string())
        .collect()
}

/// Opens `report.html` in headless Chromium: the DOM after layout must show all `tables`
/// tables (sides, summary, matrix, actions, changes by category, categories, labels, causes,
/// changed events) and one plot with a size, and a screenshot (kept in the scratch
/// directory, out of the repo) must be a real image.
fn assert_rendered_in_chromium(report_dir: &Path, tables: usize) {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("headless Chromium is needed for the report test: apt-get install chromium");
    let page = format!("file://{}", report_dir.join("report.html").display());
    let profile = tempfile::tempdir().unwrap();
    let headless = |extra: &[&str]| -> Output {
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--virtual-time-budget=2000",
                "--window-size=1280,2000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&page)
            .output()
            .expect("chromium runs")
    };
    let dom = headless(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let stamp = |name: &str| -> usize {
        let key = format!("{name}=\"");
        let at = dom
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in the rendered DOM"));
        dom[at + key.len()..]
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        stamp("data-tables-rendered") >= tables,
        "tables did not render"
    );
    assert!(stamp("data-plots-rendered") >= 1, "plots did not render");
    assert!(dom.contains("Change matrix"));
    let shot = report_dir.join("screenshot.png");
    headless(&[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(png.len() > 20_000, "a blank page ({} bytes)", png.len());
}

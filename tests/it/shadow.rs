//! Shadow mode: operators marked `mode = "shadow"` run on live traffic and write shadow
//! verdicts, and never change a live decision (verdicts and enriched records are the same
//! as without them); the replay report compares the shadow stream with the live one; and a
//! topology that would lose shadow findings, or a shadow topology that decides, fails
//! validation with every error listed.

use crate::common;

use std::path::Path;

use common::*;

/// Everything of a record but what differs between two runs by construction (latency, the
/// topology's name and hash).
fn decision(record: &serde_json::Value) -> serde_json::Value {
    let mut record = record.clone();
    if let Some(object) = record.as_object_mut() {
        object.remove("latency_us");
        object.remove("topology");
    }
    record
}

fn run(dir: &Path, topology: &str, input: &Path) -> std::process::Output {
    let mut command = binary();
    command
        .current_dir(repo())
        .env("RAILYARD_OUT", dir)
        .env("RAILYARD_INPUT", input)
        .env("RUST_LOG", "warn")
        .args(["run", topology]);
    succeed(command)
}

/// `railyard validate PATH`: whether it passed, and everything it printed.
fn validate(path: &Path) -> (bool, String) {
    let out = binary()
        .args(["validate", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), text)
}

#[test]
fn shadow_operators_never_change_a_live_decision_and_write_shadow_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped examples and the replay fixture: personal data, secrets, injections,
    // banned topics, a toxic-free mix and malformed lines.
    let input = dir.path().join("events.jsonl");
    let mut events = std::fs::read_to_string(repo().join("examples/events.jsonl")).unwrap();
    events.push_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/replay/events.jsonl")).unwrap(),
    );
    std::fs::write(&input, &events).unwrap();
    let (live, shadowed) = (dir.path().join("live"), dir.path().join("shadowed"));
    run(&live, "tests/fixtures/shadow/live.toml", &input);
    run(&shadowed, "tests/fixtures/shadow/with_shadow.toml", &input);
    for file in ["verdicts.jsonl", "enriched.jsonl", "dead_letters.jsonl"] {
        let a: Vec<_> = read_jsonl(&live.join(file)).iter().map(decision).collect();
        let b: Vec<_> = read_jsonl(&shadowed.join(file))
            .iter()
            .map(decision)
            .collect();
        assert!(!a.is_empty() || file == "dead_letters.jsonl");
        assert_eq!(a, b, "{file}: a shadow operator changed the live output");
    }
    let verdicts = read_jsonl(&live.join("verdicts.jsonl"));
    let shadows = read_jsonl(&shadowed.join("shadow_verdicts.jsonl"));
    assert_eq!(
        shadows.len(),
        verdicts.len(),
        "one shadow verdict per event"
    );
    let schema = schema("verdict.schema.json");
    let mut raised = Vec::new();
    for (live, shadow) in verdicts.iter().zip(&shadows) {
        assert_valid(&schema, shadow, "shadow verdict");
        assert_eq!(live["event_id"], shadow["event_id"]);
        assert_eq!(shadow["shadow"]["live_action"], live["action"]);
        assert_eq!(
            shadow["shadow"]["operators"],
            serde_json::json!(["banned_candidate", "toxicity_candidate"])
        );
        // The live findings are all there, and the shadow ones beside them.
        for finding in live["findings"].as_array().unwrap() {
            assert!(shadow["findings"].as_array().unwrap().contains(finding));
        }
        if shadow["action"] != live["action"] {
            raised.push(shadow["event_id"].as_str().unwrap().to_string());
        }
    }
    // The candidate keyword list blocks "locked out" (evt-001) and "invoice" (r-02).
    assert!(raised.contains(&"evt-001".to_string()), "{raised:?}");
    assert!(raised.contains(&"r-02".to_string()), "{raised:?}");
    let r02 = shadows.iter().find(|s| s["event_id"] == "r-02").unwrap();
    assert_eq!(r02["action"], "block");
    assert!(r02["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["operator"] == "banned_candidate"));

    // The replay report compares the shadow stream with the live one.
    let report = dir.path().join("report");
    let out = binary()
        .args([
            "replay",
            "--baseline",
            live.join("verdicts.jsonl").to_str().unwrap(),
            "--candidate",
            shadowed.join("shadow_verdicts.jsonl").to_str().unwrap(),
            "--out",
            report.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["compared"], verdicts.len());
    assert_eq!(report["changed"], raised.len());
    let causes: Vec<&str> = report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["operator"].as_str().unwrap())
        .collect();
    assert!(causes.contains(&"banned_candidate"), "{causes:?}");
}

#[test]
fn shadow_mode_that_would_lose_findings_or_decide_fails_validation_with_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"name = "bad-shadow"
[sources.events]
type = "stdin"

[operators.secrets]
type = "secret_detect"
inputs = ["events"]
mode = "shadow"

[operators.banned]
type = "keyword_block"
inputs = ["events"]
mode = "dark"
[[operators.banned.lists]]
label = "t"
terms = ["x"]

[operators.policy]
type = "decide"
inputs = ["secrets", "banned"]
mode = "shadow"

[sinks.out]
type = "stdout"
inputs = ["policy"]

[sinks.dead]
type = "stdout"
records = "dead_letters"
"#,
    )
    .unwrap();
    let (ok, text) = validate(&path);
    assert!(!ok, "{text}");
    assert!(text.contains("operators.banned.mode"), "{text}");
    assert!(text.contains("operators.policy.mode"), "{text}");

    // Without the syntax errors, the lost shadow findings are reported.
    let fixed = std::fs::read_to_string(&path)
        .unwrap()
        .replace("mode = \"dark\"\n", "")
        .replace(
            "inputs = [\"secrets\", \"banned\"]\nmode = \"shadow\"",
            "inputs = [\"secrets\", \"banned\"]",
        );
    std::fs::write(&path, &fixed).unwrap();
    let (ok, text) = validate(&path);
    assert!(!ok, "{text}");
    assert!(
        text.contains("operators.secrets.mode") && text.contains("shadow_verdicts"),
        "{text}"
    );

    // A whole topology in shadow mode may not write decisions.
    let shadow_topology = fixed
        .replace("name = \"bad-shadow\"", "name = \"bad-shadow\"\n[settings]\nmode = \"shadow\"")
        + "\n[sinks.shadow]\ntype = \"stdout\"\ninputs = [\"policy\"]\nrecords = \"shadow_verdicts\"\n";
    std::fs::write(&path, &shadow_topology).unwrap();
    let (ok, text) = validate(&path);
    assert!(!ok, "{text}");
    assert!(text.contains("sinks.out.records"), "{text}");
    assert!(!text.contains("sinks.shadow"), "{text}");
}

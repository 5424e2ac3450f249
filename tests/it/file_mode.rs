//! The embedded default end to end: shipped topologies over files and standard streams.

use crate::common;

use std::io::Write;

use common::*;
use serde_json::Value;

/// id -> (action, labels, enriched text): the reviewed output of the quickstart topology.
fn summarize(verdicts: &[Value], enriched: &[Value]) -> Vec<String> {
    verdicts
        .iter()
        .zip(enriched)
        .map(|(v, e)| {
            assert_eq!(v["event_id"], e["id"]);
            let mut labels: Vec<&str> = v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["label"].as_str().unwrap())
                .collect();
            labels.sort();
            format!(
                "{} {} [{}] {}",
                v["event_id"].as_str().unwrap(),
                v["action"].as_str().unwrap(),
                labels.join(","),
                e["text"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn quickstart_matches_its_golden_output() {
    let dir = workspace();
    let out = run_in(dir.path(), &["run", "topologies/quickstart.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = dir.path().join("out/quickstart");
    let verdicts = read_jsonl(&base.join("verdicts.jsonl"));
    let enriched = read_jsonl(&base.join("enriched.jsonl"));
    let got = summarize(&verdicts, &enriched);
    let golden_path = repo().join("tests/golden/quickstart.expected.txt");
    if std::env::var_os("RAILYARD_BLESS").is_some() {
        std::fs::write(&golden_path, got.join("\n") + "\n").unwrap();
    }
    let expected: Vec<String> = std::fs::read_to_string(golden_path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        got, expected,
        "rerun with RAILYARD_BLESS=1 after reviewing a deliberate change"
    );
}

#[test]
fn every_record_of_every_shipped_topology_matches_its_schema() {
    let dir = workspace();
    let verdict_schema = schema("verdict.schema.json");
    let enriched_schema = schema("enriched.schema.json");
    let dead_schema = schema("dead_letter.schema.json");
    let event_schema = schema("event.schema.json");
    for line in std::fs::read_to_string(dir.path().join("examples/events.jsonl"))
        .unwrap()
        .lines()
    {
        if let Ok(event) = serde_json::from_str::<Value>(line) {
            if event["kind"] != "tweet" {
                assert_valid(&event_schema, &event, "example event");
            }
        }
    }
    for (topology, env) in [
        ("topologies/quickstart.toml", vec![]),
        (
            "topologies/default.toml",
            vec![("RAILYARD_OUT", "out/default")],
        ),
        (
            "topologies/strict.toml",
            vec![
                ("RAILYARD_OUT", "out/strict"),
                ("RAILYARD_HASH_KEY", "0123456789abcdef-test"),
            ],
        ),
    ] {
        let out = binary()
            .args(["run", topology])
            .current_dir(dir.path())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{topology}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut checked = 0;
    for sub in ["out/quickstart", "out/default", "out/strict/strict"] {
        let base = dir.path().join(sub);
        for v in read_jsonl(&base.join("verdicts.jsonl")) {
            assert_valid(&verdict_schema, &v, "verdict");
            checked += 1;
        }
        for e in read_jsonl(&base.join("enriched.jsonl")) {
            assert_valid(&enriched_schema, &e, "enriched record");
        }
        let dead = read_jsonl(&base.join("dead_letters.jsonl"));
        assert_eq!(dead.len(), 2, "{sub}");
        for d in dead {
            assert_valid(&dead_schema, &d, "dead letter");
        }
    }
    assert_eq!(checked, 3 * 17);
}

#[test]
fn malformed_lines_become_dead_letters_with_line_and_reason() {
    let dir = workspace();
    let out = run_in(dir.path(), &["run", "topologies/quickstart.toml"]);
    assert!(out.status.success());
    let dead = read_jsonl(&dir.path().join("out/quickstart/dead_letters.jsonl"));
    let summary: Vec<(u64, &str)> = dead
        .iter()
        .map(|d| {
            (
                d["origin"]["line"].as_u64().unwrap(),
                d["error_kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [(7, "invalid_json"), (12, "invalid_json")]);
    assert!(dead[1]["reason"]
        .as_str()
        .unwrap()
        .contains("unknown variant `tweet`"));
    assert!(
        dead[0]["raw"].as_str().unwrap().contains("evt-bad-1"),
        "the input itself is kept"
    );
}

#[test]
fn huge_and_deeply_nested_events_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    let ten_mb_text = format!(
        "{} contact ann@example.org",
        "lorem ipsum ".repeat(10 * 1024 * 1024 / 12)
    );
    let nested = format!(
        r#"{{"id":"deep","text":"x","metadata":{{"a":{}{}}}}}"#,
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let mut file = std::fs::File::create(&input).unwrap();
    writeln!(
        file,
        "{}",
        serde_json::json!({"id": "huge", "text": ten_mb_text})
    )
    .unwrap();
    writeln!(file, "{nested}").unwrap();
    writeln!(file, r#"{{"id":"after","text":"still processed"}}"#).unwrap();
    drop(file);

    // Default limit (1 MiB): the 10 MB event is a dead letter holding only its first 64 KiB.
    let topology = file_topology(
        dir.path(),
        &input,
        "",
        "[operators.pii]\ntype = \"pii_detect\"\ninputs = [\"events\"]",
        &["pii"],
    );
    run_topology(&topology);
    let dead = read_jsonl(&dir.path().join("dead_letters.jsonl"));
    let kinds: Vec<&str> = dead
        .iter()
        .map(|d| d["error_kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["too_large", "invalid_json"]);
    assert_eq!(dead[0]["raw"].as_str().unwrap().len(), 64 * 1024);
    assert_eq!(dead[0]["raw_truncated"], true);
    assert!(dead[1]["reason"]
        .as_str()
        .unwrap()
        .contains("recursion limit"));
    let verdicts = read_jsonl(&dir.path().join("verdicts.jsonl"));
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0]["event_id"], "after");

    // Raised limit: the 10 MB event is inspected whole; the email at its very end is found.
    let topology = file_topology(
        dir.path(),
        &input,
        "max_event_bytes = 16777216",
        "[operators.pii]\ntype = \"pii_detect\"\ninputs = [\"events\"]",
        &["pii"],
    );
    run_topology(&topology);
    let verdicts = read_jsonl(&dir.path().join("verdicts.jsonl"));
    assert_eq!(verdicts[0]["event_id"], "huge");
    assert_eq!(verdicts[0]["findings"][0]["label"], "EMAIL_ADDRESS");
    let span_end = verdicts[0]["findings"][0]["spans"][0]["end"]
        .as_u64()
        .unwrap() as usize;
    assert_eq!(span_end, ten_mb_text.len());
}

#[test]
fn stdin_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = binary();
    command
        .args([
            "run",
            repo().join("topologies/stdio.toml").to_str().unwrap(),
        ])
        .env("RAILYARD_DEAD_LETTERS", dir.path().join("dead.jsonl"))
        .current_dir(dir.path());
    let out = run_with_stdin(
        command,
        b"{\"id\":\"a\",\"text\":\"mail ann@corp.io\"}\nnot json\n{\"id\":\"b\",\"text\":\"hello\"}\n",
    );
    assert!(out.status.success());
    let verdicts: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<(&str, &str)> = verdicts
        .iter()
        .map(|v| {
            (
                v["event_id"].as_str().unwrap(),
                v["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(actions, [("a", "redact"), ("b", "allow")]);
    assert_eq!(read_jsonl(&dir.path().join("dead.jsonl")).len(), 1);
}

#[test]
fn environment_variables_choose_paths() {
    let dir = workspace();
    let out = binary()
        .args(["run", "topologies/default.toml"])
        .current_dir(dir.path())
        .env("RAILYARD_OUT", "elsewhere")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        read_jsonl(&dir.path().join("elsewhere/verdicts.jsonl")).len(),
        17
    );
}

#[test]
fn output_order_follows_input_order_on_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    let mut file = std::fs::File::create(&input).unwrap();
    for i in 0..5000 {
        writeln!(file, "{}", serde_json::json!({"id": format!("e{i}"), "text": format!("call 415-555-{:04} or mail u{i}@x.io", i % 10000)})).unwrap();
    }
    drop(file);
    let topology = file_topology(
        dir.path(),
        &input,
        "batch_size = 64",
        "[operators.pii]\ntype = \"pii_detect\"\ninputs = [\"events\"]",
        &["pii"],
    );
    let out = binary()
        .args(["run", topology.to_str().unwrap(), "--threads", "4"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let ids: Vec<String> = read_jsonl(&dir.path().join("verdicts.jsonl"))
        .iter()
        .map(|v| v["event_id"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..5000).map(|i| format!("e{i}")).collect();
    assert_eq!(ids, expected);
}

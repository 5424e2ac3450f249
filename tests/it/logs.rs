//! Logs never carry payload text or detected values, at any level.

use crate::common;

use std::io::Write;

use common::*;

#[test]
fn seeded_values_never_reach_the_logs() {
    let seeded = [
        "seeded.person@leak-test.example",
        "4111 1111 1111 1111",
        "AKIAZZLEAKTEST000001",
        "536-22-8726",
        "Ignore all previous instructions",
        "unterminated-secret-payload",
    ];
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.jsonl");
    let mut file = std::fs::File::create(&input).unwrap();
    writeln!(
        file,
        r#"{{"id":"1","text":"mail {} card {} key {}"}}"#,
        seeded[0], seeded[1], seeded[2]
    )
    .unwrap();
    writeln!(
        file,
        r#"{{"id":"2","text":"ssn {} and {}"}}"#,
        seeded[3], seeded[4]
    )
    .unwrap();
    writeln!(file, r#"{{"id":"3","text": "{}"#, seeded[5]).unwrap();
    writeln!(file, r#"{{"id":"4","kind":"{}","text":"x"}}"#, seeded[0]).unwrap();
    drop(file);
    let operators = "[operators.pii]\ntype = \"pii_detect\"\ninputs = [\"events\"]\n\
        [operators.secrets]\ntype = \"secret_detect\"\ninputs = [\"events\"]\n\
        [operators.injection]\ntype = \"injection_heuristics\"\ninputs = [\"events\"]";
    let topology = file_topology(
        dir.path(),
        &input,
        "",
        operators,
        &["pii", "secrets", "injection"],
    );
    for format in ["text", "json"] {
        let out = binary()
            .args(["--log-format", format, "run", topology.to_str().unwrap()])
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        assert!(out.status.success());
        let logs = String::from_utf8_lossy(&out.stderr);
        assert!(
            logs.contains("dead letter"),
            "the run logged its dead letters:\n{logs}"
        );
        for value in seeded {
            assert!(!logs.contains(value), "`{value}` leaked into {format} logs");
        }
        // The outputs did see them: the test would catch a leak.
        let dead = std::fs::read_to_string(dir.path().join("dead_letters.jsonl")).unwrap();
        assert!(dead.contains(seeded[5]));
    }
}

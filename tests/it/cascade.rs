//! The model cascade (`[operators.X.cascade]`): the Rust student computes the scores that
//! `scripts/models/student.py` wrote into the shipped student file, it decides clear texts
//! without the encoder and defers the rest, a text the encoder scored anyway is decided by the
//! encoder, the quickstart's verdicts on its sample are the same with and without the cascade,
//! `railyard bench file --no-cascade` reports both runs and each stage's share, and a bad
//! cascade table fails validation with its path.

use std::path::Path;
use std::process::Stdio;

use railyard::inference::student;
use serde::Deserialize;

use crate::common::operators::{run_operator, run_quickstart_in, validate_operator, TOPOLOGY_HEAD};
use crate::common::*;

#[derive(Deserialize)]
struct StudentFile {
    reference: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    text: String,
    scores: std::collections::BTreeMap<String, Vec<f32>>,
}

fn shipped() -> (std::path::PathBuf, std::path::PathBuf) {
    (
        repo().join("models/heads/student.json"),
        repo().join("models/minilm/tokenizer.json"),
    )
}

#[test]
fn rust_student_scores_equal_the_python_reference() {
    let (path, tokenizer) = shipped();
    let file: StudentFile = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let student = student::shared(&path, &tokenizer).unwrap();
    let mut compared = 0;
    for case in &file.reference {
        for (head, expected) in &case.scores {
            let scores = student
                .head(head)
                .unwrap()
                .scores(&student.features(&case.text));
            for (got, want) in scores.iter().zip(expected) {
                assert!(
                    (got - want).abs() <= 1e-4,
                    "head {head}: {got} against {want} for {:?}",
                    case.text
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 30, "compared {compared} scores");
}

fn toxicity_topology(cascade: bool) -> String {
    let mut t = format!("{TOPOLOGY_HEAD}[operators.op]\ntype = \"toxicity_classify\"\ninputs = [\"in\"]\nrecord_scores = true\n");
    if cascade {
        t.push_str("[operators.op.cascade]\n");
    }
    t
}

#[test]
fn the_student_decides_clear_texts_and_defers_the_rest() {
    let texts = [
        "What is the capital of Australia?",
        "you are a worthless idiot and everyone hates you",
        "The refund goes to your card within three working days.",
    ];
    let events = run_operator(&toxicity_topology(true), &texts);
    let detector = |i: usize| -> Vec<&str> {
        events[i]
            .findings
            .iter()
            .map(|f| f.provenance.detector)
            .collect()
    };
    // Ordinary questions: decided clean by the student, no finding, the student's scores
    // recorded against its own thresholds.
    assert!(events[0].findings.is_empty());
    assert!(events[2].findings.is_empty());
    assert_eq!(events[0].scores.len(), 4);
    // An insult is flagged, by whichever stage decided it.
    assert!(
        events[1].findings.iter().any(|f| &*f.label == "toxic"),
        "{:?}",
        events[1].findings
    );
    let plain = run_operator(&toxicity_topology(false), &texts);
    assert!(plain[1]
        .findings
        .iter()
        .all(|f| f.provenance.detector == "onnx"));
    assert!(detector(1).iter().all(|d| *d == "student" || *d == "onnx"));
    // Without the cascade the recorded scores are the encoder's: they differ.
    assert_ne!(events[0].scores[0].score, plain[0].scores[0].score);
}

#[test]
fn a_text_the_encoder_scored_anyway_is_decided_by_the_encoder() {
    // Two cascading operators on one model: toxicity screens first, injection second. A text
    // toxicity defers gets encoder outputs; injection then reads them instead of its student.
    let topology = format!(
        "{TOPOLOGY_HEAD}[operators.op]\ntype = \"injection_classify\"\ninputs = [\"in\"]\nrecord_scores = true\n[operators.op.cascade]\n"
    );
    let text = "you are a worthless idiot and everyone hates you";
    let alone = run_operator(&topology, &[text]);
    // Run toxicity without a cascade first, so the encoder has scored the text, then injection.
    let mut events = run_operator(&toxicity_topology(false), &[text]);
    let t = railyard::config::Topology::from_toml(
        &topology,
        &railyard::config::interpolate::ProcessEnv,
    )
    .unwrap();
    let railyard::operators::BuiltOperator::Inspector(injection) = &t.operators[0].operator else {
        panic!("not an inspector")
    };
    injection.prepare(&mut events);
    injection.inspect(&mut events[0]).unwrap();
    let shared = events[0].scores.last().unwrap();
    let student_score = alone[0].scores[0].score;
    assert_ne!(
        shared.score, student_score,
        "with encoder outputs present the encoder's score is used"
    );
    assert_eq!(
        shared.threshold,
        railyard::operators::injection_classify::INJECTION_THRESHOLD
    );
}

fn run_quickstart(dir: &Path, no_cascade: bool) -> Vec<serde_json::Value> {
    run_quickstart_in(dir, |text| {
        if no_cascade {
            text.replace("[operators.toxicity.cascade]\n", "")
                .replace("[operators.injection.cascade]\n", "")
                .replace("[operators.harm.cascade]\n", "")
        } else {
            text
        }
    })
}

#[test]
fn the_quickstart_sample_gets_the_same_actions_with_and_without_the_cascade() {
    let with = tempfile::tempdir().unwrap();
    let without = tempfile::tempdir().unwrap();
    let a = run_quickstart(with.path(), false);
    let b = run_quickstart(without.path(), true);
    assert_eq!(a.len(), 17);
    let actions = |v: &[serde_json::Value]| -> Vec<(String, String)> {
        v.iter()
            .map(|r| (r["event_id"].to_string(), r["action"].to_string()))
            .collect()
    };
    assert_eq!(actions(&a), actions(&b));
}

#[test]
fn bench_file_measures_the_cascade_against_no_cascade_and_reports_each_stage() {
    let dir = tempfile::tempdir().unwrap();
    // The quickstart without NER (NER reads the encoder's token states for every text).
    let text = std::fs::read_to_string(repo().join("topologies/quickstart.toml")).unwrap();
    let start = text.find("[operators.pii.ner]").unwrap();
    let end = text.find("[operators.pii.redaction]").unwrap();
    let topology = dir.path().join("classifiers.toml");
    std::fs::write(&topology, format!("{}{}", &text[..start], &text[end..])).unwrap();
    std::fs::copy(
        repo().join("topologies/quickstart.lock"),
        dir.path().join("classifiers.lock"),
    )
    .unwrap();
    let out = binary()
        .args([
            "bench",
            "file",
            topology.to_str().unwrap(),
            "--repeat",
            "2",
            "--no-cascade",
        ])
        .current_dir(repo())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("no cascade"), "{stdout}");
    assert!(stdout.contains("ratio topology / no cascade"), "{stdout}");
    let stage_line = stdout
        .lines()
        .find(|l| l.starts_with("cascade toxicity:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    // 17 events, twice: every text is decided by exactly one stage.
    assert!(stage_line.ends_with("of 34 texts"), "{stage_line}");
    assert!(!stage_line.contains("student 0.000"), "{stage_line}");
}

#[test]
fn a_bad_cascade_table_fails_validation_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let (passed, stdout) = validate_operator(
        dir.path(),
        &format!(
            "type = \"toxicity_classify\"\ninputs = [\"in\"]\n[operators.op.cascade]\nstudent = \"{}/missing.json\"\nsha256 = \"abc\"\n",
            dir.path().display()
        ),
    );
    assert!(!passed);
    assert!(stdout.contains("operators.op.cascade.student"), "{stdout}");
    assert!(stdout.contains("missing.json not found"), "{stdout}");
    assert!(stdout.contains("operators.op.cascade.sha256"), "{stdout}");

    // A head the student does not have fails the build with the heads it has.
    let wrong_head = format!(
        "{TOPOLOGY_HEAD}[operators.op]\ntype = \"toxicity_classify\"\ninputs = [\"in\"]\n[operators.op.cascade]\nhead = \"sentiment\"\n"
    );
    let error = match railyard::config::Topology::from_toml(
        &wrong_head,
        &railyard::config::interpolate::ProcessEnv,
    ) {
        Ok(_) => panic!("a head the student lacks was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("operators.op"), "{error}");
    assert!(error.contains("no head `sentiment`"), "{error}");
    assert!(error.contains("injection"), "{error}");
}

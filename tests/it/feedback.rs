//! `railyard feedback` on a fixture of verdicts (with recorded scores) and reviewer labels:
//! the confusion, precision, recall, suggested thresholds and the exported dataset match a
//! hand count of `tests/fixtures/feedback/`, read from files and from topics on Apache Kafka.

use crate::common;

use common::*;

/// Where `railyard feedback` reads its three inputs.
enum Inputs {
    Files,
    /// Verdicts, labels and events produced to topics of this broker.
    Topics {
        bootstrap: String,
        prefix: String,
    },
}

fn feedback(inputs: &Inputs, target_fpr: &str, out: &std::path::Path) -> serde_json::Value {
    let fixtures = repo().join("tests/fixtures/feedback");
    let export = out.join("dataset.jsonl");
    let mut command = binary();
    command.arg("feedback");
    for (what, file) in [
        ("verdicts", "verdicts.jsonl"),
        ("labels", "labels.jsonl"),
        ("events", "events.jsonl"),
    ] {
        match inputs {
            Inputs::Files => command.arg(format!("--{what}")).arg(fixtures.join(file)),
            Inputs::Topics { prefix, .. } => command
                .arg(format!("--{what}-topic"))
                .arg(format!("{prefix}-{what}")),
        };
    }
    if let Inputs::Topics { bootstrap, .. } = inputs {
        command.args(["--brokers", bootstrap, "--idle-ms", "1500"]);
    }
    command
        .args(["--target-fpr", target_fpr, "--out"])
        .arg(out)
        .arg("--export")
        .arg(&export);
    let output = succeed(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("toxicity"), "{stdout}");
    // The table holds ids, counts and rates, never event text.
    assert!(!stdout.contains("worthless"), "{stdout}");
    serde_json::from_str(&std::fs::read_to_string(out.join("feedback.json")).unwrap()).unwrap()
}

fn unit<'a>(report: &'a serde_json::Value, operator: &str, label: &str) -> &'a serde_json::Value {
    report["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["operator"] == operator && u["label"] == label)
        .unwrap_or_else(|| panic!("no {operator}/{label} in {report}"))
}

fn close(value: &serde_json::Value, expected: f64) {
    let got = value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"));
    assert!((got - expected).abs() < 1e-3, "{got} != {expected}");
}

/// The hand count of `tests/fixtures/feedback/`, whatever the inputs were read from.
fn assert_hand_count(inputs: &Inputs) {
    let dir = tempfile::tempdir().unwrap();
    let report = feedback(inputs, "0.25", dir.path());
    // Hand count, toxicity/toxic (threshold 0.46): t-1 and t-6 found and toxic (TP); t-2
    // found, not toxic (FP); t-3 not found, toxic by the later of its two reviews (FN); t-4
    // (reviewed by category), t-5, t-7 neither (TN); t-8 unreviewed.
    let toxic = unit(&report, "toxicity", "toxic");
    assert_eq!(toxic["reviewed"], 7);
    assert_eq!(
        [
            &toxic["true_positives"],
            &toxic["false_positives"],
            &toxic["false_negatives"],
            &toxic["true_negatives"]
        ],
        [2, 1, 1, 3]
    );
    close(&toxic["precision"], 2.0 / 3.0);
    close(&toxic["recall"], 2.0 / 3.0);
    close(&toxic["false_positive_rate"], 0.25);
    close(&toxic["current_threshold"], 0.46);
    // Negatives score 0.70, 0.20, 0.10, 0.05: a 25% FPR lets one through, so the threshold
    // sits just above 0.20 and every positive (0.90, 0.55, 0.30) passes.
    close(&toxic["suggested_threshold"], 0.2001);
    close(&toxic["recall_at_suggested"], 1.0);
    close(&toxic["fpr_at_suggested"], 0.25);
    // The email on t-2 was reviewed as not personal data: one false positive, no scores.
    let email = unit(&report, "pii", "EMAIL_ADDRESS");
    assert_eq!(email["reviewed"], 1);
    assert_eq!(email["false_positives"], 1);
    assert!(email["suggested_threshold"].is_null());
    assert_eq!(report["reviews_without_verdict"], 1);
    assert_eq!(report["disagreements"], 1);
    assert_eq!(report["reviewed_events"], 7);
    assert_eq!(report["unreadable_labels"], 1);
    // Per category over every operator, keyed by the category alone: t-4 (toxicity: false,
    // nothing found) and t-2 (pii: false, an email found).
    let toxicity = unit(&report, "*", "toxicity");
    assert_eq!(
        (&toxicity["reviewed"], &toxicity["true_negatives"]),
        (&1.into(), &1.into())
    );
    let pii = unit(&report, "*", "pii");
    assert_eq!(
        (&pii["reviewed"], &pii["false_positives"]),
        (&1.into(), &1.into())
    );

    // A zero FPR target: above the highest negative (0.70); only 0.90 passes.
    let strict = feedback(inputs, "0", dir.path());
    let toxic = unit(&strict, "toxicity", "toxic");
    close(&toxic["suggested_threshold"], 0.7001);
    close(&toxic["recall_at_suggested"], 1.0 / 3.0);

    // The export: the seven reviewed events, in the training scripts' row format.
    let rows = read_jsonl(&dir.path().join("dataset.jsonl"));
    assert_eq!(rows.len(), 7);
    let t3 = rows
        .iter()
        .find(|r| r["text"] == "go back to where you came from")
        .unwrap();
    assert_eq!(t3["labels"], serde_json::json!({"toxic": 1}));
    assert_eq!(t3["source"], "feedback:ana");
    let t2 = rows
        .iter()
        .find(|r| r["text"].as_str().unwrap().starts_with("this movie"))
        .unwrap();
    assert_eq!(t2["labels"], serde_json::json!({"pii": 0, "toxic": 0}));
}

#[test]
fn feedback_metrics_and_thresholds_match_a_hand_count() {
    assert_hand_count(&Inputs::Files);
}

#[test]
fn feedback_reads_verdicts_labels_and_events_from_topics_on_kafka() {
    use common::kafka::*;
    let broker = Broker::shared();
    let bootstrap = broker.bootstrap();
    let prefix = unique("feedback");
    let fixtures = repo().join("tests/fixtures/feedback");
    for (what, file, partitions) in [
        ("verdicts", "verdicts.jsonl", 2),
        ("labels", "labels.jsonl", 3),
        ("events", "events.jsonl", 1),
    ] {
        let topic = format!("{prefix}-{what}");
        create_topics(&bootstrap, &[(topic.as_str(), partitions)]);
        let records: Vec<(String, Vec<u8>)> = std::fs::read_to_string(fixtures.join(file))
            .unwrap()
            .lines()
            .enumerate()
            .map(|(i, line)| (i.to_string(), line.as_bytes().to_vec()))
            .collect();
        produce(&bootstrap, &topic, partitions, &records);
    }
    // Labels spread over three partitions arrive out of order: the later review of t-3 still
    // wins by its time.
    assert_hand_count(&Inputs::Topics { bootstrap, prefix });
}

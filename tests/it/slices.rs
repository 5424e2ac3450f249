//! `railyard eval --slices`: false- and true-positive rates per slice (metadata field values
//! and term lists) on a fixture, against a hand count of `tests/fixtures/slices/`.

use crate::common;

use common::*;

#[test]
fn eval_slices_report_rates_per_field_value_and_term_list_as_counted_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo().join("tests/fixtures/slices");
    let json = dir.path().join("slices.json");
    let out = binary()
        .arg("eval")
        .arg(fixtures.join("rows.jsonl"))
        .arg("--topology")
        .arg(fixtures.join("topology.toml"))
        .args(["--operator", "words", "--slices"])
        .arg(fixtures.join("slices.toml"))
        .arg("--slices-out")
        .arg(&json)
        .output()
        .expect("railyard runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("dialect=a"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let slice = |name: &str| -> serde_json::Value {
        report["slices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap()
    };
    // Predicted = "damn" or "trash" found. Overall: 5 negatives, 2 flagged (rows 1, 4);
    // 3 positives, 2 flagged (rows 3, 7).
    assert_eq!(report["overall"]["negatives"], 5);
    assert_eq!(report["overall"]["false_positive_rate"], 0.4);
    let a = slice("dialect=a");
    assert_eq!(
        (a["rows"].clone(), a["false_positive_rate"].clone()),
        (4.into(), 1.0.into())
    );
    assert_eq!(a["true_positive_rate"], 1.0);
    assert_eq!(a["fpr_ratio"], 2.5);
    let b = slice("dialect=b");
    assert_eq!(
        (
            b["false_positive_rate"].clone(),
            b["true_positive_rate"].clone()
        ),
        (0.0.into(), 0.0.into())
    );
    // Terms match whole words: "women" and "women's" (rows 1, 2, 4), never "womenswear".
    let women = slice("identity:women");
    assert_eq!(women["rows"], 3);
    let fpr = women["false_positive_rate"].as_f64().unwrap();
    assert!((fpr - 2.0 / 3.0).abs() < 1e-9, "{fpr}");
    let men = slice("identity:men");
    assert_eq!(
        (men["rows"].clone(), men["false_positive_rate"].clone()),
        (2.into(), 0.0.into())
    );
    assert_eq!(report["max_min_ratio_infinite"], true);
    assert_eq!(
        report["above_twice_overall"],
        serde_json::json!(["dialect=a"])
    );
}

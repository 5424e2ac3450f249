//! Shared bench input: texts from the shared PII speed set (or the Davidson tweets) when
//! present, else the examples.

use std::path::Path;

/// Up to `n` texts (cycled) of the PII speed set, and where they came from.
#[allow(dead_code)] // not every bench that includes this module reads them
pub fn texts(n: usize) -> (Vec<String>, &'static str) {
    texts_from(
        &[
            ("../shared/data/pii_speed_10000.jsonl", "pii_speed_10000"),
            ("examples/events.jsonl", "examples"),
        ],
        n,
    )
}

/// Up to `n` tweets (cycled) of the Davidson set, and where they came from.
#[allow(dead_code)] // not every bench that includes this module reads tweets
pub fn tweets(n: usize) -> (Vec<String>, &'static str) {
    texts_from(
        &[
            ("../shared/data/toxicity_davidson_dev.jsonl", "davidson"),
            ("examples/events.jsonl", "examples"),
        ],
        n,
    )
}

/// The `text` fields of the first candidate file that has any, cycled to `n`.
fn texts_from(candidates: &[(&str, &'static str)], n: usize) -> (Vec<String>, &'static str) {
    for &(path, name) in candidates {
        let Ok(data) = std::fs::read_to_string(Path::new(path)) else {
            continue;
        };
        let base: Vec<String> = data
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["text"].as_str().map(String::from))
            .collect();
        if base.is_empty() {
            continue;
        }
        return (base.iter().cycle().take(n).cloned().collect(), name);
    }
    panic!("no bench input found");
}

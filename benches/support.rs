//! Shared bench input: texts from the shared PII speed set when present, else the examples.

use std::path::Path;

/// Up to `n` texts (cycled), and where they came from.
pub fn texts(n: usize) -> (Vec<String>, &'static str) {
    let candidates: [(&str, &'static str); 2] = [
        ("../shared/data/pii_speed_10000.jsonl", "pii_speed_10000"),
        ("examples/events.jsonl", "examples"),
    ];
    for (path, name) in candidates {
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

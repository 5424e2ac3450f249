//! Helpers shared by the integration tests: the built binary, scratch directories, records.

#![allow(dead_code)]

pub mod http;
pub mod kafka;
pub mod operators;
pub mod process;
pub mod registry;
pub mod scripts;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_railyard"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory holding copies of `examples/` and `topologies/`, so shipped topologies
/// run unchanged with their relative paths.
pub fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    // Models (built by scripts/setup.sh) are large: linked, not copied.
    std::os::unix::fs::symlink(repo().join("models"), dir.path().join("models")).unwrap();
    for sub in ["examples", "topologies", "topologies/lists"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(repo().join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, dir.path().join(sub).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    dir
}

pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    binary()
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("railyard runs")
}

/// Runs `railyard run TOPOLOGY` and asserts it succeeded, showing its stderr if not.
pub fn run_topology(topology: &Path) -> Output {
    let out = binary()
        .args(["run", topology.to_str().unwrap()])
        .output()
        .expect("railyard runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

/// A validator for one of the contracts in `schemas/`.
pub fn schema(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo().join("schemas").join(name)).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&value).expect("schema compiles")
}

pub fn assert_valid(validator: &jsonschema::Validator, record: &serde_json::Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(record)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} violates its schema: {errors:?}\n{record}"
    );
}

/// Writes a topology reading `input` and writing verdicts, enriched records and dead letters
/// into `dir`, with the given operator tables and settings.
pub fn file_topology(
    dir: &Path,
    input: &Path,
    settings: &str,
    operators: &str,
    policy_inputs: &str,
) -> PathBuf {
    let text = format!(
        r#"
name = "test"
[settings]
{settings}
[sources.events]
type = "file"
path = "{input}"
{operators}
[operators.policy]
type = "decide"
inputs = [{policy_inputs}]
[sinks.verdicts]
type = "file"
inputs = ["policy"]
path = "{out}/verdicts.jsonl"
[sinks.enriched]
type = "file"
inputs = ["policy"]
records = "enriched"
path = "{out}/enriched.jsonl"
[sinks.dead]
type = "file"
records = "dead_letters"
path = "{out}/dead_letters.jsonl"
"#,
        input = input.display(),
        out = dir.display()
    );
    let path = dir.join("topology.toml");
    std::fs::write(&path, text).unwrap();
    path
}

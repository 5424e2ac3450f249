//! Helpers shared by the integration tests: the built binary, scratch directories, records.

#![allow(dead_code)]

pub mod http;
pub mod kafka;
pub mod operators;
pub mod process;
pub mod registry;
pub mod scripts;
pub mod topology;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// Runs `command` with `input` on its stdin, its stdout and stderr captured.
pub fn run_with_stdin(mut command: Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("railyard starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input)
        .expect("stdin written");
    child.wait_with_output().expect("railyard ends")
}

/// Runs `command` and asserts it succeeded, showing its stderr if not.
pub fn succeed(mut command: Command) -> Output {
    let out = command.output().expect("railyard runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `railyard run TOPOLOGY` and asserts it succeeded, showing its stderr if not.
pub fn run_topology(topology: &Path) -> Output {
    let mut command = binary();
    command.args(["run", topology.to_str().unwrap()]);
    succeed(command)
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
/// into `dir`, with the given operator tables (TOML) feeding `policy`, and settings.
pub fn file_topology(
    dir: &Path,
    input: &Path,
    settings: &str,
    operators: &str,
    policy_inputs: &[&str],
) -> PathBuf {
    topology::TopologyBuilder::new("test")
        .settings(settings)
        .file_source("events", input)
        .merge(operators)
        .operator("policy", "decide", policy_inputs, "")
        .file_sink(
            "verdicts",
            &["policy"],
            "verdicts",
            &dir.join("verdicts.jsonl"),
        )
        .file_sink(
            "enriched",
            &["policy"],
            "enriched",
            &dir.join("enriched.jsonl"),
        )
        .file_sink("dead", &[], "dead_letters", &dir.join("dead_letters.jsonl"))
        .write(dir.join("topology.toml"))
}

/// Polls `check` until it yields a value; fails the test after `within`.
pub fn wait_until<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `done` until it holds; fails the test after `within`.
pub fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    wait_until(what, within, || done().then_some(()))
}

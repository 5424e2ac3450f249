//! Pinned models: `railyard models lock` writes a topology's model digests, `validate` and
//! `run` refuse a file whose digest differs (naming the file and both digests), an inline
//! `sha256` does the same, the shipped topologies are pinned, and a verdict's provenance
//! carries the pinned model's digest.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use sha2::{Digest, Sha256};

use crate::common::*;

fn sha256_hex(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// A NER topology over stdin whose tokenizer is a copy in `dir` (so a test may change it).
fn topology_with_own_tokenizer(dir: &Path, model_table_extra: &str) -> std::path::PathBuf {
    let tokenizer = dir.join("tokenizer.json");
    std::fs::copy(repo().join("models/minilm/tokenizer.json"), &tokenizer).unwrap();
    let topology = dir.join("pinned.toml");
    std::fs::write(
        &topology,
        format!(
            r#"name = "pinned"
[sources.events]
type = "stdin"
[operators.names]
type = "ner_detect"
inputs = ["events"]
[operators.names.model]
path = "{model}"
tokenizer = "{tokenizer}"
{model_table_extra}
[sinks.verdicts]
type = "stdout"
inputs = ["names"]
[sinks.dead]
type = "stdout"
records = "dead_letters"
"#,
            model = repo().join("models/minilm/model.onnx").display(),
            tokenizer = tokenizer.display(),
        ),
    )
    .unwrap();
    topology
}

fn railyard(args: &[&str]) -> Output {
    binary()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("railyard runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_locked_file_that_changes_is_refused_by_validate_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let topology = topology_with_own_tokenizer(dir.path(), "");
    let path = topology.to_str().unwrap();
    let locked = railyard(&["models", "lock", path]);
    assert!(locked.status.success(), "{}", text(&locked));
    let lock = std::fs::read_to_string(dir.path().join("pinned.lock")).unwrap();
    let tokenizer = dir.path().join("tokenizer.json");
    let before = sha256_hex(&tokenizer);
    assert!(lock.contains(&before), "{lock}");
    assert!(
        lock.contains(&sha256_hex(&repo().join("models/minilm/model.onnx"))),
        "{lock}"
    );
    let valid = railyard(&["validate", path]);
    assert!(valid.status.success(), "{}", text(&valid));
    assert!(text(&valid).contains("pinned by"), "{}", text(&valid));

    // Tampering that keeps the file valid: one more byte of JSON whitespace.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&tokenizer)
        .unwrap()
        .write_all(b"\n")
        .unwrap();
    let after = sha256_hex(&tokenizer);
    for args in [vec!["validate", path], vec!["run", path]] {
        let out = railyard(&args);
        let said = text(&out);
        assert!(!out.status.success(), "{args:?} refused: {said}");
        assert!(said.contains("operators.names.model.tokenizer"), "{said}");
        assert!(said.contains(&tokenizer.display().to_string()), "{said}");
        assert!(said.contains(&before) && said.contains(&after), "{said}");
        assert!(!said.contains("model loaded"), "nothing was loaded: {said}");
    }

    // Locking again accepts the change.
    assert!(railyard(&["models", "lock", path]).status.success());
    assert!(railyard(&["validate", path]).status.success());
}

#[test]
fn an_inline_pin_refuses_another_file_and_accepts_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo().join("models/minilm/model.onnx");
    let actual = sha256_hex(&model);
    let wrong = "0".repeat(64);
    let topology = topology_with_own_tokenizer(dir.path(), &format!("sha256 = \"{wrong}\""));
    let out = railyard(&["validate", topology.to_str().unwrap()]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("operators.names.model.path"), "{said}");
    assert!(said.contains(&actual) && said.contains(&wrong), "{said}");

    let topology =
        topology_with_own_tokenizer(dir.path(), &format!("sha256 = \"sha256:{actual}\""));
    let out = railyard(&["validate", topology.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn shipped_topologies_pin_every_model_file_they_load() {
    let mut pinned = 0;
    for entry in std::fs::read_dir(repo().join("topologies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("RAILYARD_HASH_KEY") {
            continue; // strict.toml needs a key and loads no models
        }
        // Paths in shipped topologies are relative to the repository root, the tests' cwd.
        let topology = railyard::config::Topology::from_file_unpinned(&path).unwrap();
        let loads: BTreeSet<String> = topology
            .model_files
            .iter()
            .map(|f| f.file.display().to_string())
            .collect();
        let lock = railyard::config::ModelLock::read(&path).unwrap();
        match lock {
            None => assert!(
                loads.is_empty(),
                "{} loads {loads:?} unpinned",
                path.display()
            ),
            Some(lock) => {
                let listed: BTreeSet<String> = lock.files.keys().cloned().collect();
                assert_eq!(listed, loads, "{}", path.display());
                for (file, hex) in &lock.files {
                    assert_eq!(&sha256_hex(&repo().join(file)), hex, "{file}");
                }
                pinned += 1;
            }
        }
    }
    assert!(pinned >= 3, "the model topologies are pinned");
}

#[test]
fn a_verdict_carries_the_pinned_model_digest() {
    let dir = workspace();
    let lock = railyard::config::ModelLock::read(&dir.path().join("topologies/ner.toml"))
        .unwrap()
        .expect("ner.toml is pinned");
    let pinned = &lock.files["models/minilm/model.onnx"];
    let mut command = binary();
    command
        .args(["run", "topologies/ner.toml"])
        .current_dir(dir.path());
    let out = run_with_stdin(
        command,
        b"{\"id\":\"e1\",\"kind\":\"prompt\",\"text\":\"Maria Gonzalez lives in Lisbon.\"}\n",
    );
    assert!(out.status.success());
    let verdict: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    let versions: Vec<&str> = verdict["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["provenance"]["version"].as_str().unwrap())
        .collect();
    assert!(!versions.is_empty(), "{verdict}");
    for version in versions {
        let digest = version.strip_prefix("sha256:").expect("a digest");
        assert!(
            digest.len() >= 16 && pinned.starts_with(digest),
            "provenance {version} is the pinned model sha256:{pinned}"
        );
    }
}

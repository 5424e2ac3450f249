//! The audit log end to end: a real run writes it, `railyard audit verify` checks it, and a
//! randomized tamper test (edit, delete, swap, insert; signed and unsigned logs) shows every
//! single-record change is found at its position. Also the vault and `railyard reveal`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use railyard::audit::chain::seal_digest;
use railyard::audit::{ProblemKind, Report, Verifier, VerifyOptions};

const AUDIT_KEY: &str = "audit-key-for-tests-0123456789";
const VAULT_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The shipped `audited` topology over `events` copies of the example events.
fn audited_run(
    dir: &Path,
    events: usize,
    audit_key: Option<&str>,
    extra_env: &[(&str, &str)],
) -> Output {
    let examples: Vec<serde_json::Value> =
        std::fs::read_to_string(repo().join("examples/events.jsonl"))
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["text"].is_string()
                    && matches!(v["kind"].as_str(), None | Some("prompt" | "response"))
            })
            .collect();
    let mut input = String::new();
    for i in 0..events {
        let mut event = examples[i % examples.len()].clone();
        event["id"] = format!("e{i}").into();
        event["conversation_id"] = format!("c{}", i / 5).into();
        input.push_str(&event.to_string());
        input.push('\n');
    }
    run_audited(dir, &input, audit_key, extra_env)
}

/// The shipped `audited` topology over `input` (JSON lines).
fn run_audited(
    dir: &Path,
    input: &str,
    audit_key: Option<&str>,
    extra_env: &[(&str, &str)],
) -> Output {
    let input_path = dir.join("input.jsonl");
    std::fs::write(&input_path, input).unwrap();
    let mut command = binary();
    command
        .args(["run", "topologies/audited.toml"])
        .current_dir(dir)
        .env("RAILYARD_INPUT", &input_path)
        .env("RAILYARD_OUT", dir.join("out"))
        .env("RAILYARD_VAULT_KEY", VAULT_KEY)
        .env_remove("RAILYARD_AUDIT_KEY");
    if let Some(key) = audit_key {
        command.env("RAILYARD_AUDIT_KEY", key);
    }
    for (k, v) in extra_env {
        command.env(k, v);
    }
    command.output().expect("railyard runs")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn verify(lines: &[String], key: Option<&str>) -> Report {
    let mut verifier = Verifier::new(VerifyOptions {
        key: key.map(|k| k.as_bytes().to_vec()),
        allow_open: false,
    });
    for (i, line) in lines.iter().enumerate() {
        verifier.feed(&format!("line {}", i + 1), line.as_bytes());
    }
    verifier.finish()
}

/// xorshift64*: a seeded generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Changes one leaf value of a record (any field, the hash and signature included).
fn edit_record(line: &str, rng: &mut Rng) -> String {
    fn leaves(value: &serde_json::Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let mut p = path.clone();
                    p.push(k.clone());
                    leaves(v, p, out);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    let mut p = path.clone();
                    p.push(i.to_string());
                    leaves(v, p, out);
                }
            }
            _ => out.push(path),
        }
    }
    let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
    let mut paths = Vec::new();
    leaves(&value, Vec::new(), &mut paths);
    let path = &paths[rng.below(paths.len())];
    let mut target = &mut value;
    for key in path {
        target = match target {
            serde_json::Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
            other => &mut other[key.as_str()],
        };
    }
    *target = match target.take() {
        serde_json::Value::String(s) if s.is_empty() => "x".into(),
        serde_json::Value::String(s) => {
            // Flip one character (hex stays hex, so only the content check can catch it).
            let mut chars: Vec<char> = s.chars().collect();
            let i = rng.below(chars.len());
            chars[i] = if chars[i] == '0' { '1' } else { '0' };
            chars.into_iter().collect::<String>().into()
        }
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(u) => (u + 1).into(),
            None => (n.as_f64().unwrap() + 0.0625).into(),
        },
        serde_json::Value::Bool(b) => (!b).into(),
        _ => "x".into(),
    };
    value.to_string()
}

/// A record that looks right: a copy of another with a new event id, re-hashed (but without
/// the key, which an attacker does not have), placed at `seq`/`prev` of an existing record.
fn forged_record(template: &str, like: &str, key: Option<&str>) -> String {
    let mut value: serde_json::Value = serde_json::from_str(template).unwrap();
    let like: serde_json::Value = serde_json::from_str(like).unwrap();
    let map = value.as_object_mut().unwrap();
    map.insert("event_id".into(), "forged".into());
    map.insert("seq".into(), like["seq"].clone());
    map.insert("prev".into(), like["prev"].clone());
    map.remove("hash");
    map.remove("hmac");
    let (hash, _) = seal_digest(map, None);
    map.insert("hash".into(), hash.clone().into());
    if key.is_some() {
        // Signed with a guessed key.
        map.insert(
            "hmac".into(),
            railyard::audit::chain::sign(b"guessed-key-000000", &hash).into(),
        );
    }
    value.to_string()
}

fn tamper_trials(log: &[String], key: Option<&str>, trials: usize, seed: u64) -> [usize; 4] {
    let mut rng = Rng(seed);
    let mut detected = [0usize; 4];
    let n = log.len();
    for trial in 0..trials {
        let kind = trial % 4;
        let mut tampered = log.to_vec();
        // The 1-based positions where the change must be reported (any of them).
        let expected: Vec<u64> = match kind {
            0 => {
                let i = rng.below(n);
                let edited = edit_record(&tampered[i], &mut rng);
                assert_ne!(edited, tampered[i]);
                tampered[i] = edited;
                vec![i as u64 + 1]
            }
            1 => {
                let i = rng.below(n);
                tampered.remove(i);
                vec![i as u64, i as u64 + 1]
            }
            2 => {
                let i = rng.below(n);
                let mut j = rng.below(n);
                while j == i {
                    j = rng.below(n);
                }
                tampered.swap(i, j);
                vec![i.min(j) as u64 + 1]
            }
            _ => {
                let i = rng.below(n + 1);
                let record = if rng.below(2) == 0 {
                    tampered[rng.below(n)].clone()
                } else {
                    let like = &log[i.min(n - 1)];
                    forged_record(&log[rng.below(n)], like, key)
                };
                tampered.insert(i, record);
                vec![i as u64 + 1, i as u64 + 2]
            }
        };
        let report = verify(&tampered, key);
        assert!(
            report.tampered(),
            "trial {trial} (kind {kind}) not detected"
        );
        assert!(
            report
                .problems
                .iter()
                .any(|p| expected.contains(&p.position)),
            "trial {trial} (kind {kind}): no problem reported at {expected:?}: {:#?}",
            report.problems
        );
        detected[kind] += 1;
    }
    detected
}

#[test]
fn every_single_record_tampering_is_detected_in_randomized_trials() {
    for (key, seed) in [(Some(AUDIT_KEY), 0x5eed_0001u64), (None, 0x5eed_0002)] {
        let dir = workspace();
        let out = audited_run(dir.path(), 120, key, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = lines(&dir.path().join("out/audit.jsonl"));
        assert_eq!(log.len(), 121, "120 decisions and a seal");
        let clean = verify(&log, key);
        assert!(!clean.tampered(), "{:#?}", clean.problems);
        assert_eq!((clean.chains, clean.sealed), (1, 1));
        let trials = 1000;
        let detected = tamper_trials(&log, key, trials, seed);
        eprintln!(
            "tamper trials ({}): {trials} run, detected edit {} / delete {} / swap {} / insert {} (100%)",
            if key.is_some() { "signed" } else { "unsigned" },
            detected[0],
            detected[1],
            detected[2],
            detected[3]
        );
        assert_eq!(detected.iter().sum::<usize>(), trials);
    }
}

#[test]
fn audit_records_hold_no_text_and_name_their_topology_and_operators() {
    let dir = workspace();
    let out = audited_run(dir.path(), 17, Some(AUDIT_KEY), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let audit = std::fs::read_to_string(dir.path().join("out/audit.jsonl")).unwrap();
    for secret in ["jane.doe@example.org", "4111 1111 1111 1111", "AKIA"] {
        assert!(!audit.contains(secret), "audit log leaks a detected value");
    }
    let audit_schema = schema("audit.schema.json");
    for line in audit.lines() {
        assert_valid(
            &audit_schema,
            &serde_json::from_str(line).unwrap(),
            "audit record",
        );
    }
    // The contract leaves no room for text: an added field is a violation.
    let mut leaky: serde_json::Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    leaky["text"] = "jane.doe@example.org".into();
    assert!(!audit_schema.is_valid(&leaky));
    let vault_schema = schema("vault.schema.json");
    for entry in lines(&dir.path().join("out/vault.jsonl")) {
        assert_valid(
            &vault_schema,
            &serde_json::from_str(&entry).unwrap(),
            "vault entry",
        );
    }
    let first: serde_json::Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(first["topology"]["name"], "audited");
    assert!(first["topology"]["hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(first["operators"]["pii"]["type"], "pii_detect");
    let removed = &first["findings"][0]["removed"][0];
    assert_eq!(
        removed["value_hmac"].as_str().unwrap(),
        railyard::audit::record::value_hmac(AUDIT_KEY.as_bytes(), "jane.doe@example.org"),
        "an auditor with the key can confirm which value was removed"
    );
}

fn verify_cli(dir: &Path, args: &[&str], key: Option<&str>) -> Output {
    let mut command = binary();
    command
        .arg("audit")
        .arg("verify")
        .args(args)
        .current_dir(dir)
        .env_remove("RAILYARD_AUDIT_KEY");
    if let Some(key) = key {
        command.env("RAILYARD_AUDIT_KEY", key);
    }
    command.output().unwrap()
}

#[test]
fn verify_exit_codes_name_the_problem_and_its_position() {
    let dir = workspace();
    assert!(audited_run(dir.path(), 40, Some(AUDIT_KEY), &[])
        .status
        .success());
    let path = dir.path().join("out/audit.jsonl");
    let ok = verify_cli(dir.path(), &["out/audit.jsonl"], Some(AUDIT_KEY));
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact: 41 records, 1 chains (1 sealed)"));

    // Signed records without the key: not silently accepted.
    let no_key = verify_cli(dir.path(), &["out/audit.jsonl"], None);
    assert_eq!(no_key.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("RAILYARD_AUDIT_KEY"));
    let chains_only = verify_cli(dir.path(), &["out/audit.jsonl", "--skip-signatures"], None);
    assert_eq!(chains_only.status.code(), Some(0));

    // A wrong key: every record is reported forged.
    let wrong = verify_cli(
        dir.path(),
        &["out/audit.jsonl"],
        Some("another-key-0123456789"),
    );
    assert_eq!(wrong.status.code(), Some(1));

    let mut log = lines(&path);
    log.remove(10);
    std::fs::write(&path, log.join("\n") + "\n").unwrap();
    let removed = verify_cli(dir.path(), &["out/audit.jsonl"], Some(AUDIT_KEY));
    let stdout = String::from_utf8_lossy(&removed.stdout);
    assert_eq!(removed.status.code(), Some(1));
    assert!(
        stdout.contains("record 11 (out/audit.jsonl:11)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("removed: records with seq 10..10 are missing"),
        "{stdout}"
    );
    assert!(
        stdout.starts_with("record") && stdout.contains("TAMPERED"),
        "{stdout}"
    );
    let json = verify_cli(dir.path(), &["out/audit.jsonl", "--json"], Some(AUDIT_KEY));
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["records"], 40);
    assert_eq!(report["problems"][0]["kind"], "removed");
    assert_eq!(report["problems"][0]["position"], 11);
}

#[test]
fn a_killed_run_leaves_an_open_chain_that_verifies_only_as_open() {
    let dir = workspace();
    assert!(audited_run(dir.path(), 10, None, &[]).status.success());
    let path = dir.path().join("out/audit.jsonl");
    let mut log = lines(&path);
    log.pop(); // the seal, as if the process had been killed before writing it
    std::fs::write(&path, log.join("\n") + "\n").unwrap();
    let strict = verify_cli(dir.path(), &["out/audit.jsonl"], None);
    assert_eq!(strict.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&strict.stdout).contains("truncated"));
    let open = verify_cli(dir.path(), &["out/audit.jsonl", "--allow-open"], None);
    assert_eq!(open.status.code(), Some(0));
}

#[test]
fn rotated_segments_verify_as_one_log_and_runs_append() {
    let dir = workspace();
    let topology = std::fs::read_to_string(dir.path().join("topologies/audited.toml"))
        .unwrap()
        .replace("rotate_bytes = 67108864", "rotate_bytes = 8192");
    std::fs::write(dir.path().join("topologies/audited.toml"), topology).unwrap();
    for _ in 0..2 {
        let out = audited_run(dir.path(), 60, Some(AUDIT_KEY), &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let segments: Vec<PathBuf> =
        railyard::io::rotate::log_files(&dir.path().join("out/audit.jsonl")).unwrap();
    assert!(segments.len() >= 3, "{segments:?}");
    let report = railyard::audit::verify::verify_files(
        &[dir.path().join("out/audit.jsonl")],
        VerifyOptions {
            key: Some(AUDIT_KEY.as_bytes().to_vec()),
            allow_open: false,
        },
    )
    .unwrap();
    assert!(!report.tampered(), "{:#?}", report.problems);
    assert_eq!((report.records, report.chains, report.sealed), (122, 2, 2));
    // Removing a whole middle segment is found.
    std::fs::remove_file(&segments[1]).unwrap();
    let out = verify_cli(dir.path(), &["out/audit.jsonl"], Some(AUDIT_KEY));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed"));
}

#[test]
fn a_required_audit_key_that_is_missing_stops_the_start() {
    let dir = workspace();
    let topology = std::fs::read_to_string(dir.path().join("topologies/audited.toml"))
        .unwrap()
        .replace(
            "rotate_bytes = 67108864",
            "rotate_bytes = 67108864\nrequire_key = true",
        );
    std::fs::write(dir.path().join("topologies/audited.toml"), topology).unwrap();
    let out = audited_run(dir.path(), 5, None, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sinks.audit: require_key is set and environment variable `RAILYARD_AUDIT_KEY` is not set"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("out/verdicts.jsonl").exists(),
        "nothing ran"
    );
    let short = audited_run(dir.path(), 5, Some("short"), &[]);
    assert!(
        String::from_utf8_lossy(&short.stderr).contains("holds 5 bytes; the key needs at least 16")
    );
}

#[test]
fn the_vault_restores_originals_only_with_its_key() {
    let dir = workspace();
    let out = audited_run(dir.path(), 17, None, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vault = std::fs::read_to_string(dir.path().join("out/vault.jsonl")).unwrap();
    assert!(
        !vault.contains("jane.doe@example.org"),
        "vault entries are encrypted"
    );
    let enriched = lines(&dir.path().join("out/enriched.jsonl"));
    let first: serde_json::Value = serde_json::from_str(&enriched[0]).unwrap();
    let redacted = first["text"].as_str().unwrap();
    assert!(redacted.contains("<EMAIL_ADDRESS_1>"), "{redacted}");
    let conversation = first["conversation_id"].as_str().unwrap();

    let reveal = |key: Option<&str>| {
        let mut command = binary();
        command
            .args([
                "reveal",
                "--file",
                "out/vault.jsonl",
                "--conversation",
                conversation,
                "--text",
                redacted,
            ])
            .current_dir(dir.path())
            .env_remove("RAILYARD_VAULT_KEY");
        if let Some(key) = key {
            command.env("RAILYARD_VAULT_KEY", key);
        }
        command.output().unwrap()
    };
    let restored = reveal(Some(VAULT_KEY));
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let text = String::from_utf8_lossy(&restored.stdout);
    assert!(
        text.contains("jane.doe@example.org") && text.contains("+44 20 7946 0958"),
        "{text}"
    );

    let refused = reveal(None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr)
        .contains("refusing to reveal: environment variable `RAILYARD_VAULT_KEY` is not set"));
    assert!(refused.stdout.is_empty());
    let wrong = reveal(Some(&"ff".repeat(32)));
    assert!(!String::from_utf8_lossy(&wrong.stdout).contains("jane.doe@example.org"));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not with this key"));
}

/// A streamed response in a conversation numbers its placeholders as it is released; those
/// entries reach the vault with its verdict, and `reveal` restores the response from them.
#[test]
fn a_streamed_response_seals_its_placeholders_into_the_vault() {
    let dir = workspace();
    let pieces = [
        "Sure, write to jane.d",
        "oe@example.org or call +44 20 79",
        "46 0958 and we will get back to you within two working days as promised.",
    ];
    let input: String = pieces
        .iter()
        .enumerate()
        .map(|(seq, text)| {
            let chunk = serde_json::json!({"kind": "response_chunk", "stream_id": "s-1",
                "conversation_id": "conv-s", "seq": seq, "text": text,
                "last": seq + 1 == pieces.len()});
            format!("{chunk}\n")
        })
        .collect();
    let out = run_audited(dir.path(), &input, None, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vault = lines(&dir.path().join("out/vault.jsonl"));
    assert_eq!(vault.len(), 2, "one entry per placeholder: {vault:?}");
    let enriched = lines(&dir.path().join("out/enriched.jsonl"));
    assert_eq!(enriched.len(), 1);
    let record: serde_json::Value = serde_json::from_str(&enriched[0]).unwrap();
    let redacted = record["text"].as_str().unwrap();
    assert!(redacted.contains("<EMAIL_ADDRESS_1>"), "{redacted}");
    let restored = binary()
        .args([
            "reveal",
            "--file",
            "out/vault.jsonl",
            "--conversation",
            "conv-s",
            "--text",
            redacted,
        ])
        .current_dir(dir.path())
        .env("RAILYARD_VAULT_KEY", VAULT_KEY)
        .output()
        .unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&restored.stdout).trim_end(),
        pieces.concat()
    );
}

#[test]
fn problem_kinds_are_named_for_what_happened() {
    let dir = workspace();
    assert!(audited_run(dir.path(), 20, None, &[]).status.success());
    let log = lines(&dir.path().join("out/audit.jsonl"));
    let kinds = |tampered: Vec<String>| -> Vec<ProblemKind> {
        verify(&tampered, None)
            .problems
            .iter()
            .map(|p| p.kind)
            .collect()
    };
    let mut swapped = log.clone();
    swapped.swap(3, 4);
    assert!(kinds(swapped).contains(&ProblemKind::Reordered));
    let mut duplicated = log.clone();
    duplicated.insert(8, log[2].clone());
    assert!(kinds(duplicated).contains(&ProblemKind::Inserted));
    let mut edited = log.clone();
    edited[5] = edited[5].replace("\"action\":\"redact\"", "\"action\":\"allow\"");
    if edited[5] != log[5] {
        assert_eq!(kinds(edited)[0], ProblemKind::Modified);
    }
    let mut cut = log.clone();
    cut.truncate(12);
    assert_eq!(kinds(cut), [ProblemKind::Truncated]);
}

//! Verifying an audit log: every record's hash and signature, and every chain's order and
//! completeness.
//!
//! Records are fed in stream order (file lines, or one partition's offsets); chains may
//! interleave. A record whose content no longer matches its hash is *modified*; a bad or
//! missing signature (with a key) is *forged*; a jump in `seq` is *removed* (or *reordered*
//! when the missing records turn up later); a `seq` seen before, a record that does not link
//! to its predecessor, or one after the seal is *inserted*; a chain without a seal at the end
//! is *truncated* (unless the log is still being written: `allow_open`).

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::Value;

use super::chain::{seal_digest, sign, GENESIS};

/// What is wrong with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Not a JSON object with the audit fields.
    Unreadable,
    /// Content does not match the record's hash.
    Modified,
    /// Signature missing or wrong.
    Forged,
    /// Records missing before this one.
    Removed,
    /// This record is out of its chain's order.
    Reordered,
    /// A record that does not belong where it is (duplicate, bad link, after the seal).
    Inserted,
    /// The chain ends without its seal.
    Truncated,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::Modified => "modified",
            ProblemKind::Forged => "forged",
            ProblemKind::Removed => "removed",
            ProblemKind::Reordered => "reordered",
            ProblemKind::Inserted => "inserted",
            ProblemKind::Truncated => "truncated",
        }
    }
}

/// One finding of the verifier.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Problem {
    /// 1-based position of the record in the stream fed.
    pub position: u64,
    /// Where it was read: `file:line` or `topic/partition@offset`.
    pub location: String,
    pub chain: Option<String>,
    pub seq: Option<u64>,
    pub kind: ProblemKind,
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {} ({})", self.position, self.location)?;
        if let Some(chain) = &self.chain {
            write!(f, " chain {chain}")?;
        }
        if let Some(seq) = self.seq {
            write!(f, " seq {seq}")?;
        }
        write!(f, ": {}: {}", self.kind.as_str(), self.detail)
    }
}

/// How to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The HMAC key: every record must then carry a valid signature.
    pub key: Option<Vec<u8>>,
    /// Accept chains without a seal (a log still being written).
    pub allow_open: bool,
}

/// The outcome.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub records: u64,
    pub chains: usize,
    pub sealed: usize,
    /// Records carrying a signature that was not checked (no key given).
    pub unchecked_signatures: u64,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn tampered(&self) -> bool {
        !self.problems.is_empty()
    }
}

#[derive(Default)]
struct ChainCheck {
    next_seq: u64,
    prev: String,
    sealed: bool,
    seen: HashSet<u64>,
    last_position: u64,
    last_location: String,
}

/// Streaming verifier: [`Verifier::feed`] each record, then [`Verifier::finish`].
pub struct Verifier {
    options: VerifyOptions,
    chains: HashMap<String, ChainCheck>,
    report: Report,
    /// Problems reported as `Removed` with the missing range, relabelled `Reordered` at the
    /// end when the missing records were seen later.
    gaps: Vec<(usize, String, u64, u64)>,
}

impl Verifier {
    pub fn new(options: VerifyOptions) -> Verifier {
        Verifier {
            options,
            chains: HashMap::new(),
            report: Report::default(),
            gaps: Vec::new(),
        }
    }

    fn problem(
        &mut self,
        location: &str,
        chain: Option<&str>,
        seq: Option<u64>,
        kind: ProblemKind,
        detail: String,
    ) {
        self.report.problems.push(Problem {
            position: self.report.records,
            location: location.to_string(),
            chain: chain.map(str::to_string),
            seq,
            kind,
            detail,
        });
    }

    /// Checks one record read at `location`.
    pub fn feed(&mut self, location: &str, bytes: &[u8]) {
        self.report.records += 1;
        let record = match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => map,
            _ => {
                self.problem(
                    location,
                    None,
                    None,
                    ProblemKind::Unreadable,
                    "not a JSON object".into(),
                );
                return;
            }
        };
        let chain = record
            .get("chain")
            .and_then(Value::as_str)
            .map(str::to_string);
        let seq = record.get("seq").and_then(Value::as_u64);
        let prev = record
            .get("prev")
            .and_then(Value::as_str)
            .map(str::to_string);
        let hash = record
            .get("hash")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (Some(chain), Some(seq), Some(prev), Some(hash)) = (chain, seq, prev, hash) else {
            self.problem(
                location,
                None,
                None,
                ProblemKind::Unreadable,
                "missing chain, seq, prev or hash".into(),
            );
            return;
        };
        let kind = record
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let stored_hmac = record
            .get("hmac")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut body = record;
        body.remove("hash");
        body.remove("hmac");
        let (computed, _) = seal_digest(&body, None);
        if computed != hash {
            self.problem(
                location,
                Some(&chain),
                Some(seq),
                ProblemKind::Modified,
                "content does not match the record's hash".into(),
            );
        }
        match (&self.options.key, &stored_hmac) {
            (Some(key), Some(mac)) if sign(key, &hash) != *mac => {
                self.problem(
                    location,
                    Some(&chain),
                    Some(seq),
                    ProblemKind::Forged,
                    "signature does not match (wrong key, or the record was re-hashed)".into(),
                );
            }
            (Some(_), None) => {
                self.problem(
                    location,
                    Some(&chain),
                    Some(seq),
                    ProblemKind::Forged,
                    "record is not signed".into(),
                );
            }
            (None, Some(_)) => self.report.unchecked_signatures += 1,
            _ => {}
        }
        let position = self.report.records;
        let state = self
            .chains
            .entry(chain.clone())
            .or_insert_with(|| ChainCheck {
                prev: GENESIS.to_string(),
                ..ChainCheck::default()
            });
        let duplicate = !state.seen.insert(seq);
        let expected = state.next_seq;
        let linked = prev == state.prev;
        let after_seal = state.sealed;
        state.next_seq = state.next_seq.max(seq + 1);
        state.prev = hash;
        state.sealed = kind == "seal";
        state.last_position = position;
        state.last_location = location.to_string();
        let issue = if after_seal {
            Some((
                ProblemKind::Inserted,
                "record after the chain's seal".to_string(),
            ))
        } else if duplicate {
            Some((
                ProblemKind::Inserted,
                format!("seq {seq} appears more than once"),
            ))
        } else if seq == expected && !linked {
            Some((
                ProblemKind::Inserted,
                "does not link to the previous record of its chain".to_string(),
            ))
        } else if seq > expected {
            self.gaps
                .push((self.report.problems.len(), chain.clone(), expected, seq));
            Some((
                ProblemKind::Removed,
                format!(
                    "records with seq {expected}..{} are missing before it",
                    seq - 1
                ),
            ))
        } else if seq < expected {
            Some((
                ProblemKind::Reordered,
                format!("seq {seq} comes after seq {}", expected - 1),
            ))
        } else {
            None
        };
        if let Some((kind, detail)) = issue {
            self.problem(location, Some(&chain), Some(seq), kind, detail);
        }
    }

    /// Ends the stream: unsealed chains, then the report.
    pub fn finish(mut self) -> Report {
        for (index, chain, from, to) in std::mem::take(&mut self.gaps) {
            let state = &self.chains[&chain];
            if (from..to).all(|s| state.seen.contains(&s)) {
                let problem = &mut self.report.problems[index];
                problem.kind = ProblemKind::Reordered;
                problem.detail = format!("arrives before seq {from}..{}", to - 1);
            }
        }
        let mut chains: Vec<(&String, &ChainCheck)> = self.chains.iter().collect();
        chains.sort_by_key(|(_, c)| c.last_position);
        let mut unsealed = Vec::new();
        for (chain, state) in chains {
            if state.sealed {
                self.report.sealed += 1;
            } else if !self.options.allow_open {
                unsealed.push(Problem {
                    position: state.last_position,
                    location: state.last_location.clone(),
                    chain: Some(chain.clone()),
                    seq: Some(state.next_seq - 1),
                    kind: ProblemKind::Truncated,
                    detail:
                        "chain ends without its seal: records after this one may have been removed"
                            .into(),
                });
            }
        }
        self.report.chains = self.chains.len();
        self.report.problems.extend(unsealed);
        self.report
    }
}

/// Verifies audit files: each path with its rotated segments (`PATH.N`) before it.
pub fn verify_files(
    paths: &[std::path::PathBuf],
    options: VerifyOptions,
) -> std::io::Result<Report> {
    use std::io::BufRead;
    let mut verifier = Verifier::new(options);
    for path in paths {
        let files = crate::io::rotate::log_files(path)?;
        if files.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such audit log", path.display()),
            ));
        }
        for file in files {
            let reader = std::io::BufReader::new(std::fs::File::open(&file)?);
            let name = file.display().to_string();
            for (index, line) in reader.split(b'\n').enumerate() {
                let line = line?;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                verifier.feed(&format!("{name}:{}", index + 1), &line);
            }
        }
    }
    Ok(verifier.finish())
}

//! Hash chains over audit records.
//!
//! A chain is one input partition (or file source) in one run of one instance:
//! `<run id>/<scope>`. Record `n` of a chain carries `seq = n`, `prev` = the `hash` of record
//! `n-1` (64 zeros for the first), and `hash` = SHA-256 of its canonical form without `hash`
//! and `hmac`. With a key, `hmac` = HMAC-SHA256 of the hash, so a record cannot be forged or
//! the chain rebuilt without the key. A clean shutdown appends a `seal` record to every chain,
//! so removing the last records is detected too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canonical;
use super::record::PreparedDecision;
use crate::model::TopologyRef;

/// `prev` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version of the audit record format.
pub const AUDIT_SCHEMA_VERSION: &str = "1";

#[derive(Debug)]
struct ChainState {
    seq: u64,
    prev: String,
    decisions: u64,
}

/// Appends records to chains; shared by every source of a run.
pub struct AuditWriter {
    run_id: String,
    key: Option<Arc<[u8]>>,
    /// `topology` and `operators` in canonical form, the same in every record.
    topology: Vec<u8>,
    operators: Vec<u8>,
    chains: Mutex<HashMap<String, ChainState>>,
}

fn json_string(s: &str) -> Vec<u8> {
    serde_json::to_vec(s).expect("strings serialize")
}

impl AuditWriter {
    /// `operators` maps operator id to its type and version (model digests for model
    /// operators); `key` signs records when present.
    pub fn new(topology: &TopologyRef, operators: Value, key: Option<Arc<[u8]>>) -> AuditWriter {
        AuditWriter {
            run_id: new_run_id(),
            key,
            topology: canonical::to_vec(
                &serde_json::to_value(topology).expect("topology refs serialize"),
            ),
            operators: canonical::to_vec(&operators),
            chains: Mutex::new(HashMap::new()),
        }
    }

    pub fn signed(&self) -> bool {
        self.key.is_some()
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The chain id of `scope` (a partition `topic/partition`, or a file source id).
    pub fn chain_id(&self, scope: &str) -> String {
        format!("{}/{scope}", self.run_id)
    }

    /// One serialized record (no newline) per decision, chained in the order given.
    pub fn append_batch<'a>(
        &self,
        decisions: impl IntoIterator<Item = (&'a str, &'a PreparedDecision)>,
    ) -> Vec<Vec<u8>> {
        let time = json_string(&now());
        let mut chains = self.chains.lock().unwrap_or_else(|p| p.into_inner());
        decisions
            .into_iter()
            .map(|(chain, decision)| {
                let state = chains
                    .entry(chain.to_string())
                    .or_insert_with(|| ChainState {
                        seq: 0,
                        prev: GENESIS.to_string(),
                        decisions: 0,
                    });
                state.decisions += 1;
                let mut fields: Vec<(&str, &[u8])> = decision
                    .fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_slice()))
                    .collect();
                fields.push(("type", br#""decision""#));
                fields.push(("topology", &self.topology));
                fields.push(("operators", &self.operators));
                self.link(state, chain, &time, fields)
            })
            .collect()
    }

    /// Seals every open chain (a clean shutdown); returns `(chain, record)` pairs.
    pub fn seal_all(&self) -> Vec<(String, Vec<u8>)> {
        self.seal_where(|_| true)
    }

    /// Seals the open chains whose id matches; they are closed (a later record for the same
    /// scope starts nothing: callers seal only at the end of their work).
    pub fn seal_where(&self, matches: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
        let time = json_string(&now());
        let mut chains = self.chains.lock().unwrap_or_else(|p| p.into_inner());
        let mut sealed: Vec<(String, Vec<u8>)> = chains
            .iter_mut()
            .filter(|(chain, _)| matches(chain))
            .map(|(chain, state)| {
                let decisions = state.decisions.to_string().into_bytes();
                let fields: Vec<(&str, &[u8])> = vec![
                    ("type", br#""seal""#),
                    ("decisions", &decisions),
                    ("topology", &self.topology),
                ];
                let line = self.link(state, chain, &time, fields);
                (chain.clone(), line)
            })
            .collect();
        chains.retain(|chain, _| !matches(chain));
        sealed.sort();
        sealed
    }

    /// Writes the record in canonical form (keys sorted) with its chain fields, hashes it,
    /// then appends `hash` and `hmac`: the verifier re-derives exactly these bytes.
    fn link(
        &self,
        state: &mut ChainState,
        chain: &str,
        time: &[u8],
        record_fields: Vec<(&str, &[u8])>,
    ) -> Vec<u8> {
        let chain_json = json_string(chain);
        let seq = state.seq.to_string().into_bytes();
        let prev = json_string(&state.prev);
        let version = json_string(AUDIT_SCHEMA_VERSION);
        let mut fields: Vec<(&str, &[u8])> = Vec::with_capacity(record_fields.len() + 5);
        fields.extend_from_slice(&record_fields);
        fields.push(("schema_version", &version));
        fields.push(("chain", &chain_json));
        fields.push(("seq", &seq));
        fields.push(("prev", &prev));
        fields.push(("time", time));
        fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut line = Vec::with_capacity(
            fields
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>()
                + 256,
        );
        line.push(b'{');
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            serde_json::to_writer(&mut line, key).expect("keys serialize");
            line.push(b':');
            line.extend_from_slice(value);
        }
        line.push(b'}');
        let hash = hex::encode(Sha256::digest(&line));
        line.pop();
        line.extend_from_slice(br#","hash":""#);
        line.extend_from_slice(hash.as_bytes());
        line.push(b'"');
        if let Some(key) = &self.key {
            line.extend_from_slice(br#","hmac":""#);
            line.extend_from_slice(sign(key, &hash).as_bytes());
            line.push(b'"');
        }
        line.push(b'}');
        state.seq += 1;
        state.prev = hash;
        line
    }
}

/// The hash of a record (without `hash` and `hmac` keys) and, with a key, its HMAC.
pub fn seal_digest(record: &Map<String, Value>, key: Option<&[u8]>) -> (String, Option<String>) {
    let hash = hex::encode(Sha256::digest(canonical::object_to_vec(record)));
    let hmac = key.map(|key| sign(key, &hash));
    (hash, hmac)
}

/// Hex HMAC-SHA256 of a record hash.
pub fn sign(key: &[u8], hash: &str) -> String {
    super::record::value_hmac(key, hash)
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// 16 hex digits from the clock, the process id and a hash of both: unique per start.
fn new_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let digest = Sha256::digest(format!("{nanos}:{}", std::process::id()));
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Decision;
    use crate::model::Action;
    use crate::model::Event;

    #[test]
    fn records_link_to_their_predecessor_and_seals_close_chains() {
        let topology = TopologyRef {
            name: Arc::from("t"),
            hash: Arc::from("sha256:00"),
        };
        let writer = AuditWriter::new(&topology, serde_json::json!({}), None);
        let decisions: Vec<PreparedDecision> = (0..3)
            .map(|i| {
                Decision::new(&Event::prompt(&i.to_string(), "x"), Action::Allow, None).prepare()
            })
            .collect();
        let chain = writer.chain_id("events");
        let lines = writer.append_batch(decisions.iter().map(|d| (chain.as_str(), d)));
        let seal = writer.seal_all();
        let records: Vec<Value> = lines
            .iter()
            .chain(seal.iter().map(|(_, l)| l))
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(records[0]["prev"], GENESIS);
        for pair in records.windows(2) {
            assert_eq!(pair[1]["prev"], pair[0]["hash"]);
            assert_eq!(
                pair[1]["seq"].as_u64(),
                pair[0]["seq"].as_u64().map(|s| s + 1)
            );
        }
        assert_eq!(records[3]["type"], "seal");
        assert_eq!(records[3]["decisions"], 3);
        assert!(records.iter().all(|r| r.get("hmac").is_none()));
        // The hash covers the canonical form the verifier derives from the parsed record.
        for (line, record) in lines.iter().zip(&records) {
            let mut body = record.as_object().unwrap().clone();
            body.remove("hash");
            let (hash, _) = seal_digest(&body, None);
            assert_eq!(record["hash"], hash.as_str());
            assert!(std::str::from_utf8(line)
                .unwrap()
                .ends_with(&format!(r#""hash":"{hash}"}}"#)));
        }
    }
}

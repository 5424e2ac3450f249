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

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canonical;
use super::record::Decision;
use crate::verdict::TopologyRef;

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
    topology: Value,
    operators: Value,
    chains: Mutex<HashMap<String, ChainState>>,
}

impl AuditWriter {
    /// `operators` maps operator id to its type and version (model digests for model
    /// operators); `key` signs records when present.
    pub fn new(topology: &TopologyRef, operators: Value, key: Option<Arc<[u8]>>) -> AuditWriter {
        AuditWriter {
            run_id: new_run_id(),
            key,
            topology: serde_json::to_value(topology).expect("topology refs serialize"),
            operators,
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
        decisions: impl IntoIterator<Item = (&'a str, &'a Decision)>,
    ) -> Vec<Vec<u8>> {
        let time = now();
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
                let Value::Object(mut record) =
                    serde_json::to_value(decision).expect("decisions serialize")
                else {
                    unreachable!("a decision serializes to an object");
                };
                record.insert("type".into(), "decision".into());
                record.insert("topology".into(), self.topology.clone());
                record.insert("operators".into(), self.operators.clone());
                state.decisions += 1;
                self.link(state, chain, &time, record)
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
        let time = now();
        let mut chains = self.chains.lock().unwrap_or_else(|p| p.into_inner());
        let mut sealed: Vec<(String, Vec<u8>)> = chains
            .iter_mut()
            .filter(|(chain, _)| matches(chain))
            .map(|(chain, state)| {
                let mut record = Map::new();
                record.insert("type".into(), "seal".into());
                record.insert("decisions".into(), state.decisions.into());
                record.insert("topology".into(), self.topology.clone());
                let line = self.link(state, chain, &time, record);
                (chain.clone(), line)
            })
            .collect();
        chains.retain(|chain, _| !matches(chain));
        sealed.sort();
        sealed
    }

    fn link(
        &self,
        state: &mut ChainState,
        chain: &str,
        time: &str,
        mut record: Map<String, Value>,
    ) -> Vec<u8> {
        record.insert("schema_version".into(), AUDIT_SCHEMA_VERSION.into());
        record.insert("chain".into(), chain.into());
        record.insert("seq".into(), state.seq.into());
        record.insert("prev".into(), state.prev.clone().into());
        record.insert("time".into(), time.into());
        let (hash, hmac) = seal_digest(&record, self.key.as_deref());
        record.insert("hash".into(), hash.clone().into());
        if let Some(hmac) = hmac {
            record.insert("hmac".into(), hmac.into());
        }
        state.seq += 1;
        state.prev = hash;
        serde_json::to_vec(&Value::Object(record)).expect("records serialize")
    }
}

/// The hash of a record (without `hash` and `hmac` keys) and, with a key, its HMAC.
pub fn seal_digest(record: &Map<String, Value>, key: Option<&[u8]>) -> (String, Option<String>) {
    let hash = hex::encode(Sha256::digest(canonical::to_vec(&Value::Object(
        record.clone(),
    ))));
    let hmac = key.map(|key| sign(key, &hash));
    (hash, hmac)
}

/// Hex HMAC-SHA256 of a record hash.
pub fn sign(key: &[u8], hash: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(hash.as_bytes());
    hex::encode(mac.finalize().into_bytes())
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
    use crate::event::Event;
    use crate::verdict::Action;

    #[test]
    fn records_link_to_their_predecessor_and_seals_close_chains() {
        let topology = TopologyRef {
            name: Arc::from("t"),
            hash: Arc::from("sha256:00"),
        };
        let writer = AuditWriter::new(&topology, serde_json::json!({}), None);
        let decisions: Vec<Decision> = (0..3)
            .map(|i| Decision::new(&Event::prompt(&i.to_string(), "x"), Action::Allow, None))
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
    }
}

//! The audit log: decisions prepared (canonical form, on the worker threads), chained and
//! signed (the sequential step), and verified, per record, over the example events' findings.
//! The vault: sealing one placeholder's value.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use railyard::audit::{AuditWriter, Decision, PreparedDecision, Verifier, VerifyOptions};
use railyard::codec::decode_json;
use railyard::config::interpolate::ProcessEnv;
use railyard::config::Topology;
use railyard::model::{Action, TopologyRef};
use railyard::model::{Event, Origin};
use railyard::operators::{BuiltOperator, Inspector};
use railyard::topology::Pipeline;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: usize = 1000;
const KEY: &[u8] = b"bench-audit-key-0123456789";

/// Example events with the default topology's findings and action on them.
fn decided_events() -> Vec<(Event, Action)> {
    let text = std::fs::read_to_string("topologies/default.toml").expect("default topology");
    let topology = Topology::from_toml(&text, &ProcessEnv).expect("valid");
    let pipeline = Pipeline::build(&topology).expect("builds");
    let inspectors: Vec<Arc<dyn Inspector>> = topology
        .operators
        .iter()
        .filter_map(|node| match &node.operator {
            BuiltOperator::Inspector(inspector) => Some(inspector.clone()),
            BuiltOperator::Policy(_) => None,
        })
        .collect();
    let origin = Origin::Line {
        source: Arc::from("bench"),
        line: 1,
    };
    let examples: Vec<Event> = std::fs::read_to_string("examples/events.jsonl")
        .expect("examples")
        .lines()
        .filter_map(|l| decode_json(l.as_bytes(), origin.clone(), 1 << 20).ok())
        .collect();
    let events: Vec<Event> = examples.iter().cycle().take(RECORDS).cloned().collect();
    let actions: Vec<Action> = pipeline
        .process(0, events.clone(), false)
        .into_iter()
        .map(|p| p.verdict.action)
        .collect();
    events
        .into_iter()
        .zip(actions)
        .map(|(mut event, action)| {
            for inspector in &inspectors {
                inspector.inspect(&mut event).expect("inspects");
            }
            (event, action)
        })
        .collect()
}

fn audit(c: &mut Criterion) {
    let events = decided_events();
    let topology = TopologyRef {
        name: Arc::from("bench"),
        hash: Arc::from("sha256:0000000000000000000000000000000000000000000000000000000000000000"),
    };
    let operators = serde_json::json!({"pii": {"type": "pii_detect", "version": "0.1.0"}});
    let mut group = c.benchmark_group("audit");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("prepare", |b| {
        b.iter(|| {
            events
                .iter()
                .map(|(e, a)| Decision::new(e, *a, Some(KEY)).prepare())
                .collect::<Vec<PreparedDecision>>()
        })
    });
    let prepared: Vec<PreparedDecision> = events
        .iter()
        .map(|(e, a)| Decision::new(e, *a, Some(KEY)).prepare())
        .collect();
    group.bench_function("chain_and_sign", |b| {
        b.iter_batched(
            || AuditWriter::new(&topology, operators.clone(), Some(Arc::from(KEY))),
            |writer| {
                let chain = writer.chain_id("events");
                writer.append_batch(prepared.iter().map(|d| (chain.as_str(), d)))
            },
            BatchSize::SmallInput,
        )
    });
    let writer = AuditWriter::new(&topology, operators.clone(), Some(Arc::from(KEY)));
    let chain = writer.chain_id("events");
    let lines = writer.append_batch(prepared.iter().map(|d| (chain.as_str(), d)));
    group.bench_function("verify", |b| {
        b.iter(|| {
            let mut verifier = Verifier::new(VerifyOptions {
                key: Some(KEY.to_vec()),
                allow_open: true,
            });
            for line in &lines {
                verifier.feed("bench", line);
            }
            verifier.finish()
        })
    });
    group.finish();

    let vault = railyard::vault::Vault::new(&[7u8; 32]);
    let mut group = c.benchmark_group("vault");
    group.throughput(Throughput::Elements(1));
    group.bench_function("seal", |b| {
        b.iter(|| {
            vault.seal(
                "conversation-42",
                "<EMAIL_ADDRESS_1>",
                "jane.doe@example.org",
            )
        })
    });
    group.finish();
}

criterion_group!(benches, audit);
criterion_main!(benches);

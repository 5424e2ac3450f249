//! One criterion group per operator: texts per second and bytes per second on one core, and
//! for the trigger-gated ones the bytes per second of their trigger check.
//! Setup (building operators, creating events) is outside the measured loop.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use railyard::model::Event;
use railyard::operators::{BuiltOperator, Inspector, OperatorSpec};

/// The allocator the `railyard` binary uses, so figures match what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support.rs"]
mod support;

const BATCH: usize = 1000;

fn build(type_name: &str, toml_body: &str) -> std::sync::Arc<dyn Inspector> {
    let mut errors = railyard::diagnostics::Errors::default();
    let body: toml::Value = toml::from_str(toml_body).expect("bench config");
    let spec = OperatorSpec::parse(type_name, body, "operators.bench", &mut errors)
        .expect("valid bench config");
    match spec.build("bench").expect("builds") {
        BuiltOperator::Inspector(inspector) => inspector,
        BuiltOperator::Policy(_) => unreachable!("benches build detectors"),
    }
}

fn operators(c: &mut Criterion) {
    let (texts, source) = support::texts(BATCH);
    let events: Vec<Event> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Event::prompt(&i.to_string(), t))
        .collect();
    let bytes: u64 = texts.iter().map(|t| t.len() as u64).sum();
    let cases = [
        ("pii_detect", "pii_detect", ""),
        ("secret_detect", "secret_detect", ""),
        (
            "keyword_block",
            "keyword_block",
            "[[lists]]\nlabel = 'banned'\nterms_file = 'topologies/lists/banned_topics.txt'",
        ),
        ("injection_heuristics", "injection_heuristics", ""),
    ];
    for (name, type_name, config) in cases {
        let inspector = build(type_name, config);
        let mut group = c.benchmark_group(format!("{name}/{source}"));
        for (unit, throughput) in [
            ("texts", Throughput::Elements(BATCH as u64)),
            ("bytes", Throughput::Bytes(bytes)),
        ] {
            group.throughput(throughput);
            group.bench_function(unit, |b| {
                b.iter_batched_ref(
                    || events.clone(),
                    |batch| {
                        for event in batch.iter_mut() {
                            inspector.inspect(event).expect("inspects");
                        }
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        // What a stream asks of a trigger-gated operator on each window's new text instead
        // of inspecting the window (`Inspector::has_trigger`), against inspecting it above.
        if inspector.trigger_chars().is_some() {
            group.throughput(Throughput::Bytes(bytes));
            group.bench_function("trigger_check_bytes", |b| {
                b.iter(|| texts.iter().filter(|t| inspector.has_trigger(t)).count())
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = operators
}
criterion_main!(benches);

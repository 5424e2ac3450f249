//! The whole default CPU topology in-process (decode, operators, policy, redaction, encode),
//! on one core and on all cores, beside the pass-through baseline (no operators).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use railyard::codec::decode_json;
use railyard::config::interpolate::ProcessEnv;
use railyard::config::Topology;
use railyard::model::Origin;
use railyard::topology::Pipeline;

/// The allocator the `railyard` binary uses, so figures match what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support.rs"]
mod support;

const BATCH: usize = 4096;

fn pipeline(c: &mut Criterion) {
    let (texts, source) = support::texts(BATCH);
    let lines: Vec<Vec<u8>> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::to_vec(&serde_json::json!({"id": i, "kind": "prompt", "text": t})).unwrap()
        })
        .collect();
    let bytes: u64 = lines.iter().map(|l| l.len() as u64).sum();
    let text =
        std::fs::read_to_string("topologies/default.toml").expect("run from the repository root");
    let topology = Topology::from_toml(&text, &ProcessEnv).expect("default topology");
    let mut baseline = topology.clone();
    baseline.operators.clear();
    baseline.routes.iter_mut().for_each(|r| r.operators.clear());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);

    for (name, t) in [("default", &topology), ("pass_through", &baseline)] {
        let pipeline = Pipeline::build(t).expect("builds");
        let mut group = c.benchmark_group(format!("pipeline_{name}/{source}"));
        for threads in [1, cores] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for (unit, throughput) in [
                ("events", Throughput::Elements(BATCH as u64)),
                ("bytes", Throughput::Bytes(bytes)),
            ] {
                group.throughput(throughput);
                group.bench_function(format!("{threads}_threads/{unit}"), |b| {
                    b.iter(|| {
                        pool.install(|| {
                            use rayon::prelude::*;
                            let events: Vec<_> = lines
                                .par_iter()
                                .enumerate()
                                .map(|(i, l)| {
                                    let origin = Origin::Line {
                                        source: "bench".into(),
                                        line: i as u64,
                                    };
                                    decode_json(l, origin, 1 << 20).expect("valid")
                                })
                                .collect();
                            let processed = pipeline.process(0, events, true);
                            let out: usize = processed
                                .par_iter()
                                .map(|p| {
                                    serde_json::to_vec(&p.verdict).unwrap().len()
                                        + serde_json::to_vec(p.enriched.as_ref().unwrap())
                                            .unwrap()
                                            .len()
                                })
                                .sum();
                            std::hint::black_box(out)
                        })
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(4));
    targets = pipeline
}
criterion_main!(benches);

//! The MiniLM model (as `scripts/setup.sh` builds it) on 256 tweets: the dynamic batcher
//! (max_batch 16 on the CPU, texts sorted by length) against one text per session run, same model file,
//! same process. Needs the models: run `bash scripts/setup.sh` first.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use railyard::inference::{registry, ModelConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TEXTS: usize = 256;

fn texts() -> Vec<String> {
    let path = "../shared/data/toxicity_davidson_dev.jsonl";
    let fallback = "examples/events.jsonl";
    let data = std::fs::read_to_string(path)
        .or_else(|_| std::fs::read_to_string(fallback))
        .expect("run from the repository root");
    data.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(String::from))
        .cycle()
        .take(TEXTS)
        .collect()
}

fn inference(c: &mut Criterion) {
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batched = registry::shared(&ModelConfig::default()).expect("models built");
    let single = registry::shared(&ModelConfig {
        max_batch: Some(1),
        max_wait_ms: 0,
        ..ModelConfig::default()
    })
    .expect("models built");
    let mut group = c.benchmark_group("minilm_256_tweets");
    group.throughput(Throughput::Elements(TEXTS as u64));
    group.sample_size(10);
    group.bench_function("batched", |b| b.iter(|| batched.infer(&refs)));
    group.bench_function("one_per_call", |b| {
        b.iter(|| {
            for text in &refs {
                single.infer(&[text]);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, inference);
criterion_main!(benches);

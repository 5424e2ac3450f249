//! The MiniLM model (as `scripts/setup.sh` builds it) on 256 tweets: the dynamic batcher
//! (max_batch 16 on the CPU, texts sorted by length) against one text per session run, same model file,
//! same process. Needs the models: run `bash scripts/setup.sh` first.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use railyard::inference::{registry, ModelConfig};

mod support;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TEXTS: usize = 256;

fn inference(c: &mut Criterion) {
    let (texts, _) = support::tweets(TEXTS);
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

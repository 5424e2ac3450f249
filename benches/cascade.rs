//! The stages of the model cascade on 256 tweets, same process: the student (tokenize, hash,
//! score the toxicity head: what `[operators.X.cascade]` adds per text), the int8 encoder
//! (`quantized`) and the float32 encoder, both batched; and the response-harm head
//! (`harm_classify`'s network over the encoder's features, each tweet a response to the next
//! one as its prompt), which runs after the encoder. Needs the models: run
//! `bash scripts/setup.sh` first.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use railyard::inference::harm_head::HarmHead;
use railyard::inference::{registry, student, ModelConfig};
use std::path::{Path, PathBuf};

mod support;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TEXTS: usize = 256;

fn cascade(c: &mut Criterion) {
    let (texts, _) = support::tweets(TEXTS);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let student = student::shared(
        Path::new("models/heads/student.json"),
        Path::new("models/minilm/tokenizer.json"),
    )
    .expect("student and tokenizer");
    let head = student.head("toxicity").expect("toxicity head");
    let float32 = registry::shared(&ModelConfig::default()).expect("models built");
    let int8 = registry::shared(&ModelConfig {
        quantized: Some(PathBuf::from("models/minilm/model.int8.onnx")),
        ..ModelConfig::default()
    })
    .expect("int8 model built");
    let mut group = c.benchmark_group("cascade_256_tweets");
    group.throughput(Throughput::Elements(TEXTS as u64));
    group.bench_function("student", |b| {
        b.iter(|| {
            refs.iter()
                .filter(|t| head.verdict(&student.features(t)).decided)
                .count()
        })
    });
    group.sample_size(10);
    group.bench_function("encoder_int8", |b| b.iter(|| int8.infer(&refs)));
    group.bench_function("encoder_float32", |b| b.iter(|| float32.infer(&refs)));

    let harm = HarmHead::load(Path::new("models/heads/harm.json")).expect("harm head");
    let features = float32.output_index("features").expect("features output");
    let outputs: Vec<_> = float32
        .infer(&refs)
        .into_iter()
        .map(|o| o.expect("inference"))
        .collect();
    let prompts: Vec<Vec<f32>> = outputs
        .iter()
        .map(|o| o.max_over_windows(features))
        .collect();
    group.sample_size(20);
    group.bench_function("harm_head", |b| {
        b.iter(|| {
            outputs
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let windows: Vec<&[f32]> =
                        o.windows.iter().map(|w| w[features].as_slice()).collect();
                    let prompt = &prompts[(i + 1) % prompts.len()];
                    harm.score(&windows, Some(prompt)).score
                })
                .sum::<f32>()
        })
    });
    group.finish();
}

criterion_group!(benches, cascade);
criterion_main!(benches);

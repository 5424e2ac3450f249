//! `hallucination_check`: responses per second on one core, lexical signals alone, with the
//! MiniLM embedding signal and with the learned encoder signal (the last two only when
//! `scripts/setup.sh` has built the model), over
//! HaluEval summarization responses (`bash scripts/data/halueval.sh`; the test fixture's pairs
//! otherwise). The embedding case runs the operator's batch `prepare`, as the pipeline does.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use railyard::model::{Event, EventKind};
use railyard::operators::{BuiltOperator, Inspector, OperatorSpec};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RESPONSES: usize = 200;

fn responses() -> (Vec<Event>, &'static str) {
    let (path, name) = if std::path::Path::new(".cache/halueval/summarization.jsonl").exists() {
        (
            ".cache/halueval/summarization.jsonl",
            "halueval-summarization",
        )
    } else {
        ("tests/fixtures/halueval_pairs.jsonl", "fixture-pairs")
    };
    let text = std::fs::read_to_string(path).expect("pairs file");
    let mut events = Vec::new();
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("JSON row");
        let field = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| row[*n].as_str())
                .map(Arc::<str>::from)
        };
        let context = field(&["knowledge", "document"]).expect("context");
        let prompt = field(&["question", "dialogue_history"]);
        for answer in [
            field(&["right_answer", "right_response", "right_summary"]),
            field(&[
                "hallucinated_answer",
                "hallucinated_response",
                "hallucinated_summary",
            ]),
        ] {
            let mut event = Event::prompt(&events.len().to_string(), &answer.expect("answer"));
            event.kind = EventKind::Response;
            event.prompt = prompt.clone();
            event.context = Arc::from(vec![context.clone()]);
            events.push(event);
        }
    }
    events.truncate(RESPONSES);
    (events, name)
}

fn build(toml_body: &str) -> Arc<dyn Inspector> {
    let mut errors = railyard::diagnostics::Errors::default();
    let body: toml::Value = toml::from_str(toml_body).expect("bench config");
    let spec = OperatorSpec::parse("hallucination_check", body, "operators.bench", &mut errors)
        .unwrap_or_else(|| panic!("{errors:?}"));
    match spec.build("bench").expect("builds") {
        BuiltOperator::Inspector(inspector) => inspector,
        BuiltOperator::Policy(_) => unreachable!(),
    }
}

fn grounding(c: &mut Criterion) {
    let (events, source) = responses();
    let one_core = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut cases = vec![("lexical", String::new())];
    if std::path::Path::new(railyard::inference::config::DEFAULT_MODEL).exists() {
        cases.push((
            "embedding",
            "[embedding]\nmodel = { threads = 1 }".to_string(),
        ));
        cases.push((
            "encoder",
            "[encoder]\nprofile = \"summarization\"\nmodel = { threads = 1, max_tokens = 256 }"
                .to_string(),
        ));
    }
    for (name, config) in cases {
        let inspector = build(&config);
        let mut group = c.benchmark_group(format!("hallucination_check/{name}/{source}"));
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function("responses", |b| {
            b.iter_batched_ref(
                || events.clone(),
                |batch| {
                    one_core.install(|| {
                        inspector.prepare(batch);
                        for event in batch.iter_mut() {
                            inspector.inspect(event).expect("inspects");
                        }
                    })
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(5));
    targets = grounding
}
criterion_main!(benches);

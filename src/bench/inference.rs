//! `railyard bench --inference`: a model operator with dynamic batching against the same
//! operator called one text at a time, same model file, same events, same process.
//!
//! Batched: events go through the operator the way the pipeline drives it (`prepare` over a
//! batch of events, then the per-event pass), with the model's `max_batch`. One text per call:
//! the operator inspects each event alone, on a copy of the model with `max_batch = 1`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::OperatorNode;
use crate::model::Event;
use crate::operators::{BuiltOperator, Inspector, OperatorSpec};

use crate::inference::{registry, ModelConfig};

/// One measured mode.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModeFigures {
    pub events: usize,
    pub seconds: f64,
    pub events_per_second: f64,
    pub windows: u64,
    pub tokens_per_second: f64,
    /// Tokens computed (padding included) / tokens in windows.
    pub padding_ratio: f64,
    pub batches: u64,
    pub mean_batch_windows: f64,
    pub p50_batch_ms: f64,
    pub p99_batch_ms: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct InferenceBenchReport {
    pub operator: String,
    pub model: String,
    pub max_batch: usize,
    pub event_batch: usize,
    pub batched: ModeFigures,
    pub one_per_call: Option<ModeFigures>,
}

fn inspector(node: &OperatorNode, spec: &OperatorSpec) -> anyhow::Result<Arc<dyn Inspector>> {
    match spec.build(&node.id)? {
        BuiltOperator::Inspector(inspector) => Ok(inspector),
        BuiltOperator::Policy(_) => anyhow::bail!("operator {} is not a detector", node.id),
    }
}

fn events(texts: &[String]) -> Vec<Event> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| Event::prompt(&i.to_string(), t))
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank].as_secs_f64() * 1e3
}

fn figures(
    events: usize,
    seconds: f64,
    stats: crate::inference::batcher::BatchStats,
) -> ModeFigures {
    let mut durations = stats.durations;
    durations.sort();
    ModeFigures {
        events,
        seconds,
        events_per_second: events as f64 / seconds,
        windows: stats.windows,
        tokens_per_second: stats.real_tokens as f64 / seconds,
        padding_ratio: stats.padded_tokens as f64 / stats.real_tokens.max(1) as f64,
        batches: stats.batches,
        mean_batch_windows: stats.windows as f64 / stats.batches.max(1) as f64,
        p50_batch_ms: percentile(&durations, 0.5),
        p99_batch_ms: percentile(&durations, 0.99),
    }
}

/// Runs `texts` through `node` batched and, unless `skip_single`, one text per call.
pub fn run(
    node: &OperatorNode,
    texts: &[String],
    event_batch: usize,
    skip_single: bool,
) -> anyhow::Result<InferenceBenchReport> {
    let config = node
        .spec
        .model()
        .ok_or_else(|| anyhow::anyhow!("operator {} runs no model", node.id))?
        .clone();
    let batched_op = inspector(node, &node.spec)?;
    let model = registry::shared(&config)?;

    // Warm-up (allocations, thread pools), not measured.
    let mut warm = events(&texts[..texts.len().min(256)]);
    batched_op.prepare(&mut warm);
    model.take_stats();

    let started = Instant::now();
    for chunk in texts.chunks(event_batch) {
        let mut batch = events(chunk);
        batched_op.prepare(&mut batch);
        for event in &mut batch {
            batched_op.inspect(event)?;
        }
    }
    let batched = figures(
        texts.len(),
        started.elapsed().as_secs_f64(),
        model.take_stats(),
    );

    let one_per_call = if skip_single {
        None
    } else {
        let single_config = ModelConfig {
            max_batch: Some(1),
            max_wait_ms: 0,
            ..config.clone()
        };
        let mut single_spec = node.spec.clone();
        *single_spec.model_mut().expect("a model operator") = single_config.clone();
        let single_op = inspector(node, &single_spec)?;
        let single_model = registry::shared(&single_config)?;
        for mut event in events(&texts[..texts.len().min(32)]) {
            single_op.inspect(&mut event)?;
        }
        single_model.take_stats();
        let started = Instant::now();
        for mut event in events(texts) {
            single_op.inspect(&mut event)?;
        }
        Some(figures(
            texts.len(),
            started.elapsed().as_secs_f64(),
            single_model.take_stats(),
        ))
    };
    Ok(InferenceBenchReport {
        operator: node.id.to_string(),
        model: model.label().to_string(),
        max_batch: config.batch_limit(),
        event_batch,
        batched,
        one_per_call,
    })
}

/// Texts of exactly `tokens` tokens (special tokens included, one window each), built by
/// repeating each input text and trimming words, for fixed-length throughput figures.
pub fn fixed_length_texts(
    config: &ModelConfig,
    texts: &[String],
    tokens: usize,
) -> anyhow::Result<Vec<String>> {
    let mut tokenizer = tokenizers::Tokenizer::from_file(&config.tokenizer)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.tokenizer.display()))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let encode = |text: &str| -> anyhow::Result<tokenizers::Encoding> {
        tokenizer
            .encode(text, true)
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let specials = encode("")?.get_ids().len();
    let content = tokens.saturating_sub(specials).max(1);
    let mut out = Vec::with_capacity(texts.len());
    for text in texts.iter().filter(|t| !t.trim().is_empty()) {
        let mut long = text.clone();
        while encode(&long)?.get_ids().len() < tokens {
            long = format!("{long} {long}");
        }
        // Cut at the end of the `content`-th content token, then drop words while re-tokenizing
        // the cut text comes out longer (a boundary can split differently).
        let encoding = encode(&long)?;
        let (_, end) = encoding.get_offsets()[content];
        let mut cut = long[..end].to_string();
        while encode(&cut)?.get_ids().len() > tokens {
            match cut.rfind(' ') {
                Some(space) => cut.truncate(space),
                None => break,
            }
        }
        out.push(cut);
    }
    Ok(out)
}

//! `Model`: a tokenizer and a batcher over sessions of one ONNX file.

use std::sync::Arc;
use std::time::Duration;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::batcher::{BatchSettings, BatchStats, Batcher};
use super::config::ModelConfig;
use super::outputs::TextOutputs;
use super::session::ModelSession;
use super::tokenize::{Window, WindowTokenizer};
use super::InferenceError;

/// A loaded model, shared by every operator whose model table is equal.
pub struct Model {
    label: String,
    path: String,
    /// `sha256:<first 16 hex digits>` of the model file (for provenance and audit).
    digest: &'static str,
    tokenizer: WindowTokenizer,
    outputs: Vec<String>,
    /// Values per window of each output, from one probe run at load.
    widths: Vec<usize>,
    batcher: Batcher,
}

/// The text of the start-up probe that checks the model end to end and measures its outputs.
const PROBE: &str = "railyard start-up probe";

impl Model {
    /// Loads the tokenizer and `workers` sessions, and starts the batcher.
    pub fn load(config: &ModelConfig) -> Result<Model, InferenceError> {
        let tokenizer =
            WindowTokenizer::from_file(&config.tokenizer, config.max_tokens, config.stride)?;
        let bytes = std::fs::read(&config.path).map_err(|e| InferenceError::Model {
            path: config.path.display().to_string(),
            message: e.to_string(),
        })?;
        let digest = format!("sha256:{}", &hex::encode(Sha256::digest(&bytes))[..16]);
        drop(bytes);
        let sessions = (0..config.workers)
            .map(|_| ModelSession::open(config, tokenizer.pad_id()))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = sessions[0].output_names().to_vec();
        let label = config.label();
        let settings = BatchSettings {
            max_batch: config.batch_limit(),
            max_tokens: config.token_limit(),
            max_wait: Duration::from_millis(config.max_wait_ms),
        };
        tracing::info!(model = %label, %digest, workers = config.workers,
            threads = config.threads_per_session(), device = ?config.device, "model loaded");
        let mut model = Model {
            batcher: Batcher::start(sessions, settings, &label),
            label,
            path: config.path.display().to_string(),
            // One small string per loaded model, kept for the process's life.
            digest: Box::leak(digest.into_boxed_str()),
            tokenizer,
            outputs,
            widths: Vec::new(),
        };
        let probe = model.infer(&[PROBE]).pop().expect("one text in, one out")?;
        model.widths = probe.windows[0].iter().map(Vec::len).collect();
        Ok(model)
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn digest(&self) -> &'static str {
        self.digest
    }

    /// The model's output names, in the order of each window's values.
    pub fn outputs(&self) -> &[String] {
        &self.outputs
    }

    /// The batcher's counters since the last call (benchmarks).
    pub fn take_stats(&self) -> BatchStats {
        self.batcher.take_stats()
    }

    pub fn output_index(&self, name: &str) -> Option<usize> {
        self.outputs.iter().position(|o| o == name)
    }

    /// The index of output `name`, or why the model cannot serve it.
    pub fn require_output(&self, name: &str) -> Result<usize, String> {
        self.output_index(name).ok_or_else(|| {
            format!(
                "model {} has no output `{name}` (its outputs: {:?})",
                self.path, self.outputs
            )
        })
    }

    /// Values per window of output `index` (e.g. the columns of a logits output).
    pub fn output_width(&self, index: usize) -> usize {
        self.widths[index]
    }

    /// Tokenizes texts into windows (in parallel).
    pub fn tokenize(&self, texts: &[&str]) -> Vec<Result<Vec<Window>, InferenceError>> {
        texts
            .par_iter()
            .map(|text| self.tokenizer.windows(text))
            .collect()
    }

    /// Every output for every text, in order. One text's failure does not fail the others.
    pub fn infer(&self, texts: &[&str]) -> Vec<Result<Arc<TextOutputs>, InferenceError>> {
        self.infer_windows(self.tokenize(texts))
    }

    /// Like [`Model::infer`] for texts already tokenized.
    pub fn infer_windows(
        &self,
        tokenized: Vec<Result<Vec<Window>, InferenceError>>,
    ) -> Vec<Result<Arc<TextOutputs>, InferenceError>> {
        // Flatten to (text, window) and queue sorted by length, so consecutive batches hold
        // windows of similar length.
        let mut owners = Vec::new();
        let mut windows = Vec::new();
        for (text, result) in tokenized.iter().enumerate() {
            if let Ok(text_windows) = result {
                for window in text_windows {
                    owners.push(text);
                    windows.push(window.clone());
                }
            }
        }
        let mut order: Vec<usize> = (0..windows.len()).collect();
        order.sort_by_key(|&i| windows[i].len());
        let sorted: Vec<Window> = order.iter().map(|&i| windows[i].clone()).collect();
        let outcomes = self.batcher.run(sorted);

        let mut per_text: Vec<Vec<Option<_>>> = tokenized
            .iter()
            .map(|r| r.as_ref().map_or(Vec::new(), |w| vec![None; w.len()]))
            .collect();
        let mut failures: Vec<Option<InferenceError>> = vec![None; tokenized.len()];
        let mut next_window = vec![0usize; tokenized.len()];
        let mut position = vec![0usize; windows.len()];
        for (i, &text) in owners.iter().enumerate() {
            position[i] = next_window[text];
            next_window[text] += 1;
        }
        for (&flat, outcome) in order.iter().zip(outcomes) {
            let text = owners[flat];
            match outcome {
                Ok(values) => per_text[text][position[flat]] = Some(values),
                Err(error) => failures[text] = Some(error),
            }
        }
        tokenized
            .into_iter()
            .zip(per_text)
            .zip(failures)
            .map(|((tokens, windows), failure)| {
                tokens?;
                if let Some(error) = failure {
                    return Err(error);
                }
                Ok(Arc::new(TextOutputs {
                    windows: windows
                        .into_iter()
                        .map(|w| w.expect("window output"))
                        .collect(),
                }))
            })
            .collect()
    }
}

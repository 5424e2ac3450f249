//! `Model`: a tokenizer and a batcher over sessions of one ONNX file.

use std::sync::Arc;
use std::time::Duration;

use rayon::prelude::*;

use super::batcher::{BatchSettings, BatchStats, Batcher};
use super::config::ModelConfig;
use super::digest;
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
    /// Per output: one row per token rather than one per window.
    per_token: Vec<bool>,
    /// Values per window (per token, for per-token outputs) of each output, from one probe
    /// run at load.
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
        let sha256 = digest::file_sha256(config.graph()).map_err(|e| InferenceError::Model {
            path: config.graph().display().to_string(),
            message: e.to_string(),
        })?;
        let digest = format!("sha256:{}", &sha256[..16]);
        let sessions = (0..config.workers)
            .map(|_| ModelSession::open(config, tokenizer.pad_id()))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = sessions[0].output_names().to_vec();
        let per_token = sessions[0].per_token_outputs().to_vec();
        let tokenizer = tokenizer.with_shapes(sessions[0].feeds_token_shapes());
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
            path: config.graph().display().to_string(),
            // One small string per loaded model, kept for the process's life.
            digest: Box::leak(digest.into_boxed_str()),
            tokenizer,
            outputs,
            per_token,
            widths: Vec::new(),
        };
        let probe = model.infer(&[PROBE]).pop().expect("one text in, one out")?;
        let tokens = probe.offsets[0].len().max(1);
        model.widths = probe.windows[0]
            .iter()
            .zip(&model.per_token)
            .map(|(values, &per_token)| {
                if per_token {
                    values.len() / tokens
                } else {
                    values.len()
                }
            })
            .collect();
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

    /// The index of the `features` output, checked to hold `width` values per window, for a
    /// head that reads it (`what` names the head).
    pub fn require_features(&self, width: usize, what: &str) -> Result<usize, String> {
        let features = self.require_output("features")?;
        if self.is_per_token(features) || self.output_width(features) != width {
            return Err(format!(
                "{what} reads {width} features per window; the model's `features` output has {}",
                self.output_width(features)
            ));
        }
        Ok(features)
    }

    /// The index of output `name`, checked to hold `columns` values per window (or per token,
    /// with `per_token`), or why the model cannot serve it (`what` names the operator).
    pub fn require_output_columns(
        &self,
        name: &str,
        per_token: bool,
        columns: usize,
        what: &str,
    ) -> Result<usize, String> {
        let index = self.require_output(name)?;
        match (per_token, self.is_per_token(index)) {
            (false, true) => return Err(format!(
                "output `{name}` is per token; {what} needs one row per text (a token-classification model goes in ner_detect)"
            )),
            (true, false) => return Err(format!(
                "output `{name}` is not per token ([batch, sequence, labels]); {what} needs a token-classification model"
            )),
            _ => {}
        }
        let width = self.output_width(index);
        if width != columns {
            let unit = if per_token { " per token" } else { "" };
            return Err(format!(
                "output `{name}` has {width} columns{unit} but {columns} labels are given"
            ));
        }
        Ok(index)
    }

    /// Values per window of output `index` (e.g. the columns of a logits output); per token
    /// for per-token outputs.
    pub fn output_width(&self, index: usize) -> usize {
        self.widths[index]
    }

    /// Whether output `index` has one row of values per token ([batch, sequence, n]).
    pub fn is_per_token(&self, index: usize) -> bool {
        self.per_token[index]
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

    /// Every output for each text pair (premise, hypothesis), one window per pair.
    pub fn infer_pairs(
        &self,
        pairs: &[(&str, &str)],
    ) -> Vec<Result<Arc<TextOutputs>, InferenceError>> {
        let tokenized = pairs
            .par_iter()
            .map(|(first, second)| self.tokenizer.pair(first, second).map(|w| vec![w]))
            .collect();
        self.infer_windows(tokenized)
    }

    /// Like [`Model::infer`] for texts already tokenized.
    pub fn infer_windows(
        &self,
        tokenized: Vec<Result<Vec<Window>, InferenceError>>,
    ) -> Vec<Result<Arc<TextOutputs>, InferenceError>> {
        // Flatten to (text, window position, window) and queue sorted by length, so
        // consecutive batches hold windows of similar length.
        let mut counts = Vec::with_capacity(tokenized.len());
        let mut failures: Vec<Option<InferenceError>> = Vec::with_capacity(tokenized.len());
        let mut offsets = Vec::with_capacity(tokenized.len());
        let mut flat = Vec::new();
        for (text, result) in tokenized.into_iter().enumerate() {
            match result {
                Ok(windows) => {
                    counts.push(windows.len());
                    failures.push(None);
                    let mut text_offsets = Vec::with_capacity(windows.len());
                    flat.extend(
                        windows
                            .into_iter()
                            .enumerate()
                            .map(|(position, mut window)| {
                                // The batcher needs only the model inputs.
                                text_offsets.push(std::mem::take(&mut window.offsets));
                                ((text, position), window)
                            }),
                    );
                    offsets.push(text_offsets);
                }
                Err(error) => {
                    counts.push(0);
                    failures.push(Some(error));
                    offsets.push(Vec::new());
                }
            }
        }
        flat.sort_by_key(|(_, window)| window.len());
        let (owners, windows): (Vec<(usize, usize)>, Vec<Window>) = flat.into_iter().unzip();
        let outcomes = self.batcher.run(windows);

        let mut per_text: Vec<Vec<Option<_>>> = counts.iter().map(|&n| vec![None; n]).collect();
        for ((text, position), outcome) in owners.into_iter().zip(outcomes) {
            match outcome {
                Ok(values) => per_text[text][position] = Some(values),
                Err(error) => {
                    failures[text].get_or_insert(error);
                }
            }
        }
        per_text
            .into_iter()
            .zip(failures)
            .zip(offsets)
            .map(|((windows, failure), offsets)| match failure {
                Some(error) => Err(error),
                None => Ok(Arc::new(TextOutputs {
                    windows: windows
                        .into_iter()
                        .map(|w| w.expect("window output"))
                        .collect(),
                    offsets,
                })),
            })
            .collect()
    }
}

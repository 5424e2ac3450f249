//! `ModelConfig`: where a model and its tokenizer live and how it is batched and run.

use std::path::PathBuf;

use serde::Deserialize;

use super::digest::{normalize_pin, ModelFile};
use crate::diagnostics::{join, Errors};

/// Where sessions run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    #[default]
    Cpu,
    /// The CUDA execution provider; fails at start-up when it cannot be registered.
    Cuda,
}

/// Names of the model's inputs (those of a Hugging Face export by default).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(default)]
pub struct InputNames {
    pub input_ids: String,
    pub attention_mask: String,
    /// Fed only when the model declares it (BERT does, RoBERTa and DistilBERT do not).
    pub token_type_ids: String,
    /// Token shape ids ([`super::shape`]); fed only when the model declares it (railyard's
    /// MiniLM graph does, for its NER head).
    pub token_shape: String,
}

impl Default for InputNames {
    fn default() -> Self {
        InputNames {
            input_ids: "input_ids".into(),
            attention_mask: "attention_mask".into(),
            token_type_ids: "token_type_ids".into(),
            token_shape: "token_shape".into(),
        }
    }
}

/// One ONNX model. Operators whose model tables are equal share one loaded model, one batcher
/// and one encoder pass per text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// The `.onnx` file.
    pub path: PathBuf,
    /// A quantized graph of the same model (`scripts/models/quantize.py`) to run instead of
    /// `path`; `railyard bench file --no-cascade` runs `path` again.
    pub quantized: Option<PathBuf>,
    /// The Hugging Face `tokenizer.json` that goes with it.
    pub tokenizer: PathBuf,
    /// Tokens per window, special tokens included. Longer texts are split into windows.
    pub max_tokens: usize,
    /// Tokens shared by consecutive windows.
    pub stride: usize,
    /// Most windows in one session run; unset: 32 on the CPU, 256 on CUDA.
    pub max_batch: Option<usize>,
    /// Most padded tokens (rows x longest window) in one session run; unset: 640 on the CPU
    /// (past about 700 the activations fall out of cache and tokens/s drops by a third on the
    /// development machine), 65536 on CUDA.
    pub max_batch_tokens: Option<usize>,
    /// How long the first queued window waits for others before a smaller batch runs.
    pub max_wait_ms: u64,
    /// Sessions (each on its own thread).
    pub workers: usize,
    /// Intra-op threads per session; 0 = the machine's cores divided by `workers`.
    pub threads: usize,
    pub device: Device,
    /// CUDA device ordinal when `device = "cuda"`.
    pub device_id: i32,
    pub inputs: InputNames,
    /// The sha256 the `.onnx` file must have (`railyard validate` and `run` refuse another).
    pub sha256: Option<String>,
    /// The sha256 the tokenizer file must have.
    pub tokenizer_sha256: Option<String>,
}

pub const DEFAULT_MODEL: &str = "models/minilm/model.onnx";
pub const DEFAULT_TOKENIZER: &str = "models/minilm/tokenizer.json";

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            path: DEFAULT_MODEL.into(),
            quantized: None,
            tokenizer: DEFAULT_TOKENIZER.into(),
            max_tokens: 128,
            stride: 32,
            max_batch: None,
            max_batch_tokens: None,
            max_wait_ms: 2,
            workers: 1,
            threads: 0,
            device: Device::Cpu,
            device_id: 0,
            inputs: InputNames::default(),
            sha256: None,
            tokenizer_sha256: None,
        }
    }
}

impl ModelConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        if self.max_tokens < 8 || self.max_tokens > 8192 {
            errors.push(join(path, "max_tokens"), "must be within 8..=8192");
        }
        if self.stride * 2 >= self.max_tokens {
            errors.push(
                join(path, "stride"),
                format!(
                    "must be under half of max_tokens ({}), got {}",
                    self.max_tokens, self.stride
                ),
            );
        }
        if self.max_batch.is_some_and(|b| b == 0 || b > 4096) {
            errors.push(join(path, "max_batch"), "must be within 1..=4096");
        }
        if self.max_batch_tokens.is_some_and(|t| t == 0) {
            errors.push(join(path, "max_batch_tokens"), "must be at least 1");
        }
        if self.max_wait_ms > 10_000 {
            errors.push(join(path, "max_wait_ms"), "must be at most 10000");
        }
        if self.workers == 0 || self.workers > 64 {
            errors.push(join(path, "workers"), "must be within 1..=64");
        }
        if self.device == Device::Cuda && !cfg!(feature = "cuda") {
            errors.push(
                join(path, "device"),
                "`cuda` needs a railyard built with `--features cuda`",
            );
        }
        for (field, pin) in [
            ("sha256", &self.sha256),
            ("tokenizer_sha256", &self.tokenizer_sha256),
        ] {
            if pin.as_deref().is_some_and(|p| normalize_pin(p).is_none()) {
                errors.push(
                    join(path, field),
                    "must be a sha256: 64 hex digits, optionally after `sha256:`",
                );
            }
        }
        let quantized = self.quantized.iter().map(|q| ("quantized", q));
        for (field, file) in [("path", &self.path), ("tokenizer", &self.tokenizer)]
            .into_iter()
            .chain(quantized)
        {
            if !file.is_file() {
                errors.push(
                    join(path, field),
                    format!(
                        "{} not found (run `bash scripts/setup.sh` to build the default models)",
                        file.display()
                    ),
                );
            }
        }
    }

    /// The graph that runs: `quantized` when set, else `path`.
    pub fn graph(&self) -> &std::path::Path {
        self.quantized.as_deref().unwrap_or(&self.path)
    }

    /// The files it loads, for pinning; `path` is the model table's TOML path.
    pub fn files(&self, path: &str) -> Vec<ModelFile> {
        let quantized = self.quantized.iter().map(|file| ModelFile {
            key: join(path, "quantized"),
            file: file.clone(),
            pin: None,
        });
        let mut files = vec![
            ModelFile {
                key: join(path, "path"),
                file: self.path.clone(),
                pin: self.sha256.as_deref().and_then(normalize_pin),
            },
            ModelFile {
                key: join(path, "tokenizer"),
                file: self.tokenizer.clone(),
                pin: self.tokenizer_sha256.as_deref().and_then(normalize_pin),
            },
        ];
        files.extend(quantized);
        files
    }

    /// The batch limit in force.
    pub fn batch_limit(&self) -> usize {
        self.max_batch.unwrap_or(match self.device {
            Device::Cpu => 32,
            Device::Cuda => 256,
        })
    }

    /// The padded-token limit in force.
    pub fn token_limit(&self) -> usize {
        self.max_batch_tokens.unwrap_or(match self.device {
            Device::Cpu => 640,
            Device::Cuda => 65_536,
        })
    }

    /// Intra-op threads for each session.
    pub fn threads_per_session(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / self.workers).max(1)
    }

    /// A short, bounded name for metrics and logs: the model file's directory or stem.
    pub fn label(&self) -> String {
        let stem = self
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model");
        match self
            .path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|s| s.to_str())
        {
            Some(dir) if stem == "model" => dir.to_string(),
            _ => stem.to_string(),
        }
    }
}

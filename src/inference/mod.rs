//! Model inference: ONNX Runtime sessions, windowed tokenization and the dynamic batcher.
//!
//! A [`Model`] is one ONNX file with its tokenizer and a pool of sessions behind a
//! [`batcher::Batcher`]. Operators never run sessions themselves: they hand texts to
//! [`Model::infer`], which splits each text into overlapping token windows, queues the windows
//! with everyone else's (every partition, every operator sharing the model), and returns each
//! text's outputs for all of the model's heads. Models are shared process-wide by their
//! configuration ([`registry::shared`]), so one encoder pass per text serves every head.

pub mod batcher;
pub mod config;
pub mod dense;
pub mod digest;
pub mod harm_head;
pub mod metrics;
pub mod model;
pub mod outputs;
pub mod registry;
pub mod runtime;
pub mod session;
pub mod shape;
pub mod student;
pub mod tokenize;

pub use config::{Device, ModelConfig};
pub use digest::ModelFile;
pub use model::Model;
pub use outputs::TextOutputs;

/// Why a model could not be loaded or run (never holds event text).
#[derive(Debug, Clone, thiserror::Error)]
pub enum InferenceError {
    #[error("{0}")]
    Runtime(String),
    #[error("model {path}: {message}")]
    Model { path: String, message: String },
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: String, message: String },
    #[error("inference failed: {0}")]
    Run(String),
}

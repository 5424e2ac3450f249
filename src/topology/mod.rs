//! A compiled topology at work, independent of where events come from.
//!
//! - `pipeline`: a batch of inputs in, one [`OutputBatch`] out (operators, policy,
//!   redaction, audit and vault records, dead letters, serialization), in input order.
//! - `stage`: one inspector under its `on_error` policy and deadline.
//! - `redact`: rewrites spans for enriched records.
//! - `sink_plan`: which records each route produces and where they go, compiled once.
//! - `output`: the [`OutputBatch`] and the accounting every runtime shares.
//! - `local_sinks`: files and standard output, written by every runtime.
//! - `services`: the worker pool, metrics and operations endpoints of a run.
//! - `stream`: streamed responses held back and released in safe, redacted pieces.

pub mod local_sinks;
pub mod output;
pub mod pipeline;
pub mod redact;
pub mod services;
pub mod sink_plan;
pub mod stage;
pub mod stream;

pub use output::{OutputBatch, RunReport};
pub use pipeline::{Pipeline, Processed};

/// Knobs of a run that are not part of the topology.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Keep every event's latency (for `railyard bench`).
    pub record_latencies: bool,
    /// Overrides `settings.threads` (0 = keep).
    pub threads: usize,
}

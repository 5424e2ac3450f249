//! Building and running a compiled topology.
//!
//! `pipeline` is the batch-processing core every runtime shares (operators, policy, redaction,
//! in input order); `redact` rewrites spans for enriched records; `run` drives the
//! broker-free runtime over files and standard streams.

pub mod pipeline;
pub mod redact;
pub mod run;

pub use pipeline::{Pipeline, Processed};
pub use run::{run, RunError, RunOptions, RunReport};

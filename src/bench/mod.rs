//! `railyard bench`: measurements that report a ratio against a baseline run in the same
//! command, never a bare time.
//!
//! - [`file`]: a topology over a file beside its pass-through baseline (and, optionally,
//!   beside itself without named-entity recognition).
//! - [`kafka`]: end to end through a broker, interleaved rounds against pass-through, and a
//!   latency run at a fixed rate.
//! - [`inference`]: one model operator, dynamically batched against one text per call.
//! - [`stream`]: streamed responses against the same text scanned one-shot.

pub mod file;
pub mod inference;
pub mod kafka;
pub mod stream;

pub use file::{pass_through, peak_rss_kib, process_cpu_seconds, BenchFigures};

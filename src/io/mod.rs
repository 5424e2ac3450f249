//! Broker-free sources and sinks, the embedded default: JSONL files, stdin and stdout.

pub mod lines;
pub mod rotate;
pub mod sink;

pub use lines::{LineReader, RawLine};
pub use sink::{open_sink, RecordSink};

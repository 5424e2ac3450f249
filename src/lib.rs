//! # railyard
//!
//! A guardrail pipeline for LLM traffic, run as a stream processor: every prompt and response
//! is checked for personal data, secrets, banned topics, prompt injection (and, with models,
//! toxicity and grounding), a policy decides allow / flag / redact / block, and verdicts plus
//! redacted ("enriched") records are published downstream.
//!
//! ## Data flow
//! ```text
//! source (kafka | file | stdin) -> decode (json | avro)            (runtime::file, kafka)
//!   -> Pipeline::run_batch: one batch of inputs in               (topology::pipeline)
//!        streams: chunks ordered, windows scanned, safe prefixes  (topology::stream)
//!        prepare: model operators batch the texts                 (inference)
//!        inspectors in DAG order, each appending Findings         (operators)
//!        limits: per-tenant rate limits, block-rate breaker       (monitor)
//!        decide: the policy turns findings into an Action         (operators::decide)
//!        drift: action and category rates per app and tenant      (monitor)
//!        redact, audit records, vault entries, dead letters       (topology, audit, vault)
//!   -> one OutputBatch, records serialized once                   (topology::output)
//!   -> local sinks written (files, stdout)                        (topology::local_sinks)
//!   -> Kafka records produced under the source's guarantee        (kafka::produce, delivery)
//!   -> ack: an input position advances only once all its outputs are delivered
//! ```
//! Undecodable input never stops a run and is never dropped: it becomes a dead-letter record
//! with the reason and its origin (line or topic/partition/offset), and processing continues.
//! Where each route's records go is compiled once into a [`topology::sink_plan::SinkPlan`];
//! at-least-once and exactly-once are two implementations of
//! [`kafka::delivery::Guarantee`].
//!
//! ## Layout and the dependency rule
//! Each module uses only modules of lower layers (a test, `tests/it/layout.rs`, checks it on
//! every run, so there are no import cycles):
//!
//! | layer | modules | owns |
//! | --- | --- | --- |
//! | 0 | [`model`], [`diagnostics`] | events, findings, actions, verdicts; config errors with TOML paths |
//! | 1 | [`inference`] | ONNX Runtime sessions, tokenizer, dynamic batcher, model registry |
//! | 2 | [`operators`] | one module per operator, and the registry that lists them |
//! | 3 | [`config`] | TOML topology -> validated [`config::Topology`], operators built once |
//! | 4 | [`codec`] | input decoding, dead-letter records |
//! | 5 | [`io`] | JSONL lines in, files and stdout out, the rotating audit file |
//! | 6 | [`audit`], [`vault`], [`monitor`] | the hash-chained audit log and its verifier; placeholder vault; drift alerts and per-tenant limits |
//! | 7 | [`telemetry`] | logging, metric names, health and metrics endpoints |
//! | 8 | [`topology`] | the pipeline, the sink plan, the output batch, local sinks, run services |
//! | 9 | [`kafka`] | consumer loop, offsets, the two delivery guarantees, Avro, producing |
//! | 10 | [`runtime`] | running a topology with a stop flag: the file runtime or Kafka |
//! | 11 | [`eval`], [`bench`], [`replay`] | measuring detectors and topologies; replaying a candidate topology against recorded verdicts |
//! | 12 | [`feedback`] | reviewer labels joined with recorded verdicts: per operator and label metrics, thresholds for a target FPR, training export |
//!
//! The binary's `src/cli/` (one file per command) sits on top and only calls the library.
//! Operators never name rdkafka. A new operator is one module plus one line in
//! [`operators::registry`]; a new record kind or sink is one place in the sink plan and, where
//! it needs one, one writer.

pub mod audit;
pub mod bench;
pub mod codec;
pub mod config;
pub mod diagnostics;
pub mod eval;
pub mod feedback;
pub mod inference;
pub mod io;
pub mod kafka;
pub mod model;
pub mod monitor;
pub mod operators;
pub mod replay;
pub mod runtime;
pub mod telemetry;
pub mod topology;
pub mod vault;

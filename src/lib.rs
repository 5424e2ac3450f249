//! # railyard
//!
//! A guardrail pipeline for LLM traffic, run as a stream processor: every prompt and response
//! is checked for personal data, secrets, banned topics, prompt injection (and, with models,
//! toxicity and grounding), a policy decides allow / flag / redact / block, and verdicts plus
//! redacted ("enriched") records are published downstream.
//!
//! ## Data flow
//! ```text
//! source (file | stdin) -> decode (JSON) -> Event
//!   -> prepare: model operators batch the texts              (inference::*)
//!   -> inspectors in DAG order, each appending Findings     (operators::*)
//!   -> decide: policy turns findings into an Action          (operators::decide)
//!   -> redact: spans rewritten for the enriched record       (topology::redact)
//!   -> audit decisions, vault entries (when configured)      (audit, vault)
//!   -> sinks: verdicts, enriched records, audit log, vault, dead letters (io::sink, kafka)
//! ```
//! Undecodable input never stops a run and is never dropped: it becomes a dead-letter record
//! with the reason and its origin (line number), and processing continues.
//!
//! ## Layout (dependencies point one way, top to bottom)
//! - [`event`], [`verdict`]: the data model and the published contract (frozen by `schemas/`).
//! - [`diagnostics`]: configuration errors with TOML paths (a leaf, shared by the layers below).
//! - [`inference`]: ONNX Runtime sessions, windowed tokenization, the dynamic batcher and the
//!   process-wide model registry (one encoder pass per text for every head).
//! - [`operators`]: one module per operator: `<Thing>Config` (serde, validation) builds the
//!   runtime `<Thing>`. Operators know nothing of files or brokers; model operators queue a
//!   whole batch in `Inspector::prepare` before the per-event pass (results for texts other
//!   than the event's own, such as the groundedness check's claims, go in `Event::prepared`).
//! - [`config`]: TOML topology -> validated [`config::Topology`] with every error listed.
//! - [`codec`]: input decoding and dead-letter records.
//! - [`topology`]: the batch pipeline (data-parallel with rayon, output in input order) and
//!   the file-mode runner.
//! - [`io`]: broker-free sources and sinks (the embedded default).
//! - [`kafka`]: the Kafka runtime (consumer groups, tickets and the offset tracker, Avro).
//! - [`audit`]: the tamper-evident audit log (records, hash chains, the verifier) and
//!   [`vault`]: the encrypted placeholder mappings and `reveal`.
//! - [`telemetry`]: logging, Prometheus metrics, health endpoints.
//! - [`eval`], [`bench`]: measuring detectors and topologies.
//! - `main.rs`: the CLI only.

pub mod audit;
pub mod bench;
pub mod codec;
pub mod config;
pub mod diagnostics;
pub mod eval;
pub mod inference;
pub mod io;
pub mod kafka;
pub mod model;
pub mod operators;
pub mod telemetry;
pub mod topology;
pub mod vault;

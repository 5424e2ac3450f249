//! The tamper-evident audit log: one record per decision, hash-chained per input partition
//! (or per file source), optionally HMAC-signed, written to an append-only rotated file and/or
//! a Kafka topic; and its verifier (`railyard audit verify`).
//!
//! - [`record`]: what a decision record holds (never text, reasons or detected values; a
//!   removed value appears only as a keyed hash).
//! - [`chain`]: sequence numbers, links and signatures, one chain per partition and run.
//! - [`canonical`]: the byte form that is hashed (sorted keys), shared by writer and verifier.
//! - [`verify`]: finds modified, removed, reordered and inserted records, and truncation.
//! - [`keys`]: secrets from the environment.

pub mod canonical;
pub mod chain;
pub mod keys;
pub mod record;
pub mod verify;

pub use chain::AuditWriter;
pub use record::{Decision, PreparedDecision};
pub use verify::{Problem, ProblemKind, Report, Verifier, VerifyOptions};

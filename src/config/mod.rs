//! Topology configuration: TOML text to a validated, routed [`Topology`].
//!
//! `spec` holds the raw document types, `interpolate` the `${VAR}` expansion, `graph` the DAG
//! checks and DOT output, and `compile` ties them together, returning every error with its
//! TOML path.

pub mod audit;
pub mod compile;
pub mod graph;
pub mod interpolate;
pub mod kafka;
pub mod monitor;
pub mod names;
pub mod pins;
pub mod shadow;
pub mod shape;
pub mod spec;
pub mod stream;
pub mod topology_error;

pub use audit::{AuditLogConfig, VaultConfig};
pub use compile::{OperatorNode, Route, SinkNode, SourceNode, Topology};
pub use kafka::{Delivery, KafkaConfig, KafkaSinkConfig, KafkaSourceConfig};
pub use monitor::{BreakerConfig, DriftConfig, LimitOutcome, LimitsConfig};
pub use names::{Format, RecordKind};
pub use pins::{ModelLock, PinCheck};
pub use spec::{Settings, SinkSpec, SourceSpec, TelemetryConfig};
pub use stream::{ModelWindows, StreamConfig, StreamScan};
pub use topology_error::TopologyError;

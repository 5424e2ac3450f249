//! The integration tests, one binary (one build and link of the dependencies), one module
//! per concern. Kafka tests share one Apache Kafka broker per run (`common::kafka`).

mod common;

mod audit;
mod cascade;
mod cli;
mod compose;
mod dashboards;
mod docs;
mod faults;
mod feedback;
mod file_mode;
mod hallucination;
mod harm;
mod inference;
mod k8s;
mod kafka;
mod kafka_avro;
mod kafka_exactly_once;
mod layout;
mod logs;
mod metrics;
mod model_pins;
mod monitor;
mod ner;
mod passages;
mod properties;
mod readiness;
mod replay;
mod shadow;
mod slices;
mod streaming;
mod streaming_models;

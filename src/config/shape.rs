//! Topology-wide rules that look across nodes: which runtime a topology needs and what it
//! may mix (checked by `compile` after every node parsed).

use super::kafka::{Delivery, KafkaConfig};
use super::names::Format;
use super::spec::{SinkSpec, SourceSpec};
use crate::diagnostics::Errors;

/// Shape rules across nodes: `[kafka]` present when needed, no mixing of Kafka and file
/// sources, Avro only with a registry, exactly-once only into Kafka sinks.
pub fn check_shape(
    kafka: Option<&KafkaConfig>,
    sources: &[(&str, &SourceSpec)],
    sinks: &[(&str, &SinkSpec)],
    errors: &mut Errors,
) {
    let kafka_sources = sources
        .iter()
        .filter(|(_, s)| matches!(s, SourceSpec::Kafka(_)))
        .count();
    let kafka_sinks = sinks.iter().filter(|(_, s)| s.topic().is_some()).count();
    if kafka.is_none() && kafka_sources + kafka_sinks > 0 {
        errors.push(
            "kafka",
            "missing: Kafka sources and sinks need a [kafka] table with `brokers`",
        );
    }
    if kafka_sources > 0 {
        for (id, spec) in sources {
            if !matches!(spec, SourceSpec::Kafka(_)) {
                errors.push(
                    format!("sources.{id}"),
                    "a topology reads either Kafka or files/stdin, not both; run two topologies",
                );
            }
        }
    } else {
        for (id, spec) in sinks {
            if spec.topic().is_some() {
                errors.push(
                    format!("sinks.{id}"),
                    "a Kafka sink needs Kafka sources (file topologies write files or stdout)",
                );
            }
        }
    }
    let registry = kafka.is_some_and(|k| k.schema_registry.is_some());
    let avro_nodes = sources
        .iter()
        .filter(|(_, s)| matches!(s, SourceSpec::Kafka(c) if c.format == Format::Avro))
        .map(|(id, _)| format!("sources.{id}.format"))
        .chain(
            sinks
                .iter()
                .filter(|(_, s)| matches!(s, SinkSpec::Kafka(c) if c.format == Format::Avro))
                .map(|(id, _)| format!("sinks.{id}.format")),
        );
    if !registry {
        for path in avro_nodes {
            errors.push(path, "avro needs [kafka.schema_registry] with a url");
        }
    }
    if kafka.is_some_and(|k| k.delivery == Delivery::ExactlyOnce) {
        for (id, spec) in sinks {
            if spec.is_local() {
                errors.push(
                    format!("sinks.{id}"),
                    "exactly_once writes every output in a Kafka transaction; this sink is not Kafka",
                );
            }
        }
    }
}

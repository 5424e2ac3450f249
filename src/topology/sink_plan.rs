//! The sink plan: which records each route produces and where they go, compiled once from
//! the topology. The pipeline reads what to build ([`Wants`]); the drivers read where to
//! write it ([`RouteSinks::local`] for files and standard output, [`RouteSinks::topics`] for
//! Kafka). A new sink or record kind is one place here and, where it needs one, one writer.

use std::sync::Arc;

use crate::config::{Format, RecordKind, SinkSpec, Topology};
use crate::telemetry::metrics::Metrics;

use super::output::OutputBatch;

/// Which records a route's events produce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wants {
    pub verdicts: bool,
    pub shadow_verdicts: bool,
    pub enriched: bool,
    pub audit: bool,
    pub vault: bool,
    pub dead_letters: bool,
    pub alerts: bool,
    pub released: bool,
    /// Each event's redacted text kept as a value on the batch (`OutputBatch::redacted_texts`),
    /// for a detached run (replay `--show-text`); no sink takes it.
    pub redacted_texts: bool,
}

/// A sink written on this machine (a file, standard output, an audit or vault file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTarget {
    /// Index into [`Topology::sinks`].
    pub sink: usize,
    pub records: RecordKind,
}

/// A sink that produces to a Kafka topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTarget {
    /// Index into [`Topology::sinks`].
    pub sink: usize,
    pub topic: String,
    pub records: RecordKind,
    /// Avro verdicts through the schema registry, else JSON.
    pub format: Format,
}

/// Where one route's records go.
#[derive(Debug, Clone, Default)]
pub struct RouteSinks {
    pub wants: Wants,
    pub local: Vec<LocalTarget>,
    pub topics: Vec<TopicTarget>,
    /// Sinks that count records in `railyard_records_out_total` (every sink of the route but
    /// its dead-letter sinks), with their ids.
    counted: Vec<(Arc<str>, RecordKind)>,
}

impl RouteSinks {
    /// Counts the batch's records per sink in the output metrics.
    pub fn count_records(&self, batch: &OutputBatch, metrics: &Metrics) {
        let events = batch.verdicts.len();
        for (id, kind) in &self.counted {
            let written = match kind {
                RecordKind::Vault => batch.vault_entries(),
                RecordKind::Alerts => batch.monitor.alerts.len(),
                RecordKind::Released => batch.streams.records.len(),
                _ => events,
            };
            metrics
                .records_out
                .with_label_values(&[id, kind.as_str()])
                .inc_by(written as u64);
        }
    }

    /// The topic targets that write records of `kind`.
    pub fn topics_of(&self, kind: RecordKind) -> impl Iterator<Item = &TopicTarget> {
        self.topics.iter().filter(move |t| t.records == kind)
    }
}

/// Every route's sinks.
#[derive(Debug, Clone, Default)]
pub struct SinkPlan {
    /// One per source, in the order of [`Topology::sources`].
    pub routes: Vec<RouteSinks>,
}

impl SinkPlan {
    pub fn compile(topology: &Topology) -> SinkPlan {
        let routes = topology
            .routes
            .iter()
            .map(|route| {
                let mut plan = RouteSinks::default();
                for &sink in route.sinks.iter().chain(&route.dead_letter_sinks) {
                    let node = &topology.sinks[sink];
                    let records = node.spec.records();
                    match records {
                        RecordKind::Verdicts => plan.wants.verdicts = true,
                        RecordKind::ShadowVerdicts => plan.wants.shadow_verdicts = true,
                        RecordKind::Enriched => plan.wants.enriched = true,
                        RecordKind::Audit => plan.wants.audit = true,
                        RecordKind::Vault => plan.wants.vault = true,
                        RecordKind::DeadLetters => plan.wants.dead_letters = true,
                        RecordKind::Alerts => plan.wants.alerts = true,
                        RecordKind::Released => plan.wants.released = true,
                    }
                    if records != RecordKind::DeadLetters {
                        plan.counted.push((node.id.clone(), records));
                    }
                    if node.spec.is_local() {
                        plan.local.push(LocalTarget { sink, records });
                    }
                    if let Some(topic) = node.spec.topic() {
                        let format = match &node.spec {
                            SinkSpec::Kafka(c) => c.format,
                            _ => Format::Json,
                        };
                        plan.topics.push(TopicTarget {
                            sink,
                            topic: topic.to_string(),
                            records,
                            format,
                        });
                    }
                }
                plan
            })
            .collect();
        SinkPlan { routes }
    }

    pub fn route(&self, route: usize) -> &RouteSinks {
        &self.routes[route]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_wants_what_its_sinks_write_and_knows_where() {
        let topology = crate::config::compile::stdin_topology(
            r#"
[operators.policy]
type = "decide"
inputs = ["s"]
[sinks.out]
type = "stdout"
inputs = ["policy"]
[sinks.redacted]
type = "file"
path = "/tmp/railyard-plan-test.jsonl"
records = "enriched"
inputs = ["policy"]
"#,
        );
        let plan = SinkPlan::compile(&topology);
        let route = plan.route(0);
        assert_eq!(
            route.wants,
            Wants {
                verdicts: true,
                shadow_verdicts: false,
                enriched: true,
                audit: false,
                vault: false,
                dead_letters: true,
                alerts: false,
                released: false,
                redacted_texts: false,
            }
        );
        assert_eq!(route.local.len(), 3);
        assert!(route.topics.is_empty());
        assert_eq!(
            route.counted.len(),
            2,
            "dead letters are not counted as records out"
        );
    }
}

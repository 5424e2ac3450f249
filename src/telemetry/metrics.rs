//! Prometheus metrics: names as constants, bounded labels (source, sink, operator, category,
//! action, reason kind), updated once per batch. Never labelled with anything from user text;
//! the drift gauges carry metadata keys (app or tenant ids), at most `[drift].max_keys` each.

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub const EVENTS_IN: &str = "railyard_events_in_total";
pub const RECORDS_OUT: &str = "railyard_records_out_total";
pub const DEAD_LETTERS: &str = "railyard_dead_letters_total";
pub const VERDICTS: &str = "railyard_verdicts_total";
pub const FINDINGS: &str = "railyard_findings_total";
pub const OPERATOR_SECONDS: &str = "railyard_operator_batch_seconds";
pub const BATCH_EVENTS: &str = "railyard_batch_events";
pub const IN_FLIGHT: &str = "railyard_in_flight_events";
pub const CONSUMER_LAG: &str = "railyard_consumer_lag_events";
pub const COMMITS: &str = "railyard_offset_commits_total";
pub const DELIVERY_ERRORS: &str = "railyard_delivery_errors_total";
pub const REBALANCES: &str = "railyard_rebalances_total";
pub const ALERTS: &str = "railyard_alerts_total";
pub const LIMITED: &str = "railyard_limited_events_total";
pub const DRIFT_RATE: &str = "railyard_drift_rate";
pub const DRIFT_BASELINE: &str = "railyard_drift_baseline";

/// Every metric railyard exports, registered in its own registry.
pub struct Metrics {
    registry: Registry,
    /// Events decoded, per source.
    pub events_in: IntCounterVec,
    /// Records written, per sink and record kind.
    pub records_out: IntCounterVec,
    /// Inputs that became dead letters, per source and reason kind.
    pub dead_letters: IntCounterVec,
    /// Verdicts per action.
    pub verdicts: IntCounterVec,
    /// Findings kept by the policy, per operator and category.
    pub findings: IntCounterVec,
    /// Time each operator spent on one batch (summed over the batch's events).
    pub operator_seconds: HistogramVec,
    /// Events per batch.
    pub batch_events: Histogram,
    /// Events read and not yet fully acknowledged (Kafka) or inside the pipeline (files).
    pub in_flight: IntGauge,
    /// Records behind the partition's end, per topic and partition (Kafka statistics).
    pub consumer_lag: IntGaugeVec,
    /// Offset commits, per mode (`async`, `sync`, `transaction`) and outcome.
    pub commits: IntCounterVec,
    /// Records the broker did not accept, per sink.
    pub delivery_errors: IntCounterVec,
    /// Partition assignments and revocations.
    pub rebalances: IntCounterVec,
    /// Alerts raised, per kind (`drift`, `rate_limit`, `block_rate_breaker`).
    pub alerts: IntCounterVec,
    /// Events over a tenant limit, per label (`rate_limited`, `throttled`,
    /// `block_rate_breaker`).
    pub limited: IntCounterVec,
    /// The last evaluated window's rate, per drift dimension, key and series.
    pub drift_rate: GaugeVec,
    /// Its baseline.
    pub drift_baseline: GaugeVec,
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let metric = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric =
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

impl Metrics {
    /// The name of every metric family railyard exports (read from the registered
    /// collectors, so dashboards and alert rules can be checked against them).
    pub fn exported_names(&self) -> Vec<String> {
        use prometheus::core::Collector;
        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(self.events_in.clone()),
            Box::new(self.records_out.clone()),
            Box::new(self.dead_letters.clone()),
            Box::new(self.verdicts.clone()),
            Box::new(self.findings.clone()),
            Box::new(self.operator_seconds.clone()),
            Box::new(self.batch_events.clone()),
            Box::new(self.in_flight.clone()),
            Box::new(self.consumer_lag.clone()),
            Box::new(self.commits.clone()),
            Box::new(self.delivery_errors.clone()),
            Box::new(self.rebalances.clone()),
            Box::new(self.alerts.clone()),
            Box::new(self.limited.clone()),
            Box::new(self.drift_rate.clone()),
            Box::new(self.drift_baseline.clone()),
        ];
        let mut names: Vec<String> = collectors
            .iter()
            .chain(&crate::inference::metrics::inference_metrics().collectors())
            .flat_map(|c| c.desc().into_iter().map(|d| d.fq_name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    pub fn new() -> Self {
        let registry = Registry::new();
        let operator_seconds = HistogramVec::new(
            HistogramOpts::new(OPERATOR_SECONDS, "Time an operator spent on one batch")
                .buckets(prometheus::exponential_buckets(1e-5, 4.0, 10).expect("valid buckets")),
            &["operator"],
        )
        .expect("valid metric definition");
        registry
            .register(Box::new(operator_seconds.clone()))
            .expect("metric registered once");
        for collector in crate::inference::metrics::inference_metrics().collectors() {
            registry
                .register(collector)
                .expect("metric registered once");
        }
        let batch_events = Histogram::with_opts(
            HistogramOpts::new(BATCH_EVENTS, "Events per batch")
                .buckets(prometheus::exponential_buckets(1.0, 4.0, 9).expect("valid buckets")),
        )
        .expect("valid metric definition");
        registry
            .register(Box::new(batch_events.clone()))
            .expect("metric registered once");
        let in_flight = IntGauge::new(IN_FLIGHT, "Events inside the pipeline")
            .expect("valid metric definition");
        registry
            .register(Box::new(in_flight.clone()))
            .expect("metric registered once");
        let consumer_lag = IntGaugeVec::new(
            Opts::new(CONSUMER_LAG, "Records behind the end of the partition"),
            &["topic", "partition"],
        )
        .expect("valid metric definition");
        registry
            .register(Box::new(consumer_lag.clone()))
            .expect("metric registered once");
        Metrics {
            consumer_lag,
            commits: counter(
                &registry,
                COMMITS,
                "Input offset commits",
                &["mode", "outcome"],
            ),
            delivery_errors: counter(
                &registry,
                DELIVERY_ERRORS,
                "Records not accepted by the broker",
                &["sink"],
            ),
            rebalances: counter(&registry, REBALANCES, "Rebalance events", &["kind"]),
            alerts: counter(&registry, ALERTS, "Alerts raised", &["alert"]),
            limited: counter(&registry, LIMITED, "Events over a tenant limit", &["label"]),
            drift_rate: gauge(
                &registry,
                DRIFT_RATE,
                "Share of a key's events with an action or category in the last window",
                &["dimension", "key", "series"],
            ),
            drift_baseline: gauge(
                &registry,
                DRIFT_BASELINE,
                "Baseline of that share",
                &["dimension", "key", "series"],
            ),
            events_in: counter(&registry, EVENTS_IN, "Events decoded", &["source"]),
            records_out: counter(
                &registry,
                RECORDS_OUT,
                "Records written",
                &["sink", "records"],
            ),
            dead_letters: counter(
                &registry,
                DEAD_LETTERS,
                "Inputs sent to dead letters",
                &["source", "reason"],
            ),
            verdicts: counter(&registry, VERDICTS, "Verdicts by action", &["action"]),
            findings: counter(
                &registry,
                FINDINGS,
                "Findings by operator and category",
                &["operator", "category"],
            ),
            operator_seconds,
            batch_events,
            in_flight,
            registry,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("exposition is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_metrics_carry_their_names_and_labels() {
        let metrics = Metrics::new();
        metrics.events_in.with_label_values(&["events"]).inc_by(3);
        metrics.verdicts.with_label_values(&["block"]).inc();
        let text = metrics.render();
        assert!(
            text.contains("railyard_events_in_total{source=\"events\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("railyard_verdicts_total{action=\"block\"} 1"),
            "{text}"
        );
    }
}

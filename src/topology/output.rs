//! One batch's outputs, built once for every runtime: [`OutputBatch`].
//!
//! The pipeline turns a batch of inputs into one `OutputBatch`: per input, in input order,
//! either an event's records (verdict, enriched record, audit record, vault entries) or a
//! dead letter (undecodable input, or an operator with `on_error = "dead_letter"` failed).
//! Records are serialized here, once, into one buffer per kind, so the file runtime writes
//! each buffer whole and the Kafka runtime slices a record per message. Drivers only write.

use std::sync::Arc;
use std::time::Duration;

use crate::codec::{DeadLetter, DecodeError};
use crate::model::{Action, Origin, Verdict};
use crate::monitor::drift::DriftGauge;
use crate::telemetry::metrics::Metrics;
use crate::vault::SealedEntry;

/// What one input of a batch became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Index into the batch's events (`verdicts`, the record buffers, `vault`, `audit_chains`).
    Event(usize),
    /// Index into `dead_letters`.
    DeadLetter(usize),
    /// A chunk of a streamed response: its records, if any, are the batch's stream records
    /// at its position (the response's verdict comes with the chunk that ends it).
    Chunk,
}

/// An input that goes to the dead-letter outputs instead of producing a verdict.
#[derive(Debug, Clone)]
pub struct DeadLetterOutput {
    /// Index of the input in its batch.
    pub input: usize,
    pub error: DecodeError,
    /// The JSON dead-letter record (reason, origin, the input cut to a bounded size) written
    /// to file sinks; Kafka dead-letter topics get the input's own bytes with the reason in
    /// headers.
    pub record: Vec<u8>,
}

/// Serialized records of one kind, one per event, as JSON lines in one or more buffers
/// (records serialized in parallel keep their chunk's buffer: no copy to join them).
#[derive(Debug, Clone, Default)]
pub struct Encoded {
    segments: Vec<Segment>,
    /// Records before each segment.
    firsts: Vec<usize>,
    len: usize,
}

#[derive(Debug, Clone, Default)]
struct Segment {
    bytes: Vec<u8>,
    /// End of each record (before its newline).
    ends: Vec<usize>,
}

impl Encoded {
    fn last(&mut self) -> &mut Segment {
        if self.segments.is_empty() {
            self.segments.push(Segment::default());
            self.firsts.push(0);
        }
        self.segments.last_mut().expect("just ensured")
    }

    /// Appends one record.
    pub fn push(&mut self, record: &[u8]) {
        let segment = self.last();
        segment.bytes.extend_from_slice(record);
        segment.ends.push(segment.bytes.len());
        segment.bytes.push(b'\n');
        self.len += 1;
    }

    /// Serializes `value` as one more record.
    pub fn push_json<T: serde::Serialize>(&mut self, value: &T) {
        let segment = self.last();
        serde_json::to_writer(&mut segment.bytes, value).expect("records serialize to JSON");
        segment.ends.push(segment.bytes.len());
        segment.bytes.push(b'\n');
        self.len += 1;
    }

    /// Appends records serialized elsewhere (a parallel chunk), keeping their order.
    pub fn append(&mut self, other: Encoded) {
        for segment in other.segments {
            if segment.ends.is_empty() {
                continue;
            }
            self.firsts.push(self.len);
            self.len += segment.ends.len();
            self.segments.push(segment);
        }
    }

    /// Record `i`, without its newline.
    pub fn record(&self, i: usize) -> &[u8] {
        let s = self.firsts.partition_point(|&first| first <= i) - 1;
        let (segment, k) = (&self.segments[s], i - self.firsts[s]);
        let start = if k == 0 { 0 } else { segment.ends[k - 1] + 1 };
        &segment.bytes[start..segment.ends[k]]
    }

    /// The records as JSON lines, ready for a file, buffer by buffer.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.segments.iter().map(|s| s.bytes.as_slice())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Everything one batch produced, in input order.
#[derive(Debug, Default)]
pub struct OutputBatch {
    /// One per input.
    pub outcomes: Vec<Outcome>,
    /// One per event.
    pub verdicts: Vec<Verdict>,
    /// One per event when the route has a verdict sink, else empty.
    pub verdict_records: Encoded,
    /// One per event when the route has a shadow verdict sink, else empty.
    pub shadow_verdict_records: Encoded,
    /// One per event when the route has an enriched sink, else empty.
    pub enriched_records: Encoded,
    /// `(event id, redacted text)` per event when the route keeps them (a detached run that
    /// shows text), else empty.
    pub redacted_texts: Vec<(Arc<str>, Arc<str>)>,
    /// One per event when the route has an audit log, else empty.
    pub audit_records: Encoded,
    /// The chain of each audit record (its Kafka key).
    pub audit_chains: Vec<String>,
    /// One list per event when the route has a vault, else empty.
    pub vault: Vec<Vec<SealedEntry>>,
    pub dead_letters: Vec<DeadLetterOutput>,
    /// Time each inspector spent on the batch (summed over events and threads).
    pub timings: Vec<(Arc<str>, Duration)>,
    /// What the drift monitor and the tenant limits raised.
    pub monitor: MonitorOutputs,
    /// Streamed responses: released and stream_blocked records, holds and closes.
    pub streams: super::stream::StreamOutputs,
}

/// A batch's alert records and monitor measurements.
#[derive(Debug, Default)]
pub struct MonitorOutputs {
    /// Serialized alerts, in input order.
    pub alerts: Vec<AlertOutput>,
    /// The kind of each alert, for the metrics.
    pub kinds: Vec<&'static str>,
    pub gauges: Vec<DriftGauge>,
    /// Labels of the limit findings.
    pub limited: Vec<&'static str>,
}

/// One alert record as written.
#[derive(Debug)]
pub struct AlertOutput {
    /// The input that raised it (its Kafka delivery waits for the alert).
    pub input: usize,
    /// `<field>=<value>`: its Kafka key, so one key's alerts stay in order.
    pub key: String,
    /// JSON.
    pub record: Vec<u8>,
}

impl MonitorOutputs {
    /// The alerts raised by input `index`.
    pub fn alerts_at(&self, index: usize) -> impl Iterator<Item = &AlertOutput> {
        at_position(&self.alerts, index, |a| a.input).iter()
    }

    /// Alert records as JSON lines.
    pub fn lines(&self) -> Vec<u8> {
        let mut lines = Vec::new();
        for alert in &self.alerts {
            lines.extend_from_slice(&alert.record);
            lines.push(b'\n');
        }
        lines
    }

    fn count(&self, metrics: &Metrics) {
        for kind in &self.kinds {
            metrics.alerts.with_label_values(&[kind]).inc();
        }
        for label in &self.limited {
            metrics.limited.with_label_values(&[label]).inc();
        }
        for g in &self.gauges {
            let labels = [&*g.dimension, &*g.key, g.series.as_str()];
            metrics.drift_rate.with_label_values(&labels).set(g.rate);
            metrics
                .drift_baseline
                .with_label_values(&labels)
                .set(g.baseline);
        }
    }
}

impl OutputBatch {
    /// Vault entries of the batch, as JSON lines.
    pub fn vault_lines(&self) -> Vec<u8> {
        let mut lines = Vec::new();
        for entry in self.vault.iter().flatten() {
            lines.extend_from_slice(&entry.record);
            lines.push(b'\n');
        }
        lines
    }

    /// Dead-letter records of the batch, as JSON lines.
    pub fn dead_letter_lines(&self) -> Vec<u8> {
        let mut lines = Vec::new();
        for letter in &self.dead_letters {
            lines.extend_from_slice(&letter.record);
            lines.push(b'\n');
        }
        lines
    }

    pub fn vault_entries(&self) -> usize {
        self.vault.iter().map(Vec::len).sum()
    }

    /// Counts the batch into the run report and the verdict, finding, dead-letter and
    /// operator-time metrics of `source` (the same for every runtime).
    pub fn count(&self, source: &str, metrics: &Metrics, report: &mut RunReport, latencies: bool) {
        metrics
            .events_in
            .with_label_values(&[source])
            .inc_by((self.outcomes.len() - self.dead_letters.len()) as u64);
        metrics.batch_events.observe(self.outcomes.len() as f64);
        for letter in &self.dead_letters {
            metrics
                .dead_letters
                .with_label_values(&[source, letter.error.kind()])
                .inc();
        }
        report.dead_letters += self.dead_letters.len() as u64;
        self.monitor.count(metrics);
        for (operator, spent) in &self.timings {
            metrics
                .operator_seconds
                .with_label_values(&[operator])
                .observe(spent.as_secs_f64());
        }
        let mut actions = [0u64; 4];
        let mut findings: std::collections::HashMap<(&str, &str), u64> = Default::default();
        for verdict in &self.verdicts {
            actions[action_index(verdict.action)] += 1;
            for f in &verdict.findings {
                *findings
                    .entry((&f.operator, f.category.as_str()))
                    .or_default() += 1;
            }
            if latencies {
                report
                    .latencies_us
                    .push(verdict.latency_us.min(u32::MAX as u64) as u32);
            }
        }
        report.events += self.verdicts.len() as u64;
        for (i, n) in actions.iter().enumerate() {
            report.actions[i] += n;
            if *n > 0 {
                metrics
                    .verdicts
                    .with_label_values(&[Action::ALL[i].as_str()])
                    .inc_by(*n);
            }
        }
        for ((operator, category), n) in findings {
            metrics
                .findings
                .with_label_values(&[operator, category])
                .inc_by(n);
        }
    }
}

fn action_index(action: Action) -> usize {
    Action::ALL.iter().position(|a| *a == action).unwrap_or(0)
}

/// One input as the pipeline sees it: what decoding made of it, and where it came from.
pub struct Input<'a> {
    pub decoded: Result<crate::model::Event, DecodeError>,
    pub at: InputRef<'a>,
}

/// An input's origin and bytes (for the dead-letter record, should it become one).
pub struct InputRef<'a> {
    pub origin: Origin,
    pub raw: &'a [u8],
    /// The input's full size (a line over the size limit is read only in part).
    pub size: usize,
}

impl InputRef<'_> {
    /// The dead-letter record of this input for `error`; logged by ids and sizes only.
    pub fn dead_letter(&self, index: usize, error: DecodeError) -> DeadLetterOutput {
        tracing::warn!(
            origin = %self.origin.fallback_id(),
            error = error.kind(),
            size_bytes = self.size,
            "dead letter"
        );
        let letter = DeadLetter::new(&error, self.origin.clone(), self.raw, self.size);
        DeadLetterOutput {
            input: index,
            record: serde_json::to_vec(&letter).expect("dead letters serialize"),
            error,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub events: u64,
    pub dead_letters: u64,
    pub input_bytes: u64,
    /// Count per action, indexed like [`Action::ALL`].
    pub actions: [u64; 4],
    pub elapsed: Duration,
    /// Per-event latency in microseconds (only with `record_latencies`).
    pub latencies_us: Vec<u32>,
}

impl RunReport {
    /// Adds another source's report (sources run side by side: the longest time counts).
    pub fn merge(&mut self, other: RunReport) {
        self.events += other.events;
        self.dead_letters += other.dead_letters;
        self.input_bytes += other.input_bytes;
        for (t, n) in self.actions.iter_mut().zip(other.actions) {
            *t += n;
        }
        self.elapsed = self.elapsed.max(other.elapsed);
        self.latencies_us.extend(other.latencies_us);
    }
}

/// The run of `items` (sorted by `position`) whose position is `at`.
pub fn at_position<T>(items: &[T], at: usize, position: impl Fn(&T) -> usize) -> &[T] {
    let from = items.partition_point(|item| position(item) < at);
    let to = from + items[from..].partition_point(|item| position(item) == at);
    &items[from..to]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_records_slice_back_out_and_read_as_lines() {
        let mut first = Encoded::default();
        first.push(b"{\"a\":1}");
        let mut second = Encoded::default();
        second.push(b"{\"b\":2}");
        second.push_json(&serde_json::json!({"c": 3}));
        first.append(second);
        assert_eq!(first.len(), 3);
        assert_eq!(first.record(0), b"{\"a\":1}");
        assert_eq!(first.record(1), b"{\"b\":2}");
        assert_eq!(first.record(2), b"{\"c\":3}");
        assert_eq!(
            first.lines().collect::<Vec<_>>().concat(),
            b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"
        );
        let mut empty_first = Encoded::default();
        empty_first.append(Encoded::default());
        empty_first.append(first);
        assert_eq!(empty_first.record(2), b"{\"c\":3}");
    }
}

//! `railyard replay` over Kafka: the recorded events as a topic range (by offsets or record
//! times) and the recorded verdicts as a topic, read with their own group id, committing
//! nothing, producing nothing.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use railyard::config::Topology;
use railyard::kafka::read::Bound;
use railyard::replay::kafka_range::{properties, replay_range, TopicRange};
use railyard::replay::run::Replayed;
use railyard::replay::VerdictSet;

#[derive(clap::Args)]
pub struct KafkaRange {
    /// Recorded events: a topic read from `--from` to `--to`.
    #[arg(long)]
    input_topic: Option<String>,
    /// Recorded verdicts: a topic (JSON verdict records), read whole or over the same times.
    #[arg(long)]
    baseline_topic: Option<String>,
    /// Bootstrap servers (default: the topology's `[kafka] brokers`).
    #[arg(long)]
    brokers: Option<String>,
    /// Start in every partition: `beginning`, `offset:N` or `time:RFC3339` / `time:UNIX_MS`.
    #[arg(long, default_value = "beginning", value_parser = parse_bound)]
    from: Bound,
    /// End (exclusive) in every partition: `end`, `offset:N` or `time:...`.
    #[arg(long, default_value = "end", value_parser = parse_bound)]
    to: Bound,
    /// The read ends when no record arrives for this long.
    #[arg(long, default_value_t = 3000)]
    idle_ms: u64,
}

fn parse_bound(s: &str) -> Result<Bound, String> {
    match s {
        "beginning" | "end" => Ok(Bound::Open),
        _ => {
            if let Some(n) = s.strip_prefix("offset:") {
                return n
                    .parse()
                    .map(Bound::Offset)
                    .map_err(|e| format!("{s}: {e}"));
            }
            if let Some(t) = s.strip_prefix("time:") {
                if let Ok(ms) = t.parse::<i64>() {
                    return Ok(Bound::Time(ms));
                }
                let at = humantime::parse_rfc3339_weak(t).map_err(|e| format!("{s}: {e}"))?;
                let ms = at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_err(|e| format!("{s}: {e}"))?
                    .as_millis() as i64;
                return Ok(Bound::Time(ms));
            }
            Err(format!(
                "expected beginning, end, offset:N or time:RFC3339, got `{s}`"
            ))
        }
    }
}

impl KafkaRange {
    pub fn input_topic(&self) -> Option<&str> {
        self.input_topic.as_deref()
    }

    /// Whether the input range is bounded at either end (a part of the topic).
    pub fn bounded(&self) -> bool {
        self.input_topic.is_some() && (self.from != Bound::Open || self.to != Bound::Open)
    }

    pub fn input_label(&self) -> String {
        format!(
            "kafka:{} {:?}..{:?}",
            self.input_topic.as_deref().unwrap_or("-"),
            self.from,
            self.to
        )
    }

    pub fn baseline_label(&self) -> Option<PathBuf> {
        self.baseline_topic
            .as_ref()
            .map(|t| PathBuf::from(format!("kafka:{t}")))
    }

    fn range(&self, topic: &str, topology: Option<&Topology>) -> Result<TopicRange> {
        let brokers = match (&self.brokers, topology.and_then(|t| t.kafka.as_ref())) {
            (Some(b), _) => b.clone(),
            (None, Some(k)) => k.brokers.clone(),
            (None, None) => bail!("give --brokers (the topology has no [kafka] table)"),
        };
        Ok(TopicRange {
            brokers,
            topic: topic.to_string(),
            start: self.from,
            end: self.to,
            idle: Duration::from_millis(self.idle_ms),
            properties: topology.map(properties).unwrap_or_default(),
        })
    }

    /// Runs the candidate over the input range.
    pub fn replay(&self, topology: &Topology, route: usize, show_text: bool) -> Result<Replayed> {
        let topic = self.input_topic.as_deref().context("no --input-topic")?;
        let range = self.range(topic, Some(topology))?;
        let bar = super::progress::bar(0, "records");
        let replayed = replay_range(topology, route, &range, show_text, &mut |n, events| {
            bar.set_length(bar.length().unwrap_or(0).max(n));
            super::progress::update(&bar, n, events)
        })
        .map_err(|e| anyhow!(e))?;
        bar.finish_and_clear();
        Ok(replayed)
    }

    /// Reads the recorded verdicts from the baseline topic (whole: a verdict's record time
    /// is its decision's, not its event's).
    pub fn read_baseline(&self) -> Result<VerdictSet> {
        let topic = self
            .baseline_topic
            .as_deref()
            .context("no --baseline-topic")?;
        let mut range = self.range(topic, None)?;
        range.start = Bound::Open;
        range.end = Bound::Open;
        let mut set = VerdictSet::default();
        for record in range.read().map_err(|e| anyhow!(e))? {
            set.push_json(&record.payload, record.offset as u64);
        }
        Ok(set)
    }
}

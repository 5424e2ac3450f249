//! The candidate's side of a replay over a Kafka topic range: records read once (own group
//! id, nothing committed), decoded as the topology's Kafka source decodes them (JSON, or
//! Avro through the schema registry), run detached from every sink.

use std::sync::Arc;
use std::time::Duration;

use super::run::{OnProgress, Replayed};
use crate::codec::decode_json;
use crate::config::{Format, SourceSpec, Topology};
use crate::kafka::avro::EventDecoder;
use crate::kafka::read::{read_range, Bound, TopicRecord};
use crate::model::Origin;
use crate::runtime::RunError;
use crate::topology::output::{Input, InputRef};
use crate::topology::Pipeline;

/// What range to read, and from where.
#[derive(Debug, Clone)]
pub struct TopicRange {
    pub brokers: String,
    pub topic: String,
    pub start: Bound,
    pub end: Bound,
    /// The read ends when nothing arrives for this long.
    pub idle: Duration,
    /// librdkafka properties (security) for the reader.
    pub properties: Vec<(String, String)>,
}

impl TopicRange {
    pub fn read(&self) -> Result<Vec<TopicRecord>, RunError> {
        read_range(
            &self.brokers,
            &self.topic,
            self.start,
            self.end,
            self.idle,
            &self.properties,
        )
        .map_err(|e| RunError::Io {
            what: format!("cannot read topic `{}`", self.topic),
            source: std::io::Error::other(e.to_string()),
        })
    }
}

/// The topology's shared Kafka properties as text pairs (empty without `[kafka]`).
pub fn properties(topology: &Topology) -> Vec<(String, String)> {
    topology
        .kafka
        .as_ref()
        .map(|k| {
            k.properties
                .iter()
                .map(|(key, v)| (key.clone(), v.to_text()))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `topology` (source `route`) over the records of `range`, writing to none of its
/// sinks.
pub fn replay_range(
    topology: &Topology,
    route: usize,
    range: &TopicRange,
    show_text: bool,
    progress: OnProgress<'_>,
) -> Result<Replayed, RunError> {
    let records = range.read()?;
    let pipeline = Pipeline::build_detached(topology, show_text)?;
    let avro = match &topology.sources[route].spec {
        SourceSpec::Kafka(source) if source.format == Format::Avro => {
            let registry = topology
                .kafka
                .as_ref()
                .and_then(|k| k.schema_registry.as_ref())
                .ok_or_else(|| RunError::Io {
                    what: "an Avro source needs [kafka.schema_registry]".into(),
                    source: std::io::Error::other("no schema registry"),
                })?;
            Some(EventDecoder::new(registry).map_err(|e| RunError::Io {
                what: "cannot reach the schema registry".into(),
                source: std::io::Error::other(e.to_string()),
            })?)
        }
        _ => None,
    };
    let topic: Arc<str> = Arc::from(range.topic.as_str());
    let max_bytes = topology.settings.max_event_bytes;
    let batch_size = topology.settings.batch_size.max(1);
    let mut out = Replayed::default();
    let total = records.len();
    for batch in records.chunks(batch_size) {
        let mut inputs = Vec::with_capacity(batch.len());
        for record in batch {
            let origin = Origin::Kafka {
                topic: topic.clone(),
                partition: record.partition,
                offset: record.offset,
            };
            let decoded = match &avro {
                Some(decoder) => decoder
                    .decode(&record.payload, origin.clone())
                    .map_err(|e| RunError::Io {
                        what: "schema registry failed during the replay".into(),
                        source: std::io::Error::other(e.to_string()),
                    })?,
                None => decode_json(&record.payload, origin.clone(), max_bytes),
            };
            inputs.push(Input {
                decoded,
                at: InputRef {
                    origin,
                    raw: &record.payload,
                    size: record.payload.len(),
                },
            });
        }
        out.inputs += batch.len();
        out.absorb(&pipeline.run_batch(route, inputs), show_text);
        progress(out.inputs as u64, out.verdicts.len());
    }
    if pipeline.streams().open_streams() > 0 {
        out.absorb(&pipeline.flush_streams(route), show_text);
    }
    progress(total as u64, out.verdicts.len());
    Ok(out)
}

//! At-least-once: offsets are stored only after every output of their event is on the broker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::CommitMode;

use super::{Clients, Guarantee};
use crate::config::KafkaConfig;
use crate::kafka::acks::{Acks, Ticket};
use crate::kafka::context::commit_positions;
use crate::kafka::offsets::PartitionKey;
use crate::kafka::records::InputRecord;
use crate::kafka::KafkaRunError;
use crate::telemetry::metrics::Metrics;

pub struct AtLeastOnce {
    acks: Arc<Acks>,
    metrics: Arc<Metrics>,
    commit_interval: Duration,
    last_commit: Instant,
}

impl AtLeastOnce {
    pub fn new(kafka: &KafkaConfig, acks: Arc<Acks>, metrics: Arc<Metrics>) -> AtLeastOnce {
        AtLeastOnce {
            acks,
            metrics,
            commit_interval: Duration::from_millis(kafka.commit_interval_ms),
            last_commit: Instant::now(),
        }
    }

    fn commit(&self, clients: &Clients, mode: CommitMode) {
        commit_positions(&clients.consumer, &self.acks, &self.metrics, None, mode);
    }
}

impl Guarantee for AtLeastOnce {
    fn begin_batch(
        &mut self,
        batch: &[InputRecord],
        keys: &[Arc<PartitionKey>],
        _clients: &Clients,
    ) -> Result<(), KafkaRunError> {
        let mut tracker = self.acks.tracker();
        for (record, key) in batch.iter().zip(keys) {
            tracker.dispatched(key, record.offset)?;
        }
        Ok(())
    }

    fn holds_streams(&self) -> bool {
        true
    }

    fn ticket(&self, key: &Arc<PartitionKey>, offset: i64, records: usize) -> Option<Arc<Ticket>> {
        if records == 0 {
            self.acks.event_done(key, offset);
            return None;
        }
        Some(Ticket::new(key.clone(), offset, records))
    }

    fn end_batch(
        &mut self,
        _batch: &[InputRecord],
        _clients: &Clients,
    ) -> Result<(), KafkaRunError> {
        Ok(())
    }

    fn tick(&mut self, clients: &Clients) {
        if self.last_commit.elapsed() >= self.commit_interval {
            self.commit(clients, CommitMode::Async);
            self.last_commit = Instant::now();
        }
    }

    fn close(&mut self, clients: &Clients) {
        self.commit(clients, CommitMode::Sync);
    }

    fn begin_extra(&mut self, _clients: &Clients) -> Result<(), KafkaRunError> {
        Ok(())
    }

    fn end_extra(&mut self, _clients: &Clients) -> Result<(), KafkaRunError> {
        Ok(())
    }
}

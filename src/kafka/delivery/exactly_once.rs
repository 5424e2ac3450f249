//! Exactly-once: a batch's outputs and its input positions commit in one Kafka transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

use super::{Clients, Guarantee};
use crate::kafka::acks::Ticket;
use crate::kafka::offsets::PartitionKey;
use crate::kafka::records::InputRecord;
use crate::kafka::KafkaRunError;
use crate::telemetry::metrics::Metrics;

/// How long transactional calls may take before the run gives up.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

pub struct ExactlyOnce {
    metrics: Arc<Metrics>,
}

impl ExactlyOnce {
    pub fn new(metrics: Arc<Metrics>) -> ExactlyOnce {
        ExactlyOnce { metrics }
    }

    fn count(&self, outcome: &str) {
        self.metrics
            .commits
            .with_label_values(&["transaction", outcome])
            .inc();
    }
}

impl Guarantee for ExactlyOnce {
    fn begin_batch(
        &mut self,
        _batch: &[InputRecord],
        _keys: &[Arc<PartitionKey>],
        clients: &Clients,
    ) -> Result<(), KafkaRunError> {
        self.begin_extra(clients)
    }

    fn ticket(&self, key: &Arc<PartitionKey>, offset: i64, _records: usize) -> Option<Arc<Ticket>> {
        // The transaction, not the tracker, decides when the input is done.
        Some(Ticket::untracked(key.clone(), offset))
    }

    /// The batch's next positions join the transaction, which then commits.
    fn end_batch(&mut self, batch: &[InputRecord], clients: &Clients) -> Result<(), KafkaRunError> {
        let mut next: HashMap<(&str, i32), i64> = HashMap::new();
        for r in batch {
            let entry = next.entry((&r.topic, r.partition)).or_insert(r.offset + 1);
            *entry = (*entry).max(r.offset + 1);
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            list.add_partition_offset(topic, partition, Offset::Offset(offset))
                .map_err(|e| KafkaRunError::Transaction(e.to_string()))?;
        }
        let metadata = clients
            .consumer
            .group_metadata()
            .ok_or_else(|| KafkaRunError::Transaction("no consumer group metadata".into()))?;
        let producer = &clients.producer;
        let result = producer
            .send_offsets_to_transaction(&list, &metadata, TRANSACTION_TIMEOUT)
            .and_then(|()| producer.commit_transaction(TRANSACTION_TIMEOUT));
        match result {
            Ok(()) => {
                self.count("ok");
                Ok(())
            }
            Err(error) => {
                self.count("error");
                let _ = producer.abort_transaction(TRANSACTION_TIMEOUT);
                Err(KafkaRunError::Transaction(format!("commit: {error}")))
            }
        }
    }

    fn tick(&mut self, _clients: &Clients) {}

    fn close(&mut self, _clients: &Clients) {}

    /// A transactional producer writes only inside a transaction.
    fn begin_extra(&mut self, clients: &Clients) -> Result<(), KafkaRunError> {
        clients
            .producer
            .begin_transaction()
            .map_err(|e| KafkaRunError::Transaction(format!("begin: {e}")))
    }

    fn end_extra(&mut self, clients: &Clients) -> Result<(), KafkaRunError> {
        clients
            .producer
            .commit_transaction(TRANSACTION_TIMEOUT)
            .map_err(|e| KafkaRunError::Transaction(format!("commit: {e}")))
    }
}

//! The tickets open streams hold: per stream, the tickets of its chunks, each owing one
//! output until the stream's closing outputs are delivered, so its partition's committed
//! offset stays at or before its first chunk while it is open. Shared by the writer (which
//! adds and releases holds) and the rebalance callback (which gives up the streams of
//! revoked partitions: their next owner reads them again from their first chunk).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::acks::Ticket;
use super::offsets::PartitionKey;

#[derive(Debug, Default)]
pub struct StreamHolds {
    held: Mutex<HashMap<Arc<str>, Vec<Arc<Ticket>>>>,
    /// Streams given up in a revocation, for the consumer loop to drop from the pipeline.
    given_up: Mutex<Vec<Arc<str>>>,
}

impl StreamHolds {
    pub fn new() -> Arc<StreamHolds> {
        Arc::new(StreamHolds::default())
    }

    pub fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Vec<Arc<Ticket>>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives up every open stream with a chunk on one of `revoked`: their holds are dropped
    /// (never acknowledged, so the committed offset stays before them) and the streams are
    /// queued for [`StreamHolds::take_given_up`]. Returns how many held tickets each revoked
    /// partition had: events that stay unacknowledged on purpose.
    pub fn give_up(&self, revoked: &[PartitionKey]) -> HashMap<PartitionKey, usize> {
        let revoked: HashSet<&PartitionKey> = revoked.iter().collect();
        let mut held = self.lock();
        let streams: Vec<Arc<str>> = held
            .iter()
            .filter(|(_, tickets)| tickets.iter().any(|t| revoked.contains(&*t.key)))
            .map(|(id, _)| id.clone())
            .collect();
        let mut counts: HashMap<PartitionKey, usize> = HashMap::new();
        for id in &streams {
            for ticket in held.remove(id).unwrap_or_default() {
                *counts.entry((*ticket.key).clone()).or_default() += 1;
            }
        }
        drop(held);
        self.given_up
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(streams);
        counts
    }

    /// The streams given up since the last call.
    pub fn take_given_up(&self) -> Vec<Arc<str>> {
        std::mem::take(&mut *self.given_up.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_up_only_the_streams_of_revoked_partitions() {
        let holds = StreamHolds::new();
        let a = Arc::new(PartitionKey::new("in", 0));
        let b = Arc::new(PartitionKey::new("in", 1));
        holds.lock().insert(
            Arc::from("s1"),
            vec![Ticket::new(a.clone(), 1, 1), Ticket::new(a.clone(), 3, 1)],
        );
        holds
            .lock()
            .insert(Arc::from("s2"), vec![Ticket::new(b.clone(), 2, 1)]);
        let counts = holds.give_up(&[(*a).clone()]);
        assert_eq!(counts.get(&*a), Some(&2));
        assert_eq!(counts.get(&*b), None);
        assert_eq!(holds.take_given_up(), vec![Arc::<str>::from("s1")]);
        assert!(holds.take_given_up().is_empty());
        assert!(holds.lock().contains_key("s2"));
    }
}

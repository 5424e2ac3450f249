//! At-least-once bookkeeping: which input offsets may be committed.
//!
//! Pure and free of rdkafka types. Per partition, the tracker knows which offsets were
//! dispatched and which have had every output acknowledged. The committable position is the
//! lowest offset still outstanding (or one past the highest acknowledged when none is), so a
//! restart resumes at the first event whose outputs are not all confirmed: nothing is lost,
//! and only events after that point can be processed twice. Offsets skipped by the broker
//! (compaction, transaction markers) never block the watermark because only dispatched
//! offsets count.

use std::collections::{BTreeSet, HashMap};

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub topic: String,
    pub partition: i32,
}

impl PartitionKey {
    pub fn new(topic: &str, partition: i32) -> Self {
        PartitionKey {
            topic: topic.to_string(),
            partition,
        }
    }
}

/// A misuse of the tracker: a programming error upstream, reported rather than hidden.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffsetError {
    #[error("{topic}/{partition}: offset {offset} dispatched twice")]
    DuplicateDispatch {
        topic: String,
        partition: i32,
        offset: i64,
    },
    #[error(
        "{topic}/{partition}: offset {offset} dispatched below the committed position {committed}"
    )]
    BelowCommitted {
        topic: String,
        partition: i32,
        offset: i64,
        committed: i64,
    },
    #[error("{topic}/{partition}: offset {offset} acknowledged but never dispatched")]
    UnknownAck {
        topic: String,
        partition: i32,
        offset: i64,
    },
}

#[derive(Debug, Default, Clone)]
struct PartitionState {
    /// Dispatched and not yet acknowledged.
    outstanding: BTreeSet<i64>,
    /// One past the highest offset ever dispatched.
    next: Option<i64>,
    /// Position last reported by `committable` and then `mark_committed`.
    committed: Option<i64>,
}

impl PartitionState {
    /// The offset to commit: the first still outstanding, else one past the last dispatched.
    fn watermark(&self) -> Option<i64> {
        self.outstanding.first().copied().or(self.next)
    }
}

/// Offsets in flight for every assigned partition.
#[derive(Debug, Default, Clone)]
pub struct OffsetTracker {
    partitions: HashMap<PartitionKey, PartitionState>,
}

impl OffsetTracker {
    pub fn new() -> Self {
        OffsetTracker::default()
    }

    /// Records that the event at `offset` entered the pipeline.
    pub fn dispatched(&mut self, key: &PartitionKey, offset: i64) -> Result<(), OffsetError> {
        let state = self.partitions.entry(key.clone()).or_default();
        if let Some(committed) = state.committed {
            if offset < committed {
                return Err(OffsetError::BelowCommitted {
                    topic: key.topic.clone(),
                    partition: key.partition,
                    offset,
                    committed,
                });
            }
        }
        // A partition's records arrive in offset order: anything below `next` was seen.
        if state.next.is_some_and(|next| offset < next) {
            return Err(OffsetError::DuplicateDispatch {
                topic: key.topic.clone(),
                partition: key.partition,
                offset,
            });
        }
        state.outstanding.insert(offset);
        state.next = Some(offset + 1);
        Ok(())
    }

    /// Records that every output of the event at `offset` was acknowledged by the broker.
    pub fn acknowledged(&mut self, key: &PartitionKey, offset: i64) -> Result<(), OffsetError> {
        let removed = self
            .partitions
            .get_mut(key)
            .is_some_and(|state| state.outstanding.remove(&offset));
        if removed {
            Ok(())
        } else {
            Err(OffsetError::UnknownAck {
                topic: key.topic.clone(),
                partition: key.partition,
                offset,
            })
        }
    }

    /// Events dispatched and not yet acknowledged, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|s| s.outstanding.len()).sum()
    }

    /// Events of one partition dispatched and not yet acknowledged.
    pub fn outstanding(&self, key: &PartitionKey) -> usize {
        self.partitions.get(key).map_or(0, |s| s.outstanding.len())
    }

    /// Positions that advanced since the last `mark_committed`, ready to store or commit.
    pub fn committable(&self) -> Vec<(PartitionKey, i64)> {
        let mut out: Vec<(PartitionKey, i64)> = self
            .partitions
            .iter()
            .filter_map(|(key, state)| {
                let watermark = state.watermark()?;
                (state.committed != Some(watermark)).then(|| (key.clone(), watermark))
            })
            .collect();
        out.sort();
        out
    }

    /// Records that `position` was stored or committed for `key`.
    pub fn mark_committed(&mut self, key: &PartitionKey, position: i64) {
        if let Some(state) = self.partitions.get_mut(key) {
            state.committed = Some(state.committed.map_or(position, |c| c.max(position)));
        }
    }

    /// Forgets a partition (revoked in a rebalance); returns what was still in flight.
    pub fn revoke(&mut self, key: &PartitionKey) -> usize {
        self.partitions
            .remove(key)
            .map_or(0, |s| s.outstanding.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Step {
        Dispatch(i64),
        Ack(i64),
        Commit,
    }
    use Step::*;

    fn run(steps: &[Step]) -> (Vec<Option<i64>>, Vec<String>) {
        let key = PartitionKey::new("t", 0);
        let mut tracker = OffsetTracker::new();
        let mut commits = Vec::new();
        let mut errors = Vec::new();
        for step in steps {
            match step {
                Dispatch(o) => {
                    if let Err(e) = tracker.dispatched(&key, *o) {
                        errors.push(e.to_string())
                    }
                }
                Ack(o) => {
                    if let Err(e) = tracker.acknowledged(&key, *o) {
                        errors.push(e.to_string())
                    }
                }
                Commit => {
                    let ready = tracker.committable();
                    let position = ready.first().map(|(_, p)| *p);
                    if let Some(p) = position {
                        tracker.mark_committed(&key, p);
                    }
                    commits.push(position);
                }
            }
        }
        (commits, errors)
    }

    #[test]
    fn watermark_table() {
        type Case = (&'static str, Vec<Step>, Vec<Option<i64>>);
        let cases: Vec<Case> = vec![
            ("nothing dispatched", vec![Commit], vec![None]),
            (
                "in flight holds the watermark",
                vec![Dispatch(0), Commit],
                vec![Some(0)],
            ),
            (
                "in-order acks advance",
                vec![Dispatch(0), Dispatch(1), Ack(0), Commit, Ack(1), Commit],
                vec![Some(1), Some(2)],
            ),
            (
                "an out-of-order ack waits for the gap",
                vec![
                    Dispatch(0),
                    Dispatch(1),
                    Dispatch(2),
                    Ack(2),
                    Ack(1),
                    Commit,
                    Ack(0),
                    Commit,
                ],
                vec![Some(0), Some(3)],
            ),
            (
                "unchanged positions are not repeated",
                vec![Dispatch(5), Ack(5), Commit, Commit],
                vec![Some(6), None],
            ),
            (
                "offsets the broker skipped do not block",
                vec![Dispatch(10), Dispatch(13), Ack(10), Commit, Ack(13), Commit],
                vec![Some(13), Some(14)],
            ),
        ];
        for (name, steps, expected) in cases {
            let (commits, errors) = run(&steps);
            assert!(errors.is_empty(), "{name}: {errors:?}");
            assert_eq!(commits, expected, "{name}");
        }
    }

    #[test]
    fn misuse_is_reported() {
        let (_, errors) = run(&[
            Dispatch(0),
            Dispatch(0),
            Ack(7),
            Dispatch(1),
            Ack(1),
            Ack(0),
            Commit,
            Dispatch(1),
        ]);
        assert_eq!(
            errors,
            [
                "t/0: offset 0 dispatched twice",
                "t/0: offset 7 acknowledged but never dispatched",
                "t/0: offset 1 dispatched below the committed position 2",
            ]
        );
    }

    #[test]
    fn partitions_are_independent_and_revocable() {
        let a = PartitionKey::new("t", 0);
        let b = PartitionKey::new("t", 1);
        let mut tracker = OffsetTracker::new();
        tracker.dispatched(&a, 0).unwrap();
        tracker.dispatched(&b, 100).unwrap();
        tracker.acknowledged(&b, 100).unwrap();
        assert_eq!(tracker.committable(), [(a.clone(), 0), (b.clone(), 101)]);
        assert_eq!(tracker.in_flight(), 1);
        assert_eq!(tracker.revoke(&a), 1);
        assert_eq!(tracker.in_flight(), 0);
        assert_eq!(tracker.committable(), [(b, 101)]);
    }

    /// Exhaustive over every ack order of 6 events with commits interleaved at every step:
    /// the committed position never passes an unacknowledged offset and ends one past the last.
    #[test]
    fn no_ack_order_commits_past_an_unacknowledged_event() {
        fn permutations(items: Vec<i64>) -> Vec<Vec<i64>> {
            if items.len() <= 1 {
                return vec![items];
            }
            let mut out = Vec::new();
            for i in 0..items.len() {
                let mut rest = items.clone();
                let head = rest.remove(i);
                for mut tail in permutations(rest) {
                    tail.insert(0, head);
                    out.push(tail);
                }
            }
            out
        }
        let key = PartitionKey::new("t", 0);
        let orders = permutations((0..6).collect());
        assert_eq!(orders.len(), 720);
        for order in orders {
            let mut tracker = OffsetTracker::new();
            for o in 0..6 {
                tracker.dispatched(&key, o).unwrap();
            }
            let mut acked = BTreeSet::new();
            for o in &order {
                tracker.acknowledged(&key, *o).unwrap();
                acked.insert(*o);
                for (_, position) in tracker.committable() {
                    assert!(
                        (0..position).all(|x| acked.contains(&x)),
                        "{order:?}: committed {position} with {acked:?}"
                    );
                    tracker.mark_committed(&key, position);
                }
            }
            assert_eq!(tracker.committable(), []);
            assert_eq!(tracker.in_flight(), 0);
        }
    }
}

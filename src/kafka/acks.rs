//! Acknowledgements shared between the consumer loop and the producer's delivery thread.
//!
//! Each event read from Kafka gets a [`Ticket`] carried as the delivery opaque of every record
//! produced for it. When the broker has acknowledged the last of them, the event's offset is
//! acknowledged in the [`OffsetTracker`], and waiters (backpressure, drain) are woken. A
//! delivery that fails for good is remembered: the run stops without committing past it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::warn;

use super::offsets::{OffsetTracker, PartitionKey};

/// The outputs still owed for one input record.
#[derive(Debug)]
pub struct Ticket {
    pub key: Arc<PartitionKey>,
    pub offset: i64,
    remaining: AtomicUsize,
    /// False for records whose delivery is settled otherwise (exactly-once transactions).
    tracked: bool,
    /// False for a carrier: outputs without an input of their own (a stream flushed by a
    /// timeout), whose delivery acknowledges no offset but may release `then`.
    acknowledges: bool,
    /// Tickets that each owe one output to this one's delivery: the earlier chunks of a
    /// stream this input closes, released once its own outputs are on the broker.
    then: Mutex<Vec<Arc<Ticket>>>,
}

impl Ticket {
    pub fn new(key: Arc<PartitionKey>, offset: i64, outputs: usize) -> Arc<Ticket> {
        Arc::new(Ticket {
            key,
            offset,
            remaining: AtomicUsize::new(outputs),
            tracked: true,
            acknowledges: true,
            then: Mutex::new(Vec::new()),
        })
    }

    /// A ticket for `outputs` records that acknowledges no offset of its own.
    pub fn carrier(key: Arc<PartitionKey>, outputs: usize) -> Arc<Ticket> {
        Arc::new(Ticket {
            key,
            offset: -1,
            remaining: AtomicUsize::new(outputs),
            tracked: true,
            acknowledges: false,
            then: Mutex::new(Vec::new()),
        })
    }

    /// Whether it is settled by the broker's acknowledgements (not by a transaction).
    pub fn tracked(&self) -> bool {
        self.tracked
    }

    /// Releases `tickets` (one output each) once this ticket's outputs are delivered.
    pub fn then_release(&self, tickets: Vec<Arc<Ticket>>) {
        self.then
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(tickets);
    }

    /// A ticket that acknowledges nothing (the transaction commit settles the batch).
    pub fn untracked(key: Arc<PartitionKey>, offset: i64) -> Arc<Ticket> {
        Arc::new(Ticket {
            key,
            offset,
            remaining: AtomicUsize::new(0),
            tracked: false,
            acknowledges: false,
            then: Mutex::new(Vec::new()),
        })
    }
}

/// The tracker, a wake-up for waiters, and the first fatal delivery error.
#[derive(Debug, Default)]
pub struct Acks {
    tracker: Mutex<OffsetTracker>,
    changed: Condvar,
    failure: Mutex<Option<String>>,
}

impl Acks {
    pub fn new() -> Arc<Acks> {
        Arc::new(Acks::default())
    }

    /// The tracker, for dispatching and committing. A poisoned lock means a panic elsewhere
    /// already stopped the run; the tracker itself stays consistent (every method is atomic).
    pub fn tracker(&self) -> MutexGuard<'_, OffsetTracker> {
        self.tracker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One output of `ticket` was acknowledged by the broker.
    pub fn output_delivered(&self, ticket: &Ticket) {
        if ticket.tracked && ticket.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            if ticket.acknowledges {
                self.event_done(&ticket.key, ticket.offset);
            }
            let then = std::mem::take(&mut *ticket.then.lock().unwrap_or_else(|p| p.into_inner()));
            for held in then {
                self.output_delivered(&held);
            }
        }
    }

    /// Every output of the event at `offset` is safely written.
    pub fn event_done(&self, key: &PartitionKey, offset: i64) {
        if let Err(error) = self.tracker().acknowledged(key, offset) {
            // A partition revoked after its drain deadline: its position was left to the
            // next owner, which reprocesses from there.
            warn!(%error, "late acknowledgement ignored");
        }
        self.changed.notify_all();
    }

    /// A record could not be delivered: the run must stop without committing past it.
    pub fn fail(&self, reason: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failure.get_or_insert(reason);
        drop(failure);
        self.changed.notify_all();
    }

    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until `done(tracker)` holds, a failure is recorded, or `deadline` passes.
    /// Returns whether `done` held.
    pub fn wait_until(
        &self,
        deadline: Instant,
        mut done: impl FnMut(&OffsetTracker) -> bool,
    ) -> bool {
        let mut tracker = self.tracker();
        loop {
            if done(&tracker) {
                return true;
            }
            if self.failure().is_some() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let wait = (deadline - now).min(Duration::from_millis(100));
            tracker = self
                .changed
                .wait_timeout(tracker, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_acknowledged_after_its_last_output() {
        let acks = Acks::new();
        let key = Arc::new(PartitionKey::new("in", 0));
        acks.tracker().dispatched(&key, 5).unwrap();
        let ticket = Ticket::new(key.clone(), 5, 3);
        acks.output_delivered(&ticket);
        acks.output_delivered(&ticket);
        assert_eq!(acks.tracker().in_flight(), 1);
        acks.output_delivered(&ticket);
        assert_eq!(acks.tracker().in_flight(), 0);
        assert_eq!(acks.tracker().committable(), vec![((*key).clone(), 6)]);
    }

    #[test]
    fn waiting_returns_on_acknowledgement_from_another_thread() {
        let acks = Acks::new();
        let key = Arc::new(PartitionKey::new("in", 1));
        acks.tracker().dispatched(&key, 0).unwrap();
        let ticket = Ticket::new(key, 0, 1);
        let other = acks.clone();
        let handle = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            other.output_delivered(&ticket);
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(acks.wait_until(deadline, |t| t.in_flight() == 0));
        handle.join().unwrap();
    }

    #[test]
    fn a_failure_ends_the_wait_and_is_kept() {
        let acks = Acks::new();
        acks.tracker()
            .dispatched(&PartitionKey::new("in", 0), 0)
            .unwrap();
        acks.fail("first".into());
        acks.fail("second".into());
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(!acks.wait_until(deadline, |t| t.in_flight() == 0));
        assert_eq!(acks.failure().as_deref(), Some("first"));
    }
}

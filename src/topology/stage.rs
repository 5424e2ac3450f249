//! One inspector as the pipeline runs it: its `on_error` policy, its deadline, and panics
//! turned into operator failures.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::model::{Action, Category, Event, Finding, Provenance};
use crate::operators::{Inspector, OnError, OperatorFailure, StreamRole};

/// An inspector with its failure policy.
pub struct Stage {
    pub inspector: Arc<dyn Inspector>,
    pub on_error: OnError,
    pub category: Category,
    pub timeout: Option<Duration>,
    /// What it reads of an open stream.
    pub role: StreamRole,
    /// In shadow mode: its findings go to the shadow verdict only.
    pub shadow: bool,
    /// A timed-out `prepare` is still running.
    busy: Arc<AtomicBool>,
}

impl Stage {
    pub fn new(inspector: Arc<dyn Inspector>, on_error: OnError, category: Category) -> Stage {
        Stage {
            role: inspector.stream_role(),
            inspector,
            on_error,
            category,
            timeout: None,
            shadow: false,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Batch-level preparation under the operator's deadline, if it has one: `Err` fails
    /// every event of the batch.
    pub fn prepare_within_deadline(&self, events: &mut Vec<Event>) -> Result<(), OperatorFailure> {
        let Some(timeout) = self.timeout else {
            self.prepare(events);
            return Ok(());
        };
        if self.busy.load(Ordering::Acquire) {
            return Err(OperatorFailure(format!(
                "an earlier call is still running past its {} ms deadline",
                timeout.as_millis()
            )));
        }
        self.busy.store(true, Ordering::Release);
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let mut copy = events.clone();
        let inspector = self.inspector.clone();
        let busy = self.busy.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("prepare-{}", self.inspector.id()))
            .spawn(move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| inspector.prepare(&mut copy)));
                busy.store(false, Ordering::Release);
                let _ = sender.send(outcome.map(|()| copy));
            });
        if let Err(e) = spawned {
            self.busy.store(false, Ordering::Release);
            return Err(OperatorFailure(format!("cannot start its worker: {e}")));
        }
        match receiver.recv_timeout(timeout) {
            Ok(Ok(prepared)) => {
                *events = prepared;
                Ok(())
            }
            Ok(Err(_)) => {
                tracing::error!(
                    operator = self.inspector.id(),
                    "operator panicked preparing a batch"
                );
                Ok(())
            }
            Err(_) => {
                tracing::warn!(
                    operator = self.inspector.id(),
                    timeout_ms = timeout.as_millis() as u64,
                    events = events.len(),
                    "operator timed out"
                );
                Err(OperatorFailure(format!(
                    "timed out after {} ms",
                    timeout.as_millis()
                )))
            }
        }
    }

    /// Runs the inspector; a panic counts as a failure.
    pub fn run(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        match catch_unwind(AssertUnwindSafe(|| self.inspector.inspect(event))) {
            Ok(outcome) => outcome,
            Err(_) => Err(OperatorFailure("panicked".to_string())),
        }
    }

    /// Batch-level preparation; a panic leaves the events unprepared, and `run` then fails
    /// (or computes) per event under the operator's `on_error`.
    fn prepare(&self, events: &mut [Event]) {
        if catch_unwind(AssertUnwindSafe(|| self.inspector.prepare(events))).is_err() {
            tracing::error!(
                operator = self.inspector.id(),
                "operator panicked preparing a batch"
            );
        }
    }

    /// The finding that records a failure under `fail_open` (flag) or `fail_closed` (block).
    pub fn failure_finding(&self, failure: &OperatorFailure) -> Finding {
        Finding {
            operator: Arc::from(self.inspector.id()),
            category: self.category,
            label: Arc::from("operator_error"),
            score: 1.0,
            spans: Vec::new(),
            action: if self.on_error == OnError::FailOpen {
                Action::Flag
            } else {
                Action::Block
            },
            redaction: None,
            reason: Some(Arc::from(format!("operator failed: {failure}"))),
            provenance: Provenance::builtin("on_error", 0.0),
            location: None,
        }
    }
}

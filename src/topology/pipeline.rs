//! The processing core shared by every runtime: a batch of events in, verdicts and enriched
//! records out, in input order.
//!
//! Per route (one per source), the inspectors reachable from that source run fused: one
//! data-parallel pass over the batch (rayon), each event visiting every inspector in DAG
//! order, then the policy. Placeholder numbering then runs sequentially (so numbers follow
//! input order), and enriched texts are built in parallel again.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::redact::{self, PlaceholderRegistry};
use crate::config::Topology;
use crate::event::{Category, Event, Finding, Provenance};
use crate::operators::decide::Policy;
use crate::operators::{BuildError, BuiltOperator, Inspector, OnError, OperatorFailure};
use crate::verdict::{Action, EnrichedRecord, TopologyRef, Verdict};

/// Events whose operator timings are summed locally before one shared update.
const TIMING_CHUNK: usize = 64;

/// One event's outputs.
pub struct Processed {
    pub verdict: Verdict,
    /// Present when the caller asked for enriched records.
    pub enriched: Option<EnrichedRecord>,
    /// Set when an operator with `on_error = "dead_letter"` failed: the event goes to the
    /// dead-letter outputs instead of the verdict and enriched ones.
    pub failed: Option<OperatorFailed>,
}

/// An operator failure that sends its event to the dead letters.
#[derive(Debug, Clone)]
pub struct OperatorFailed {
    pub operator: Arc<str>,
    pub reason: String,
}

/// An inspector with its failure policy.
struct Stage {
    inspector: Arc<dyn Inspector>,
    on_error: OnError,
    category: Category,
}

impl Stage {
    /// Runs the inspector; a panic counts as a failure.
    fn run(&self, event: &mut Event) -> Result<(), OperatorFailure> {
        match catch_unwind(AssertUnwindSafe(|| self.inspector.try_inspect(event))) {
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
    fn failure_finding(&self, failure: &OperatorFailure) -> Finding {
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
        }
    }
}

struct RoutePlan {
    inspectors: Vec<Stage>,
    policy: Policy,
}

/// A built topology: operators compiled, ready to process batches.
pub struct Pipeline {
    topology: TopologyRef,
    routes: Vec<RoutePlan>,
    registry: PlaceholderRegistry,
}

impl Pipeline {
    pub fn build(topology: &Topology) -> Result<Pipeline, BuildError> {
        let built: Vec<BuiltOperator> = topology
            .operators
            .iter()
            .map(|node| node.spec.build(&node.id))
            .collect::<Result<_, _>>()?;
        let routes = topology
            .routes
            .iter()
            .map(|route| RoutePlan {
                inspectors: route
                    .operators
                    .iter()
                    .filter_map(|&i| match &built[i] {
                        BuiltOperator::Inspector(inspector) => Some(Stage {
                            inspector: inspector.clone(),
                            on_error: topology.operators[i].on_error,
                            category: topology.operators[i].spec.category(),
                        }),
                        BuiltOperator::Policy(_) => None,
                    })
                    .collect(),
                policy: route
                    .operators
                    .iter()
                    .find_map(|&i| match &built[i] {
                        BuiltOperator::Policy(policy) => Some(policy.clone()),
                        BuiltOperator::Inspector(_) => None,
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Pipeline {
            topology: topology.reference(),
            routes,
            registry: PlaceholderRegistry::new(topology.settings.max_conversations),
        })
    }

    pub fn topology(&self) -> &TopologyRef {
        &self.topology
    }

    /// Runs a batch from the source with index `route` through its operators and policy.
    pub fn process(&self, route: usize, events: Vec<Event>, want_enriched: bool) -> Vec<Processed> {
        self.process_timed(route, events, want_enriched).0
    }

    /// Like [`Pipeline::process`], also returning the time each inspector spent on the batch
    /// (summed over events and threads), by operator id.
    pub fn process_timed(
        &self,
        route: usize,
        mut events: Vec<Event>,
        want_enriched: bool,
    ) -> (Vec<Processed>, Vec<(Arc<str>, Duration)>) {
        let plan = &self.routes[route];
        let spent: Vec<AtomicU64> = plan.inspectors.iter().map(|_| AtomicU64::new(0)).collect();
        // Batch-level work first (model inference over the whole batch), in DAG order.
        for (stage, total) in plan.inspectors.iter().zip(&spent) {
            let started = Instant::now();
            stage.prepare(&mut events);
            total.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        let verdicts: Vec<(Verdict, Option<OperatorFailed>)> = events
            .par_chunks_mut(TIMING_CHUNK)
            .flat_map_iter(|chunk| {
                // Per-chunk accumulators: one atomic add per operator per chunk, not per event.
                let mut local = vec![0u64; plan.inspectors.len()];
                let verdicts: Vec<(Verdict, Option<OperatorFailed>)> = chunk
                    .iter_mut()
                    .map(|event| {
                        let mut last = Instant::now();
                        let mut failed = None;
                        for (i, stage) in plan.inspectors.iter().enumerate() {
                            let outcome = stage.run(event);
                            let now = Instant::now();
                            local[i] += (now - last).as_nanos() as u64;
                            last = now;
                            if let Err(failure) = outcome {
                                if stage.on_error == OnError::DeadLetter {
                                    failed = Some(OperatorFailed {
                                        operator: Arc::from(stage.inspector.id()),
                                        reason: failure.0,
                                    });
                                    break;
                                }
                                event.findings.push(stage.failure_finding(&failure));
                            }
                        }
                        let action = plan.policy.decide(event);
                        let latency_us = event.received_at.elapsed().as_micros() as u64;
                        (
                            Verdict::new(event, action, &self.topology, latency_us),
                            failed,
                        )
                    })
                    .collect();
                for (total, nanos) in spent.iter().zip(local) {
                    total.fetch_add(nanos, Ordering::Relaxed);
                }
                verdicts
            })
            .collect();
        let timings = plan
            .inspectors
            .iter()
            .zip(&spent)
            .map(|(stage, nanos)| {
                let spent = Duration::from_nanos(nanos.load(Ordering::Relaxed));
                (Arc::from(stage.inspector.id()), spent)
            })
            .collect();
        (self.finish(events, verdicts, want_enriched), timings)
    }

    /// Builds the outputs in input order: placeholder numbers sequentially, texts in parallel.
    fn finish(
        &self,
        events: Vec<Event>,
        verdicts: Vec<(Verdict, Option<OperatorFailed>)>,
        want_enriched: bool,
    ) -> Vec<Processed> {
        if !want_enriched {
            return verdicts
                .into_iter()
                .map(|(verdict, failed)| Processed {
                    verdict,
                    enriched: None,
                    failed,
                })
                .collect();
        }
        let plans: Vec<Option<redact::Plan>> = events
            .iter()
            .map(|e| redact::needs_rewrite(e).then(|| redact::plan(e, &self.registry)))
            .collect();
        events
            .par_iter()
            .zip(verdicts.into_par_iter())
            .zip(plans.into_par_iter())
            .map(|((event, (verdict, failed)), plan)| {
                let text: Arc<str> = match plan {
                    Some(plan) => Arc::from(redact::apply(event, &plan)),
                    None => event.text.clone(),
                };
                let enriched = EnrichedRecord::new(event, &verdict, text);
                Processed {
                    verdict,
                    enriched: Some(enriched),
                    failed,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::interpolate::ProcessEnv;

    /// Fails on events whose text contains "boom" (by error or by panic).
    struct Faulty {
        panics: bool,
    }

    impl Inspector for Faulty {
        fn id(&self) -> &str {
            "faulty"
        }
        fn inspect(&self, _event: &mut Event) {}
        fn try_inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
            if !event.text.contains("boom") {
                return Ok(());
            }
            if self.panics {
                panic!("detector bug");
            }
            Err(OperatorFailure("model timed out after 50 ms".into()))
        }
    }

    fn pipeline_with(on_error: OnError, panics: bool) -> Pipeline {
        let topology = Topology::from_toml(
            r#"
name = "t"
[sources.s]
type = "stdin"
[operators.policy]
type = "decide"
inputs = ["s"]
[sinks.out]
type = "stdout"
inputs = ["policy"]
[sinks.dead]
type = "stdout"
records = "dead_letters"
"#,
            &ProcessEnv,
        )
        .unwrap();
        let mut pipeline = Pipeline::build(&topology).unwrap();
        pipeline.routes[0].inspectors.push(Stage {
            inspector: Arc::new(Faulty { panics }),
            on_error,
            category: Category::Toxicity,
        });
        pipeline
    }

    fn run(on_error: OnError, panics: bool) -> Vec<Processed> {
        let events = vec![
            Event::prompt("ok", "fine text"),
            Event::prompt("bad", "boom"),
        ];
        pipeline_with(on_error, panics).process(0, events, true)
    }

    #[test]
    fn fail_open_flags_the_event_and_lets_it_through() {
        let out = run(OnError::FailOpen, false);
        assert_eq!(out[0].verdict.action, Action::Allow);
        assert_eq!(out[1].verdict.action, Action::Flag);
        let finding = &out[1].verdict.findings[0];
        assert_eq!(&*finding.label, "operator_error");
        assert_eq!(finding.category, Category::Toxicity);
        assert!(finding.reason.as_deref().unwrap().contains("timed out"));
        assert!(out[1].failed.is_none());
    }

    #[test]
    fn fail_closed_blocks_the_event() {
        let out = run(OnError::FailClosed, false);
        assert_eq!(out[0].verdict.action, Action::Allow);
        assert_eq!(out[1].verdict.action, Action::Block);
    }

    #[test]
    fn dead_letter_marks_the_event_failed() {
        let out = run(OnError::DeadLetter, false);
        assert!(out[0].failed.is_none());
        let failed = out[1].failed.as_ref().expect("dead-lettered");
        assert_eq!(&*failed.operator, "faulty");
        assert!(failed.reason.contains("timed out"));
    }

    #[test]
    fn a_panicking_operator_is_an_operator_failure_not_a_crash() {
        let out = run(OnError::FailClosed, true);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].verdict.action, Action::Block);
        assert!(out[1].verdict.findings[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("panicked"));
    }
}

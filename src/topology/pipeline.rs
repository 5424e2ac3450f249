//! The processing core shared by every runtime: a batch of events in, verdicts and enriched
//! records out, in input order.
//!
//! Per route (one per source), the inspectors reachable from that source run fused: one
//! data-parallel pass over the batch (rayon), each event visiting every inspector in DAG
//! order, then the policy. Placeholder numbering then runs sequentially (so numbers follow
//! input order), and enriched texts, audit decisions and vault entries are built in parallel
//! again. An operator's batch-level work (`prepare`, where models run) may have a deadline
//! (`timeout_ms`): it then runs on its own thread, and past the deadline the batch's events
//! fail under the operator's `on_error` while the late call finishes in the background (the
//! operator's next batches fail fast until it has).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::redact::{self, PlaceholderRegistry};
use crate::audit::{keys, AuditWriter, Decision, PreparedDecision};
use crate::config::{RecordKind, SinkSpec, Topology};
use crate::model::{Action, EnrichedRecord, TopologyRef, Verdict};
use crate::model::{Category, Event, Finding, Provenance};
use crate::operators::decide::Policy;
use crate::operators::{BuildError, BuiltOperator, Inspector, OnError, OperatorFailure};
use crate::vault::{conversation_scope, SealedEntry, Vault};

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
    /// The audited decision, when the route has an audit log.
    pub audit: Option<PreparedDecision>,
    /// Encrypted mappings of the placeholders this event assigned, when the route has a vault.
    pub vault: Vec<SealedEntry>,
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
    timeout: Option<Duration>,
    /// A timed-out `prepare` is still running.
    busy: Arc<AtomicBool>,
}

impl Stage {
    fn new(inspector: Arc<dyn Inspector>, on_error: OnError, category: Category) -> Stage {
        Stage {
            inspector,
            on_error,
            category,
            timeout: None,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Batch-level preparation under the operator's deadline, if it has one: `Err` fails
    /// every event of the batch.
    fn prepare_within_deadline(&self, events: &mut Vec<Event>) -> Result<(), OperatorFailure> {
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
    fn run(&self, event: &mut Event) -> Result<(), OperatorFailure> {
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
    /// The route feeds an audit log / a vault.
    audit: bool,
    vault: bool,
}

/// A built topology: operators compiled, ready to process batches.
pub struct Pipeline {
    topology: TopologyRef,
    routes: Vec<RoutePlan>,
    registry: PlaceholderRegistry,
    audit: Option<Arc<AuditWriter>>,
    /// Keys the hashes of removed values in audit records (the audit HMAC key).
    audit_key: Option<Arc<[u8]>>,
    vault: Option<Arc<Vault>>,
}

impl Pipeline {
    pub fn build(topology: &Topology) -> Result<Pipeline, BuildError> {
        let built: Vec<&BuiltOperator> = topology.operators.iter().map(|n| &n.operator).collect();
        let feeds = |route: &crate::config::Route, kind: RecordKind| {
            route
                .sinks
                .iter()
                .any(|&s| topology.sinks[s].spec.records() == kind)
        };
        let routes = topology
            .routes
            .iter()
            .map(|route| RoutePlan {
                audit: feeds(route, RecordKind::Audit),
                vault: feeds(route, RecordKind::Vault),
                inspectors: route
                    .operators
                    .iter()
                    .filter_map(|&i| match built[i] {
                        BuiltOperator::Inspector(inspector) => {
                            let node = &topology.operators[i];
                            let mut stage =
                                Stage::new(inspector.clone(), node.on_error, node.spec.category());
                            stage.timeout = node.timeout_ms.map(Duration::from_millis);
                            Some(stage)
                        }
                        BuiltOperator::Policy(_) => None,
                    })
                    .collect(),
                policy: route
                    .operators
                    .iter()
                    .find_map(|&i| match built[i] {
                        BuiltOperator::Policy(policy) => Some(policy.clone()),
                        BuiltOperator::Inspector(_) => None,
                    })
                    .unwrap_or_default(),
            })
            .collect();
        let mut audit = None;
        let mut audit_key = None;
        let mut vault = None;
        for sink in &topology.sinks {
            let fail = |message: String| BuildError {
                path: format!("sinks.{}", sink.id),
                message,
            };
            match &sink.spec {
                SinkSpec::AuditLog(config) => {
                    let key = keys::hmac_key(&config.key_env).map_err(|e| fail(e.to_string()))?;
                    match &key {
                        None if config.require_key => {
                            return Err(fail(format!(
                                "require_key is set and environment variable `{}` is not set",
                                config.key_env
                            )))
                        }
                        None => tracing::warn!(
                            sink = %sink.id,
                            key_env = %config.key_env,
                            "audit key not set: records are chained but not signed, and removed values are not hashed"
                        ),
                        Some(_) => {}
                    }
                    let operators = operator_versions(topology, &built);
                    audit_key = key.clone();
                    let writer = AuditWriter::new(&topology.reference(), operators, key);
                    // Chains are `<run id>/<partition>`: the run ids in the logs let an
                    // auditor check that no run's chains are missing altogether.
                    tracing::info!(
                        sink = %sink.id,
                        run_id = writer.run_id(),
                        signed = writer.signed(),
                        "audit log chains started"
                    );
                    audit = Some(Arc::new(writer));
                }
                SinkSpec::Vault(config) => {
                    let key = keys::aes256_key(&config.key_env).map_err(|e| fail(e.to_string()))?;
                    vault = Some(Arc::new(Vault::new(&key)));
                }
                _ => {}
            }
        }
        Ok(Pipeline {
            topology: topology.reference(),
            routes,
            registry: PlaceholderRegistry::new(topology.settings.max_conversations),
            audit,
            audit_key,
            vault,
        })
    }

    pub fn topology(&self) -> &TopologyRef {
        &self.topology
    }

    /// The audit log's chains, when the topology has an audit log.
    pub fn audit(&self) -> Option<&Arc<AuditWriter>> {
        self.audit.as_ref()
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
        let mut batch_failures: Vec<Option<OperatorFailure>> = Vec::new();
        for (stage, total) in plan.inspectors.iter().zip(&spent) {
            let started = Instant::now();
            batch_failures.push(stage.prepare_within_deadline(&mut events).err());
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
                            let outcome = match &batch_failures[i] {
                                Some(failure) => Err(failure.clone()),
                                None => stage.run(event),
                            };
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
        (self.finish(plan, events, verdicts, want_enriched), timings)
    }

    /// Builds the outputs in input order: placeholder numbers sequentially, texts, audit
    /// decisions and vault entries in parallel.
    fn finish(
        &self,
        route: &RoutePlan,
        events: Vec<Event>,
        verdicts: Vec<(Verdict, Option<OperatorFailed>)>,
        want_enriched: bool,
    ) -> Vec<Processed> {
        let vault = self.vault.as_deref().filter(|_| route.vault);
        if !want_enriched && !route.audit && vault.is_none() {
            return verdicts
                .into_iter()
                .map(|(verdict, failed)| Processed {
                    verdict,
                    enriched: None,
                    failed,
                    audit: None,
                    vault: Vec::new(),
                })
                .collect();
        }
        let plans: Vec<Option<redact::Plan>> = events
            .iter()
            .map(|e| {
                let wanted = want_enriched || vault.is_some();
                (wanted && redact::needs_rewrite(e)).then(|| redact::plan(e, &self.registry))
            })
            .collect();
        let audit_key = self.audit_key.as_deref();
        events
            .par_iter()
            .zip(verdicts.into_par_iter())
            .zip(plans.into_par_iter())
            .map(|((event, (verdict, failed)), plan)| {
                let enriched = want_enriched.then(|| {
                    let text: Arc<str> = match &plan {
                        Some(plan) => Arc::from(redact::apply(event, plan)),
                        None => event.text.clone(),
                    };
                    EnrichedRecord::new(event, &verdict, text)
                });
                let vault = match (vault, &plan) {
                    (Some(vault), Some(plan)) => {
                        let scope = conversation_scope(event.conversation_id.as_ref(), &event.id);
                        redact::new_placeholders(event, plan)
                            .into_iter()
                            .map(|(placeholder, value)| vault.seal(&scope, &placeholder, value))
                            .collect()
                    }
                    _ => Vec::new(),
                };
                let audit = route
                    .audit
                    .then(|| Decision::new(event, verdict.action, audit_key).prepare());
                Processed {
                    verdict,
                    enriched,
                    failed,
                    audit,
                    vault,
                }
            })
            .collect()
    }
}

/// Operator id to its type and version (the model digests for model operators).
fn operator_versions(topology: &Topology, built: &[&BuiltOperator]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (node, built) in topology.operators.iter().zip(built) {
        let models = match built {
            BuiltOperator::Inspector(inspector) => inspector.model_digests(),
            BuiltOperator::Policy(_) => Vec::new(),
        };
        let mut entry = serde_json::Map::new();
        entry.insert("type".into(), node.spec.type_name().into());
        entry.insert("version".into(), env!("CARGO_PKG_VERSION").into());
        if !models.is_empty() {
            entry.insert("models".into(), models.into());
        }
        out.insert(node.id.to_string(), serde_json::Value::Object(entry));
    }
    serde_json::Value::Object(out)
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
        fn inspect(&self, event: &mut Event) -> Result<(), OperatorFailure> {
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
        pipeline.routes[0].inspectors.push(Stage::new(
            Arc::new(Faulty { panics }),
            on_error,
            Category::Toxicity,
        ));
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

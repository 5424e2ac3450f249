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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::output::{AlertOutput, Encoded, Input, InputRef, MonitorOutputs, Outcome, OutputBatch};
use super::redact::{self, PlaceholderRegistry};
use super::sink_plan::{SinkPlan, Wants};
use super::stage::Stage;
use super::stream::{Pending, ScannedWindow, StreamOutputs, Streams};
use crate::audit::{keys, AuditWriter, Decision, PreparedDecision};
use crate::codec::DecodeError;
use crate::config::{SinkSpec, Topology};
use crate::model::{
    Action, EnrichedRecord, Event, Finding, Origin, Score, ShadowOf, StreamWindow, TopologyRef,
    Verdict,
};
use crate::monitor::{Monitor, Observations};
use crate::operators::decide::Policy;
use crate::operators::{BuildError, BuiltOperator, Mode, OnError, OperatorFailure};
use crate::vault::{conversation_scope, SealedEntry, Vault};

/// What shadow operators found on one event, kept out of its decision.
#[derive(Default)]
struct Shadowed {
    findings: Vec<Finding>,
    scores: Vec<Score>,
}

/// Whether a stage leaves an event alone: a stream window it does not read, or a composed
/// response whose findings of it are already known (composed from the pieces, or none,
/// since no window held one of its triggers).
fn skips(stage: &Stage, event: &Event) -> bool {
    if !stage.role.reads(event.window) {
        return true;
    }
    let inspector = &stage.inspector;
    if event.quiet.iter().any(|q| **q == *inspector.id()) {
        return true;
    }
    event.composed
        && (inspector.incremental()
            || (inspector.trigger_chars().is_some()
                && !event.triggered.iter().any(|t| **t == *inspector.id())))
}

/// Runs every inspector of the route on one event (under its `on_error`, after any
/// batch-level failure), then the policy: the policy's action, the failure that sends the
/// event to the dead letters, if any, and what the shadow operators found (moved off the
/// event as each runs, so no later operator, the policy nor the redaction sees it; a shadow
/// operator's failure is a shadow finding, never a dead letter). Adds each inspector's time
/// to `spent` when given (a sample of the events is timed: [`SampledTimes`]).
fn inspect_event(
    plan: &RoutePlan,
    batch_failures: &[Option<OperatorFailure>],
    event: &mut Event,
    mut spent: Option<&mut [u64]>,
) -> (Action, Option<OperatorFailed>, Shadowed) {
    let mut last = spent.as_ref().map(|_| Instant::now());
    let mut failed = None;
    let mut shadowed = Shadowed::default();
    for (i, stage) in plan.inspectors.iter().enumerate() {
        if skips(stage, event) {
            continue;
        }
        let (findings, scores) = (event.findings.len(), event.scores.len());
        let outcome = match &batch_failures[i] {
            Some(failure) => Err(failure.clone()),
            None => stage.run(event),
        };
        if let (Some(spent), Some(last)) = (spent.as_deref_mut(), last.as_mut()) {
            let now = Instant::now();
            spent[i] += (now - *last).as_nanos() as u64;
            *last = now;
        }
        if stage.shadow {
            shadowed.findings.extend(event.findings.drain(findings..));
            shadowed.scores.extend(event.scores.drain(scores..));
            if let Err(failure) = outcome {
                shadowed.findings.push(stage.failure_finding(&failure));
            }
            continue;
        }
        if let Err(failure) = outcome {
            if event.window.is_some() {
                // It could not look for its triggers: the verdict scans the whole text.
                event.triggered.push(Arc::from(stage.inspector.id()));
            }
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
    (plan.policy.decide(event), failed, shadowed)
}

/// The shadow verdict of a decided event: the policy over its live and shadow findings,
/// with no tenant limit (what the topology would decide with the shadow operators live).
/// The event is left as it was.
fn shadow_verdict(
    plan: &RoutePlan,
    event: &mut Event,
    shadowed: Shadowed,
    live: &Verdict,
    topology: &TopologyRef,
) -> Verdict {
    let (findings, scores) = (event.findings.clone(), event.scores.len());
    event.findings.extend(shadowed.findings);
    event.scores.extend(shadowed.scores);
    let action = plan.policy.decide(event);
    let mut verdict = Verdict::new(event, action, topology, live.latency_us);
    verdict.shadow = Some(ShadowOf {
        live_action: live.action,
        operators: plan.shadow_operators.clone(),
    });
    event.findings = findings;
    event.scores.truncate(scores);
    verdict
}

/// The longest multi-word value any inspector matches (keyword phrases), in characters.
fn longest_match(built: &[&BuiltOperator]) -> usize {
    built
        .iter()
        .filter_map(|b| match b {
            BuiltOperator::Inspector(inspector) => inspector.longest_match_chars(),
            BuiltOperator::Policy(_) => None,
        })
        .max()
        .unwrap_or(0)
}

/// The ids of the inspectors whose findings compose over pieces of a text.
fn incremental(built: &[&BuiltOperator]) -> Vec<Arc<str>> {
    built
        .iter()
        .filter_map(|b| match b {
            BuiltOperator::Inspector(i) if i.incremental() => Some(Arc::from(i.id())),
            _ => None,
        })
        .collect()
}

/// The inspectors that report nothing on a text without a trigger
/// (`Inspector::trigger_chars`).
fn triggered_by(built: &[&BuiltOperator]) -> Vec<Arc<dyn crate::operators::Inspector>> {
    built
        .iter()
        .filter_map(|b| match b {
            BuiltOperator::Inspector(i) if i.trigger_chars().is_some() => Some(i.clone()),
            _ => None,
        })
        .collect()
}

/// Runs stream windows of one kind through the inspectors that read them (batch-level work
/// first, then each window and the policy, like events).
fn scan_windows(
    plan: &RoutePlan,
    pending: Vec<Pending>,
    timings: &mut Vec<(Arc<str>, Duration)>,
) -> Vec<ScannedWindow> {
    let Some(kind) = pending.first().map(|p| p.event.window) else {
        return Vec::new();
    };
    let mut pending = pending;
    let batch_failures: Vec<Option<OperatorFailure>> = match plan
        .inspectors
        .iter()
        .any(|stage| stage.role.prepares(kind))
    {
        // Batch-level preparation reads the windows as one slice of events (the windows
        // move only then: a batch's windows are a large block to move).
        true => {
            let (places, mut windows): (Vec<_>, Vec<Event>) =
                pending.into_iter().map(|p| (p.place, p.event)).unzip();
            let failures = plan
                .inspectors
                .iter()
                .map(|stage| match stage.role.prepares(kind) {
                    true => stage.prepare_within_deadline(&mut windows).err(),
                    false => None,
                })
                .collect();
            pending = places
                .into_iter()
                .zip(windows)
                .map(|(place, event)| Pending { place, event })
                .collect();
            failures
        }
        false => vec![None; plan.inspectors.len()],
    };
    let spent: Vec<AtomicU64> = plan.inspectors.iter().map(|_| AtomicU64::new(0)).collect();
    let decided: Vec<(Action, bool)> = pending
        .par_chunks_mut(TIMING_CHUNK)
        .flat_map_iter(|chunk| {
            let mut times = SampledTimes::new(plan.inspectors.len());
            let decided: Vec<(Action, bool)> = chunk
                .iter_mut()
                .map(|window| {
                    // A window's shadow findings are left out: shadow operators never hold
                    // back or block a release; the whole response's shadow verdict has them.
                    let (action, failed, _) =
                        inspect_event(plan, &batch_failures, &mut window.event, times.next());
                    (action, failed.is_some())
                })
                .collect();
            times.flush(&spent);
            decided
        })
        .collect();
    for (stage, nanos) in plan.inspectors.iter().zip(&spent) {
        let spent = Duration::from_nanos(nanos.load(Ordering::Relaxed));
        timings.push((Arc::from(stage.inspector.id()), spent));
    }
    pending
        .into_iter()
        .zip(decided)
        .map(|(window, (action, failed))| (window.place, window.event, action, failed))
        .collect()
}

/// Whether an inspector reads a stream's sentence windows (a model operator).
fn reads_sentences(built: &[&BuiltOperator]) -> bool {
    built.iter().any(|b| match b {
        BuiltOperator::Inspector(i) => i.stream_role().reads_sentences(),
        BuiltOperator::Policy(_) => false,
    })
}

/// Events whose operator timings are summed locally before one shared update.
const TIMING_CHUNK: usize = 64;

/// One event in this many has its inspectors timed (two clock reads per inspector cost about
/// 4% of the pattern topology's time when every event was timed); the sums are scaled up.
const TIMING_SAMPLE: usize = 8;

/// Per-inspector nanoseconds of a chunk's sampled events, scaled to the whole chunk.
struct SampledTimes {
    local: Vec<u64>,
    seen: usize,
}

impl SampledTimes {
    fn new(inspectors: usize) -> Self {
        SampledTimes {
            local: vec![0; inspectors],
            seen: 0,
        }
    }

    /// The accumulators when the next event is one to time (the first of every
    /// `TIMING_SAMPLE`).
    fn next(&mut self) -> Option<&mut [u64]> {
        self.seen += 1;
        (self.seen - 1)
            .is_multiple_of(TIMING_SAMPLE)
            .then_some(&mut self.local)
    }

    /// Adds the chunk's estimate to the batch totals.
    fn flush(self, spent: &[AtomicU64]) {
        let timed = self.seen.div_ceil(TIMING_SAMPLE);
        if timed == 0 {
            return;
        }
        for (total, nanos) in spent.iter().zip(self.local) {
            let scaled = nanos as u128 * self.seen as u128 / timed as u128;
            total.fetch_add(scaled as u64, Ordering::Relaxed);
        }
    }
}

/// Records serialized together into one buffer.
const SERIALIZE_CHUNK: usize = 128;

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
    /// The shadow verdict, when the route has operators in shadow mode.
    pub shadow: Option<Verdict>,
}

/// One event decided: its verdict, the failure that dead-letters it, its shadow verdict.
type Decided = (Verdict, Option<OperatorFailed>, Option<Verdict>);

/// An operator failure that sends its event to the dead letters.
#[derive(Debug, Clone)]
pub struct OperatorFailed {
    pub operator: Arc<str>,
    pub reason: String,
}

struct RoutePlan {
    inspectors: Vec<Stage>,
    /// Ids of the inspectors in shadow mode (empty: no shadow verdicts).
    shadow_operators: Vec<Arc<str>>,
    policy: Policy,
    /// What the route's sinks take.
    wants: Wants,
}

/// A built topology: operators compiled, ready to process batches.
pub struct Pipeline {
    topology: TopologyRef,
    sinks: SinkPlan,
    routes: Vec<RoutePlan>,
    registry: PlaceholderRegistry,
    audit: Option<Arc<AuditWriter>>,
    /// Keys the hashes of removed values in audit records (the audit HMAC key).
    audit_key: Option<Arc<[u8]>>,
    vault: Option<Arc<Vault>>,
    /// `[drift]` and `[limits]`, when configured.
    monitor: Option<Monitor>,
    /// Open streamed responses.
    streams: Streams,
}

impl Pipeline {
    pub fn build(topology: &Topology) -> Result<Pipeline, BuildError> {
        let built: Vec<&BuiltOperator> = topology.operators.iter().map(|n| &n.operator).collect();
        let sinks = SinkPlan::compile(topology);
        let routes = topology
            .routes
            .iter()
            .zip(&sinks.routes)
            .map(|(route, route_sinks)| RoutePlan {
                wants: route_sinks.wants,
                shadow_operators: route
                    .operators
                    .iter()
                    .map(|&i| &topology.operators[i])
                    .filter(|node| {
                        node.mode == Mode::Shadow
                            && matches!(node.operator, BuiltOperator::Inspector(_))
                    })
                    .map(|node| node.id.clone())
                    .collect(),
                inspectors: route
                    .operators
                    .iter()
                    .filter_map(|&i| match built[i] {
                        BuiltOperator::Inspector(inspector) => {
                            let node = &topology.operators[i];
                            let mut stage =
                                Stage::new(inspector.clone(), node.on_error, node.spec.category());
                            stage.timeout = node.timeout_ms.map(Duration::from_millis);
                            stage.shadow = node.mode == Mode::Shadow;
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
            sinks,
            routes,
            registry: PlaceholderRegistry::new(topology.settings.max_conversations),
            audit,
            audit_key,
            vault,
            monitor: Monitor::build(topology),
            streams: Streams::new(
                &topology.stream,
                longest_match(&built),
                incremental(&built),
                triggered_by(&built),
                reads_sentences(&built),
            ),
        })
    }

    /// The topology's operators, policy and limits with none of its sinks: no file, topic,
    /// audit log or vault is opened or written (what `railyard replay` runs). Batches carry
    /// verdicts, and each event's redacted text when `want_texts`.
    pub fn build_detached(topology: &Topology, want_texts: bool) -> Result<Pipeline, BuildError> {
        let mut detached = topology.clone();
        detached.sinks.clear();
        for route in &mut detached.routes {
            route.sinks.clear();
            route.dead_letter_sinks.clear();
        }
        let mut pipeline = Pipeline::build(&detached)?;
        for route in &mut pipeline.routes {
            route.wants.redacted_texts = want_texts;
        }
        for route in &mut pipeline.sinks.routes {
            route.wants.redacted_texts = want_texts;
        }
        Ok(pipeline)
    }

    /// The stream stage (open streams, the hold-back).
    pub fn streams(&self) -> &Streams {
        &self.streams
    }

    pub fn topology(&self) -> &TopologyRef {
        &self.topology
    }

    /// The audit log's chains, when the topology has an audit log.
    pub fn audit(&self) -> Option<&Arc<AuditWriter>> {
        self.audit.as_ref()
    }

    /// Where each route's records go.
    pub fn sinks(&self) -> &SinkPlan {
        &self.sinks
    }

    /// Runs one batch of inputs from the source with index `route` and builds every output
    /// its sinks take: verdicts, enriched, audit and vault records, dead letters (inputs
    /// that did not decode, events an operator with `on_error = "dead_letter"` failed on).
    pub fn run_batch(&self, route: usize, inputs: Vec<Input<'_>>) -> OutputBatch {
        self.run_batch_ending(route, inputs, false)
    }

    /// Every open stream of source `route` flushed (its held tail released after a final
    /// scan, flagged `end_of_input`) with its verdict: the end of a file or of stdin.
    pub fn flush_streams(&self, route: usize) -> OutputBatch {
        self.run_batch_ending(route, Vec::new(), true)
    }

    /// [`Pipeline::run_batch`]; with `end_of_input`, every open stream of the route ends.
    fn run_batch_ending(
        &self,
        route: usize,
        inputs: Vec<Input<'_>>,
        end_of_input: bool,
    ) -> OutputBatch {
        let wants = self.routes[route].wants;
        let mut batch = OutputBatch::default();
        let mut decoded_events = Vec::with_capacity(inputs.len());
        let mut chunks = Vec::new();
        let mut raws = Vec::with_capacity(inputs.len());
        batch.outcomes = vec![Outcome::Event(0); inputs.len()];
        for (index, Input { decoded, at: input }) in inputs.into_iter().enumerate() {
            match decoded {
                Ok(event) if event.chunk.is_some() => {
                    batch.outcomes[index] = Outcome::Chunk;
                    chunks.push((index, event));
                }
                Ok(event) => decoded_events.push((index, event)),
                Err(error) => {
                    batch.outcomes[index] = Outcome::DeadLetter(batch.dead_letters.len());
                    batch.dead_letters.push(input.dead_letter(index, error));
                }
            }
            raws.push(input);
        }
        // Streams: new text scanned and released; ended responses join the events.
        let mut pending = self.streams.accept(route, chunks, &mut batch.streams);
        let flushes = self.streams.due(route, batch.outcomes.len(), end_of_input);
        for flush in &flushes {
            batch.outcomes.push(Outcome::Chunk);
            raws.push(InputRef {
                origin: flush.event.origin.clone(),
                raw: b"",
                size: 0,
            });
        }
        pending.extend(flushes);
        let mut window_timings = Vec::new();
        let mut stream_vault: HashMap<usize, Vec<(String, String)>> = HashMap::new();
        for ended in self.scan_streams(route, pending, &mut batch.streams, &mut window_timings) {
            if !ended.vault.is_empty() {
                stream_vault.insert(ended.at, ended.vault);
            }
            decoded_events.push((ended.at, ended.event));
        }
        decoded_events.sort_by_key(|(at, _)| *at);
        let (event_inputs, mut events): (Vec<usize>, Vec<Event>) =
            decoded_events.into_iter().unzip();
        let mut observations = self.monitor.as_ref().map(|m| m.admit(&mut events));
        let events = events;
        let (processed, mut timings) =
            self.process_timed(route, events, wants.enriched || wants.redacted_texts);
        for (operator, spent) in window_timings {
            match timings.iter_mut().find(|(id, _)| *id == operator) {
                Some((_, total)) => *total += spent,
                None => timings.push((operator, spent)),
            }
        }
        batch.timings = timings;
        let mut kept = Vec::with_capacity(processed.len());
        let mut kept_origins: Vec<&Origin> = Vec::with_capacity(processed.len());
        // Per kept event, its index among the decoded events.
        let mut kept_events = Vec::with_capacity(processed.len());
        for (event, (p, &index)) in processed.into_iter().zip(&event_inputs).enumerate() {
            match &p.failed {
                None => {
                    let mut p = p;
                    if let (Some(entries), Some(vault)) = (
                        stream_vault.remove(&index),
                        self.vault.as_ref().filter(|_| wants.vault),
                    ) {
                        let scope = conversation_scope(
                            p.verdict.conversation_id.as_ref(),
                            &p.verdict.event_id,
                        );
                        p.vault.extend(
                            entries
                                .iter()
                                .map(|(placeholder, value)| vault.seal(&scope, placeholder, value)),
                        );
                    }
                    batch.outcomes[index] = Outcome::Event(kept.len());
                    kept_origins.push(&raws[index].origin);
                    kept_events.push(event);
                    kept.push(p);
                }
                Some(failed) => {
                    let error = DecodeError::OperatorFailed {
                        operator: failed.operator.to_string(),
                        reason: failed.reason.clone(),
                    };
                    batch.outcomes[index] = Outcome::DeadLetter(batch.dead_letters.len());
                    batch
                        .dead_letters
                        .push(raws[index].dead_letter(index, error));
                }
            }
        }
        if let (Some(monitor), Some(observations)) = (&self.monitor, observations.as_mut()) {
            let decided = kept_events
                .iter()
                .copied()
                .zip(kept.iter().map(|p| &p.verdict));
            monitor.observe(decided, observations);
            batch.monitor = monitor_outputs(observations, &event_inputs, wants.alerts);
        }
        if wants.audit {
            self.audit_records(&kept, &kept_origins, &mut batch);
        }
        encode_records(&kept, wants, &mut batch);
        if wants.redacted_texts {
            batch.redacted_texts = kept
                .iter()
                .filter_map(|p| p.enriched.as_ref())
                .map(|r| (r.id.clone(), r.text.clone()))
                .collect();
        }
        if wants.vault {
            batch.vault = kept
                .iter_mut()
                .map(|p| std::mem::take(&mut p.vault))
                .collect();
        }
        batch.verdicts = kept.into_iter().map(|p| p.verdict).collect();
        batch
    }

    /// Appends the kept events' audit records to their chains (one per input partition or
    /// file source, in input order).
    fn audit_records(&self, kept: &[Processed], origins: &[&Origin], batch: &mut OutputBatch) {
        let Some(writer) = self.audit.as_ref() else {
            return;
        };
        batch.audit_chains = origins
            .iter()
            .map(|origin| writer.chain_id(&chain_scope(origin)))
            .collect();
        let lines = writer.append_batch(
            kept.iter()
                .zip(&batch.audit_chains)
                .filter_map(|(p, chain)| p.audit.as_ref().map(|d| (chain.as_str(), d))),
        );
        for line in lines {
            batch.audit_records.push(&line);
        }
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
        let decided: Vec<Decided> = events
            .par_chunks_mut(TIMING_CHUNK)
            .flat_map_iter(|chunk| {
                // Per-chunk accumulators: one atomic add per operator per chunk, not per event.
                let mut times = SampledTimes::new(plan.inspectors.len());
                let verdicts: Vec<Decided> = chunk
                    .iter_mut()
                    .map(|event| {
                        let (policy_action, failed, shadowed) =
                            inspect_event(plan, &batch_failures, event, times.next());
                        let action = self.apply_limits(event, policy_action);
                        let latency_us = event.received_at.elapsed().as_micros() as u64;
                        let mut verdict = Verdict::new(event, action, &self.topology, latency_us);
                        verdict.policy_action = policy_action;
                        let shadow = (!plan.shadow_operators.is_empty()).then(|| {
                            shadow_verdict(plan, event, shadowed, &verdict, &self.topology)
                        });
                        (verdict, failed, shadow)
                    })
                    .collect();
                times.flush(&spent);
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
        let (verdicts, shadows): (Vec<_>, Vec<_>) = decided
            .into_iter()
            .map(|(verdict, failed, shadow)| ((verdict, failed), shadow))
            .unzip();
        let mut processed = self.finish(plan, events, verdicts, want_enriched);
        for (p, shadow) in processed.iter_mut().zip(shadows) {
            p.shadow = shadow;
        }
        (processed, timings)
    }

    /// Scans the streams' windows (batch-level work first, then every inspector and the
    /// policy, like events) and releases what they prove safe; returns the ended streams.
    fn scan_streams(
        &self,
        route: usize,
        pending: Vec<Pending>,
        out: &mut StreamOutputs,
        timings: &mut Vec<(Arc<str>, Duration)>,
    ) -> Vec<super::stream::Ended> {
        if pending.is_empty() {
            return Vec::new();
        }
        let plan = &self.routes[route];
        // Sentence windows apart: only the model operators prepare (and infer) them, every
        // stream's together; the scan windows go to the others.
        let is_sentence = |p: &Pending| p.event.window == Some(StreamWindow::Sentences);
        let scanned = match pending.iter().any(is_sentence) {
            true => {
                let (sentences, scans): (Vec<Pending>, Vec<Pending>) =
                    pending.into_iter().partition(is_sentence);
                let mut scanned = scan_windows(plan, sentences, timings);
                scanned.extend(scan_windows(plan, scans, timings));
                scanned
            }
            // Without model windows the batch's windows are not moved apart.
            false => scan_windows(plan, pending, timings),
        };
        let ended = self.streams.release(scanned, &self.registry, out);
        // Windows come in stream order; records are looked up by batch position.
        out.records.sort_by_key(|r| r.at);
        ended
    }

    /// Adds the limit findings the monitor left on `event` (after the policy, which never
    /// filters them) and raises the action to theirs.
    fn apply_limits(&self, event: &mut Event, action: Action) -> Action {
        let Some(limits) = self.monitor.as_ref().and_then(|m| m.limit_findings(event)) else {
            return action;
        };
        let mut action = action;
        for finding in &limits.0 {
            action = action.max(finding.action);
            event.findings.push(finding.clone());
        }
        action
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
        let vault = self.vault.as_deref().filter(|_| route.wants.vault);
        if !want_enriched && !route.wants.audit && vault.is_none() {
            return verdicts
                .into_iter()
                .map(|(verdict, failed)| Processed {
                    verdict,
                    enriched: None,
                    failed,
                    audit: None,
                    vault: Vec::new(),
                    shadow: None,
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
                    .wants
                    .audit
                    .then(|| Decision::new(event, verdict.action, audit_key).prepare());
                Processed {
                    verdict,
                    enriched,
                    failed,
                    audit,
                    vault,
                    shadow: None,
                }
            })
            .collect()
    }
}

/// The monitors' alerts (by input index, serialized when a sink takes them) and metrics.
fn monitor_outputs(
    observations: &mut Observations,
    event_inputs: &[usize],
    serialize: bool,
) -> MonitorOutputs {
    let mut alerts = std::mem::take(&mut observations.alerts);
    alerts.sort_by_key(|(event, _)| *event);
    MonitorOutputs {
        kinds: alerts.iter().map(|(_, a)| a.alert.as_str()).collect(),
        alerts: if serialize {
            alerts
                .iter()
                .map(|(event, alert)| AlertOutput {
                    input: event_inputs[*event],
                    key: format!("{}={}", alert.key.field, alert.key.value),
                    record: serde_json::to_vec(alert).expect("alerts serialize"),
                })
                .collect()
        } else {
            Vec::new()
        },
        gauges: std::mem::take(&mut observations.gauges),
        limited: std::mem::take(&mut observations.limited),
    }
}

/// Serializes the wanted verdicts and enriched records in parallel, one buffer per chunk and
/// kind: far fewer allocations and copies than a buffer per record.
fn encode_records(kept: &[Processed], wants: Wants, batch: &mut OutputBatch) {
    let chunks: Vec<[Encoded; 3]> = kept
        .par_chunks(SERIALIZE_CHUNK)
        .map(|chunk| {
            let [mut verdicts, mut enriched, mut shadows] = <[Encoded; 3]>::default();
            for p in chunk {
                if wants.verdicts {
                    verdicts.push_json(&p.verdict);
                }
                if let Some(record) = p.enriched.as_ref().filter(|_| wants.enriched) {
                    enriched.push_json(record);
                }
                if wants.shadow_verdicts {
                    // A route without shadow operators has no shadow verdict sink (the
                    // topology check refuses one), so every kept event has its record.
                    if let Some(shadow) = &p.shadow {
                        shadows.push_json(shadow);
                    }
                }
            }
            [verdicts, enriched, shadows]
        })
        .collect();
    for [verdicts, enriched, shadows] in chunks {
        batch.verdict_records.append(verdicts);
        batch.enriched_records.append(enriched);
        batch.shadow_verdict_records.append(shadows);
    }
}

/// The audit chain of an input: its Kafka partition, or its file source.
fn chain_scope(origin: &Origin) -> String {
    match origin {
        Origin::Line { source, .. } => source.to_string(),
        Origin::Kafka {
            topic, partition, ..
        } => format!("{topic}/{partition}"),
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
    use crate::model::{Action, Category};
    use crate::operators::Inspector;

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
        let topology = crate::config::compile::stdin_topology(
            r#"
[operators.policy]
type = "decide"
inputs = ["s"]
[sinks.out]
type = "stdout"
inputs = ["policy"]
"#,
        );
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

    fn input(text: &[u8], line: u64) -> Input<'_> {
        let origin = Origin::Line {
            source: "s".into(),
            line,
        };
        Input {
            decoded: crate::codec::decode_json(text, origin.clone(), 1 << 20),
            at: super::super::output::InputRef {
                origin,
                raw: text,
                size: text.len(),
            },
        }
    }

    #[test]
    fn a_batch_keeps_input_order_across_events_and_dead_letters() {
        let pipeline = pipeline_with(OnError::DeadLetter, false);
        let batch = pipeline.run_batch(
            0,
            vec![
                input(br#"{"id":"a","kind":"prompt","text":"fine"}"#, 1),
                input(b"not json", 2),
                input(br#"{"id":"b","kind":"prompt","text":"boom"}"#, 3),
                input(br#"{"id":"c","kind":"prompt","text":"fine too"}"#, 4),
            ],
        );
        assert_eq!(
            batch.outcomes,
            vec![
                Outcome::Event(0),
                Outcome::DeadLetter(0),
                Outcome::DeadLetter(1),
                Outcome::Event(1),
            ]
        );
        let ids: Vec<&str> = batch.verdicts.iter().map(|v| &*v.event_id).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(batch.dead_letters[0].error.kind(), "invalid_json");
        assert_eq!(batch.dead_letters[1].error.kind(), "operator_failed");
        assert_eq!(batch.dead_letters[1].input, 2);
        assert_eq!(batch.verdict_records.len(), 2);
        let first: serde_json::Value =
            serde_json::from_slice(batch.verdict_records.record(0)).unwrap();
        assert_eq!(first["event_id"], "a");
        // No audit log in this topology: no audit records at all, never empty ones.
        assert!(batch.audit_records.is_empty());
        assert!(batch.audit_chains.is_empty());
    }

    #[test]
    fn an_audited_route_has_one_audit_record_per_event_on_its_chain() {
        let dir = tempfile::tempdir().unwrap();
        let topology = crate::config::compile::stdin_topology(&format!(
            r#"
[operators.policy]
type = "decide"
inputs = ["s"]
[sinks.audit]
type = "audit_log"
path = "{}"
inputs = ["policy"]
"#,
            dir.path().join("audit.jsonl").display()
        ));
        let pipeline = Pipeline::build(&topology).unwrap();
        let batch = pipeline.run_batch(
            0,
            vec![
                input(br#"{"id":"a","kind":"prompt","text":"x"}"#, 1),
                input(b"{", 2),
                input(br#"{"id":"b","kind":"prompt","text":"y"}"#, 3),
            ],
        );
        assert_eq!(batch.audit_records.len(), 2);
        assert_eq!(batch.audit_chains.len(), 2);
        assert!(
            batch.audit_chains[0].ends_with("/s"),
            "{}",
            batch.audit_chains[0]
        );
        for i in 0..2 {
            let record: serde_json::Value =
                serde_json::from_slice(batch.audit_records.record(i)).unwrap();
            assert!(record.is_object() && !record.as_object().unwrap().is_empty());
        }
        assert!(
            batch.verdict_records.is_empty(),
            "no verdict sink, no verdicts serialized"
        );
    }
}

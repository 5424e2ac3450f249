//! The run-wide monitors over decided events: drift alerts (`[drift]`: rates of actions and
//! categories per app and tenant against their baselines) and per-tenant limits (`[limits]`:
//! event-time rate limits and a block-rate breaker). Both keep state across batches, so they
//! run sequentially, in input order: [`Monitor::admit`] before the operators (limits add
//! their findings), [`Monitor::observe`] after the policy. What they raise are
//! [`alert::AlertRecord`]s for `records = "alerts"` sinks, and gauges.

pub mod alert;
pub mod drift;
pub mod limits;

use std::sync::{Arc, Mutex};

use self::alert::AlertRecord;
use self::drift::{DriftGauge, DriftMonitor};
use self::limits::{LimitHit, TenantLimits};
use crate::config::Topology;
use crate::model::{Action, Category, Event, Finding, TopologyRef, Verdict};

/// What the monitors read from one event: its event time and keys.
#[derive(Debug, Clone)]
pub struct Sample {
    pub time_ms: i64,
    /// One per `[drift].keys` field.
    pub drift_keys: Vec<Arc<str>>,
    /// The `[limits].key` value, when the event has one.
    pub tenant: Option<Arc<str>>,
}

/// Under this key, events without the field are counted.
const NONE: &str = "(none)";

/// A batch's findings, alerts and gauges from the monitors.
#[derive(Debug, Default)]
pub struct Observations {
    /// Per event of the batch (in the order given to [`Monitor::admit`]).
    pub samples: Vec<Sample>,
    /// Alerts, each with the index of the event that raised it.
    pub alerts: Vec<(usize, AlertRecord)>,
    pub gauges: Vec<DriftGauge>,
    /// Limit findings by label, for the metrics.
    pub limited: Vec<&'static str>,
}

/// The configured monitors of a topology.
pub struct Monitor {
    drift: Option<Mutex<DriftMonitor>>,
    limits: Option<Mutex<TenantLimits>>,
    topology: TopologyRef,
}

/// The limit findings of one event, kept on it between admission and the policy.
pub struct LimitFindings(pub Vec<Finding>);

impl Monitor {
    /// The topology's monitors; `None` when it configures neither.
    pub fn build(topology: &Topology) -> Option<Monitor> {
        if topology.drift.is_none() && topology.limits.is_none() {
            return None;
        }
        Some(Monitor {
            drift: topology
                .drift
                .as_ref()
                .map(|c| Mutex::new(DriftMonitor::new(c))),
            limits: topology
                .limits
                .as_ref()
                .map(|c| Mutex::new(TenantLimits::new(c))),
            topology: topology.reference(),
        })
    }

    /// Reads each event's keys and checks its tenant's limits, in input order; limit
    /// findings go on the event (see [`Monitor::limit_findings`]).
    pub fn admit(&self, events: &mut [Event]) -> Observations {
        let drift = self.drift.as_ref().map(lock);
        let mut limits = self.limits.as_ref().map(lock);
        let clock_ms = now_ms();
        let mut out = Observations::default();
        for (index, event) in events.iter_mut().enumerate() {
            let time_ms = event.time_ms.unwrap_or(clock_ms);
            let drift_keys = drift
                .as_ref()
                .map(|d| d.fields().map(|f| key_of(event, f)).collect())
                .unwrap_or_default();
            let tenant = limits
                .as_ref()
                .and_then(|l| metadata_value(event, l.field()));
            if let (Some(limits), Some(tenant)) = (limits.as_mut(), &tenant) {
                let mut alerts = Vec::new();
                let hits: Vec<LimitHit> =
                    limits.admit(tenant, time_ms, &self.topology, &mut alerts);
                out.alerts.extend(alerts.into_iter().map(|a| (index, a)));
                if !hits.is_empty() {
                    out.limited.extend(hits.iter().map(|h| h.label));
                    let findings = hits.iter().map(LimitHit::finding).collect();
                    event.prepared.insert(self, LimitFindings(findings));
                }
            }
            out.samples.push(Sample {
                time_ms,
                drift_keys,
                tenant,
            });
        }
        out
    }

    /// The limit findings [`Monitor::admit`] left on `event`.
    pub fn limit_findings(&self, event: &Event) -> Option<Arc<LimitFindings>> {
        event.prepared.get::<LimitFindings, _>(self)
    }

    /// Counts decided events (`decided[i]` is the verdict of the event with sample index
    /// `i`), in input order: breaker windows and drift windows, with their alerts.
    pub fn observe<'a>(
        &self,
        decided: impl Iterator<Item = (usize, &'a Verdict)>,
        out: &mut Observations,
    ) {
        let mut drift = self.drift.as_ref().map(lock);
        let mut limits = self.limits.as_ref().map(lock);
        let mut alerts = Vec::new();
        for (index, verdict) in decided {
            let sample = &out.samples[index];
            if let (Some(limits), Some(tenant)) = (limits.as_mut(), &sample.tenant) {
                let blocked = verdict.policy_action == Action::Block;
                limits.observe(tenant, sample.time_ms, blocked, &self.topology, &mut alerts);
            }
            if let Some(drift) = drift.as_mut() {
                let categories: Vec<Category> = verdict.categories();
                drift.observe(
                    sample,
                    verdict.action,
                    &categories,
                    &self.topology,
                    &mut alerts,
                    &mut out.gauges,
                );
            }
            out.alerts.extend(alerts.drain(..).map(|a| (index, a)));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A metadata field as a key: strings as they are, numbers and booleans printed.
fn metadata_value(event: &Event, field: &str) -> Option<Arc<str>> {
    match event.metadata.get(field)? {
        serde_json::Value::String(s) => Some(Arc::from(s.as_str())),
        serde_json::Value::Number(n) => Some(Arc::from(n.to_string())),
        serde_json::Value::Bool(b) => Some(Arc::from(b.to_string())),
        _ => None,
    }
}

fn key_of(event: &Event, field: &str) -> Arc<str> {
    metadata_value(event, field).unwrap_or_else(|| Arc::from(NONE))
}

//! Per-tenant limits: an event-time token bucket per tenant (`rate_per_s`, `burst`) and a
//! block-rate breaker (a tenant whose share of events the policy blocked passes a bound
//! within a window has its events flagged, throttled or blocked for `open_s`). Events over a
//! limit get a finding saying why (category `abuse`); nothing is dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::alert::{AlertKey, AlertKind, AlertRecord, AlertWindow};
use crate::config::{BreakerConfig, LimitOutcome, LimitsConfig};
use crate::model::{Action, Category, Finding, Provenance, TopologyRef};

/// A rate-limit episode ends after this much event time without an event over the rate;
/// the next one raises a new alert.
pub const EPISODE_GAP_MS: i64 = 1_000;

/// The operator id limit findings carry.
pub const LIMITS_OPERATOR: &str = "limits";

struct Tenant {
    tokens: f64,
    /// Event time the bucket was last refilled at (never moves back).
    refilled_ms: i64,
    /// Event time of the last event over the rate: an episode (one alert) lasts while
    /// limited events come less than [`EPISODE_GAP_MS`] apart.
    last_limited_ms: Option<i64>,
    /// Per second of event time: (second, events, blocked by the policy).
    seconds: VecDeque<(i64, u64, u64)>,
    open_until_ms: Option<i64>,
    seen_ms: i64,
    /// Events in the current second of event time: (second, events).
    this_second: (i64, u64),
}

/// What the limits decided for one event before inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitHit {
    pub label: &'static str,
    pub action: Action,
    pub reason: String,
}

impl LimitHit {
    pub fn finding(&self) -> Finding {
        Finding {
            operator: Arc::from(LIMITS_OPERATOR),
            category: Category::Abuse,
            label: Arc::from(self.label),
            score: 1.0,
            spans: Vec::new(),
            action: self.action,
            redaction: None,
            reason: Some(Arc::from(self.reason.as_str())),
            provenance: Provenance {
                detector: "tenant_limits",
                version: env!("CARGO_PKG_VERSION"),
                threshold: 1.0,
            },
            location: None,
        }
    }
}

/// Every tenant's buckets and breaker.
pub struct TenantLimits {
    config: LimitsConfig,
    field: Arc<str>,
    tenants: HashMap<Arc<str>, Tenant>,
}

impl TenantLimits {
    pub fn new(config: &LimitsConfig) -> TenantLimits {
        TenantLimits {
            field: Arc::from(config.key.as_str()),
            config: config.clone(),
            tenants: HashMap::new(),
        }
    }

    /// The metadata field naming the tenant.
    pub fn field(&self) -> &str {
        &self.field
    }

    fn tenant(&mut self, key: &Arc<str>, time_ms: i64) -> &mut Tenant {
        if !self.tenants.contains_key(key) && self.tenants.len() >= self.config.max_tenants {
            // Forget the longest-idle tenant: a full bucket is what it would have by now.
            if let Some(idle) = self
                .tenants
                .iter()
                .min_by_key(|(_, t)| t.seen_ms)
                .map(|(k, _)| k.clone())
            {
                self.tenants.remove(&idle);
            }
        }
        let burst = self.config.burst;
        self.tenants.entry(key.clone()).or_insert_with(|| Tenant {
            tokens: burst,
            refilled_ms: time_ms,
            last_limited_ms: None,
            seconds: VecDeque::new(),
            open_until_ms: None,
            seen_ms: time_ms,
            this_second: (time_ms.div_euclid(1000), 0),
        })
    }

    /// Checks one event of `tenant` at `time_ms` against the breaker and the rate; returns
    /// what it gets (possibly both) and any alert of a new episode.
    pub fn admit(
        &mut self,
        tenant: &Arc<str>,
        time_ms: i64,
        topology: &TopologyRef,
        alerts: &mut Vec<AlertRecord>,
    ) -> Vec<LimitHit> {
        let (rate, burst, over_limit) = (
            self.config.rate_per_s,
            self.config.burst,
            self.config.over_limit,
        );
        let breaker = self.config.breaker.clone();
        let field = self.field.clone();
        let state = self.tenant(tenant, time_ms);
        state.seen_ms = state.seen_ms.max(time_ms);
        let mut hits = Vec::new();
        if let (Some(until), Some(breaker)) = (state.open_until_ms, &breaker) {
            if time_ms < until {
                hits.push(LimitHit {
                    label: "block_rate_breaker",
                    action: breaker.action.action(),
                    reason: format!(
                        "the tenant's block share passed {} within {} s; breaker open for {} s more",
                        breaker.block_share,
                        breaker.window_s,
                        (until - time_ms + 999) / 1000
                    ),
                });
            } else {
                state.open_until_ms = None;
            }
        }
        let second = time_ms.div_euclid(1000).max(state.this_second.0);
        if second == state.this_second.0 {
            state.this_second.1 += 1;
        } else {
            state.this_second = (second, 1);
        }
        if let Some(rate) = rate {
            let now = time_ms.max(state.refilled_ms);
            let elapsed_s = (now - state.refilled_ms) as f64 / 1000.0;
            state.tokens = (state.tokens + elapsed_s * rate).min(burst);
            state.refilled_ms = now;
            if state.tokens >= 1.0 {
                state.tokens -= 1.0;
            } else {
                let wait_ms = ((1.0 - state.tokens) / rate * 1000.0).ceil() as u64;
                let label = match over_limit {
                    LimitOutcome::Throttle => "throttled",
                    _ => "rate_limited",
                };
                hits.push(LimitHit {
                    label,
                    action: over_limit.action(),
                    reason: format!(
                        "the tenant is over {rate} events/s (burst {burst}); retry after {wait_ms} ms"
                    ),
                });
                let new_episode = state
                    .last_limited_ms
                    .is_none_or(|last| time_ms - last >= EPISODE_GAP_MS);
                state.last_limited_ms =
                    Some(state.last_limited_ms.map_or(time_ms, |l| l.max(time_ms)));
                if new_episode {
                    alerts.push(AlertRecord::new(
                        AlertKind::RateLimit,
                        AlertKey {
                            field,
                            value: tenant.clone(),
                        },
                        "events_per_s".into(),
                        AlertWindow {
                            start_ms: second * 1000,
                            end_ms: (second + 1) * 1000,
                            events: state.this_second.1,
                        },
                        state.this_second.1 as f64,
                        rate,
                        topology,
                    ));
                }
            }
        }
        hits
    }

    /// Counts the policy's decision for an event of `tenant` (its own action, before any
    /// limit raised it) and trips the breaker when the block share passes the bound.
    pub fn observe(
        &mut self,
        tenant: &Arc<str>,
        time_ms: i64,
        policy_blocked: bool,
        topology: &TopologyRef,
        alerts: &mut Vec<AlertRecord>,
    ) {
        let Some(breaker) = self.config.breaker.clone() else {
            return;
        };
        let field = self.field.clone();
        let state = self.tenant(tenant, time_ms);
        let second = time_ms
            .div_euclid(1000)
            .max(state.seconds.back().map_or(i64::MIN, |s| s.0));
        match state.seconds.back_mut() {
            Some(last) if last.0 == second => {
                last.1 += 1;
                last.2 += policy_blocked as u64;
            }
            _ => state.seconds.push_back((second, 1, policy_blocked as u64)),
        }
        let from = second - breaker.window_s as i64 + 1;
        while state.seconds.front().is_some_and(|s| s.0 < from) {
            state.seconds.pop_front();
        }
        if state.open_until_ms.is_some_and(|until| time_ms < until) {
            return;
        }
        let (events, blocked) = state
            .seconds
            .iter()
            .fold((0, 0), |(e, b), s| (e + s.1, b + s.2));
        let share = blocked as f64 / events as f64;
        if events >= breaker.min_events && share >= breaker.block_share {
            state.open_until_ms = Some(time_ms + breaker.open_s as i64 * 1000);
            // A fresh window after it closes: the blocks that tripped it are spent.
            state.seconds.clear();
            alerts.push(trip_alert(
                &breaker, field, tenant, from, second, events, share, topology,
            ));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn trip_alert(
    breaker: &BreakerConfig,
    field: Arc<str>,
    tenant: &Arc<str>,
    from: i64,
    second: i64,
    events: u64,
    share: f64,
    topology: &TopologyRef,
) -> AlertRecord {
    AlertRecord::new(
        AlertKind::BlockRateBreaker,
        AlertKey {
            field,
            value: tenant.clone(),
        },
        "block_share".into(),
        AlertWindow {
            start_ms: from * 1000,
            end_ms: (second + 1) * 1000,
            events,
        },
        share,
        breaker.block_share,
        topology,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> TopologyRef {
        TopologyRef {
            name: "t".into(),
            hash: "h".into(),
        }
    }

    #[test]
    fn the_bucket_refills_in_event_time_and_alerts_once_per_episode() {
        let mut limits = TenantLimits::new(&LimitsConfig {
            rate_per_s: Some(2.0),
            burst: 3.0,
            ..LimitsConfig::default()
        });
        let acme: Arc<str> = Arc::from("acme");
        let mut alerts = Vec::new();
        // Ten events in the same millisecond: three pass (the burst), seven are throttled.
        let hits: Vec<Vec<LimitHit>> = (0..10)
            .map(|_| limits.admit(&acme, 1_000, &topology(), &mut alerts))
            .collect();
        assert_eq!(hits.iter().filter(|h| h.is_empty()).count(), 3);
        assert!(
            hits[3][0].reason.contains("retry after 500 ms"),
            "{:?}",
            hits[3]
        );
        assert_eq!(hits[3][0].label, "throttled");
        assert_eq!(hits[3][0].action, Action::Block);
        assert_eq!(alerts.len(), 1, "one alert for the episode");
        // One second of event time later, two tokens: two pass, then the next is over again.
        assert!(limits
            .admit(&acme, 2_000, &topology(), &mut alerts)
            .is_empty());
        assert!(limits
            .admit(&acme, 2_000, &topology(), &mut alerts)
            .is_empty());
        assert!(!limits
            .admit(&acme, 2_000, &topology(), &mut alerts)
            .is_empty());
        assert_eq!(alerts.len(), 2, "a new episode");
        // Another tenant has its own bucket; a late event refills nothing.
        let other: Arc<str> = Arc::from("other");
        assert!(limits
            .admit(&other, 1_000, &topology(), &mut alerts)
            .is_empty());
        assert!(!limits
            .admit(&acme, 500, &topology(), &mut alerts)
            .is_empty());
    }

    #[test]
    fn the_breaker_trips_on_the_block_share_and_closes_after_open_s() {
        let mut limits = TenantLimits::new(&LimitsConfig {
            breaker: Some(BreakerConfig {
                block_share: 0.5,
                window_s: 10,
                min_events: 10,
                open_s: 30,
                action: LimitOutcome::Block,
            }),
            ..LimitsConfig::default()
        });
        let t: Arc<str> = Arc::from("t1");
        let mut alerts = Vec::new();
        for i in 0..10 {
            assert!(limits
                .admit(&t, i * 100, &topology(), &mut alerts)
                .is_empty());
            limits.observe(&t, i * 100, i % 2 == 0, &topology(), &mut alerts);
        }
        assert_eq!(alerts.len(), 1, "5 of 10 blocked trips it");
        assert_eq!(alerts[0].alert, AlertKind::BlockRateBreaker);
        assert_eq!(alerts[0].rate, 0.5);
        let hits = limits.admit(&t, 5_000, &topology(), &mut alerts);
        assert_eq!(hits[0].label, "block_rate_breaker");
        assert_eq!(hits[0].action, Action::Block);
        assert!(
            limits
                .admit(&t, 31_000, &topology(), &mut alerts)
                .is_empty(),
            "closed again"
        );
    }
}

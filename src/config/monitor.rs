//! Options of the run-wide monitors as written in a topology: `[drift]` (rates of actions and
//! categories per app and tenant against their baseline) and `[limits]` (per-tenant
//! event-time token buckets and a block-rate breaker). Both read keys from event metadata.

use serde::Deserialize;

use crate::diagnostics::{join, Errors};
use crate::model::Action;

/// `[drift]`: alert when the share of events with an action or category, per metadata key,
/// leaves the band around its own baseline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftConfig {
    /// Metadata fields; each is its own dimension (`["app", "tenant"]`: rates per app and
    /// rates per tenant). An event without the field counts under `(none)`.
    pub keys: Vec<String>,
    /// Length of the sliding window, in event-time seconds.
    pub window_s: u64,
    /// How often the window is evaluated (it slides by this much), in event-time seconds.
    pub step_s: u64,
    /// Fewest events in a window for it to be evaluated.
    pub min_events: u64,
    /// Weight of the newest window in the baseline (an exponentially weighted mean and
    /// variance of past windows' rates).
    pub alpha: f64,
    /// Band half-width in baseline standard deviations.
    pub z: f64,
    /// Smallest band half-width, as a rate (keeps a flat baseline from alerting on noise).
    pub min_delta: f64,
    /// Windows evaluated before a key's baseline may raise alerts.
    pub warmup: u32,
    /// Most keys tracked per dimension; past it, new keys are counted under `(other)`.
    pub max_keys: usize,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            keys: vec!["app".into()],
            window_s: 300,
            step_s: 60,
            min_events: 50,
            alpha: 0.2,
            z: 4.0,
            min_delta: 0.05,
            warmup: 5,
            max_keys: 1000,
        }
    }
}

impl DriftConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        check_keys(&self.keys, &join(path, "keys"), errors);
        if self.step_s == 0 || self.window_s == 0 || !self.window_s.is_multiple_of(self.step_s) {
            errors.push(
                join(path, "window_s"),
                format!(
                    "must be a positive multiple of step_s ({}), got {}",
                    self.step_s, self.window_s
                ),
            );
        } else if self.window_s / self.step_s > 1000 {
            errors.push(join(path, "step_s"), "at most 1000 steps per window");
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            errors.push(join(path, "alpha"), "must be within (0, 1]");
        }
        if !(self.z > 0.0 && self.z.is_finite()) {
            errors.push(join(path, "z"), "must be positive");
        }
        if !(0.0..1.0).contains(&self.min_delta) {
            errors.push(join(path, "min_delta"), "must be within [0, 1)");
        }
        if self.min_events == 0 {
            errors.push(join(path, "min_events"), "must be at least 1");
        }
        if self.max_keys == 0 {
            errors.push(join(path, "max_keys"), "must be at least 1");
        }
    }
}

/// What an event over a limit gets (never a silent drop: its verdict says why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitOutcome {
    /// Inspected as usual; the verdict is at least `flag`.
    Flag,
    /// `block`, labelled `throttled`, its reason saying when the tenant may send again (a
    /// gateway answers 429 with Retry-After).
    Throttle,
    /// `block`.
    Block,
}

impl LimitOutcome {
    pub fn action(self) -> Action {
        match self {
            LimitOutcome::Flag => Action::Flag,
            LimitOutcome::Throttle | LimitOutcome::Block => Action::Block,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LimitOutcome::Flag => "flag",
            LimitOutcome::Throttle => "throttle",
            LimitOutcome::Block => "block",
        }
    }
}

/// `[limits]`: per-tenant event-time rate limits and a block-rate breaker.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// The metadata field naming the tenant. Events without it are not limited.
    pub key: String,
    /// Sustained events per second per tenant (event time); unset: no rate limit.
    pub rate_per_s: Option<f64>,
    /// Events a tenant may send at once above the rate (the bucket's size).
    pub burst: f64,
    /// What an event over the rate gets.
    pub over_limit: LimitOutcome,
    /// Trips when a tenant's share of blocked events passes a bound.
    pub breaker: Option<BreakerConfig>,
    /// Most tenants tracked; past it the longest-idle tenant's state is dropped.
    pub max_tenants: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            key: "tenant".into(),
            rate_per_s: None,
            burst: 20.0,
            over_limit: LimitOutcome::Throttle,
            breaker: None,
            max_tenants: 100_000,
        }
    }
}

/// `[limits.breaker]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Share of a tenant's events the policy blocked, within the window, that trips it.
    pub block_share: f64,
    /// The window, in event-time seconds.
    pub window_s: u64,
    /// Fewest events in the window before it may trip.
    pub min_events: u64,
    /// How long it stays open, in event-time seconds.
    pub open_s: u64,
    /// What the tenant's events get while it is open.
    pub action: LimitOutcome,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            block_share: 0.5,
            window_s: 60,
            min_events: 20,
            open_s: 300,
            action: LimitOutcome::Flag,
        }
    }
}

impl LimitsConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        check_keys(std::slice::from_ref(&self.key), &join(path, "key"), errors);
        if self.rate_per_s.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            errors.push(join(path, "rate_per_s"), "must be positive");
        }
        if !(self.burst >= 1.0 && self.burst.is_finite()) {
            errors.push(join(path, "burst"), "must be at least 1");
        }
        if self.max_tenants == 0 {
            errors.push(join(path, "max_tenants"), "must be at least 1");
        }
        if self.rate_per_s.is_none() && self.breaker.is_none() {
            errors.push(path, "needs `rate_per_s`, a `[limits.breaker]`, or both");
        }
        if let Some(breaker) = &self.breaker {
            let path = join(path, "breaker");
            if !(breaker.block_share > 0.0 && breaker.block_share <= 1.0) {
                errors.push(join(&path, "block_share"), "must be within (0, 1]");
            }
            if breaker.window_s == 0 {
                errors.push(join(&path, "window_s"), "must be at least 1");
            }
            if breaker.open_s == 0 {
                errors.push(join(&path, "open_s"), "must be at least 1");
            }
            if breaker.min_events == 0 {
                errors.push(join(&path, "min_events"), "must be at least 1");
            }
        }
    }
}

fn check_keys(keys: &[String], path: &str, errors: &mut Errors) {
    if keys.is_empty() {
        errors.push(path, "name at least one metadata field");
    }
    for (i, key) in keys.iter().enumerate() {
        if key.is_empty() {
            errors.push(format!("{path}[{i}]"), "must not be empty");
        }
    }
}

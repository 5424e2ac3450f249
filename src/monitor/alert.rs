//! Alert records: what the drift monitor and the tenant limits publish on `alerts` sinks.
//! They carry keys (metadata values such as an app or tenant id), windows and rates, never
//! event text.

use std::sync::Arc;

use serde::Serialize;

use crate::model::{TopologyRef, SCHEMA_VERSION};

/// Which monitor raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A rate left its baseline's band (`[drift]`).
    Drift,
    /// A tenant went over its rate limit (once per episode).
    RateLimit,
    /// A tenant's block share tripped the breaker.
    BlockRateBreaker,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Drift => "drift",
            AlertKind::RateLimit => "rate_limit",
            AlertKind::BlockRateBreaker => "block_rate_breaker",
        }
    }
}

/// The metadata key an alert is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertKey {
    /// The metadata field, e.g. `tenant`.
    pub field: Arc<str>,
    /// Its value, e.g. the tenant id.
    pub value: Arc<str>,
}

/// The event-time window an alert measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlertWindow {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Events of the key in the window.
    pub events: u64,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    pub schema_version: &'static str,
    pub alert: AlertKind,
    pub key: AlertKey,
    /// What was measured: `action:block`, `category:pii`, `events_per_s`, `block_share`.
    pub series: String,
    pub window: AlertWindow,
    pub rate: f64,
    /// The expected rate (drift: the baseline; limits: the configured bound).
    pub baseline: f64,
    /// Drift: the band `[low, high]` the rate left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<[f64; 2]>,
    pub topology: TopologyRef,
}

impl AlertRecord {
    pub fn new(
        alert: AlertKind,
        key: AlertKey,
        series: String,
        window: AlertWindow,
        rate: f64,
        baseline: f64,
        topology: &TopologyRef,
    ) -> AlertRecord {
        AlertRecord {
            schema_version: SCHEMA_VERSION,
            alert,
            key,
            series,
            window,
            rate: round6(rate),
            baseline: round6(baseline),
            band: None,
            topology: topology.clone(),
        }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

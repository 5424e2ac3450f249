//! The drift monitor: per metadata key (each `[drift].keys` field is a dimension), the share
//! of events with each action and each category over a sliding event-time window, against
//! an exponentially weighted baseline of past windows. A share that leaves the band raises
//! one alert; the key stays quiet until the share has been back inside the band.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::alert::{AlertKey, AlertKind, AlertRecord, AlertWindow};
use super::Sample;
use crate::config::DriftConfig;
use crate::model::{Action, Category, TopologyRef};

/// Actions, then categories: the rates measured per key.
const SERIES: usize = Action::ALL.len() + Category::ALL.len();

fn series_name(i: usize) -> String {
    match Action::ALL.get(i) {
        Some(action) => format!("action:{action}"),
        None => format!("category:{}", Category::ALL[i - Action::ALL.len()].as_str()),
    }
}

/// Counts of one step of event time.
#[derive(Clone, Default)]
struct Bucket {
    step: i64,
    events: u64,
    counts: [u64; SERIES],
}

/// The exponentially weighted mean and variance of one series' past window rates.
#[derive(Clone, Copy, Default)]
struct Baseline {
    mean: f64,
    variance: f64,
}

struct KeyState {
    buckets: VecDeque<Bucket>,
    baselines: [Baseline; SERIES],
    /// Windows evaluated so far.
    evaluations: u32,
    /// Series out of band since their alert.
    firing: [bool; SERIES],
    last_step: i64,
}

impl KeyState {
    fn new(step: i64) -> KeyState {
        KeyState {
            buckets: VecDeque::new(),
            baselines: [Baseline::default(); SERIES],
            evaluations: 0,
            firing: [false; SERIES],
            last_step: step,
        }
    }
}

/// A rate measured at a window's end, for the gauges.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftGauge {
    pub dimension: Arc<str>,
    pub key: Arc<str>,
    pub series: String,
    pub rate: f64,
    pub baseline: f64,
}

struct Dimension {
    field: Arc<str>,
    keys: HashMap<Arc<str>, KeyState>,
}

/// Tracks every dimension's keys.
pub struct DriftMonitor {
    config: DriftConfig,
    dimensions: Vec<Dimension>,
}

/// Keys past `max_keys` are counted together under this one.
const OTHER: &str = "(other)";

impl DriftMonitor {
    pub fn new(config: &DriftConfig) -> DriftMonitor {
        DriftMonitor {
            dimensions: config
                .keys
                .iter()
                .map(|field| Dimension {
                    field: Arc::from(field.as_str()),
                    keys: HashMap::new(),
                })
                .collect(),
            config: config.clone(),
        }
    }

    /// The metadata fields it reads.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.dimensions.iter().map(|d| &*d.field)
    }

    /// Counts one decided event (its key per dimension in `sample.drift_keys`); returns the
    /// alerts of the windows it closed and their gauges.
    pub fn observe(
        &mut self,
        sample: &Sample,
        action: Action,
        categories: &[Category],
        topology: &TopologyRef,
        alerts: &mut Vec<AlertRecord>,
        gauges: &mut Vec<DriftGauge>,
    ) {
        let step_ms = self.config.step_s as i64 * 1000;
        let step = sample.time_ms.div_euclid(step_ms);
        for (dimension, key) in self.dimensions.iter_mut().zip(&sample.drift_keys) {
            let key = if dimension.keys.contains_key(key)
                || dimension.keys.len() < self.config.max_keys
            {
                key.clone()
            } else {
                Arc::from(OTHER)
            };
            let state = dimension
                .keys
                .entry(key.clone())
                .or_insert_with(|| KeyState::new(step));
            // Late events count in the newest step: windows only move forward.
            let step = step.max(state.last_step);
            if step > state.last_step {
                evaluate(
                    &self.config,
                    state,
                    &dimension.field,
                    &key,
                    topology,
                    alerts,
                    gauges,
                );
                state.last_step = step;
            }
            if state.buckets.back().is_none_or(|b| b.step != step) {
                state.buckets.push_back(Bucket {
                    step,
                    ..Bucket::default()
                });
            }
            let bucket = state.buckets.back_mut().expect("just pushed");
            bucket.events += 1;
            bucket.counts[Action::ALL
                .iter()
                .position(|a| *a == action)
                .expect("known")] += 1;
            for category in categories {
                let i = Category::ALL
                    .iter()
                    .position(|c| c == category)
                    .expect("known");
                bucket.counts[Action::ALL.len() + i] += 1;
            }
        }
    }
}

/// Evaluates the window that ends with the key's last step (the steps after it have begun).
fn evaluate(
    config: &DriftConfig,
    state: &mut KeyState,
    field: &Arc<str>,
    key: &Arc<str>,
    topology: &TopologyRef,
    alerts: &mut Vec<AlertRecord>,
    gauges: &mut Vec<DriftGauge>,
) {
    let steps = (config.window_s / config.step_s) as i64;
    let end = state.last_step + 1;
    let start = end - steps;
    while state.buckets.front().is_some_and(|b| b.step < start) {
        state.buckets.pop_front();
    }
    let events: u64 = state.buckets.iter().map(|b| b.events).sum();
    if events < config.min_events {
        return;
    }
    let step_ms = config.step_s as i64 * 1000;
    let window = AlertWindow {
        start_ms: start * step_ms,
        end_ms: end * step_ms,
        events,
    };
    let warmed = state.evaluations >= config.warmup;
    for series in 0..SERIES {
        let count: u64 = state.buckets.iter().map(|b| b.counts[series]).sum();
        let rate = count as f64 / events as f64;
        let baseline = &mut state.baselines[series];
        if state.evaluations == 0 {
            *baseline = Baseline {
                mean: rate,
                variance: 0.0,
            };
        }
        let half = (config.z * baseline.variance.sqrt()).max(config.min_delta);
        let (low, high) = (baseline.mean - half, baseline.mean + half);
        let outside = warmed && (rate < low || rate > high);
        if outside && !state.firing[series] {
            let mut alert = AlertRecord::new(
                AlertKind::Drift,
                AlertKey {
                    field: field.clone(),
                    value: key.clone(),
                },
                series_name(series),
                window,
                rate,
                baseline.mean,
                topology,
            );
            alert.band = Some([low.max(0.0), high.min(1.0)]);
            alerts.push(alert);
        }
        state.firing[series] = outside;
        if count > 0 || baseline.mean > 0.0 {
            gauges.push(DriftGauge {
                dimension: field.clone(),
                key: key.clone(),
                series: series_name(series),
                rate,
                baseline: baseline.mean,
            });
        }
        let delta = rate - baseline.mean;
        baseline.mean += config.alpha * delta;
        baseline.variance =
            (1.0 - config.alpha) * (baseline.variance + config.alpha * delta * delta);
    }
    state.evaluations += 1;
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

    /// `per_step` events per 10 s step for `steps` steps from `from`, `blocked` of them blocked.
    fn feed(
        monitor: &mut DriftMonitor,
        from: i64,
        steps: i64,
        per_step: u64,
        blocked: u64,
    ) -> Vec<AlertRecord> {
        let mut alerts = Vec::new();
        let mut gauges = Vec::new();
        for step in from..from + steps {
            for i in 0..per_step {
                let sample = Sample {
                    time_ms: step * 10_000 + i as i64,
                    drift_keys: vec![Arc::from("acme")],
                    tenant: None,
                };
                let action = if i < blocked {
                    Action::Block
                } else {
                    Action::Allow
                };
                let categories: &[Category] = if i < blocked {
                    &[Category::Injection]
                } else {
                    &[]
                };
                monitor.observe(
                    &sample,
                    action,
                    categories,
                    &topology(),
                    &mut alerts,
                    &mut gauges,
                );
            }
        }
        alerts
    }

    fn config() -> DriftConfig {
        DriftConfig {
            keys: vec!["tenant".into()],
            window_s: 60,
            step_s: 10,
            min_events: 20,
            warmup: 3,
            ..DriftConfig::default()
        }
    }

    #[test]
    fn a_jump_in_the_block_rate_alerts_once_then_the_baseline_follows() {
        let mut monitor = DriftMonitor::new(&config());
        assert!(
            feed(&mut monitor, 0, 30, 20, 2).is_empty(),
            "a steady 10% is quiet"
        );
        let alerts = feed(&mut monitor, 30, 40, 20, 12);
        let block: Vec<&AlertRecord> = alerts
            .iter()
            .filter(|a| a.series == "action:block")
            .collect();
        assert_eq!(block.len(), 1, "{alerts:#?}");
        assert!(block[0].rate > block[0].baseline + 0.05);
        assert_eq!(block[0].key.value.as_ref(), "acme");
        assert_eq!(block[0].window.end_ms - block[0].window.start_ms, 60_000);
        assert!(
            feed(&mut monitor, 70, 30, 20, 12).is_empty(),
            "then quiet at 60%"
        );
    }

    #[test]
    fn thin_windows_and_the_warmup_raise_nothing() {
        let mut monitor = DriftMonitor::new(&config());
        // Three events a step: under min_events per window.
        assert!(feed(&mut monitor, 0, 10, 3, 0).is_empty());
        assert!(feed(&mut monitor, 10, 10, 3, 3).is_empty());
    }
}

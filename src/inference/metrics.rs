//! Inference counters shared by every model in the process, exported by the telemetry
//! registry and read by `railyard bench`. Labelled by model name only.

use std::sync::OnceLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

pub const BATCHES: &str = "railyard_inference_batches_total";
pub const WINDOWS: &str = "railyard_inference_windows_total";
pub const TOKENS: &str = "railyard_inference_tokens_total";
pub const BATCH_SECONDS: &str = "railyard_inference_batch_seconds";
pub const FAILURES: &str = "railyard_inference_failures_total";

pub struct InferenceMetrics {
    /// Session runs, per model.
    pub batches: IntCounterVec,
    /// Token windows run, per model.
    pub windows: IntCounterVec,
    /// Tokens per model and kind: `real` (in windows) and `padded` (batch rows x width).
    pub tokens: IntCounterVec,
    /// Wall time of one session run, per model.
    pub batch_seconds: HistogramVec,
    /// Session runs that failed, per model.
    pub failures: IntCounterVec,
}

/// The process-wide inference metrics.
pub fn inference_metrics() -> &'static InferenceMetrics {
    static METRICS: OnceLock<InferenceMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        InferenceMetrics {
            batches: counter(BATCHES, "Model session runs", &["model"]),
            windows: counter(WINDOWS, "Token windows run through a model", &["model"]),
            tokens: counter(
                TOKENS,
                "Tokens through a model: real, and padded (rows x batch width)",
                &["model", "kind"],
            ),
            batch_seconds: HistogramVec::new(
                HistogramOpts::new(BATCH_SECONDS, "Wall time of one model session run")
                    .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16).expect("buckets")),
                &["model"],
            )
            .expect("valid metric"),
            failures: counter(FAILURES, "Model session runs that failed", &["model"]),
        }
    })
}

impl InferenceMetrics {
    /// Every collector, for registering in a [`prometheus::Registry`].
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.batches.clone()),
            Box::new(self.windows.clone()),
            Box::new(self.tokens.clone()),
            Box::new(self.batch_seconds.clone()),
            Box::new(self.failures.clone()),
        ]
    }
}

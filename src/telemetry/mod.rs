//! Operations: logging set-up, Prometheus metrics, and the health and metrics endpoints.
//! Log lines carry ids, sizes, counts and categories, never payload text or detected values
//! (a test greps captured logs for seeded values).

pub mod http;
pub mod metrics;

use tracing_subscriber::EnvFilter;

/// How log lines are printed on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber; `RUST_LOG` overrides `default_level`.
pub fn init_logging(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

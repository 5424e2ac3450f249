//! `railyard run`: runs a topology until its sources end (files, stdin) or, on Kafka, until
//! SIGTERM or SIGINT (drain, commit, exit 0).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use railyard::model::Action;
use railyard::runtime::{self, signals};
use railyard::topology::services::Ops;
use railyard::topology::RunOptions;

#[derive(clap::Args)]
pub struct Args {
    topology: PathBuf,
    /// Worker threads (overrides settings.threads; 0 keeps it).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub fn run(args: Args) -> Result<ExitCode> {
    // Endpoints first: /healthz answers and /readyz says "loading models" while models load.
    let ops = Ops::serve_ahead(&args.topology)?;
    let topology = super::load(&args.topology)?;
    let options = RunOptions {
        record_latencies: false,
        threads: args.threads,
    };
    let stop = Arc::new(AtomicBool::new(false));
    if runtime::reads_kafka(&topology) {
        // Drain deadline plus time to commit and close.
        let drain_ms = topology
            .kafka
            .as_ref()
            .map_or(10_000, |k| k.drain_timeout_ms);
        let exit_deadline = Duration::from_millis(drain_ms + 15_000);
        signals::stop_on_signals(stop.clone(), exit_deadline)
            .context("cannot install signal handlers")?;
    }
    let report = runtime::run_with_ops(&topology, &options, stop, ops)?;
    let counts: Vec<String> = Action::ALL
        .iter()
        .zip(report.actions)
        .map(|(a, n)| format!("{a}={n}"))
        .collect();
    eprintln!(
        "{}: {} events ({}), {} dead letters, {:.1} ms",
        topology.name,
        report.events,
        counts.join(" "),
        report.dead_letters,
        report.elapsed.as_secs_f64() * 1e3
    );
    Ok(ExitCode::SUCCESS)
}

//! The `railyard` commands: one file per command, each a clap `Args` (or subcommand) and a
//! `run` that calls the library and prints. Nothing here processes events.

pub mod audit;
pub mod bench;
pub mod eval;
pub mod feedback;
pub mod graph;
pub mod models;
pub mod progress;
pub mod replay;
pub mod replay_kafka;
pub mod reveal;
pub mod run;
pub mod validate;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};
use railyard::config::Topology;
use railyard::telemetry::LogFormat;

#[derive(Parser)]
#[command(
    name = "railyard",
    version,
    about = "Guardrail pipeline for LLM traffic"
)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a topology until its sources end (Kafka: until SIGTERM or SIGINT).
    Run(run::Args),
    /// Check topologies and list every error with its TOML path.
    Validate(validate::Args),
    /// Print a topology's DAG in Graphviz DOT.
    Graph(graph::Args),
    /// Score one operator of a topology against labelled JSONL (spans or 0/1 labels).
    Eval(eval::Args),
    /// Measure a topology against a baseline run in the same command.
    #[command(subcommand)]
    Bench(bench::Command),
    /// Model pinning: `railyard models lock TOPOLOGY`.
    #[command(subcommand)]
    Models(models::Command),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Run a candidate topology over recorded traffic (or compare two recorded verdict
    /// streams) and report what would change: report.json and report.html.
    Replay(replay::Args),
    /// Reviewer labels against verdicts: per operator and label precision, recall, confusion
    /// and the threshold for a target false-positive rate; exports a training dataset.
    Feedback(feedback::Args),
    /// Restore the originals behind a conversation's placeholders (needs the vault key).
    Reveal(reveal::Args),
}

impl Command {
    pub fn run(self) -> Result<ExitCode> {
        match self {
            Command::Run(args) => run::run(args),
            Command::Validate(args) => validate::run(args),
            Command::Graph(args) => graph::run(args),
            Command::Eval(args) => eval::run(args),
            Command::Bench(command) => command.run(),
            Command::Models(command) => command.run(),
            Command::Audit(command) => command.run(),
            Command::Replay(args) => replay::run(args),
            Command::Feedback(args) => feedback::run(args),
            Command::Reveal(args) => reveal::run(args),
        }
    }
}

/// Reads and validates a topology file; the error lists every problem.
pub fn load(path: &Path) -> Result<Topology> {
    Topology::from_file(path).map_err(|e| anyhow!("{}: {e}", path.display()))
}

//! `railyard graph`: prints a topology's DAG in Graphviz DOT.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    topology: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let t = super::load(&args.topology)?;
    print!("{}", t.graph.to_dot(&t.name));
    Ok(ExitCode::SUCCESS)
}

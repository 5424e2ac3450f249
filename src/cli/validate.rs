//! `railyard validate`: checks topologies and lists every error with its TOML path; exits 1
//! when any is invalid.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use railyard::config::{ModelLock, Topology};

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    topologies: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut failed = false;
    for path in args.topologies {
        match Topology::from_file(&path) {
            Ok(t) => {
                let lock = ModelLock::path_for(&path);
                let pinned = if lock.is_file() {
                    format!(", model files pinned by {}", lock.display())
                } else {
                    String::new()
                };
                println!(
                    "ok: {} ({}: {} sources, {} operators, {} sinks{pinned})",
                    path.display(),
                    t.name,
                    t.sources.len(),
                    t.operators.len(),
                    t.sinks.len()
                )
            }
            Err(err) => {
                failed = true;
                let errors = err.errors();
                println!("invalid: {} ({} errors)", path.display(), errors.len());
                for e in errors {
                    println!("  {e}");
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

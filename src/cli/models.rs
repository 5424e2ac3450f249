//! `railyard models lock`: writes the sha256 of every model file a topology loads to its lock
//! file (`<topology>.lock`), which `validate` and `run` then enforce.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use railyard::config::{ModelLock, Topology};
use railyard::inference::digest::file_sha256;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Pin the model files (ONNX graphs, tokenizers, calibration files) of topologies: write
    /// each one's digests to `<topology>.lock` beside it.
    Lock(LockArgs),
}

#[derive(clap::Args)]
pub struct LockArgs {
    #[arg(required = true)]
    topologies: Vec<PathBuf>,
}

impl Command {
    pub fn run(self) -> Result<ExitCode> {
        match self {
            Command::Lock(args) => lock(args),
        }
    }
}

fn lock(args: LockArgs) -> Result<ExitCode> {
    for path in args.topologies {
        let topology =
            Topology::from_file_unpinned(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let mut digests = BTreeMap::new();
        for model in &topology.model_files {
            let hex = file_sha256(&model.file)
                .with_context(|| format!("{}: cannot read {}", model.key, model.file.display()))?;
            digests.insert(model.file.display().to_string(), hex.to_string());
        }
        let lock_path = ModelLock::path_for(&path);
        if digests.is_empty() {
            println!("{}: loads no model files; no lock written", path.display());
            continue;
        }
        std::fs::write(&lock_path, ModelLock::render(&path, &digests))
            .with_context(|| format!("cannot write {}", lock_path.display()))?;
        println!(
            "{}: {} model files pinned in {}",
            path.display(),
            digests.len(),
            lock_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

//! `railyard audit verify`: checks an audit log (files or a topic) for modified, removed,
//! reordered or inserted records.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check an audit log: exit 0 when intact, 1 when any record was modified, removed,
    /// reordered or inserted (each listed with its position), 2 when it cannot be checked.
    Verify(VerifyArgs),
}

impl Command {
    pub fn run(self) -> Result<ExitCode> {
        match self {
            Command::Verify(args) => verify(args),
        }
    }
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Audit files (rotated segments `PATH.N` are read before `PATH`).
    #[arg(required_unless_present = "topic")]
    paths: Vec<PathBuf>,
    /// Read the audit topic instead.
    #[arg(long, requires = "brokers", conflicts_with = "paths")]
    topic: Option<String>,
    /// Bootstrap servers for `--topic`.
    #[arg(long)]
    brokers: Option<String>,
    /// Environment variable holding the HMAC key; when set, every record must be signed.
    #[arg(long, default_value = "RAILYARD_AUDIT_KEY")]
    key_env: String,
    /// Check chains only, even though records are signed and no key is given.
    #[arg(long)]
    skip_signatures: bool,
    /// Accept chains without a seal (a log that is still being written).
    #[arg(long)]
    allow_open: bool,
    /// Topic: stop reading after this long without a record.
    #[arg(long, default_value_t = 3000)]
    idle_ms: u64,
    /// Print the whole report (every problem) as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    use railyard::audit::{keys, verify, Verifier, VerifyOptions};
    let key = keys::hmac_key(&args.key_env)?.map(|k| k.to_vec());
    let options = VerifyOptions {
        key,
        allow_open: args.allow_open,
    };
    let report = match (&args.topic, &args.brokers) {
        (Some(topic), Some(brokers)) => {
            let records = railyard::kafka::read::read_topic(
                brokers,
                topic,
                std::time::Duration::from_millis(args.idle_ms),
                &[],
            )?;
            let mut verifier = Verifier::new(options);
            for r in &records {
                verifier.feed(&format!("{topic}/{}@{}", r.partition, r.offset), &r.payload);
            }
            verifier.finish()
        }
        _ => verify::verify_files(&args.paths, options)?,
    };
    const SHOWN: usize = 100;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for problem in report.problems.iter().take(SHOWN) {
            println!("{problem}");
        }
        if report.problems.len() > SHOWN {
            println!("... and {} more problems", report.problems.len() - SHOWN);
        }
    }
    let status = if report.tampered() {
        "TAMPERED"
    } else {
        "intact"
    };
    if !args.json {
        println!(
            "{status}: {} records, {} chains ({} sealed), {} problems",
            report.records,
            report.chains,
            report.sealed,
            report.problems.len()
        );
    }
    if report.tampered() {
        return Ok(ExitCode::from(1));
    }
    if report.unchecked_signatures > 0 && !args.skip_signatures {
        eprintln!(
            "error: {} records are signed but `{}` is not set; set it to check signatures, or pass --skip-signatures",
            report.unchecked_signatures, args.key_env
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

//! `railyard reveal`: restores the originals behind a conversation's placeholders from the
//! vault (needs the vault key).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Conversation id (or `event:<id>` for events without one).
    #[arg(long)]
    conversation: String,
    /// Vault JSONL file written by a `vault` sink with `path`.
    #[arg(long, conflicts_with = "topic")]
    file: Option<PathBuf>,
    /// Vault topic written by a `vault` sink with `topic`.
    #[arg(long, requires = "brokers")]
    topic: Option<String>,
    /// Bootstrap servers for `--topic`.
    #[arg(long)]
    brokers: Option<String>,
    /// Environment variable holding the vault key (64 hex digits).
    #[arg(long, default_value = "RAILYARD_VAULT_KEY")]
    key_env: String,
    /// Text with placeholders to restore (default: standard input).
    #[arg(long)]
    text: Option<String>,
    /// Print the placeholder mapping as JSON instead of restoring a text.
    #[arg(long)]
    list: bool,
    /// Topic: stop reading after this long without a record.
    #[arg(long, default_value_t = 3000)]
    idle_ms: u64,
}

pub fn run(args: Args) -> Result<ExitCode> {
    use railyard::vault::{reveal, Vault};
    let key = railyard::audit::keys::aes256_key(&args.key_env)
        .map_err(|e| anyhow!("refusing to reveal: {e}"))?;
    let vault = Vault::new(&key);
    let records: Vec<Vec<u8>> = match (&args.file, &args.topic, &args.brokers) {
        (Some(file), _, _) => std::fs::read(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(<[u8]>::to_vec)
            .collect(),
        (None, Some(topic), Some(brokers)) => railyard::kafka::read::read_topic(
            brokers,
            topic,
            std::time::Duration::from_millis(args.idle_ms),
            &[],
        )?
        .into_iter()
        .map(|r| r.payload)
        .collect(),
        _ => bail!("give the vault as --file PATH or --topic TOPIC --brokers HOSTS"),
    };
    let collected = reveal::collect(
        &vault,
        &args.conversation,
        records.iter().map(Vec::as_slice),
    );
    for (placeholder, error) in &collected.failures {
        eprintln!("warning: entry {placeholder}: {error}");
    }
    if args.list {
        println!("{}", serde_json::to_string_pretty(&collected.mapping.0)?);
    } else {
        let text = match args.text {
            Some(text) => text,
            None => {
                std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
            }
        };
        print!("{}", collected.mapping.restore(&text));
    }
    eprintln!(
        "revealed {} placeholders of conversation {} ({} entries read)",
        collected.mapping.0.len(),
        args.conversation,
        collected.entries
    );
    Ok(ExitCode::SUCCESS)
}

//! `railyard replay`: a candidate topology over recorded events (a JSONL file or a Kafka
//! topic range), compared with the recorded verdicts; or two recorded verdict streams
//! compared (a shadow stream against the live one). Writes `report.json` and `report.html`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use railyard::replay::report::Side;
use railyard::replay::run::replay_file;
use railyard::replay::{self, read_verdicts, recorded::RecordedTopology, VerdictSet};

#[derive(clap::Args)]
pub struct Args {
    /// The candidate topology (its sinks are never opened). Leave it out with `--candidate`.
    topology: Option<PathBuf>,
    /// Recorded events (JSONL, as the topology's file sources read them).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Recorded verdicts to compare with (JSONL verdict records).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Recorded candidate verdicts instead of running a topology (e.g. a shadow stream).
    #[arg(long, conflicts_with = "topology")]
    candidate: Option<PathBuf>,
    /// Where report.json and report.html go.
    #[arg(long)]
    out: PathBuf,
    /// The candidate source whose operators run (default: its first).
    #[arg(long)]
    source: Option<String>,
    /// Put the candidate's redacted text of each changed event in the report.
    #[arg(long)]
    show_text: bool,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[command(flatten)]
    kafka: super::replay_kafka::KafkaRange,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let Some(baseline_source) = args
        .baseline
        .clone()
        .or_else(|| args.kafka.baseline_label())
    else {
        bail!("give the recorded verdicts: --baseline VERDICTS.jsonl or --baseline-topic TOPIC");
    };
    let (candidate, candidate_side) = match (&args.topology, &args.candidate) {
        (_, Some(path)) => {
            let set =
                read_verdicts(path).with_context(|| format!("cannot read {}", path.display()))?;
            (
                (set, Default::default()),
                side(path.display().to_string(), None),
            )
        }
        (Some(path), None) => replay_topology(&args, path)?,
        (None, None) => bail!("give a candidate: a TOPOLOGY to run, or --candidate VERDICTS.jsonl"),
    };
    let mut baseline = match &args.baseline {
        Some(path) => {
            read_verdicts(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => args.kafka.read_baseline()?,
    };
    let mut baseline_side = side(baseline_source.display().to_string(), None);
    if args.kafka.bounded() && args.topology.is_some() {
        // A bounded range replays part of the traffic: the rest of the recorded verdicts
        // is not "only in baseline", it is outside the range.
        let outside = baseline.retain(|v| candidate.0.get(&v.event_id).is_some());
        baseline_side.outside_range = Some(outside);
    }
    let report = replay::compare(
        &baseline,
        &candidate.0,
        baseline_side,
        candidate_side,
        args.show_text.then_some(&candidate.1),
    );
    replay::write_report(&report, &args.out)
        .with_context(|| format!("cannot write the report under {}", args.out.display()))?;
    eprintln!(
        "replay: {} events compared, {} changed ({} stricter, {} more lenient), {} only in baseline, {} only in candidate; report in {}",
        report.compared,
        report.changed,
        report.stricter,
        report.more_lenient,
        report.only_in_baseline,
        report.only_in_candidate,
        args.out.join("report.html").display()
    );
    Ok(ExitCode::SUCCESS)
}

type Candidate = ((VerdictSet, replay::compare::Texts), Side);

fn side(source: String, topology: Option<RecordedTopology>) -> Side {
    Side {
        source,
        topology,
        ..Side::default()
    }
}

fn replay_topology(args: &Args, path: &std::path::Path) -> Result<Candidate> {
    let topology = super::load(path)?;
    let route = match &args.source {
        Some(id) => topology
            .sources
            .iter()
            .position(|s| *s.id == **id)
            .with_context(|| format!("no source `{id}` in {}", path.display()))?,
        None => 0,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()?;
    let reference = topology.reference();
    let recorded_topology = Some(RecordedTopology {
        name: reference.name.to_string(),
        hash: reference.hash.to_string(),
    });
    let (replayed, source) = match (&args.input, args.kafka.input_topic()) {
        (Some(input), None) => {
            let size = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
            let bar = super::progress::bar(size, "bytes");
            let replayed = pool.install(|| {
                replay_file(
                    &topology,
                    route,
                    input,
                    args.show_text,
                    &mut |bytes, events| super::progress::update(&bar, bytes, events),
                )
            })?;
            bar.finish_and_clear();
            (replayed, input.display().to_string())
        }
        (None, Some(_)) => {
            let replayed = pool.install(|| args.kafka.replay(&topology, route, args.show_text))?;
            (replayed, args.kafka.input_label())
        }
        _ => bail!("give the recorded events: --input EVENTS.jsonl or --input-topic TOPIC"),
    };
    let mut side = side(
        format!("{source} through {}", path.display()),
        recorded_topology,
    );
    side.dead_letters = Some(replayed.dead_letters);
    Ok(((replayed.verdicts, replayed.texts), side))
}

//! `railyard feedback`: reviewer labels joined with the verdicts that decided those events;
//! prints and writes per operator and label precision, recall, confusion and the threshold
//! for a target false-positive rate; `--events` with `--export` writes the reviewed events as
//! a labelled dataset in the training scripts' format. Each input is a JSONL file or a topic.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use railyard::feedback::{export_event, feedback_report, Exported, FeedbackReport, Reviews};
use railyard::kafka::read::read_topic;
use railyard::replay::VerdictSet;

#[derive(clap::Args)]
pub struct Args {
    /// Verdict records (JSONL), with `scores` where thresholds are wanted.
    #[arg(long, required_unless_present = "verdicts_topic")]
    verdicts: Option<PathBuf>,
    /// Verdict records as a topic (read whole, nothing committed).
    #[arg(long, conflicts_with = "verdicts")]
    verdicts_topic: Option<String>,
    /// Reviewer labels (JSONL: event_id, labels {key: true|false}, reviewer, time).
    #[arg(long, required_unless_present = "labels_topic")]
    labels: Option<PathBuf>,
    /// Reviewer labels as a topic.
    #[arg(long, conflicts_with = "labels")]
    labels_topic: Option<String>,
    /// Bootstrap servers for the topics.
    #[arg(long)]
    brokers: Option<String>,
    /// A topic read ends when no record arrives for this long.
    #[arg(long, default_value_t = 3000)]
    idle_ms: u64,
    /// The false-positive rate a suggested threshold must meet on the reviewed negatives.
    #[arg(long, default_value_t = 0.01)]
    target_fpr: f64,
    /// Where feedback.json goes (printed only when absent).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The events (JSONL) behind the verdicts, for `--export`.
    #[arg(long, conflicts_with = "events_topic")]
    events: Option<PathBuf>,
    /// The events as a topic (JSON records), for `--export`.
    #[arg(long)]
    events_topic: Option<String>,
    /// Writes the reviewed events as `{"text", "labels": {key: 0|1}, "source"}` lines.
    #[arg(long)]
    export: Option<PathBuf>,
}

/// Where one input's records come from.
enum Records<'a> {
    File(&'a Path),
    Topic(&'a str),
}

impl Args {
    fn source<'a>(file: &'a Option<PathBuf>, topic: &'a Option<String>) -> Option<Records<'a>> {
        match (file, topic) {
            (Some(path), _) => Some(Records::File(path)),
            (None, Some(topic)) => Some(Records::Topic(topic)),
            (None, None) => None,
        }
    }

    /// Calls `each` with every record (a line's bytes, or a topic record's payload) and its
    /// position (line number, or offset), with progress on stderr.
    fn read(
        &self,
        records: &Records<'_>,
        what: &str,
        each: &mut dyn FnMut(&[u8], u64),
    ) -> Result<()> {
        match records {
            Records::File(path) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                let bar =
                    super::progress::bar(file.metadata().map(|m| m.len()).unwrap_or(0), "bytes");
                bar.set_message(what.to_string());
                let mut read = 0u64;
                for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
                    let line = line.with_context(|| format!("cannot read {}", path.display()))?;
                    read += line.len() as u64 + 1;
                    if !line.iter().all(u8::is_ascii_whitespace) {
                        each(&line, i as u64 + 1);
                    }
                    if i % 4096 == 0 {
                        super::progress::update(&bar, read, i + 1);
                    }
                }
                bar.finish_and_clear();
            }
            Records::Topic(topic) => {
                let brokers = self
                    .brokers
                    .as_deref()
                    .context("give --brokers to read a topic")?;
                let bar = super::progress::bar(0, "records");
                bar.set_message(format!("reading {what} from {topic}"));
                bar.enable_steady_tick(Duration::from_millis(200));
                let records = read_topic(brokers, topic, Duration::from_millis(self.idle_ms), &[])
                    .map_err(|e| anyhow!(e))?;
                bar.finish_and_clear();
                for record in &records {
                    each(&record.payload, record.offset as u64);
                }
            }
        }
        Ok(())
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.target_fpr) {
        bail!("--target-fpr must be within 0..=1");
    }
    let events = Args::source(&args.events, &args.events_topic);
    if args.export.is_some() && events.is_none() {
        bail!("--export needs the events: --events FILE or --events-topic T");
    }
    let verdict_source =
        Args::source(&args.verdicts, &args.verdicts_topic).context("no verdicts")?;
    let label_source = Args::source(&args.labels, &args.labels_topic).context("no labels")?;
    let mut verdicts = VerdictSet::default();
    args.read(&verdict_source, "verdicts", &mut |bytes, at| {
        verdicts.push_json(bytes, at)
    })?;
    let mut reviews = Reviews::default();
    args.read(&label_source, "labels", &mut |bytes, at| {
        reviews.push_json(bytes, at)
    })?;
    if reviews.unreadable > 0 {
        eprintln!(
            "feedback: {} label records are not reviews (at {:?})",
            reviews.unreadable, reviews.unreadable_lines
        );
    }
    let report = feedback_report(&verdicts, &reviews, args.target_fpr);
    print_table(&report);
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let path = out.join("feedback.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("feedback: report in {}", path.display());
    }
    if let (Some(events), Some(export)) = (&events, &args.export) {
        let mut writer = std::io::BufWriter::new(
            std::fs::File::create(export)
                .with_context(|| format!("cannot create {}", export.display()))?,
        );
        let mut counts = Exported::default();
        let mut failure = None;
        args.read(events, "events", &mut |bytes, _| {
            if failure.is_none() {
                failure = export_event(bytes, &reviews, &mut writer, &mut counts).err();
            }
        })?;
        if let Some(e) = failure {
            return Err(e).with_context(|| format!("cannot write {}", export.display()));
        }
        writer.flush()?;
        eprintln!(
            "feedback: {} reviewed events exported to {} ({} event records unreadable)",
            counts.written,
            export.display(),
            counts.unreadable
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cell(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
}

fn threshold(x: Option<f32>, digits: usize) -> String {
    x.map(|t| format!("{t:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

fn print_table(r: &FeedbackReport) {
    println!(
        "{} verdicts, {} reviewed events ({} reviews without a verdict, {} disagreements); target FPR {}",
        r.verdicts, r.reviewed_events, r.reviews_without_verdict, r.disagreements, r.target_fpr
    );
    println!(
        "{:<16} {:<24} {:>6} {:>4} {:>4} {:>4} {:>4} {:>9} {:>7} {:>7} {:>9} {:>9} {:>9}",
        "operator",
        "label",
        "rev",
        "tp",
        "fp",
        "fn",
        "tn",
        "precision",
        "recall",
        "fpr",
        "threshold",
        "suggested",
        "recall@s"
    );
    for u in &r.units {
        println!(
            "{:<16} {:<24} {:>6} {:>4} {:>4} {:>4} {:>4} {:>9} {:>7} {:>7} {:>9} {:>9} {:>9}",
            u.operator,
            u.label,
            u.reviewed,
            u.true_positives,
            u.false_positives,
            u.false_negatives,
            u.true_negatives,
            cell(u.precision),
            cell(u.recall),
            cell(u.false_positive_rate),
            threshold(u.current_threshold, 3),
            threshold(u.suggested_threshold, 4),
            cell(u.recall_at_suggested),
        );
    }
}

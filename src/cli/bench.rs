//! `railyard bench`: a topology measured against a baseline run in the same command.
//!
//! - `file`: over a file, beside its pass-through baseline (and optionally without NER);
//! - `kafka`: end to end through a broker, interleaved rounds against pass-through, then
//!   latency at a fixed rate;
//! - `inference`: one model operator, dynamically batched against one text per call;
//! - `stream`: streamed responses against the same text scanned one-shot.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use railyard::bench;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Time a topology over a file beside its pass-through baseline.
    File(FileArgs),
    /// Time a topology end to end through a Kafka broker beside pass-through.
    Kafka(KafkaArgs),
    /// Time a model operator: dynamic batching against one text per call.
    Inference(InferenceArgs),
    /// Time streamed responses against the same text scanned one-shot (one thread).
    Stream(StreamArgs),
}

impl Command {
    pub fn run(self) -> Result<ExitCode> {
        match self {
            Command::File(args) => file(args),
            Command::Kafka(args) => kafka(args),
            Command::Inference(args) => inference(args),
            Command::Stream(args) => stream(args),
        }
    }
}

#[derive(clap::Args)]
pub struct FileArgs {
    topology: PathBuf,
    /// Input JSONL (replaces the topology's file sources).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Times the input is repeated.
    #[arg(long, default_value_t = 10)]
    repeat: usize,
    /// Worker threads (1 = one core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also time the topology without named-entity recognition (no `ner` tables, no
    /// `ner_detect` operators), in the same command.
    #[arg(long)]
    without_ner: bool,
    /// Also time the topology with every model cascade off (the encoder scores every text),
    /// in the same command.
    #[arg(long, conflicts_with = "without_ner")]
    no_cascade: bool,
}

#[derive(clap::Args)]
pub struct KafkaArgs {
    topology: PathBuf,
    /// Bootstrap servers of the broker to measure through.
    #[arg(long)]
    brokers: String,
    /// JSONL events to produce.
    #[arg(long)]
    input: PathBuf,
    /// Events per throughput run.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Partitions of the bench topics.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Worker threads (1 = one core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Events/s for the latency run (default: half the measured maximum).
    #[arg(long)]
    latency_rate: Option<f64>,
    /// Seconds of the latency run.
    #[arg(long, default_value_t = 10.0)]
    latency_seconds: f64,
    /// Interleaved throughput rounds (medians are reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

#[derive(clap::Args)]
pub struct InferenceArgs {
    topology: PathBuf,
    /// Texts to measure (JSONL, `text` field; repeated if short).
    #[arg(long)]
    input: PathBuf,
    /// The operator id (default: the first model operator).
    #[arg(long)]
    operator: Option<String>,
    /// Texts measured.
    #[arg(long, default_value_t = 2000)]
    texts: usize,
    /// Make every text exactly this many tokens long.
    #[arg(long)]
    fixed_tokens: Option<usize>,
    /// Events per pipeline batch.
    #[arg(long, default_value_t = 512)]
    event_batch: usize,
    /// Skip the one-text-per-call run.
    #[arg(long)]
    skip_single: bool,
}

#[derive(clap::Args)]
pub struct StreamArgs {
    topology: PathBuf,
    /// Concurrent streams.
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// Chunks per stream.
    #[arg(long, default_value_t = 20)]
    chunks: usize,
    /// Tokens (words) per chunk.
    #[arg(long, default_value_t = 20)]
    chunk_tokens: usize,
    /// Chunks per pipeline batch.
    #[arg(long, default_value_t = 1024)]
    batch: usize,
    /// Share of responses holding a PII value or a secret.
    #[arg(long, default_value_t = 0.1)]
    sensitive_share: f64,
    /// Generation rate used to turn held-back characters into milliseconds.
    #[arg(long, default_value_t = 50.0)]
    tokens_per_second: f64,
    /// Scan strategies to run after the one-shot baseline (repeatable): incremental,
    /// per_chunk, rescan; all three when not given.
    #[arg(long = "scan", value_parser = parse_scan)]
    scans: Vec<railyard::config::StreamScan>,
    /// The windows model operators read (repeatable): sentences, every_scan; each
    /// incremental run is made once per value; the topology's `[stream] model_windows`
    /// when not given.
    #[arg(long = "model-windows", value_parser = parse_model_windows)]
    model_windows: Vec<railyard::config::ModelWindows>,
    /// Overrides the topology's `[stream] min_scan_chars`.
    #[arg(long)]
    min_scan_chars: Option<usize>,
    /// Overrides the topology's `[stream] hold_back_chars`.
    #[arg(long)]
    hold_back_chars: Option<usize>,
}

fn parse_scan(name: &str) -> std::result::Result<railyard::config::StreamScan, String> {
    use railyard::config::StreamScan;
    [
        StreamScan::Incremental,
        StreamScan::PerChunk,
        StreamScan::Rescan,
    ]
    .into_iter()
    .find(|s| s.as_str() == name)
    .ok_or_else(|| format!("unknown scan `{name}` (incremental, per_chunk, rescan)"))
}

fn parse_model_windows(name: &str) -> std::result::Result<railyard::config::ModelWindows, String> {
    use railyard::config::ModelWindows;
    [ModelWindows::Sentences, ModelWindows::EveryScan]
        .into_iter()
        .find(|w| w.as_str() == name)
        .ok_or_else(|| format!("unknown model windows `{name}` (sentences, every_scan)"))
}

/// The measured runs: each scan, incremental once per model window setting.
fn stream_runs(
    args: &StreamArgs,
    configured: railyard::config::ModelWindows,
) -> Vec<(railyard::config::StreamScan, railyard::config::ModelWindows)> {
    use railyard::config::StreamScan;
    let scans = match args.scans.is_empty() {
        true => vec![
            StreamScan::Incremental,
            StreamScan::PerChunk,
            StreamScan::Rescan,
        ],
        false => args.scans.clone(),
    };
    let windows = match args.model_windows.is_empty() {
        true => vec![configured],
        false => args.model_windows.clone(),
    };
    scans
        .into_iter()
        .flat_map(|scan| match scan {
            StreamScan::Incremental => windows.iter().map(|&w| (scan, w)).collect(),
            _ => vec![(scan, configured)],
        })
        .collect()
}

fn stream(args: StreamArgs) -> Result<ExitCode> {
    let mut t = super::load(&args.topology)?;
    if let Some(chars) = args.min_scan_chars {
        t.stream.min_scan_chars = chars;
    }
    if let Some(chars) = args.hold_back_chars {
        t.stream.hold_back_chars = Some(chars.max(1));
    }
    let load = bench::stream::StreamLoad {
        streams: args.streams,
        chunks_per_stream: args.chunks.max(2),
        tokens_per_chunk: args.chunk_tokens.max(1),
        batch: args.batch.max(1),
        sensitive_share: args.sensitive_share.clamp(0.0, 1.0),
        scans: stream_runs(&args, t.stream.model_windows),
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let report = pool.install(|| bench::stream::run(&t, &load))?;
    println!(
        "topology {}: {} streams x {} chunks of {} tokens ({:.0} characters per response), batches of {}, 1 thread",
        t.name, load.streams, load.chunks_per_stream, load.tokens_per_chunk, report.chars_per_stream, load.batch
    );
    println!(
        "{:<22} {:>12} {:>9} {:>10} {:>8} {:>16} {:>16} {:>8} {:>11}",
        "scan",
        "chunks/s",
        "ratio",
        "records",
        "blocked",
        "held p50 chars",
        "held p99 chars",
        "leaked",
        "inspectors"
    );
    println!(
        "{:<22} {:>12.0} {:>9.3} {:>10} {:>8} {:>16} {:>16} {:>8} {:>10.0}%",
        "one-shot",
        report.one_shot_chunks_per_second,
        1.0,
        "-",
        "-",
        "-",
        "-",
        "-",
        report.one_shot_inspector_share * 100.0
    );
    for run in &report.runs {
        println!(
            "{:<22} {:>12.0} {:>9.3} {:>10} {:>8} {:>16} {:>16} {:>8} {:>10.0}%",
            run.scan,
            run.chunks_per_second,
            run.chunks_per_second / report.one_shot_chunks_per_second,
            run.released_records,
            run.blocked_streams,
            run.held_chars.0,
            run.held_chars.1,
            run.leaked_pieces,
            run.inspector_seconds / run.seconds.max(1e-9) * 100.0
        );
    }
    let chars_per_token =
        report.chars_per_stream / (load.chunks_per_stream * load.tokens_per_chunk) as f64;
    let ms = |chars: usize| chars as f64 / chars_per_token / args.tokens_per_second * 1000.0;
    let Some(incremental) = report.runs.iter().find(|r| r.scan != "per_chunk") else {
        return Ok(ExitCode::SUCCESS);
    };
    println!(
        "hold-back {} characters; held after each chunk: p50 {} chars ({:.0} ms), p99 {} chars ({:.0} ms) at {} tokens/s",
        report.hold_back_chars,
        incremental.held_chars.0,
        ms(incremental.held_chars.0),
        incremental.held_chars.1,
        ms(incremental.held_chars.1),
        args.tokens_per_second
    );
    println!(
        "[stream] min_scan_chars {}, context_chars {}",
        t.stream.min_scan_chars, t.stream.context_chars
    );
    println!(
        "memory per open stream (every stream open at half length): {:.1} KiB",
        report.kib_per_open_stream
    );
    Ok(ExitCode::SUCCESS)
}

fn file(args: FileArgs) -> Result<ExitCode> {
    let FileArgs {
        topology,
        input,
        repeat,
        threads,
        without_ner,
        no_cascade,
    } = args;
    let t = super::load(&topology)?;
    let dir = tempfile::tempdir()?;
    let source = match &input {
        Some(path) => path.clone(),
        None => t
            .sources
            .iter()
            .find_map(|s| match &s.spec {
                railyard::config::SourceSpec::File(c) => Some(c.path.clone()),
                _ => None,
            })
            .context("the topology has no file source; pass --input")?,
    };
    let repeated = bench::file::repeated_input(&source, repeat, dir.path())?;
    let t = bench::file::with_input(&t, &repeated);
    let (variant, variant_name) = if without_ner {
        (Some(bench::file::without_ner(&t)?), "without NER")
    } else if no_cascade {
        (Some(bench::file::without_cascade(&t)?), "no cascade")
    } else {
        (None, "")
    };
    let (measured, baseline, variant) = bench::file::compare_with(&t, variant.as_ref(), threads)?;
    let threads_used = if threads > 0 {
        threads
    } else if t.settings.threads > 0 {
        t.settings.threads
    } else {
        rayon::current_num_threads()
    };
    println!(
        "topology {} over {} x{} ({} events), {} thread(s)",
        t.name,
        source.display(),
        repeat,
        measured.events,
        threads_used
    );
    println!(
        "{:<14} {:>12} {:>9} {:>10} {:>10} {:>10} {:>16}",
        "run", "events/s", "MB/s", "p50 us", "p99 us", "max us", "events/cpu-s"
    );
    let mut rows = vec![("topology", &measured), ("pass-through", &baseline)];
    if let Some(f) = &variant {
        rows.insert(1, (variant_name, f));
    }
    for (name, f) in rows {
        println!(
            "{:<14} {:>12.0} {:>9.1} {:>10} {:>10} {:>10} {:>16.0}",
            name,
            f.events_per_second,
            f.megabytes_per_second,
            f.p50_us,
            f.p99_us,
            f.max_us,
            f.events_per_cpu_second
        );
    }
    println!(
        "ratio topology / pass-through: {:.3}",
        measured.events_per_second / baseline.events_per_second
    );
    if let Some(f) = &variant {
        println!(
            "ratio topology / {variant_name}: {:.3}",
            measured.events_per_second / f.events_per_second
        );
    }
    for (id, [rules, student, encoder]) in &measured.stages {
        let total = (rules + student + encoder).max(1) as f64;
        println!(
            "cascade {id}: rules decided {:.3}, student {:.3}, encoder {:.3} of {} texts",
            *rules as f64 / total,
            *student as f64 / total,
            *encoder as f64 / total,
            rules + student + encoder
        );
    }
    if !measured.stages.is_empty()
        && measured
            .stages
            .iter()
            .all(|(_, [_, student, _])| *student == 0)
    {
        println!(
            "the students decided nothing: an operator without a cascade on the same model (a `ner` table, \
             `ner_detect`) has the encoder score every text, and a scored text is the encoder's to decide"
        );
    }
    if let Some(kib) = bench::peak_rss_kib() {
        println!("peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(ExitCode::SUCCESS)
}

fn kafka(args: KafkaArgs) -> Result<ExitCode> {
    let KafkaArgs {
        topology,
        brokers,
        input,
        events,
        partitions,
        threads,
        latency_rate,
        latency_seconds,
        rounds,
    } = args;
    let t = super::load(&topology)?;
    let lines: Vec<Vec<u8>> = std::fs::read(&input)
        .with_context(|| format!("cannot read {}", input.display()))?
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if lines.is_empty() {
        bail!("{} holds no events", input.display());
    }
    let options = railyard::bench::kafka::KafkaBenchOptions {
        brokers,
        events,
        partitions,
        threads,
        latency_rate,
        latency_seconds,
        rounds,
    };
    let report = railyard::bench::kafka::run(&t, &lines, &options)?;
    println!(
        "topology {} through Kafka ({}), {} events per run, {} partitions (medians)",
        t.name, options.brokers, events, partitions
    );
    println!("{:<14} {:>12} {:>10}", "run", "events/s", "seconds");
    for (name, f) in [
        ("topology", &report.measured),
        ("pass-through", &report.baseline),
    ] {
        println!(
            "{:<14} {:>12.0} {:>10.2}",
            name, f.events_per_second, f.seconds
        );
    }
    println!(
        "ratio topology / pass-through: {:.3} (medians of {} interleaved rounds)",
        report.measured.events_per_second / report.baseline.events_per_second,
        report.rounds.len()
    );
    for (i, (m, b)) in report.rounds.iter().enumerate() {
        println!(
            "  round {}: topology {:.0}, pass-through {:.0}",
            i + 1,
            m,
            b
        );
    }
    let l = &report.latency;
    println!(
        "latency at {:.0} events/s ({} events after a 2 s warm-up): p50 {} ms, p99 {} ms, max {} ms (produce timestamp to verdict read)",
        l.rate, l.events, l.p50_ms, l.p99_ms, l.max_ms
    );
    Ok(ExitCode::SUCCESS)
}

fn inference(args: InferenceArgs) -> Result<ExitCode> {
    use railyard::bench::inference as bench;
    let t = super::load(&args.topology)?;
    let input = &args.input;
    let node = t
        .operators
        .iter()
        .find(|n| {
            n.spec.model().is_some()
                && args.operator.as_deref().is_none_or(|id| &*n.id == id)
        })
        .context("no model operator (onnx_classify, toxicity_classify, injection_classify) in the topology")?;
    let rows: Vec<String> = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(String::from))
        .collect();
    if rows.is_empty() {
        bail!("{} has no rows with a `text` field", input.display());
    }
    let mut rows = rows;
    rows.truncate(args.texts);
    if let Some(tokens) = args.fixed_tokens {
        let config = node.spec.model().expect("model operator");
        rows = bench::fixed_length_texts(config, &rows, tokens)?;
    }
    let texts: Vec<String> = rows.iter().cycle().take(args.texts).cloned().collect();
    let report = bench::run(node, &texts, args.event_batch, args.skip_single)?;
    println!(
        "operator {} (model {}, max_batch {}), {} texts from {}{}",
        report.operator,
        report.model,
        report.max_batch,
        texts.len(),
        input.display(),
        args.fixed_tokens
            .map(|n| format!(", {n} tokens each"))
            .unwrap_or_default()
    );
    println!(
        "{:<14} {:>10} {:>12} {:>9} {:>9} {:>10} {:>10}",
        "mode", "events/s", "tokens/s", "padding", "batches", "p50 ms", "p99 ms"
    );
    let modes = [
        ("batched", Some(&report.batched)),
        ("one per call", report.one_per_call.as_ref()),
    ];
    for (name, figures) in modes {
        if let Some(f) = figures {
            println!(
                "{:<14} {:>10.0} {:>12.0} {:>9.3} {:>9} {:>10.2} {:>10.2}",
                name,
                f.events_per_second,
                f.tokens_per_second,
                f.padding_ratio,
                f.batches,
                f.p50_batch_ms,
                f.p99_batch_ms
            );
        }
    }
    if let Some(single) = &report.one_per_call {
        println!(
            "speed-up batched / one per call: {:.2}x (mean {:.1} windows per batch)",
            report.batched.events_per_second / single.events_per_second,
            report.batched.mean_batch_windows
        );
    }
    println!("json: {}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}

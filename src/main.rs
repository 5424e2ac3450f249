//! The `railyard` command line: run, validate, graph, eval, bench, audit verify, reveal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};

use railyard::bench;
use railyard::config::Topology;
use railyard::eval::{self, Report};
use railyard::inference::{registry, ModelConfig};
use railyard::model::Action;
use railyard::operators::hallucination::HallucinationConfig;
use railyard::operators::BuiltOperator;
use railyard::telemetry::{init_logging, LogFormat};
use railyard::topology::{run, RunOptions};

/// mimalloc: the pipeline allocates many small, short-lived strings per event; glibc malloc
/// cost about 15% of single-core throughput in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "railyard",
    version,
    about = "Guardrail pipeline for LLM traffic"
)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a topology until its sources end.
    Run {
        topology: PathBuf,
        /// Worker threads (overrides settings.threads; 0 keeps it).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Check topologies and list every error with its TOML path.
    Validate {
        #[arg(required = true)]
        topologies: Vec<PathBuf>,
    },
    /// Print a topology's DAG in Graphviz DOT.
    Graph { topology: PathBuf },
    /// Score one operator of a topology against labelled JSONL (spans or 0/1 labels).
    Eval {
        /// Labelled data: JSONL rows with `text` and `spans` [{start, end, label}] (char
        /// offsets) or `label` (0/1), or a CoNLL-2003-style file (word ... IOB tag per line).
        data: PathBuf,
        #[arg(long, default_value = "topologies/default.toml")]
        topology: PathBuf,
        /// Operator id in the topology.
        #[arg(long)]
        operator: String,
        /// Labels for the micro average (span task); default: every label the detector emitted.
        #[arg(long, value_delimiter = ',')]
        labels: Vec<String>,
        /// Extra label renames FROM=TO, applied to gold and predictions.
        #[arg(long = "alias", value_parser = parse_alias)]
        aliases: Vec<(String, String)>,
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Print up to N mismatched spans of the chosen labels (values from the labelled file).
        #[arg(long, default_value_t = 0)]
        show_errors: usize,
        /// Pairs (HaluEval): rows read, 0 = all.
        #[arg(long, default_value_t = 0)]
        limit: usize,
        /// Pairs: also score the embedding-cosine baseline with the default MiniLM model.
        #[arg(long)]
        embedding_baseline: bool,
        /// Pairs: write every answer's features as CSV (for train_hallucination.py).
        #[arg(long)]
        features_out: Option<PathBuf>,
    },
    /// Time a topology over a file beside its pass-through baseline.
    Bench {
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
        /// Measure end to end through this Kafka broker (bootstrap servers) instead of files.
        #[arg(long, value_name = "BROKERS")]
        kafka: Option<String>,
        /// Kafka: events per throughput run.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// Kafka: partitions of the bench topics.
        #[arg(long, default_value_t = 4)]
        partitions: i32,
        /// Kafka: events/s for the latency run (default: half the measured maximum).
        #[arg(long)]
        latency_rate: Option<f64>,
        /// Kafka: seconds of the latency run.
        #[arg(long, default_value_t = 10.0)]
        latency_seconds: f64,
        /// Kafka: interleaved throughput rounds (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Measure a model operator: dynamic batching against one text per call.
        #[arg(long)]
        inference: bool,
        /// Also time the topology without named-entity recognition (no `ner` tables, no
        /// `ner_detect` operators), in the same command.
        #[arg(long)]
        without_ner: bool,
        /// Inference: the operator id (default: the first model operator).
        #[arg(long)]
        operator: Option<String>,
        /// Inference: texts measured (from --input, `text` field; repeated if short).
        #[arg(long, default_value_t = 2000)]
        texts: usize,
        /// Inference: make every text exactly this many tokens long.
        #[arg(long)]
        fixed_tokens: Option<usize>,
        /// Inference: events per pipeline batch.
        #[arg(long, default_value_t = 512)]
        event_batch: usize,
        /// Inference: skip the one-text-per-call run.
        #[arg(long)]
        skip_single: bool,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Restore the originals behind a conversation's placeholders (needs the vault key).
    Reveal(RevealArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check an audit log: exit 0 when intact, 1 when any record was modified, removed,
    /// reordered or inserted (each listed with its position), 2 when it cannot be checked.
    Verify(AuditVerifyArgs),
}

struct InferenceBenchArgs {
    input: PathBuf,
    operator: Option<String>,
    texts: usize,
    fixed_tokens: Option<usize>,
    event_batch: usize,
    skip_single: bool,
}

fn inference_bench(t: &Topology, args: &InferenceBenchArgs) -> Result<ExitCode> {
    use railyard::bench::inference as bench;
    let node = t
        .operators
        .iter()
        .find(|n| {
            n.spec.model().is_some()
                && args.operator.as_deref().is_none_or(|id| &*n.id == id)
        })
        .context("no model operator (onnx_classify, toxicity_classify, injection_classify) in the topology")?;
    let rows: Vec<String> = std::fs::read_to_string(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(String::from))
        .collect();
    if rows.is_empty() {
        bail!("{} has no rows with a `text` field", args.input.display());
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
        args.input.display(),
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

fn parse_alias(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| format!("expected FROM=TO, got `{s}`"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, "info");
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn load(path: &Path) -> Result<Topology> {
    Topology::from_file(path).map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run { topology, threads } => {
            let topology = load(&topology)?;
            let options = RunOptions {
                record_latencies: false,
                threads,
            };
            let reads_kafka = topology
                .sources
                .iter()
                .any(|s| matches!(s.spec, railyard::config::SourceSpec::Kafka(_)));
            let report = if reads_kafka {
                let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                // Drain deadline plus time to commit and close.
                let exit_deadline = std::time::Duration::from_millis(
                    topology
                        .kafka
                        .as_ref()
                        .map_or(10_000, |k| k.drain_timeout_ms)
                        + 15_000,
                );
                railyard::kafka::signals::stop_on_signals(stop.clone(), exit_deadline)
                    .context("cannot install signal handlers")?;
                railyard::kafka::run(&topology, &options, stop, Default::default())?
            } else {
                run(&topology, &options)?
            };
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
        Command::Validate { topologies } => {
            let mut failed = false;
            for path in topologies {
                match Topology::from_file(&path) {
                    Ok(t) => println!(
                        "ok: {} ({}: {} sources, {} operators, {} sinks)",
                        path.display(),
                        t.name,
                        t.sources.len(),
                        t.operators.len(),
                        t.sinks.len()
                    ),
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
        Command::Audit {
            command: AuditCommand::Verify(args),
        } => audit_verify(args),
        Command::Reveal(args) => reveal(args),
        Command::Graph { topology } => {
            let t = load(&topology)?;
            print!("{}", t.graph.to_dot(&t.name));
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval {
            data,
            topology,
            operator,
            labels,
            aliases,
            threads,
            show_errors,
            limit,
            embedding_baseline,
            features_out,
        } => {
            let t = load(&topology)?;
            let node = t
                .operators
                .iter()
                .find(|o| *o.id == *operator)
                .with_context(|| format!("no operator `{operator}` in {}", topology.display()))?;
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()?;
            if eval::pairs::is_pair_file(&data) {
                let Some(config) = node.spec.config::<HallucinationConfig>() else {
                    bail!(
                        "{} holds answer pairs; evaluate a hallucination_check operator",
                        data.display()
                    );
                };
                let checker = config.build(&node.id).map_err(|e| anyhow!(e))?;
                let model = match embedding_baseline {
                    true => {
                        let model = registry::shared(&ModelConfig::default())?;
                        let output = model
                            .require_output("sentence_embedding")
                            .map_err(|e| anyhow!(e))?;
                        Some((model, output))
                    }
                    false => None,
                };
                let options = eval::pairs::PairOptions {
                    limit,
                    embedding_baseline: model.as_ref().map(|(m, o)| (&**m, *o)),
                    features_out: features_out.as_deref(),
                };
                let report = pool.install(|| eval::pairs::evaluate(&checker, &data, &options))?;
                print!("{report}");
                return Ok(ExitCode::SUCCESS);
            }
            let BuiltOperator::Inspector(inspector) = node.operator.clone() else {
                bail!("operator `{operator}` is a policy; evaluate a detector");
            };
            let mut all_aliases: Vec<(String, String)> = eval::DEFAULT_ALIASES
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            all_aliases.extend(aliases);
            let report =
                pool.install(|| eval::evaluate(inspector.as_ref(), &data, &all_aliases))?;
            print_report(&report, &labels, pool.current_num_threads(), show_errors);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            topology,
            input,
            repeat,
            threads,
            kafka,
            events,
            partitions,
            latency_rate,
            latency_seconds,
            rounds,
            inference,
            operator,
            texts,
            fixed_tokens,
            event_batch,
            skip_single,
            without_ner,
        } => {
            let t = load(&topology)?;
            if inference {
                let options = InferenceBenchArgs {
                    input: input.context("--inference needs --input (JSONL with `text`)")?,
                    operator,
                    texts,
                    fixed_tokens,
                    event_batch,
                    skip_single,
                };
                return inference_bench(&t, &options);
            }
            if let Some(brokers) = kafka {
                let input = input.context("--kafka needs --input (JSONL events to produce)")?;
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
                return Ok(ExitCode::SUCCESS);
            }
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
            let variant = without_ner
                .then(|| bench::file::without_ner(&t))
                .transpose()?;
            let (measured, baseline, variant) =
                bench::file::compare_with(&t, variant.as_ref(), threads)?;
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
                rows.insert(1, ("without NER", f));
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
                    "ratio topology / without NER: {:.3}",
                    measured.events_per_second / f.events_per_second
                );
            }
            if let Some(kib) = bench::peak_rss_kib() {
                println!("peak RSS: {:.1} MiB", kib as f64 / 1024.0);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_report(report: &Report, labels: &[String], threads: usize, show_errors: usize) {
    match report {
        Report::Spans(r) => {
            println!(
                "{} rows, exact span match (overlap match in brackets)",
                r.rows
            );
            println!(
                "{:<20} {:>7} {:>7} {:>7} {:>8}   {:>7}",
                "label", "prec", "recall", "f1", "support", "overlap f1"
            );
            for (label, c) in &r.exact {
                let o = r.overlap.get(label).copied().unwrap_or_default();
                println!(
                    "{:<20} {:>7.3} {:>7.3} {:>7.3} {:>8}   [{:.3}]",
                    label,
                    c.precision(),
                    c.recall(),
                    c.f1(),
                    c.support(),
                    o.f1()
                );
            }
            let chosen: Vec<String> = if labels.is_empty() {
                r.exact
                    .iter()
                    .filter(|(_, c)| c.tp + c.fp > 0)
                    .map(|(l, _)| l.clone())
                    .collect()
            } else {
                labels.to_vec()
            };
            let micro = r.micro(&chosen);
            println!(
                "micro over [{}]: precision {:.3} recall {:.3} f1 {:.3}",
                chosen.join(","),
                micro.precision(),
                micro.recall(),
                micro.f1()
            );
            print_throughput(r.rows, r.bytes, r.seconds, threads);
            for m in r
                .mismatches
                .iter()
                .filter(|m| chosen.contains(&m.label))
                .take(show_errors)
            {
                let kind = if m.missed { "missed" } else { "extra " };
                println!(
                    "{kind} row {:>5} {:<14} {:?} in {:?}",
                    m.row, m.label, m.value, m.context
                );
            }
        }
        Report::Classification(r) => {
            let c = r.scores.counts();
            println!(
                "binary: precision {:.3} recall {:.3} f1 {:.3} accuracy {:.3} balanced accuracy {:.3} (tp {} fp {} tn {} fn {})",
                c.precision(), c.recall(), c.f1(), r.scores.accuracy(), r.scores.balanced_accuracy(),
                r.scores.tp, r.scores.fp, r.scores.tn, r.scores.fn_
            );
            if !r.by_category.is_empty() {
                println!("detected per gold:category");
                for (category, (hit, total)) in &r.by_category {
                    println!(
                        "  {:<60} {:>5}/{:<5} {:.3}",
                        category,
                        hit,
                        total,
                        *hit as f64 / (*total).max(1) as f64
                    );
                }
            }
            let rows = r.scores.tp + r.scores.fp + r.scores.tn + r.scores.fn_;
            print_throughput(rows, r.bytes, r.seconds, threads);
        }
    }
}

fn print_throughput(rows: usize, bytes: usize, seconds: f64, threads: usize) {
    println!(
        "throughput: {:.0} texts/s, {:.1} MB/s on {} thread(s)",
        rows as f64 / seconds.max(1e-9),
        bytes as f64 / seconds.max(1e-9) / 1e6,
        threads
    );
}

#[derive(clap::Args)]
struct AuditVerifyArgs {
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

fn audit_verify(args: AuditVerifyArgs) -> Result<ExitCode> {
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

#[derive(clap::Args)]
struct RevealArgs {
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

fn reveal(args: RevealArgs) -> Result<ExitCode> {
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

//! `railyard eval`: scores one operator of a topology against labelled data (spans, 0/1
//! labels, CoNLL-2003-style files, or answer pairs for a groundedness check).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use railyard::eval::{self, Report};
use railyard::inference::{registry, ModelConfig};
use railyard::operators::hallucination::HallucinationConfig;
use railyard::operators::BuiltOperator;

#[derive(clap::Args)]
pub struct Args {
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
    /// Classification: false- and true-positive rates per slice (TOML: metadata field
    /// values or term lists), printed, and written as JSON with `--slices-out`.
    #[arg(long)]
    slices: Option<PathBuf>,
    #[arg(long, requires = "slices")]
    slices_out: Option<PathBuf>,
    /// Model operators: no cascade student, and each model's float32 graph (as `bench file
    /// --no-cascade`).
    #[arg(long)]
    no_cascade: bool,
}

fn parse_alias(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| format!("expected FROM=TO, got `{s}`"))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let Args {
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
        slices,
        slices_out,
        no_cascade,
    } = args;
    let slice_file = slices
        .as_deref()
        .map(eval::slices::SliceFile::read)
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let mut t = super::load(&topology)?;
    if no_cascade {
        t = railyard::bench::file::without_cascade(&t)?;
    }
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
    let bar = super::progress::bar(0, "rows");
    let report = pool.install(|| {
        eval::evaluate_with_progress(
            inspector.as_ref(),
            &data,
            &all_aliases,
            &mut |done, rows| {
                bar.set_length(rows as u64);
                super::progress::update(&bar, done as u64, done);
            },
        )
    })?;
    bar.finish_and_clear();
    print_report(&report, &labels, pool.current_num_threads(), show_errors);
    if let Some(file) = &slice_file {
        let Report::Classification(class) = &report else {
            bail!("--slices needs a classification file (0/1 `label` per row)");
        };
        let sliced = eval::evaluate_slices(&data, class, file)?;
        print_slices(&sliced);
        if let Some(out) = &slices_out {
            std::fs::write(out, serde_json::to_vec_pretty(&sliced)?)
                .with_context(|| format!("cannot write {}", out.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
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

fn print_slices(r: &eval::slices::SliceReport) {
    let cell = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    println!(
        "{:<36} {:>6} {:>6} {:>6} {:>7} {:>7} {:>9}",
        "slice", "rows", "pos", "neg", "fpr", "tpr", "fpr/all"
    );
    for s in std::iter::once(&r.overall).chain(&r.slices) {
        println!(
            "{:<36} {:>6} {:>6} {:>6} {:>7} {:>7} {:>9}",
            s.name,
            s.rows,
            s.positives,
            s.negatives,
            cell(s.false_positive_rate),
            cell(s.true_positive_rate),
            cell(s.fpr_ratio)
        );
    }
    let ratio = match (r.max_min_ratio, r.max_min_ratio_infinite) {
        (_, true) => "infinite (a slice has no false positive)".to_string(),
        (Some(x), _) => format!("{x:.2}"),
        (None, _) => "-".to_string(),
    };
    println!(
        "FPR max/min over slices: {ratio}; above 2x overall: [{}]",
        r.above_twice_overall.join(", ")
    );
}

fn print_throughput(rows: usize, bytes: usize, seconds: f64, threads: usize) {
    println!(
        "throughput: {:.0} texts/s, {:.1} MB/s on {} thread(s)",
        rows as f64 / seconds.max(1e-9),
        bytes as f64 / seconds.max(1e-9) / 1e6,
        threads
    );
}

//! `railyard bench`: a topology over a file, timed, beside a pass-through baseline.
//!
//! The input file is repeated `repeat` times into a temporary file so short data sets still
//! give a stable measurement. The same input then runs through the topology with no
//! operators (decode, verdict, encode, write only) in the same command, and the ratio is
//! reported. Latency is per event, from decode to decision, so it includes waiting for the
//! rest of its batch.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{SourceSpec, Topology};
use crate::operators::BuildError;
use crate::runtime::RunError;
use crate::topology::{RunOptions, RunReport};

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct BenchFigures {
    pub events: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub megabytes_per_second: f64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
    /// Events per second of CPU time used by the whole process (all threads): insensitive
    /// to other load on the machine.
    pub events_per_cpu_second: f64,
    /// Per cascading operator: texts decided by its rules, its student and the encoder.
    pub stages: Vec<(String, [u64; 3])>,
}

impl BenchFigures {
    pub fn from_report(report: &RunReport, cpu_seconds: f64) -> Self {
        let mut latencies = report.latencies_us.clone();
        latencies.sort_unstable();
        let pick = |q: f64| -> u32 {
            if latencies.is_empty() {
                0
            } else {
                latencies[((latencies.len() - 1) as f64 * q).round() as usize]
            }
        };
        let seconds = report.elapsed.as_secs_f64().max(1e-9);
        BenchFigures {
            events: report.events,
            seconds,
            events_per_second: report.events as f64 / seconds,
            stages: Vec::new(),
            megabytes_per_second: report.input_bytes as f64 / seconds / 1e6,
            p50_us: pick(0.5),
            p99_us: pick(0.99),
            max_us: latencies.last().copied().unwrap_or(0),
            events_per_cpu_second: report.events as f64 / cpu_seconds.max(1e-9),
        }
    }
}

/// CPU time (user + system) this process has used so far, in seconds, from `/proc/self/stat`.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS_PER_SECOND)
}

/// `sysconf(_SC_CLK_TCK)` on every Linux platform Rust supports.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Peak resident set size of this process in KiB (Linux `VmHWM`), if known.
pub fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// A KiB field of `/proc/self/status` (`VmHWM:`, `VmRSS:`), if known.
pub fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Writes `input` repeated `repeat` times into `dir` and returns the path.
pub fn repeated_input(input: &Path, repeat: usize, dir: &Path) -> std::io::Result<PathBuf> {
    let data = std::fs::read(input)?;
    let path = dir.join("bench-input.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for _ in 0..repeat.max(1) {
        out.write_all(&data)?;
        if !data.ends_with(b"\n") {
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(path)
}

/// Points every file source at `input`.
pub fn with_input(topology: &Topology, input: &Path) -> Topology {
    let mut t = topology.clone();
    for source in &mut t.sources {
        if let SourceSpec::File(config) = &mut source.spec {
            config.path = input.to_path_buf();
        }
    }
    t
}

/// The same topology without operators: the pass-through baseline.
pub fn pass_through(topology: &Topology) -> Topology {
    let mut t = topology.clone();
    t.operators.clear();
    for route in &mut t.routes {
        route.operators.clear();
    }
    t
}

/// The same topology without named-entity recognition: `pii_detect` operators lose their
/// `ner` table and `ner_detect` operators are dropped from the routes (their findings simply
/// do not reach the policy). The model still serves any other head that shares it.
pub fn without_ner(topology: &Topology) -> Result<Topology, BuildError> {
    use crate::operators::{ner::NerConfig, pii::PiiConfig};
    let mut t = topology.clone();
    for node in &mut t.operators {
        let mut spec = node.spec.clone();
        if let Some(config) = spec.config_mut::<PiiConfig>().filter(|c| c.ner.is_some()) {
            config.ner = None;
            *node = node.with_spec(spec)?;
        }
    }
    let dropped: Vec<usize> = t
        .operators
        .iter()
        .enumerate()
        .filter(|(_, node)| node.spec.config::<NerConfig>().is_some())
        .map(|(i, _)| i)
        .collect();
    for route in &mut t.routes {
        route.operators.retain(|i| !dropped.contains(i));
    }
    Ok(t)
}

/// The same topology with every model cascade off (`--no-cascade`): no student, and each
/// model's float32 graph (`path`) instead of its `quantized` one; the encoder scores every text
/// its model operators read.
pub fn without_cascade(topology: &Topology) -> Result<Topology, BuildError> {
    let mut t = topology.clone();
    for node in &mut t.operators {
        let mut spec = node.spec.clone();
        let changed = spec
            .cascade_mut()
            .is_some_and(|cascade| cascade.take().is_some());
        let quantized = spec
            .model_mut()
            .is_some_and(|model| model.quantized.take().is_some());
        if changed || quantized {
            *node = node.with_spec(spec)?;
        }
    }
    Ok(t)
}

/// Runs `topology` and its pass-through baseline on the same input, plus a `variant` of the
/// topology (e.g. [`without_ner`]) timed in the same command, after the topology.
pub fn compare_with(
    topology: &Topology,
    variant: Option<&Topology>,
    threads: usize,
) -> Result<(BenchFigures, BenchFigures, Option<BenchFigures>), RunError> {
    let options = RunOptions {
        record_latencies: true,
        threads,
    };
    let run = |t: &Topology, options: &RunOptions| {
        crate::runtime::run(t, options, std::sync::Arc::default())
    };
    // Warm the page cache and the allocator on the baseline first, then measure both.
    run(&pass_through(topology), &options)?;
    let timed = |t: &Topology| -> Result<BenchFigures, RunError> {
        crate::operators::cascade::take_stage_counts();
        let before = process_cpu_seconds().unwrap_or(0.0);
        let report = run(t, &options)?;
        let cpu = process_cpu_seconds()
            .map(|after| after - before)
            .unwrap_or(0.0);
        let mut figures = BenchFigures::from_report(&report, cpu);
        figures.stages = crate::operators::cascade::take_stage_counts();
        figures
            .stages
            .retain(|(_, counts)| counts.iter().any(|&n| n > 0));
        Ok(figures)
    };
    let baseline = timed(&pass_through(topology))?;
    let measured = timed(topology)?;
    let variant = variant.map(timed).transpose()?;
    Ok((measured, baseline, variant))
}

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
use crate::topology::{run, RunError, RunOptions, RunReport};

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
}

impl BenchFigures {
    pub fn from_report(report: &RunReport) -> Self {
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
            megabytes_per_second: report.input_bytes as f64 / seconds / 1e6,
            p50_us: pick(0.5),
            p99_us: pick(0.99),
            max_us: latencies.last().copied().unwrap_or(0),
        }
    }
}

/// Peak resident set size of this process in KiB (Linux `VmHWM`), if known.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
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

/// Runs `topology` and its pass-through baseline on the same input.
pub fn compare(topology: &Topology, threads: usize) -> Result<(BenchFigures, BenchFigures), RunError> {
    let options = RunOptions {
        record_latencies: true,
        threads,
    };
    // Warm the page cache and the allocator on the baseline first, then measure both.
    run(&pass_through(topology), &options)?;
    let baseline = BenchFigures::from_report(&run(&pass_through(topology), &options)?);
    let measured = BenchFigures::from_report(&run(topology, &options)?);
    Ok((measured, baseline))
}

//! Replay: a candidate topology over recorded traffic, compared with the verdicts recorded
//! for it. Owns reading recorded verdicts, running a topology detached from its sinks, the
//! comparison (change matrix, rates before and after, changes grouped by cause) and the
//! report files (`report.json`, a self-contained `report.html`).
//!
//! Nothing here writes to a production sink: the candidate's sinks are dropped before it is
//! built, and a Kafka range is read with its own group id and never committed.

pub mod cause;
pub mod compare;
pub mod html;
pub mod kafka_range;
pub mod recorded;
pub mod report;
pub mod run;

pub use compare::compare;
pub use recorded::{read_verdicts, RecordedVerdict, VerdictSet};
pub use report::Report;

use std::path::Path;

/// Writes `report.json` and `report.html` into `dir` (created if missing).
pub fn write_report(report: &Report, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("report.json"), json)?;
    std::fs::write(dir.join("report.html"), html::render(report))
}

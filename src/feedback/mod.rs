//! Reviewer feedback: labels (per event, per category or label, true or false) joined with
//! the verdicts that decided those events. `metrics` reports precision, recall and the
//! confusion per operator and label, and the threshold that meets a target false-positive
//! rate from the recorded scores; `export` writes the reviewed events in the format the
//! head-training scripts read (`scripts/models/datasets.py`: `text`, `labels`, `source`).

pub mod export;
pub mod labels;
pub mod metrics;

pub use export::{export_event, Exported};
pub use labels::{Answer, Review, Reviews};
pub use metrics::{feedback_report, FeedbackReport, UnitMetrics};

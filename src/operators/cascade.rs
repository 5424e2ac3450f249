//! The cost-aware cascade of a model classifier (`[operators.X.cascade]` on
//! `toxicity_classify`, `onnx_classify` and `injection_classify`): a student that costs
//! microseconds ([`crate::inference::student`]) decides the texts it is sure of, clean or
//! flagged, and only the rest go to the encoder. A text whose encoder outputs exist anyway
//! (another operator on the same model deferred it) is scored by the encoder: the student
//! never overrides the teacher. Each operator counts what each stage decided
//! ([`stage_counts`]), which `railyard bench file` prints.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;
use serde::Deserialize;

use crate::diagnostics::{join, Errors};
use crate::inference::digest::validate_pinned;
use crate::inference::outputs::ModelOutcome;
use crate::inference::student::{self, Student};
use crate::inference::{Model, ModelConfig, ModelFile};
use crate::model::Event;

/// The student file `scripts/setup.sh` leaves in place (committed; trained by
/// `scripts/models/train_student.py`).
pub const DEFAULT_STUDENT: &str = "models/heads/student.json";

/// Options of a cascade.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CascadeConfig {
    /// The student file.
    pub student: PathBuf,
    /// Its head for this operator (default: the operator's category, `toxicity` or `injection`).
    pub head: Option<String>,
    /// Optional sha256 pin of the student file.
    pub sha256: Option<String>,
}

impl Default for CascadeConfig {
    fn default() -> Self {
        CascadeConfig {
            student: PathBuf::from(DEFAULT_STUDENT),
            head: None,
            sha256: None,
        }
    }
}

impl CascadeConfig {
    pub fn validate(&self, path: &str, errors: &mut Errors) {
        validate_pinned(
            path,
            "student",
            &self.student,
            self.sha256.as_deref(),
            errors,
        );
    }

    /// The student file, for pinning; `path` is the cascade table's TOML path.
    pub fn files(&self, path: &str) -> Vec<ModelFile> {
        let key = join(path, "student");
        vec![ModelFile::pinned(
            key,
            &self.student,
            self.sha256.as_deref(),
        )]
    }

    /// Loads the student (shared) and maps the operator's `labels` to its head's columns.
    pub fn build(
        &self,
        id: &str,
        tokenizer: &Path,
        default_head: &str,
        labels: &[&str],
    ) -> Result<Cascade, String> {
        let student = student::shared(&self.student, tokenizer)?;
        let head = self
            .head
            .clone()
            .unwrap_or_else(|| default_head.to_string());
        let Some(student_head) = student.head(&head) else {
            return Err(format!(
                "cascade: student {} has no head `{head}` (its heads: {:?})",
                self.student.display(),
                student.head_names()
            ));
        };
        let columns = labels
            .iter()
            .map(|label| {
                student_head
                    .labels
                    .iter()
                    .position(|l| l == label)
                    .ok_or_else(|| {
                        format!(
                            "cascade: the student's `{head}` head has no label `{label}` (its labels: {:?})",
                            student_head.labels
                        )
                    })
            })
            .collect::<Result<Vec<usize>, _>>()?;
        let thresholds = columns
            .iter()
            .map(|&c| student_head.flag_above[c])
            .collect();
        Ok(Cascade {
            counts: register(id),
            student,
            head,
            columns,
            thresholds,
        })
    }
}

/// The files a cascading operator loads, for pinning: its model's (under `path.model`) and,
/// with a cascade, the student (under `path.cascade`).
pub fn files_with_student(
    model: &ModelConfig,
    cascade: Option<&CascadeConfig>,
    path: &str,
) -> Vec<ModelFile> {
    let mut files = model.files(&join(path, "model"));
    if let Some(cascade) = cascade {
        files.extend(cascade.files(&join(path, "cascade")));
    }
    files
}

/// A built cascade: the student, its head and where each operator label sits in it.
pub struct Cascade {
    student: Arc<Student>,
    head: String,
    /// Per operator label, its column in the student head.
    columns: Vec<usize>,
    /// Per operator label, the student head's `flag_above`.
    thresholds: Vec<f32>,
    counts: Arc<StageCounts>,
}

/// The student's decision on one event, per operator label (in the operator's order).
pub struct Decided {
    pub scores: Vec<f32>,
    pub flagged: Vec<bool>,
}

/// A text's student features, kept on the event for every cascade sharing the student.
struct StudentFeatures(Vec<u32>);

/// How many texts each stage of one operator decided.
#[derive(Default)]
pub struct StageCounts {
    pub rules: AtomicU64,
    pub student: AtomicU64,
    pub encoder: AtomicU64,
}

impl Cascade {
    /// Asks the student about every event `eligible` marks that the encoder has not scored
    /// yet, keeps the decided verdicts on the events and returns, per event, whether it still
    /// needs the encoder.
    pub fn screen(
        &self,
        model: &Model,
        events: &mut [Event],
        eligible: impl Fn(usize) -> bool + Sync,
    ) -> Vec<bool> {
        let head = self
            .student
            .head(&self.head)
            .expect("head checked at build");
        // Per event: the student's decision, and its features when computed here (kept on the
        // event, so a second cascade with the same student does not tokenize the text again).
        let screened: Vec<(Option<Decided>, Option<StudentFeatures>)> = events
            .par_iter()
            .enumerate()
            .map(|(i, event)| {
                if !eligible(i) || event.prepared.get::<ModelOutcome, Model>(model).is_some() {
                    return (None, None);
                }
                let cached = event
                    .prepared
                    .get::<StudentFeatures, Student>(&*self.student);
                let computed = cached
                    .is_none()
                    .then(|| StudentFeatures(self.student.features(&event.text)));
                let features = cached
                    .as_deref()
                    .or(computed.as_ref())
                    .expect("cached or computed");
                let verdict = head.verdict(&features.0);
                let decided = verdict.decided.then(|| Decided {
                    flagged: self.columns.iter().map(|&c| verdict.flagged[c]).collect(),
                    scores: self.columns.iter().map(|&c| verdict.scores[c]).collect(),
                });
                (decided, computed)
            })
            .collect();
        let mut needs = Vec::with_capacity(events.len());
        for (i, (event, (verdict, features))) in events.iter_mut().zip(screened).enumerate() {
            needs.push(eligible(i) && verdict.is_none());
            if let Some(features) = features {
                event
                    .prepared
                    .insert::<StudentFeatures, Student>(&*self.student, features);
            }
            if let Some(decided) = verdict {
                event.prepared.insert::<Decided, Cascade>(self, decided);
            }
        }
        needs
    }

    /// The student's decision on `event`, unless the encoder has scored it (then the encoder
    /// decides) or the student deferred. Counts the stage that decided.
    pub fn decided(&self, model: &Model, event: &Event) -> Option<Arc<Decided>> {
        let decided = event
            .prepared
            .get::<Decided, Cascade>(self)
            .filter(|_| event.prepared.get::<ModelOutcome, Model>(model).is_none());
        let counter = if decided.is_some() {
            &self.counts.student
        } else {
            &self.counts.encoder
        };
        counter.fetch_add(1, Ordering::Relaxed);
        decided
    }

    /// Counts an event decided before the student (the rules stage of `injection_classify`).
    pub fn count_rules(&self) {
        self.counts.rules.fetch_add(1, Ordering::Relaxed);
    }

    pub fn digest(&self) -> &'static str {
        self.student.digest()
    }

    /// The score at or over which the student flags operator label `label` (the threshold of
    /// its findings and recorded scores).
    pub fn threshold(&self, label: usize) -> f32 {
        self.thresholds[label]
    }
}

type Registered = Vec<(String, Arc<StageCounts>)>;

fn registered() -> &'static Mutex<Registered> {
    static COUNTS: OnceLock<Mutex<Registered>> = OnceLock::new();
    COUNTS.get_or_init(Default::default)
}

/// The counters of operator `id` (one set per id for the process: a topology built twice
/// adds to the same counters).
fn register(id: &str) -> Arc<StageCounts> {
    let mut all = registered().lock().expect("cascade counters lock");
    if let Some((_, counts)) = all.iter().find(|(name, _)| name == id) {
        return counts.clone();
    }
    let counts = Arc::new(StageCounts::default());
    all.push((id.to_string(), counts.clone()));
    counts
}

/// Per cascading operator id: texts decided by its rules, its student and the encoder since
/// the last call (the counters are reset).
pub fn take_stage_counts() -> Vec<(String, [u64; 3])> {
    let all = registered().lock().expect("cascade counters lock");
    all.iter()
        .map(|(id, c)| {
            (
                id.clone(),
                [
                    c.rules.swap(0, Ordering::Relaxed),
                    c.student.swap(0, Ordering::Relaxed),
                    c.encoder.swap(0, Ordering::Relaxed),
                ],
            )
        })
        .collect()
}

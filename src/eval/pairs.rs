//! Groundedness evaluation on HaluEval-style pairs: each row holds a knowledge text (or a
//! document), optionally the question or dialogue it answers, a right answer and a
//! hallucinated one. Reports, for `hallucination_check` and two baselines scored in the same
//! run (content-word overlap with the knowledge; embedding cosine with it):
//! - pairwise accuracy: the hallucinated answer scores as less supported than the right one;
//! - balanced accuracy at the threshold that is best on the dev split, measured on the
//!   held-out split (rows whose index is 3 mod 4).
//!
//! It can also write every response's features, for `scripts/models/train_hallucination.py`.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use serde::Deserialize;

use super::EvalError;
use crate::inference::{InferenceError, Model};
use crate::operators::hallucination::lexicon::{words, WordClass};
use crate::operators::hallucination::shape::AnswerShape;
use crate::operators::hallucination::{Assessment, CheckInput, HallucinationChecker};

/// Rows per batch handed to the checker (and the embedding model).
const CHUNK: usize = 256;

/// A HaluEval row of any of the three tasks.
#[derive(Debug, Deserialize)]
struct PairRow {
    #[serde(alias = "document")]
    knowledge: String,
    #[serde(default, alias = "dialogue_history")]
    question: Option<String>,
    #[serde(alias = "right_response", alias = "right_summary")]
    right_answer: String,
    #[serde(alias = "hallucinated_response", alias = "hallucinated_summary")]
    hallucinated_answer: String,
}

/// Whether the first row of `path` looks like a HaluEval pair row.
pub fn is_pair_file(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut first = String::new();
    if std::io::BufReader::new(file).read_line(&mut first).is_err() {
        return false;
    }
    serde_json::from_str::<PairRow>(&first).is_ok()
}

/// The split a row belongs to.
pub fn is_held_out(row: usize) -> bool {
    row % 4 == 3
}

/// Scores of one scorer: per row, (right answer, hallucinated answer); higher = less supported.
#[derive(Debug, Clone, Default)]
pub struct PairScores {
    pub name: String,
    pub scores: Vec<(f32, f32)>,
}

/// Quality of one scorer.
#[derive(Debug, Clone)]
pub struct PairQuality {
    pub name: String,
    pub pairwise: f64,
    pub balanced: f64,
    pub threshold: f32,
    pub dev_balanced: f64,
}

impl PairScores {
    /// Pairwise and balanced accuracy on the held-out rows; the threshold is the dev split's
    /// best.
    pub fn quality(&self) -> PairQuality {
        let (dev, test): (Vec<_>, Vec<_>) = self
            .scores
            .iter()
            .enumerate()
            .partition(|(row, _)| !is_held_out(*row));
        let dev: Vec<(f32, f32)> = dev.into_iter().map(|(_, s)| *s).collect();
        let test: Vec<(f32, f32)> = test.into_iter().map(|(_, s)| *s).collect();
        let (threshold, dev_balanced) = best_threshold(&dev);
        PairQuality {
            name: self.name.clone(),
            pairwise: pairwise(&test),
            balanced: balanced(&test, threshold),
            threshold,
            dev_balanced,
        }
    }
}

/// Share of pairs whose hallucinated answer scores higher (ties count half).
pub fn pairwise(scores: &[(f32, f32)]) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let won: f64 = scores
        .iter()
        .map(|(right, wrong)| {
            if wrong > right {
                1.0
            } else if wrong == right {
                0.5
            } else {
                0.0
            }
        })
        .sum();
    won / scores.len() as f64
}

/// Mean of the hit rates on hallucinated (score >= threshold) and right (below) answers.
pub fn balanced(scores: &[(f32, f32)], threshold: f32) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let n = scores.len() as f64;
    let caught = scores.iter().filter(|(_, w)| *w >= threshold).count() as f64;
    let passed = scores.iter().filter(|(r, _)| *r < threshold).count() as f64;
    (caught / n + passed / n) / 2.0
}

fn best_threshold(scores: &[(f32, f32)]) -> (f32, f64) {
    let candidates: BTreeSet<u32> = scores
        .iter()
        .flat_map(|(r, w)| [r.to_bits(), w.to_bits()])
        .collect();
    candidates
        .into_iter()
        .map(f32::from_bits)
        .map(|t| (t, balanced(scores, t)))
        .fold((0.5, 0.0), |best, c| if c.1 > best.1 { c } else { best })
}

/// The plain lexical baseline for a right and a wrong answer: 1 - the share of each answer's
/// content words (lower case, stop words out, no stemming) found among the knowledge's words.
pub fn overlap_scores(knowledge: &str, right: &str, wrong: &str) -> (f32, f32) {
    let known: BTreeSet<String> = words(knowledge, 0).into_iter().map(|w| w.lower).collect();
    let score = |answer: &str| {
        let content: Vec<String> = words(answer, 0)
            .into_iter()
            .filter(|w| matches!(w.class, WordClass::Content | WordClass::Number))
            .map(|w| w.lower)
            .collect();
        if content.is_empty() {
            return 0.0;
        }
        1.0 - content.iter().filter(|w| known.contains(*w)).count() as f32 / content.len() as f32
    };
    (score(right), score(wrong))
}

/// The per-answer features CSV that `train_hallucination.py` reads.
struct FeatureCsv<'a> {
    file: std::io::BufWriter<std::fs::File>,
    path: &'a Path,
}

impl<'a> FeatureCsv<'a> {
    fn create(path: &'a Path, names: &[String]) -> Result<Self, EvalError> {
        let file = std::fs::File::create(path).map_err(|source| write_error(path, source))?;
        let mut csv = FeatureCsv {
            file: std::io::BufWriter::new(file),
            path,
        };
        let header = format!("row,held_out,hallucinated,{}", names.join(","));
        writeln!(csv.file, "{header}").map_err(|source| write_error(path, source))?;
        Ok(csv)
    }

    fn row(&mut self, index: usize, hallucinated: u8, values: &[f32]) -> Result<(), EvalError> {
        let values: Vec<String> = values.iter().map(|v| format!("{v:.6}")).collect();
        let held_out = u8::from(is_held_out(index));
        writeln!(
            self.file,
            "{index},{held_out},{hallucinated},{}",
            values.join(",")
        )
        .map_err(|source| write_error(self.path, source))
    }

    fn finish(mut self) -> Result<(), EvalError> {
        self.file
            .flush()
            .map_err(|source| write_error(self.path, source))
    }
}

fn write_error(path: &Path, source: std::io::Error) -> EvalError {
    EvalError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// Options of a pair evaluation.
pub struct PairOptions<'a> {
    /// Rows read (0 = all).
    pub limit: usize,
    /// Also score embedding cosine with this model's sentence-embedding output.
    pub embedding_baseline: Option<(&'a Model, usize)>,
    /// Write each answer's features as CSV here.
    pub features_out: Option<&'a Path>,
}

/// Result of a pair evaluation.
pub struct PairReport {
    pub rows: usize,
    pub held_out: usize,
    /// The checker's thresholds by answer shape, as configured.
    pub checker_thresholds: Vec<(AnswerShape, f32)>,
    /// Held-out answers scored as answers to a question.
    pub question_shaped: usize,
    /// Balanced accuracy of the checker at its configured settings (held-out): each answer
    /// against the threshold of the combiner its shape picked.
    pub checker_configured: f64,
    pub scorers: Vec<PairQuality>,
    pub seconds: f64,
    pub responses_per_second: f64,
}

fn read_pairs(path: &Path, limit: usize) -> Result<Vec<PairRow>, EvalError> {
    let file = std::fs::File::open(path).map_err(|source| EvalError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mut rows = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        if limit > 0 && rows.len() == limit {
            break;
        }
        let line = line.map_err(|source| EvalError::Read {
            path: path.display().to_string(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        rows.push(serde_json::from_str(&line).map_err(|e| EvalError::Row {
            path: path.display().to_string(),
            line: i + 1,
            message: e.to_string(),
        })?);
    }
    Ok(rows)
}

/// Scores every pair of `path` with the checker and the baselines.
pub fn evaluate(
    checker: &HallucinationChecker,
    path: &Path,
    options: &PairOptions<'_>,
) -> Result<PairReport, EvalError> {
    let rows = read_pairs(path, options.limit)?;
    let failed = |e: InferenceError| EvalError::Mixed(format!("inference failed: {e}"));
    let mut checker_scores = PairScores {
        name: "hallucination_check".into(),
        ..Default::default()
    };
    let mut overlap = PairScores {
        name: "content-word overlap".into(),
        ..Default::default()
    };
    let mut cosine = PairScores {
        name: "embedding cosine".into(),
        ..Default::default()
    };
    let mut csv = match options.features_out {
        Some(out) => Some(FeatureCsv::create(out, checker.feature_names())?),
        None => None,
    };
    // Per row, each answer's score minus its own threshold: 0 is the configured decision.
    let mut margins: Vec<(f32, f32)> = Vec::with_capacity(rows.len());
    let mut question_shaped = 0;
    let mut checker_seconds = 0.0;
    for (chunk_index, chunk) in rows.chunks(CHUNK).enumerate() {
        let mut inputs = Vec::with_capacity(chunk.len() * 2);
        for row in chunk {
            for answer in [&row.right_answer, &row.hallucinated_answer] {
                inputs.push(CheckInput {
                    text: answer,
                    prompt: row.question.as_deref(),
                    context: vec![row.knowledge.as_str()],
                });
            }
        }
        let started = Instant::now();
        let assessments = checker.assess_batch(&inputs).map_err(failed)?;
        checker_seconds += started.elapsed().as_secs_f64();
        for (i, row) in chunk.iter().enumerate() {
            let (right, wrong) = (&assessments[2 * i], &assessments[2 * i + 1]);
            let margin = |a: &Assessment| a.score.unwrap_or(0.0) - a.threshold;
            margins.push((margin(right), margin(wrong)));
            if is_held_out(chunk_index * CHUNK + i) {
                question_shaped += [right, wrong]
                    .iter()
                    .filter(|a| a.shape == AnswerShape::Question)
                    .count();
            }
            checker_scores
                .scores
                .push((right.score.unwrap_or(0.0), wrong.score.unwrap_or(0.0)));
            overlap.scores.push(overlap_scores(
                &row.knowledge,
                &row.right_answer,
                &row.hallucinated_answer,
            ));
            if let Some(csv) = csv.as_mut() {
                let index = chunk_index * CHUNK + i;
                for (label, a) in [(0, right), (1, wrong)] {
                    csv.row(index, label, &checker.features(a).map_err(failed)?)?;
                }
            }
        }
        if let Some((model, output)) = options.embedding_baseline {
            let texts: Vec<&str> = chunk
                .iter()
                .flat_map(|r| {
                    [
                        r.knowledge.as_str(),
                        &r.right_answer,
                        &r.hallucinated_answer,
                    ]
                })
                .collect();
            let outputs = model.infer(&texts);
            let embedded: Vec<Vec<f32>> = outputs
                .into_iter()
                .map(|o| o.map(|o| o.mean_embedding(output)))
                .collect::<Result<_, _>>()
                .map_err(failed)?;
            for triple in embedded.chunks(3) {
                let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
                cosine.scores.push((
                    1.0 - dot(&triple[0], &triple[1]),
                    1.0 - dot(&triple[0], &triple[2]),
                ));
            }
        }
    }
    if let Some(csv) = csv {
        csv.finish()?;
    }
    let held_out: Vec<(f32, f32)> = margins
        .iter()
        .enumerate()
        .filter(|(row, _)| is_held_out(*row))
        .map(|(_, s)| *s)
        .collect();
    let mut scorers = vec![checker_scores.quality(), overlap.quality()];
    if options.embedding_baseline.is_some() {
        scorers.push(cosine.quality());
    }
    Ok(PairReport {
        rows: rows.len(),
        held_out: held_out.len(),
        checker_thresholds: checker.thresholds(),
        question_shaped,
        checker_configured: balanced(&held_out, 0.0),
        scorers,
        seconds: checker_seconds,
        responses_per_second: (rows.len() * 2) as f64 / checker_seconds.max(1e-9),
    })
}

impl std::fmt::Display for PairReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} pairs; held-out split: {} pairs (every 4th row); thresholds chosen on the other {}",
            self.rows,
            self.held_out,
            self.rows - self.held_out
        )?;
        writeln!(
            f,
            "{:<22} {:>9} {:>13} {:>10} {:>13}",
            "scorer", "pairwise", "balanced acc", "threshold", "dev balanced"
        )?;
        for s in &self.scorers {
            writeln!(
                f,
                "{:<22} {:>9.4} {:>13.4} {:>10.3} {:>13.4}",
                s.name, s.pairwise, s.balanced, s.threshold, s.dev_balanced
            )?;
        }
        let thresholds: Vec<String> = self
            .checker_thresholds
            .iter()
            .map(|(shape, t)| format!("{} {t:.3}", shape.label()))
            .collect();
        writeln!(
            f,
            "hallucination_check at its configured settings (thresholds: {}; {} of {} held-out answers scored as answers to a question): balanced accuracy {:.4}",
            thresholds.join(", "),
            self.question_shaped,
            self.held_out * 2,
            self.checker_configured
        )?;
        writeln!(
            f,
            "checker time {:.2} s: {:.0} responses/s",
            self.seconds, self.responses_per_second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_and_balanced_accuracy() {
        let scores = [(0.1, 0.9), (0.4, 0.3), (0.2, 0.2), (0.0, 0.6)];
        assert_eq!(pairwise(&scores), (1.0 + 0.0 + 0.5 + 1.0) / 4.0);
        // threshold 0.5: hallucinated caught 2/4, right passed 4/4.
        assert_eq!(balanced(&scores, 0.5), 0.75);
        let (t, b) = best_threshold(&scores);
        assert!(b >= 0.75 && (0.0..=1.0).contains(&t));
    }

    #[test]
    fn overlap_baseline_counts_content_words() {
        assert_eq!(
            overlap_scores("Matt Damon stars in The Martian", "Matt Damon", "Tom Hanks"),
            (0.0, 1.0)
        );
    }
}

//! The cascade's student: a sparse linear model per label over a text's word pieces, asked
//! before the encoder (see `operators::cascade`).
//!
//! A text's features are its distinct WordPiece ids (the model's own tokenizer, no special
//! tokens, no truncation) and its distinct bigrams of ids hashed into `bigram_buckets` after the
//! vocabulary, each worth 1/sqrt(number of distinct features). Each label has a bias, a weight
//! per feature and two thresholds chosen on the dev split against the MiniLM teacher by
//! `scripts/models/train_student.py` (which computes the same features in
//! `scripts/models/student.py`): under `clean_below` the student decides "not this label", at
//! or over `flag_above` it decides "this label", in between it defers to the encoder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;
use tokenizers::Tokenizer;

/// A student file with its tokenizer, shared by every operator that names the same pair.
pub struct Student {
    tokenizer: Tokenizer,
    vocab: u64,
    buckets: u64,
    multiplier: u64,
    heads: HashMap<String, StudentHead>,
    /// `sha256:<first 16 hex digits>` of the student file (provenance of its findings).
    digest: &'static str,
}

/// One head of the student: per label a bias, dense weights and the two thresholds.
pub struct StudentHead {
    pub labels: Vec<String>,
    bias: Vec<f32>,
    /// Row-major `[feature][label]`, so one feature's weights share a cache line.
    weights: Vec<f32>,
    pub clean_below: Vec<f32>,
    pub flag_above: Vec<f32>,
    gate: Option<Gate>,
}

/// One label whose score alone decides "clean for every label" under `clean_below` (the
/// toxicity head's `toxic`, positive in the data whenever any other label is).
#[derive(Debug, Clone, Copy, Deserialize)]
struct Gate {
    label: usize,
    clean_below: f32,
}

/// What the student decided for one text.
#[derive(Debug, Clone, PartialEq)]
pub struct StudentVerdict {
    /// Per label of the head, the student's probability.
    pub scores: Vec<f32>,
    /// True when every label is under `clean_below` or at or over `flag_above`, or the gate
    /// label is under the gate's threshold: the encoder is not needed for this head.
    pub decided: bool,
    /// Per label, whether the student flags it (all false when undecided or gated clean).
    pub flagged: Vec<bool>,
}

#[derive(Deserialize)]
struct StudentFile {
    vocab: u64,
    bigram_buckets: u64,
    bigram_multiplier: u64,
    heads: HashMap<String, HeadFile>,
}

#[derive(Deserialize)]
struct HeadFile {
    labels: Vec<String>,
    bias: Vec<f32>,
    /// Per label, `[feature, weight]` pairs (the non-zero weights).
    weights: Vec<Vec<(u64, f32)>>,
    clean_below: Vec<f32>,
    flag_above: Vec<f32>,
    gate: Option<Gate>,
}

impl Student {
    /// Loads a student file and the tokenizer its features were computed with.
    pub fn load(path: &Path, tokenizer: &Path) -> Result<Student, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read student {}: {e}", path.display()))?;
        let file: StudentFile =
            serde_json::from_str(&text).map_err(|e| format!("student {}: {e}", path.display()))?;
        let mut tok = Tokenizer::from_file(tokenizer)
            .map_err(|e| format!("tokenizer {}: {e}", tokenizer.display()))?;
        tok.with_truncation(None)
            .map_err(|e| format!("tokenizer {}: {e}", tokenizer.display()))?;
        tok.with_padding(None);
        let vocab = tok.get_vocab_size(true) as u64;
        if vocab != file.vocab {
            return Err(format!(
                "student {} was trained on a vocabulary of {} word pieces, but {} has {vocab}",
                path.display(),
                file.vocab,
                tokenizer.display()
            ));
        }
        let features = (file.vocab + file.bigram_buckets) as usize;
        let heads = file
            .heads
            .into_iter()
            .map(|(name, head)| {
                let built = StudentHead::from_file(head, features)
                    .map_err(|e| format!("student {} head `{name}`: {e}", path.display()))?;
                Ok((name, built))
            })
            .collect::<Result<_, String>>()?;
        Ok(Student {
            tokenizer: tok,
            vocab: file.vocab,
            buckets: file.bigram_buckets.max(1),
            multiplier: file.bigram_multiplier,
            heads,
            digest: super::digest::provenance_digest(path)?,
        })
    }

    pub fn head(&self, name: &str) -> Option<&StudentHead> {
        self.heads.get(name)
    }

    pub fn head_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.heads.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub fn digest(&self) -> &'static str {
        self.digest
    }

    /// The text's distinct features, sorted (unigram ids, then hashed bigrams after them).
    pub fn features(&self, text: &str) -> Vec<u32> {
        let ids: Vec<u64> = match self.tokenizer.encode_fast(text, false) {
            Ok(encoding) => encoding.get_ids().iter().map(|&id| u64::from(id)).collect(),
            Err(_) => Vec::new(),
        };
        let mut out: Vec<u32> = Vec::with_capacity(ids.len() * 2);
        out.extend(ids.iter().map(|&id| id as u32));
        out.extend(ids.windows(2).map(|pair| {
            let hashed = pair[0].wrapping_mul(self.multiplier).wrapping_add(pair[1]) % self.buckets;
            (self.vocab + hashed) as u32
        }));
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl StudentHead {
    fn from_file(head: HeadFile, features: usize) -> Result<StudentHead, String> {
        let n = head.labels.len();
        for (what, len) in [
            ("bias", head.bias.len()),
            ("weights", head.weights.len()),
            ("clean_below", head.clean_below.len()),
            ("flag_above", head.flag_above.len()),
        ] {
            if len != n {
                return Err(format!("{what} has {len} entries for {n} labels"));
            }
        }
        if let Some(gate) = head.gate.filter(|g| g.label >= n) {
            return Err(format!("gate label {} of {n} labels", gate.label));
        }
        let mut weights = vec![0.0f32; features * n];
        for (label, pairs) in head.weights.iter().enumerate() {
            for &(feature, weight) in pairs {
                let feature = feature as usize;
                if feature >= features {
                    return Err(format!("feature {feature} is out of range ({features})"));
                }
                weights[feature * n + label] = weight;
            }
        }
        Ok(StudentHead {
            labels: head.labels,
            bias: head.bias,
            weights,
            clean_below: head.clean_below,
            flag_above: head.flag_above,
            gate: head.gate,
        })
    }

    /// Each label's probability for a text's `features` ([`Student::features`]).
    pub fn scores(&self, features: &[u32]) -> Vec<f32> {
        let n = self.labels.len();
        let mut logits = self.bias.clone();
        if !features.is_empty() {
            let value = 1.0 / (features.len() as f32).sqrt();
            let mut sums = vec![0.0f32; n];
            for &feature in features {
                let row = &self.weights[feature as usize * n..(feature as usize + 1) * n];
                for (sum, w) in sums.iter_mut().zip(row) {
                    *sum += w;
                }
            }
            for (logit, sum) in logits.iter_mut().zip(sums) {
                *logit += sum * value;
            }
        }
        logits
            .into_iter()
            .map(|x| 1.0 / (1.0 + (-x).exp()))
            .collect()
    }

    /// The student's verdict on a text's features.
    pub fn verdict(&self, features: &[u32]) -> StudentVerdict {
        let scores = self.scores(features);
        let gated_clean = self.gate.is_some_and(|g| scores[g.label] < g.clean_below);
        let decided = gated_clean
            || scores
                .iter()
                .zip(self.clean_below.iter().zip(&self.flag_above))
                .all(|(&s, (&low, &high))| s < low || s >= high);
        let flagged = scores
            .iter()
            .zip(&self.flag_above)
            .map(|(&s, &high)| decided && !gated_clean && s >= high)
            .collect();
        StudentVerdict {
            scores,
            decided,
            flagged,
        }
    }
}

/// Loaded students by (student file, tokenizer).
type Loaded = Mutex<HashMap<(PathBuf, PathBuf), Arc<Student>>>;

fn students() -> &'static Loaded {
    static STUDENTS: OnceLock<Loaded> = OnceLock::new();
    STUDENTS.get_or_init(Default::default)
}

/// The student at `path` with `tokenizer`, loading it on first use (kept for the process).
pub fn shared(path: &Path, tokenizer: &Path) -> Result<Arc<Student>, String> {
    let key = (path.to_path_buf(), tokenizer.to_path_buf());
    let mut loaded = students().lock().expect("student registry lock");
    if let Some(student) = loaded.get(&key) {
        return Ok(student.clone());
    }
    let student = Arc::new(Student::load(path, tokenizer)?);
    loaded.insert(key, student.clone());
    Ok(student)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two labels over 4 features: feature 1 pushes both up, feature 2 pushes `b` up.
    fn head(gate: Option<Gate>) -> StudentHead {
        StudentHead::from_file(
            HeadFile {
                labels: vec!["a".into(), "b".into()],
                bias: vec![-4.0, -4.0],
                weights: vec![vec![(1, 12.0)], vec![(1, 12.0), (2, 6.0)]],
                clean_below: vec![0.1, 0.1],
                flag_above: vec![0.9, 0.9],
                gate,
            },
            4,
        )
        .unwrap()
    }

    #[test]
    fn a_text_is_decided_only_when_every_label_is_confident() {
        let h = head(None);
        // No feature: both labels at sigmoid(-4) = 0.018, under 0.1: decided clean.
        let clean = h.verdict(&[]);
        assert!(clean.decided && clean.flagged == [false, false]);
        // Feature 1 alone: 12 / 1 - 4 = 8 for both: decided, both flagged.
        let flagged = h.verdict(&[1]);
        assert!(flagged.decided && flagged.flagged == [true, true]);
        // Feature 2 alone: `a` stays at 0.018, `b` at sigmoid(2) = 0.88, between: deferred.
        let unsure = h.verdict(&[2]);
        assert!(!unsure.decided && unsure.flagged == [false, false]);
    }

    #[test]
    fn the_gate_decides_clean_for_every_label_on_its_own() {
        let h = head(Some(Gate {
            label: 0,
            clean_below: 0.1,
        }));
        // `b` is unsure, but the gate label `a` is under the gate: clean, nothing flagged.
        let gated = h.verdict(&[2]);
        assert!(gated.decided && gated.flagged == [false, false]);
        assert!(gated.scores[1] > 0.8);
    }

    #[test]
    fn a_malformed_head_is_refused() {
        let bad = HeadFile {
            labels: vec!["a".into()],
            bias: vec![0.0, 0.0],
            weights: vec![vec![]],
            clean_below: vec![0.1],
            flag_above: vec![0.9],
            gate: None,
        };
        let error = StudentHead::from_file(bad, 4).err().unwrap();
        assert!(error.contains("bias has 2 entries for 1 labels"), "{error}");
        let out_of_range = HeadFile {
            labels: vec!["a".into()],
            bias: vec![0.0],
            weights: vec![vec![(9, 1.0)]],
            clean_below: vec![0.1],
            flag_above: vec![0.9],
            gate: None,
        };
        assert!(StudentHead::from_file(out_of_range, 4).is_err());
    }
}

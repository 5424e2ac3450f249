//! The calibrated combiner: a logistic regression over the response-level features, trained by
//! `scripts/models/train_hallucination.py` on the HaluEval dialogue and summarization dev
//! splits. The shipped file is compiled in; a topology may point at another.

use std::path::Path;

use serde::Deserialize;

use super::assess::{EMBEDDING_FEATURES, LEXICAL_FEATURES};

/// The shipped calibration (`models/heads/hallucination.json`).
const SHIPPED: &str = include_str!("../../../models/heads/hallucination.json");

/// One logistic regression: `sigmoid(bias + sum(weights * (x - mean) / scale))`.
#[derive(Debug, Clone, Deserialize)]
pub struct Combiner {
    pub features: Vec<String>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// Threshold chosen on the dev split (best balanced accuracy).
    pub threshold: f32,
}

impl Combiner {
    /// The probability that the response holds an unsupported claim.
    pub fn score(&self, features: &[f32]) -> f32 {
        let z = self.bias
            + features
                .iter()
                .zip(&self.mean)
                .zip(&self.scale)
                .zip(&self.weights)
                .map(|(((x, m), s), w)| w * (x - m) / s)
                .sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }

    fn check(&self, expected: &[&str], which: &str) -> Result<(), String> {
        let names: Vec<&str> = self.features.iter().map(String::as_str).collect();
        let n = expected.len();
        if names != expected
            || self.mean.len() != n
            || self.scale.len() != n
            || self.weights.len() != n
        {
            return Err(format!(
                "calibration `{which}` must list the features {expected:?} with as many means, scales and weights; it lists {names:?}"
            ));
        }
        if self.scale.iter().any(|s| *s <= 0.0 || !s.is_finite()) {
            return Err(format!("calibration `{which}`: every scale must be positive"));
        }
        Ok(())
    }
}

/// The combiners for the lexical features and for lexical plus embedding features.
#[derive(Debug, Clone, Deserialize)]
pub struct Calibration {
    pub lexical: Combiner,
    pub embedding: Combiner,
}

impl Calibration {
    pub fn shipped() -> Calibration {
        Self::parse(SHIPPED).expect("the shipped calibration is valid (a test checks it)")
    }

    pub fn load(path: &Path) -> Result<Calibration, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read calibration {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("calibration {}: {e}", path.display()))
    }

    fn parse(text: &str) -> Result<Calibration, String> {
        let calibration: Calibration = serde_json::from_str(text).map_err(|e| e.to_string())?;
        calibration.lexical.check(LEXICAL_FEATURES, "lexical")?;
        let all: Vec<&str> = LEXICAL_FEATURES
            .iter()
            .chain(EMBEDDING_FEATURES)
            .copied()
            .collect();
        calibration.embedding.check(&all, "embedding")?;
        Ok(calibration)
    }

    /// The combiner for the features at hand.
    pub fn combiner(&self, with_embedding: bool) -> &Combiner {
        if with_embedding {
            &self.embedding
        } else {
            &self.lexical
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_calibration_matches_the_features() {
        let c = Calibration::shipped();
        assert!((0.0..=1.0).contains(&c.lexical.threshold));
        assert!((0.0..=1.0).contains(&c.embedding.threshold));
    }
}

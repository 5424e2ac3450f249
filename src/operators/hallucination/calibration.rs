//! The calibrated combiner: a small neural network (one ReLU layer, one sigmoid unit) over the
//! response-level features, trained by
//! `scripts/models/train_hallucination.py` on the HaluEval dialogue and summarization dev
//! splits and fact-swap pairs, bounded so that unsupported names, numbers and negation flips can
//! only raise the score. The shipped file is compiled in; a topology may point at another.

use std::path::Path;

use serde::Deserialize;

use super::assess::{EMBEDDING_FEATURES, LEXICAL_FEATURES};
use super::encoder::{self, Profile};

/// The shipped calibration (`models/heads/hallucination.json`).
const SHIPPED: &str = include_str!("../../../models/heads/hallucination.json");

pub use crate::inference::dense::{Layer, LayerActivation};

/// A small multilayer perceptron over standardised features, `(x - mean) / scale`, whose last
/// layer is one sigmoid unit (a logistic regression when it is the only layer).
#[derive(Debug, Clone, Deserialize)]
pub struct Combiner {
    pub features: Vec<String>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub layers: Vec<Layer>,
    /// Threshold chosen on the dev split (best balanced accuracy).
    pub threshold: f32,
}

impl Combiner {
    /// The probability that the response holds an unsupported claim.
    pub fn score(&self, features: &[f32]) -> f32 {
        let values: Vec<f32> = features
            .iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((x, m), s)| (x - m) / s)
            .collect();
        crate::inference::dense::forward(&self.layers, values)
    }

    /// Width of the encoder embeddings this combiner reads after the lexical features.
    pub fn encoder_dimensions(&self) -> usize {
        self.features.len().saturating_sub(LEXICAL_FEATURES.len()) / 2
    }

    fn check(&self, expected: &[&str], which: &str) -> Result<(), String> {
        let names: Vec<&str> = self.features.iter().map(String::as_str).collect();
        let n = expected.len();
        if names != expected || self.mean.len() != n || self.scale.len() != n {
            return Err(format!(
                "calibration `{which}` must list the features {expected:?} with as many means and scales; it lists {names:?}"
            ));
        }
        if self.scale.iter().any(|s| *s <= 0.0 || !s.is_finite()) {
            return Err(format!(
                "calibration `{which}`: every scale must be positive"
            ));
        }
        crate::inference::dense::check(&self.layers, n)
            .map_err(|e| format!("calibration `{which}`: {e}"))
    }
}

/// The combiners of the encoder signal, one per profile: lexical features, then the response
/// and evidence-pair embeddings.
#[derive(Debug, Clone, Deserialize)]
pub struct EncoderCombiners {
    pub general: Combiner,
    pub dialogue: Combiner,
    pub summarization: Combiner,
}

impl EncoderCombiners {
    pub fn get(&self, profile: Profile) -> &Combiner {
        match profile {
            Profile::General => &self.general,
            Profile::Dialogue => &self.dialogue,
            Profile::Summarization => &self.summarization,
        }
    }
}

/// The combiners for the lexical features, for lexical plus embedding features, and (when
/// trained) for lexical plus encoder features; and the lexical combiner's threshold for answers
/// to a question.
#[derive(Debug, Clone, Deserialize)]
pub struct Calibration {
    pub lexical: Combiner,
    /// The threshold of the lexical combiner for answers to a question (the `question` shape),
    /// chosen on question-answer pairs; a calibration without one uses `lexical.threshold`.
    #[serde(default)]
    pub question_threshold: Option<f32>,
    pub embedding: Combiner,
    #[serde(default)]
    pub encoder: Option<EncoderCombiners>,
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
        if calibration
            .question_threshold
            .is_some_and(|t| !(0.0..=1.0).contains(&t))
        {
            return Err("question_threshold must be in [0, 1]".into());
        }
        let all: Vec<&str> = LEXICAL_FEATURES
            .iter()
            .chain(EMBEDDING_FEATURES)
            .copied()
            .collect();
        calibration.embedding.check(&all, "embedding")?;
        if let Some(encoder) = &calibration.encoder {
            for (which, combiner) in [
                ("encoder.general", &encoder.general),
                ("encoder.dialogue", &encoder.dialogue),
                ("encoder.summarization", &encoder.summarization),
            ] {
                let names = encoder::feature_names(combiner.encoder_dimensions());
                let all: Vec<&str> = LEXICAL_FEATURES
                    .iter()
                    .copied()
                    .chain(names.iter().map(String::as_str))
                    .collect();
                combiner.check(&all, which)?;
            }
        }
        Ok(calibration)
    }

    /// The combiner for the features at hand: the encoder profile's when the encoder signal is
    /// on, else the embedding or the lexical one.
    pub fn combiner(
        &self,
        with_embedding: bool,
        encoder: Option<Profile>,
    ) -> Result<&Combiner, String> {
        match encoder {
            Some(profile) => self
                .encoder
                .as_ref()
                .map(|e| e.get(profile))
                .ok_or_else(|| {
                    "this calibration has no encoder combiners; train them with \
                 scripts/models/train_hallucination.py"
                        .to_string()
                }),
            None if with_embedding => Ok(&self.embedding),
            None => Ok(&self.lexical),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_sigmoid_layer_is_a_logistic_regression() {
        let c = Combiner {
            features: vec!["a".into()],
            mean: vec![1.0],
            scale: vec![2.0],
            layers: vec![Layer {
                weights: vec![vec![4.0]],
                bias: vec![-1.0],
                activation: LayerActivation::Sigmoid,
            }],
            threshold: 0.5,
        };
        // z = -1 + 4 * (3 - 1) / 2 = 3
        assert!((c.score(&[3.0]) - 1.0 / (1.0 + (-3.0f32).exp())).abs() < 1e-6);
        assert!(c.check(&["a"], "t").is_ok());
        assert!(c.check(&["b"], "t").is_err());
    }

    /// Each unsupported name, number or negation flip raises every shipped combiner's log-odds
    /// by at least 1 per unit of its feature (the training bound), wherever the other features
    /// are: a changed fact can never make a response look better supported.
    #[test]
    fn shipped_combiners_rise_with_every_unit_of_hard_evidence() {
        const HARD: [&str; 3] = [
            "log_unsupported_entities",
            "log_unsupported_numbers",
            "negation_mismatches",
        ];
        let c = Calibration::shipped();
        let encoder = c.encoder.as_ref().expect("encoder combiners");
        let combiners = [
            &c.lexical,
            &c.embedding,
            encoder.get(Profile::General),
            encoder.get(Profile::Dialogue),
            encoder.get(Profile::Summarization),
        ];
        let logit = |p: f32| (p / (1.0 - p)).ln();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut unit = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        };
        let mut checked = 0;
        for combiner in combiners {
            for _ in 0..500 {
                // A point within about one standard deviation of the training data.
                let x: Vec<f32> = (combiner.mean.iter().zip(&combiner.scale))
                    .map(|(m, s)| (m + unit() * s).max(0.0))
                    .collect();
                for name in HARD {
                    let i = combiner.features.iter().position(|f| f == name).unwrap();
                    let mut more = x.clone();
                    more[i] += 0.5;
                    let (before, after) = (combiner.score(&x), combiner.score(&more));
                    if !(1e-4..1.0 - 1e-4).contains(&before) || !(1e-4..1.0 - 1e-4).contains(&after)
                    {
                        continue;
                    }
                    let gain = logit(after) - logit(before);
                    assert!(
                        gain >= 0.5 - 1e-2,
                        "{name}: log-odds gain {gain} for 0.5 units"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 5000, "only {checked} points away from saturation");
    }

    #[test]
    fn shipped_calibration_matches_the_features() {
        let c = Calibration::shipped();
        assert!((0.0..=1.0).contains(&c.lexical.threshold));
        assert!(c.question_threshold.is_some());
        assert!((0.0..=1.0).contains(&c.embedding.threshold));
        let encoder = c
            .encoder
            .expect("the shipped calibration has encoder combiners");
        for profile in [Profile::General, Profile::Dialogue, Profile::Summarization] {
            assert_eq!(encoder.get(profile).encoder_dimensions(), 384);
        }
    }
}

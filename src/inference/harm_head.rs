//! `HarmHead`: the response-harm head of `harm_classify` (`models/heads/harm.json`, trained by
//! `scripts/models/train_harm.py`). It reads the encoder's `features` output, shared with the
//! other heads: a response window's features `r` and the prompt's `p` (element-wise max over
//! its windows, zeros without a prompt) go through a small network (one ReLU layer, one
//! sigmoid unit) over `[r, p, has_prompt]`; a category softmax over one text's features says
//! which kind of harm.

use std::path::Path;

use serde::Deserialize;

use super::dense::{self, dot, Layer};

/// A loaded harm head.
#[derive(Debug)]
pub struct HarmHead {
    width: usize,
    layers: Vec<Layer>,
    /// The threshold chosen on the dev split.
    pub threshold: f32,
    /// The category labels, in the order of `categories`' rows.
    pub labels: Vec<String>,
    category_weights: Vec<Vec<f32>>,
    category_bias: Vec<f32>,
    /// `sha256:<16 hex>` of the head file (provenance).
    pub digest: &'static str,
}

#[derive(Deserialize)]
struct HeadFile {
    encoder_output: String,
    harm: Harm,
    categories: Categories,
}

#[derive(Deserialize)]
struct Harm {
    /// Over `[response window, prompt, has_prompt]`.
    layers: Vec<Layer>,
    threshold: f32,
}

#[derive(Deserialize)]
struct Categories {
    labels: Vec<String>,
    weights: Vec<Vec<f32>>,
    bias: Vec<f32>,
}

/// What the head says about one response.
#[derive(Debug, Clone, PartialEq)]
pub struct HarmScore {
    /// The worst window's probability that the response complies with a harmful request.
    pub score: f32,
    /// Per category (in `HarmHead::labels` order), `score` times the category's probability.
    pub categories: Vec<f32>,
    /// The worst window.
    pub window: usize,
}

impl HarmHead {
    pub fn load(path: &Path) -> Result<HarmHead, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read harm head {}: {e}", path.display()))?;
        let file: HeadFile = serde_json::from_str(&text)
            .map_err(|e| format!("harm head {}: {e}", path.display()))?;
        let digest = super::digest::provenance_digest(path)?;
        HarmHead::from_parts(file, digest).map_err(|e| format!("harm head {}: {e}", path.display()))
    }

    fn from_parts(file: HeadFile, digest: &'static str) -> Result<HarmHead, String> {
        if file.encoder_output != "features" {
            return Err(format!(
                "reads encoder output `{}`; this runtime feeds it `features`",
                file.encoder_output
            ));
        }
        let c = &file.categories;
        let width = c.weights.first().map(Vec::len).unwrap_or(0);
        dense::check(&file.harm.layers, 2 * width + 1).map_err(|e| format!("harm: {e}"))?;
        if c.labels.is_empty()
            || c.weights.len() != c.labels.len()
            || c.bias.len() != c.labels.len()
            || c.weights.iter().any(|w| w.len() != width)
        {
            return Err(format!(
                "categories: {} labels, {} weight rows, {} biases; each row must hold {width} weights",
                c.labels.len(),
                c.weights.len(),
                c.bias.len()
            ));
        }
        Ok(HarmHead {
            width,
            layers: file.harm.layers,
            threshold: file.harm.threshold,
            labels: file.categories.labels,
            category_weights: file.categories.weights,
            category_bias: file.categories.bias,
            digest,
        })
    }

    /// How many features per text it reads.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Scores a response given its windows' features and, when there is one, the prompt's.
    pub fn score(&self, response_windows: &[&[f32]], prompt: Option<&[f32]>) -> HarmScore {
        let (window, score) = response_windows
            .iter()
            .map(|r| self.window_score(r, prompt))
            .enumerate()
            .fold(
                (0, f32::MIN),
                |best, (i, s)| if s > best.1 { (i, s) } else { best },
            );
        let mut distribution = self.category_distribution(response_windows[window]);
        if let Some(prompt) = prompt {
            let of_prompt = self.category_distribution(prompt);
            for (d, p) in distribution.iter_mut().zip(of_prompt) {
                *d = (*d + p) / 2.0;
            }
        }
        HarmScore {
            score,
            categories: distribution.into_iter().map(|d| d * score).collect(),
            window,
        }
    }

    fn window_score(&self, r: &[f32], prompt: Option<&[f32]>) -> f32 {
        let mut input = Vec::with_capacity(2 * self.width + 1);
        input.extend_from_slice(r);
        match prompt {
            Some(p) => {
                input.extend_from_slice(p);
                input.push(1.0);
            }
            None => input.resize(2 * self.width + 1, 0.0),
        }
        dense::forward(&self.layers, input)
    }

    fn category_distribution(&self, x: &[f32]) -> Vec<f32> {
        let logits: Vec<f32> = self
            .category_weights
            .iter()
            .zip(&self.category_bias)
            .map(|(w, b)| b + dot(w, x))
            .collect();
        let max = logits.iter().cloned().fold(f32::MIN, f32::max);
        let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        exp.into_iter().map(|e| e / sum).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(json: &str) -> Vec<Layer> {
        serde_json::from_str(json).unwrap()
    }

    /// Width 2; input [r0, r1, p0, p1, has_prompt]: one ReLU unit reads r0 and p0, another
    /// has_prompt (pushing down), and the sigmoid unit sums them.
    fn head() -> HarmHead {
        HarmHead::from_parts(
            HeadFile {
                encoder_output: "features".into(),
                harm: Harm {
                    layers: layers(
                        r#"[{"weights": [[4, 0, 2, 0, 0], [0, 0, 0, 0, 1]], "bias": [0, 0], "activation": "relu"},
                            {"weights": [[1, -1]], "bias": [-2], "activation": "sigmoid"}]"#,
                    ),
                    threshold: 0.5,
                },
                categories: Categories {
                    labels: vec!["cyber_attacks".into(), "weapons".into()],
                    weights: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
                    bias: vec![0.0, 0.0],
                },
            },
            "sha256:test",
        )
        .unwrap()
    }

    fn sigmoid(z: f32) -> f32 {
        1.0 / (1.0 + (-z).exp())
    }

    #[test]
    fn the_worst_window_scores_the_response() {
        let h = head();
        let calm: &[f32] = &[0.0, 1.0];
        let harmful: &[f32] = &[1.0, 0.0];
        let s = h.score(&[calm, harmful], None);
        assert_eq!(s.window, 1);
        assert!((s.score - sigmoid(2.0)).abs() < 1e-6);
        assert!(s.categories[0] > s.categories[1]);
    }

    #[test]
    fn the_prompt_adds_its_terms_and_its_categories() {
        let h = head();
        let r: &[f32] = &[1.0, 0.0];
        let with_prompt = h.score(&[r], Some(&[1.0, 0.0]));
        // relu(4 + 2) - relu(1) - 2 = 3
        assert!((with_prompt.score - sigmoid(3.0)).abs() < 1e-6);
        let weapons_prompt = h.score(&[r], Some(&[0.0, 3.0]));
        assert!(weapons_prompt.categories[1] > with_prompt.categories[1]);
    }

    #[test]
    fn a_malformed_head_is_refused() {
        let file = HeadFile {
            encoder_output: "features".into(),
            harm: Harm {
                layers: layers(
                    r#"[{"weights": [[1, 1, 1]], "bias": [0], "activation": "sigmoid"}]"#,
                ),
                threshold: 0.5,
            },
            categories: Categories {
                labels: vec!["a".into()],
                weights: vec![vec![1.0, 1.0]],
                bias: vec![0.0],
            },
        };
        assert!(HarmHead::from_parts(file, "x").is_err());
    }
}

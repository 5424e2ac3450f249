//! The learned encoder signal: MiniLM embeddings of the whole response and of the pair
//! (response, its evidence), read by a combiner trained per application profile. Unlike the
//! lexical features this signal reads the response's form as well as its support, so it is
//! calibrated separately for dialogue, summarization and a general mix
//! (`scripts/models/train_hallucination.py`; the model card says what it learns).

use std::sync::Arc;

use serde::Deserialize;

use super::{Assessment, CheckInput};
use crate::inference::{registry, InferenceError, Model, ModelConfig};

/// Which combiner reads the encoder features: the kind of answers the application gives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Trained on dialogue and summarization together.
    #[default]
    General,
    /// Conversational answers grounded in short knowledge snippets.
    Dialogue,
    /// Summaries of, or answers drawn from, long documents.
    Summarization,
}

/// Window size the shipped encoder combiners were trained with.
pub const SHIPPED_ENCODER_TOKENS: usize = 256;

/// Options of the `[encoder]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EncoderConfig {
    pub model: ModelConfig,
    /// Output holding one (L2-normalised) embedding per text.
    pub output: String,
    pub profile: Profile,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            model: ModelConfig {
                max_tokens: SHIPPED_ENCODER_TOKENS,
                ..ModelConfig::default()
            },
            output: "sentence_embedding".into(),
            profile: Profile::General,
        }
    }
}

/// Names of the encoder features for `dimensions`-wide embeddings, in combiner order.
pub fn feature_names(dimensions: usize) -> Vec<String> {
    let response = (0..dimensions).map(|i| format!("response_embedding_{i}"));
    let pair = (0..dimensions).map(|i| format!("evidence_pair_embedding_{i}"));
    response.chain(pair).collect()
}

/// The loaded encoder.
pub struct EncoderSignal {
    model: Arc<Model>,
    output: usize,
}

impl EncoderSignal {
    pub fn build(config: &EncoderConfig) -> Result<EncoderSignal, String> {
        let model = registry::shared(&config.model).map_err(|e| e.to_string())?;
        let output = model.require_output(&config.output)?;
        if model.is_per_token(output) {
            return Err(format!("encoder output `{}` is per token", config.output));
        }
        Ok(EncoderSignal { model, output })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Sets `encoder` on each grounded assessment: the response's embedding followed by the
    /// embedding of the pair (response, evidence), in one model call each.
    pub fn add(
        &self,
        inputs: &[CheckInput<'_>],
        assessments: &mut [Assessment],
    ) -> Result<(), InferenceError> {
        let grounded: Vec<usize> = (0..inputs.len())
            .filter(|&i| assessments[i].grounded)
            .collect();
        if grounded.is_empty() {
            return Ok(());
        }
        let evidence: Vec<String> = grounded
            .iter()
            .map(|&i| evidence(&inputs[i], &assessments[i]))
            .collect();
        let texts: Vec<&str> = grounded.iter().map(|&i| inputs[i].text).collect();
        let pairs: Vec<(&str, &str)> = grounded
            .iter()
            .zip(&evidence)
            .map(|(&i, e)| (inputs[i].text, e.as_str()))
            .collect();
        let responses = self.model.infer(&texts);
        let paired = self.model.infer_pairs(&pairs);
        for ((&i, response), pair) in grounded.iter().zip(responses).zip(paired) {
            let mut features = super::embedding(Some(response), self.output)?;
            features.extend(super::embedding(Some(pair), self.output)?);
            assessments[i].encoder = Some(features);
        }
        Ok(())
    }
}

/// The context sentences that best support the response's claims, once each, in passage
/// order; the whole context when no claim found one. A long document thus fits the pair's
/// window with the parts the response draws on.
fn evidence(input: &CheckInput<'_>, assessment: &Assessment) -> String {
    let mut best: Vec<(usize, usize, usize)> = assessment
        .claims
        .iter()
        .filter_map(|c| c.best_sentence)
        .map(|b| (b.passage, b.span.start, b.span.end))
        .collect();
    best.sort_unstable();
    best.dedup();
    if best.is_empty() {
        return input.context.join("\n");
    }
    best.iter()
        .map(|&(passage, start, end)| &input.context[passage][start..end])
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_names_list_response_then_pair_dimensions() {
        let names = feature_names(2);
        assert_eq!(
            names,
            [
                "response_embedding_0",
                "response_embedding_1",
                "evidence_pair_embedding_0",
                "evidence_pair_embedding_1"
            ]
        );
    }

    #[test]
    fn profiles_parse_from_toml_names() {
        let config: EncoderConfig = toml::from_str("profile = \"summarization\"").unwrap();
        assert_eq!(config.profile, Profile::Summarization);
        assert_eq!(config.model.max_tokens, 256);
        assert!(toml::from_str::<EncoderConfig>("profile = \"poetry\"").is_err());
    }
}

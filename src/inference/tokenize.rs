//! Windowed tokenization with a Hugging Face `tokenizer.json`.
//!
//! A text longer than the model's window is not truncated: the tokenizer's own overflow
//! handling cuts it into windows of `max_tokens` (special tokens included) that overlap by
//! `stride` tokens, each framed by the model's special tokens.

use std::path::Path;

use tokenizers::{
    PaddingParams, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

use super::{shape, InferenceError};

/// One model input row: token ids, token type ids and shape ids (the attention mask is all
/// ones), with each token's byte span in the text (`None` for special tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub ids: Vec<i64>,
    pub type_ids: Vec<i64>,
    /// [`super::shape`] ids, fed to models with a `token_shape` input (empty for others).
    pub shapes: Vec<i64>,
    pub offsets: TokenOffsets,
}

/// Per token, its byte span in the text; `None` for special tokens.
pub type TokenOffsets = Vec<Option<(usize, usize)>>;

impl Window {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A tokenizer that yields overlapping windows.
pub struct WindowTokenizer {
    inner: Tokenizer,
    pad_id: i64,
    /// Whether windows carry token shape ids (only models with a `token_shape` input use them).
    with_shapes: bool,
}

impl WindowTokenizer {
    pub fn from_file(
        path: &Path,
        max_tokens: usize,
        stride: usize,
    ) -> Result<Self, InferenceError> {
        let fail = |message: String| InferenceError::Tokenizer {
            path: path.display().to_string(),
            message,
        };
        let mut inner = Tokenizer::from_file(path).map_err(|e| fail(e.to_string()))?;
        let pad_id = inner
            .get_padding()
            .map(|p: &PaddingParams| p.pad_id)
            .or_else(|| ["[PAD]", "<pad>"].iter().find_map(|t| inner.token_to_id(t)))
            .unwrap_or(0);
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                stride,
                strategy: TruncationStrategy::LongestFirst,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| fail(e.to_string()))?;
        Ok(WindowTokenizer {
            inner,
            pad_id: i64::from(pad_id),
            with_shapes: false,
        })
    }

    /// Makes windows carry token shape ids ([`shape`]), for a model with a `token_shape` input.
    pub fn with_shapes(mut self, with_shapes: bool) -> Self {
        self.with_shapes = with_shapes;
        self
    }

    /// The id that fills padded positions.
    pub fn pad_id(&self) -> i64 {
        self.pad_id
    }

    /// One window holding a text pair (`[CLS] first [SEP] second [SEP]` for BERT), as NLI and
    /// cross-encoder models take them; the longer text is cut first when the pair is too long.
    pub fn pair(&self, first: &str, second: &str) -> Result<Window, InferenceError> {
        let encoding = self
            .inner
            .encode((first, second), true)
            .map_err(|e| InferenceError::Run(format!("tokenization failed: {e}")))?;
        Ok(Window {
            ids: encoding.get_ids().iter().map(|&i| i64::from(i)).collect(),
            type_ids: encoding
                .get_type_ids()
                .iter()
                .map(|&i| i64::from(i))
                .collect(),
            shapes: if self.with_shapes {
                vec![0; encoding.get_ids().len()]
            } else {
                Vec::new()
            },
            offsets: vec![None; encoding.get_ids().len()],
        })
    }

    /// The windows of one text (at least one, even for an empty text).
    pub fn windows(&self, text: &str) -> Result<Vec<Window>, InferenceError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| InferenceError::Run(format!("tokenization failed: {e}")))?;
        let to_window = |e: &tokenizers::Encoding| {
            let special: Vec<bool> = e
                .get_special_tokens_mask()
                .iter()
                .map(|&m| m != 0)
                .collect();
            Window {
                ids: e.get_ids().iter().map(|&i| i64::from(i)).collect(),
                type_ids: e.get_type_ids().iter().map(|&i| i64::from(i)).collect(),
                shapes: if self.with_shapes {
                    shape::shape_ids(text, e.get_offsets(), &special)
                } else {
                    Vec::new()
                },
                offsets: e
                    .get_offsets()
                    .iter()
                    .zip(&special)
                    .map(|(&(start, end), &is_special)| (!is_special).then_some((start, end)))
                    .collect(),
            }
        };
        let mut windows = vec![to_window(&encoding)];
        windows.extend(encoding.get_overflowing().iter().map(to_window));
        Ok(windows)
    }
}

//! What a model returned for one text: every output, for each of the text's windows.

/// One window's values, one vector per model output (in the model's output order).
pub type WindowOutput = Vec<Vec<f32>>;

/// All outputs of a model for one text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextOutputs {
    /// Per window, per output. A per-token output holds `tokens x width` values, row-major.
    pub windows: Vec<WindowOutput>,
    /// Per window, each token's byte span in the text (`None` for special tokens).
    pub offsets: Vec<super::tokenize::TokenOffsets>,
}

impl TextOutputs {
    /// Element-wise max of output `index` over the windows: a text scores as its worst window.
    pub fn max_over_windows(&self, index: usize) -> Vec<f32> {
        let mut out = self.windows[0][index].clone();
        for window in &self.windows[1..] {
            for (acc, &v) in out.iter_mut().zip(&window[index]) {
                *acc = acc.max(v);
            }
        }
        out
    }

    /// Element-wise mean of output `index` over the windows, L2-normalised (for embeddings).
    pub fn mean_embedding(&self, index: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; self.windows[0][index].len()];
        for window in &self.windows {
            for (acc, &v) in out.iter_mut().zip(&window[index]) {
                *acc += v;
            }
        }
        let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        out.iter_mut().for_each(|v| *v /= norm);
        out
    }
}

/// A text's outcome from one model.
pub type ModelOutcome = Result<std::sync::Arc<TextOutputs>, super::InferenceError>;

//! One ONNX Runtime session and how a batch of token windows goes through it.

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;

use super::config::{Device, InputNames, ModelConfig};
use super::outputs::WindowOutput;
use super::tokenize::Window;
use super::{runtime, InferenceError};

/// A session plus what it takes to feed it.
pub struct ModelSession {
    session: Session,
    inputs: InputNames,
    feeds_token_types: bool,
    feeds_token_shapes: bool,
    pad_id: i64,
    outputs: Vec<String>,
    /// Per output: true when it has one row of values per token ([batch, sequence, n]).
    per_token: Vec<bool>,
}

impl ModelSession {
    /// Opens the model. With `device = "cuda"` the CUDA provider must register, or this fails.
    pub fn open(config: &ModelConfig, pad_id: i64) -> Result<ModelSession, InferenceError> {
        let environment = runtime::environment()?;
        let fail = |message: String| InferenceError::Model {
            path: config.graph().display().to_string(),
            message,
        };
        let mut builder = Session::builder(environment)
            .map_err(|e| fail(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| fail(e.to_string()))?
            .with_intra_threads(config.threads_per_session())
            .map_err(|e| fail(e.to_string()))?;
        if config.device == Device::Cuda {
            builder = with_cuda(builder, config.device_id).map_err(fail)?;
        }
        let session = builder
            .commit_from_file(config.graph())
            .map_err(|e| fail(e.to_string()))?;
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        let names = &config.inputs;
        for required in [&names.input_ids, &names.attention_mask] {
            if !inputs.contains(&required.as_str()) {
                return Err(fail(format!(
                    "has no input `{required}` (its inputs: {inputs:?}); set `inputs` in the model table"
                )));
            }
        }
        let feeds_token_types = inputs.contains(&names.token_type_ids.as_str());
        let feeds_token_shapes = inputs.contains(&names.token_shape.as_str());
        let outputs = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        let per_token = session
            .outputs()
            .iter()
            .map(|o| o.dtype().tensor_shape().is_some_and(|s| s.len() == 3))
            .collect();
        Ok(ModelSession {
            session,
            inputs: config.inputs.clone(),
            feeds_token_types,
            feeds_token_shapes,
            pad_id,
            outputs,
            per_token,
        })
    }

    /// The model's output names, in order.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// Whether the model takes token shape ids.
    pub fn feeds_token_shapes(&self) -> bool {
        self.feeds_token_shapes
    }

    /// Per output, whether it is per token ([batch, sequence, n]) rather than per window.
    pub fn per_token_outputs(&self) -> &[bool] {
        &self.per_token
    }

    /// Runs windows as one padded batch; returns each window's outputs.
    pub fn run(&mut self, windows: &[&Window]) -> Result<Vec<WindowOutput>, InferenceError> {
        let rows = windows.len();
        let width = windows.iter().map(|w| w.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![self.pad_id; rows * width];
        let mut mask = vec![0i64; rows * width];
        let mut types = vec![0i64; rows * width];
        let mut shapes = vec![
            0i64;
            if self.feeds_token_shapes {
                rows * width
            } else {
                0
            }
        ];
        for (row, window) in windows.iter().enumerate() {
            let at = row * width;
            ids[at..at + window.len()].copy_from_slice(&window.ids);
            mask[at..at + window.len()].fill(1);
            types[at..at + window.len()].copy_from_slice(&window.type_ids);
            if self.feeds_token_shapes {
                shapes[at..at + window.len()].copy_from_slice(&window.shapes);
            }
        }
        let shape = [rows as i64, width as i64];
        let tensor = |data: Vec<i64>| {
            Tensor::from_array((shape, data)).map_err(|e| InferenceError::Run(e.to_string()))
        };
        let names = &self.inputs;
        let mut feed = ort::inputs![
            names.input_ids.as_str() => tensor(ids)?,
            names.attention_mask.as_str() => tensor(mask)?,
        ];
        if self.feeds_token_types {
            feed.push((names.token_type_ids.as_str().into(), tensor(types)?.into()));
        }
        if self.feeds_token_shapes {
            feed.push((names.token_shape.as_str().into(), tensor(shapes)?.into()));
        }
        let produced = self
            .session
            .run(feed)
            .map_err(|e| InferenceError::Run(e.to_string()))?;
        let mut per_window: Vec<WindowOutput> = (0..rows)
            .map(|_| Vec::with_capacity(self.outputs.len()))
            .collect();
        for (name, &per_token) in self.outputs.iter().zip(&self.per_token) {
            let (out_shape, data) = produced[name.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(|e| InferenceError::Run(format!("output `{name}`: {e}")))?;
            if out_shape.first().copied() != Some(rows as i64) {
                return Err(InferenceError::Run(format!(
                    "output `{name}` has shape {out_shape:?}, expected batch-first"
                )));
            }
            let per_row = data.len() / rows.max(1);
            for (row, chunk) in data.chunks(per_row.max(1)).take(rows).enumerate() {
                // Per-token outputs keep the window's own tokens, not the padding.
                let keep = if per_token {
                    windows[row].len() * (per_row / width)
                } else {
                    per_row
                };
                per_window[row].push(chunk[..keep.min(chunk.len())].to_vec());
            }
        }
        Ok(per_window)
    }
}

#[cfg(feature = "cuda")]
fn with_cuda(
    builder: ort::session::builder::SessionBuilder,
    device_id: i32,
) -> Result<ort::session::builder::SessionBuilder, String> {
    let cuda = ort::ep::CUDA::default()
        .with_device_id(device_id)
        .build()
        .error_on_failure();
    builder
        .with_execution_providers([cuda])
        .map_err(|e| format!("the CUDA execution provider could not be registered: {e}"))
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(
    _builder: ort::session::builder::SessionBuilder,
    _device_id: i32,
) -> Result<ort::session::builder::SessionBuilder, String> {
    Err("`device = \"cuda\"` needs a railyard built with `--features cuda`".to_string())
}

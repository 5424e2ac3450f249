//! Small dense networks read from head files: layers of `activation(weights x + bias)`, hidden
//! layers ReLU and the last one sigmoid unit (a logistic regression when it is the only layer).
//! The hallucination combiners and the response-harm head use them. Weights are written as
//! rows of numbers, or packed as little-endian float32 in base64 for the larger heads.

use base64::Engine;
use serde::{Deserialize, Deserializer};

/// One dense layer: `activation(weights x + bias)`, `weights` one row per output.
#[derive(Debug, Clone, Deserialize)]
pub struct Layer {
    #[serde(deserialize_with = "weight_rows")]
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
    pub activation: LayerActivation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerActivation {
    Relu,
    /// The last layer: one output, the probability.
    Sigmoid,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WeightsAsWritten {
    Rows(Vec<Vec<f32>>),
    Packed {
        rows: usize,
        cols: usize,
        f32le_base64: String,
    },
}

fn weight_rows<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f32>>, D::Error> {
    match WeightsAsWritten::deserialize(d)? {
        WeightsAsWritten::Rows(rows) => Ok(rows),
        WeightsAsWritten::Packed {
            rows,
            cols,
            f32le_base64,
        } => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(f32le_base64.as_bytes())
                .map_err(serde::de::Error::custom)?;
            if bytes.len() != rows * cols * 4 {
                return Err(serde::de::Error::custom(format!(
                    "packed weights hold {} bytes, expected {rows} x {cols} float32",
                    bytes.len()
                )));
            }
            let values: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok(values.chunks(cols.max(1)).map(<[f32]>::to_vec).collect())
        }
    }
}

/// The network's output (the last layer's first unit) for `input`.
pub fn forward(layers: &[Layer], input: Vec<f32>) -> f32 {
    let mut values = input;
    for layer in layers {
        values = layer
            .weights
            .iter()
            .zip(&layer.bias)
            .map(|(row, b)| {
                let z = b + dot(row, &values);
                match layer.activation {
                    LayerActivation::Relu => z.max(0.0),
                    LayerActivation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
                }
            })
            .collect();
    }
    values[0]
}

/// The dot product in eight lanes, which the compiler turns into SIMD (a plain iterator sum
/// must keep its order and stays scalar): the harm head's first layer is 128 rows of 1,537.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = a.chunks_exact(8).zip(b.chunks_exact(8));
    for (x, y) in chunks {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let tail = a.len().min(b.len()) / 8 * 8;
    let rest: f32 = a[tail..].iter().zip(&b[tail..]).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + rest
}

/// Checks that `layers` take `width` inputs, chain, and end in one sigmoid unit after ReLU
/// hidden layers; the message says what is wrong.
pub fn check(layers: &[Layer], width: usize) -> Result<(), String> {
    if layers.is_empty() {
        return Err("no layers".into());
    }
    let mut width = width;
    for (i, layer) in layers.iter().enumerate() {
        let last = i + 1 == layers.len();
        if layer.weights.is_empty()
            || layer.weights.len() != layer.bias.len()
            || layer.weights.iter().any(|row| row.len() != width)
        {
            return Err(format!(
                "layer {i} must have rows of {width} weights and one bias per row"
            ));
        }
        if last != (layer.activation == LayerActivation::Sigmoid) || (last && layer.bias.len() != 1)
        {
            return Err("hidden layers are relu, the last is one sigmoid unit".into());
        }
        width = layer.bias.len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_weights_read_as_the_rows_they_pack() {
        let values: Vec<f32> = vec![1.0, -2.0, 0.5, 4.0, 0.0, 3.0];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let packed = base64::engine::general_purpose::STANDARD.encode(bytes);
        let json = format!(
            r#"{{"weights": {{"rows": 2, "cols": 3, "f32le_base64": "{packed}"}}, "bias": [0, 0], "activation": "relu"}}"#
        );
        let layer: Layer = serde_json::from_str(&json).unwrap();
        assert_eq!(
            layer.weights,
            vec![vec![1.0, -2.0, 0.5], vec![4.0, 0.0, 3.0]]
        );
        let short = json.replace("\"rows\": 2", "\"rows\": 3");
        assert!(serde_json::from_str::<Layer>(&short).is_err());
    }

    #[test]
    fn dot_equals_the_plain_sum_for_any_length() {
        for n in [0, 1, 7, 8, 9, 17, 1537] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-3, "{n}");
        }
    }

    #[test]
    fn forward_applies_relu_then_sigmoid_and_check_finds_bad_shapes() {
        let layers: Vec<Layer> = serde_json::from_str(
            r#"[{"weights": [[1, 0], [0, -1]], "bias": [0, 0], "activation": "relu"},
                {"weights": [[2, 2]], "bias": [-1], "activation": "sigmoid"}]"#,
        )
        .unwrap();
        // relu([1, -1]) = [1, 0]; sigmoid(2 - 1)
        let want = 1.0 / (1.0 + (-1.0f32).exp());
        assert!((forward(&layers, vec![1.0, 1.0]) - want).abs() < 1e-6);
        assert!(check(&layers, 2).is_ok());
        assert!(check(&layers, 3).is_err());
        assert!(check(&layers[..1], 2).is_err());
    }
}

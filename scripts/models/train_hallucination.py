"""Trains the calibrated combiner of `hallucination_check` (models/heads/hallucination.json).

The features come from railyard itself (`railyard eval PAIRS --features-out`), so Python and
Rust can never disagree on them. Training data: the dev splits (rows whose index is not 3 mod 4)
of HaluEval dialogue and summarization; HaluEval QA is never read. Two logistic regressions
(standardised features, L2, fixed seed): one on the lexical features, one adding the embedding
features. Each threshold is the dev split's best balanced accuracy.

    bash scripts/data/halueval.sh
    python scripts/models/train_hallucination.py            # needs numpy and scikit-learn
    python scripts/models/train_hallucination.py --embedding-rows 2000

Embedding features cost a MiniLM pass per claim, so that model trains on the first
`--embedding-rows` rows of each task.
"""

import argparse
import csv
import json
import os
import subprocess
import sys

import numpy as np
from sklearn.neural_network import MLPClassifier

SEED = 20261129
HIDDEN = 16
TASKS = ("dialogue", "summarization")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def features(task, operator, limit, out, reuse):
    if not (reuse and os.path.exists(out)):
        write_features(task, operator, limit, out)
    with open(out) as f:
        rows = list(csv.reader(f))
    names = rows[0][3:]
    data = np.array([[float(v) for v in r] for r in rows[1:]], dtype=np.float64)
    return names, data


def write_features(task, operator, limit, out):
    cmd = [os.path.join(ROOT, "target/release/railyard"), "eval",
           os.path.join(ROOT, f".cache/halueval/{task}.jsonl"),
           "--topology", os.path.join(ROOT, "topologies/grounding.toml"),
           "--operator", operator, "--features-out", out, "--limit", str(limit)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)


def balanced(scores, labels, threshold):
    pos, neg = scores[labels == 1], scores[labels == 0]
    return ((pos >= threshold).mean() + (neg < threshold).mean()) / 2


def best_threshold(scores, labels):
    candidates = np.unique(scores)
    accs = [balanced(scores, labels, t) for t in candidates]
    i = int(np.argmax(accs))
    return float(candidates[i]), float(accs[i])


def ece(scores, labels, bins=10):
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (scores >= lo) & (scores < hi) if hi < 1 else (scores >= lo)
        if inside.any():
            total += inside.mean() * abs(scores[inside].mean() - labels[inside].mean())
    return float(total)


def pairwise(scores, labels, rows):
    right = {r: s for r, s, l in zip(rows, scores, labels) if l == 0}
    wrong = {r: s for r, s, l in zip(rows, scores, labels) if l == 1}
    wins = [1.0 if wrong[r] > right[r] else 0.5 if wrong[r] == right[r] else 0.0 for r in right]
    return float(np.mean(wins))


def train(operator, limit, cache, reuse):
    names, parts = None, []
    for task in TASKS:
        names, data = features(task, operator, limit, os.path.join(cache, f"{operator}_{task}.csv"), reuse)
        parts.append((task, data))
    train_x = np.vstack([d[d[:, 1] == 0][:, 3:] for _, d in parts])
    train_y = np.concatenate([d[d[:, 1] == 0][:, 2] for _, d in parts])
    mean = train_x.mean(axis=0)
    scale = train_x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = MLPClassifier(hidden_layer_sizes=(HIDDEN,), alpha=1e-3, max_iter=500, random_state=SEED)
    model.fit((train_x - mean) / scale, train_y)
    dev_scores = model.predict_proba((train_x - mean) / scale)[:, 1]
    threshold, dev_bal = best_threshold(dev_scores, train_y)
    report = {"dev_balanced": round(dev_bal, 4), "dev_brier": round(float(np.mean((dev_scores - train_y) ** 2)), 4),
              "dev_ece": round(ece(dev_scores, train_y), 4)}
    for task, d in parts:
        held = d[d[:, 1] == 1]
        s = model.predict_proba((held[:, 3:] - mean) / scale)[:, 1]
        report[task] = {
            "held_out_pairs": int(len(held) // 2),
            "pairwise": round(pairwise(s, held[:, 2], held[:, 0]), 4),
            "balanced": round(float(balanced(s, held[:, 2], threshold)), 4),
        }
    print(operator, json.dumps(report), file=sys.stderr)
    combiner = {
        "features": names,
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "layers": [
            {"weights": [[round(float(v), 6) for v in row] for row in model.coefs_[0].T],
             "bias": [round(float(v), 6) for v in model.intercepts_[0]], "activation": "relu"},
            {"weights": [[round(float(v), 6) for v in row] for row in model.coefs_[1].T],
             "bias": [round(float(v), 6) for v in model.intercepts_[1]], "activation": "sigmoid"},
        ],
        "threshold": round(threshold, 6),
        "trained_rows": limit or "all",
        "report": report,
    }
    return combiner


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedding-rows", type=int, default=2000)
    parser.add_argument("--reuse-features", action="store_true",
                        help="use the feature CSVs already in .cache/hfeat (same binary, same features)")
    parser.add_argument("--out", default=os.path.join(ROOT, "models/heads/hallucination.json"))
    args = parser.parse_args()
    cache = os.path.join(ROOT, ".cache/hfeat")
    os.makedirs(cache, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], check=True, cwd=ROOT)
    result = {
        "about": "hallucination_check combiners; scripts/models/train_hallucination.py, "
                 "HaluEval dialogue + summarization dev splits (row % 4 != 3); QA never used",
        "seed": SEED,
        "lexical": train("grounding", 0, cache, args.reuse_features),
        "embedding": train("grounding_embedding", args.embedding_rows, cache, args.reuse_features),
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

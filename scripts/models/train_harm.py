"""Trains the response-harm head of `harm_classify`; writes models/heads/harm.json.

The head reads the MiniLM `features` output the other heads read (the encoder pass is shared):
for each window of the response r, and the prompt's features p (element-wise max over its
windows; zeros when there is no prompt), a small network (one ReLU layer, one sigmoid unit;
scikit-learn's MLPClassifier, fixed seed) scores [r, p, has_prompt], and a response's score is
its worst window's. A linear head over [r, p, r * p] was tried first: test F1 0.74 against the
network's 0.82 on the same split, because a refusal that names the request shares its words
with compliance. A category head (softmax over harm_data.TAXONOMY, over one text's features; an
L-BFGS logistic regression) says which kind of harm: the mean of its distributions over the
worst window and the prompt. The hidden width, the regularisation and the threshold are chosen
on the dev split (best F1 among thresholds whose dev false-positive rate is at most
MAX_DEV_FPR). The test split only reports.

    .venv/bin/python scripts/models/train_harm.py [--model models/minilm/model.onnx] [--out models/heads/harm.json]
"""

import argparse
import base64
import hashlib
import json
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

import features
import harm_data
import harm_student
import student

SEED = 20261207
MAX_TOKENS = 128
STRIDE = 32
MAX_DEV_FPR = 0.02


def text_windows(sess, tok, texts):
    """Per text, the `features` of each of its windows (a list of [windows, 768] arrays)."""
    key = hashlib.sha256(("\x00".join(texts) + sess._model_path).encode()).hexdigest()[:24]
    path = os.path.join(".cache", "features", "harm_" + key + ".npz")
    if os.path.exists(path):
        stored = np.load(path)
        return np.split(stored["values"], stored["cuts"])
    owners, encodings = [], []
    for i, text in enumerate(texts):
        for e in features.windows(tok, text):
            owners.append(i)
            encodings.append(e)
    values = features.run(sess, encodings, ["features"])["features"]
    cuts = np.cumsum(np.bincount(owners, minlength=len(texts)))[:-1]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez(path, values=values, cuts=cuts)
    return np.split(values, cuts)


def pair_features(response_window, prompt):
    has_prompt = np.array([float(np.any(prompt))], np.float32)
    return np.concatenate([response_window, prompt, has_prompt])


def prompt_features(windows):
    return windows.max(axis=0) if len(windows) else np.zeros(768, np.float32)


def window_rows(rows, response_windows, prompt_windows):
    """One training row per response window (the label of its pair)."""
    x, y = [], []
    for row, rw, pw in zip(rows, response_windows, prompt_windows):
        p = prompt_features(pw) if row["prompt"] else np.zeros(rw.shape[1], np.float32)
        for w in rw:
            x.append(pair_features(w, p))
            y.append(row["harmful"])
    return np.array(x, np.float32), np.array(y)


def scores(model, rows, response_windows, prompt_windows):
    """Per pair, the worst window's probability (the runtime's rule)."""
    out = []
    for row, rw, pw in zip(rows, response_windows, prompt_windows):
        p = prompt_features(pw) if row["prompt"] else np.zeros(rw.shape[1], np.float32)
        x = np.array([pair_features(w, p) for w in rw])
        out.append(model.predict_proba(x)[:, 1].max())
    return np.array(out)


def choose_threshold(y, p):
    negatives = max(1, int((y == 0).sum()))
    best = (-1.0, 0.5)
    for t in np.unique(np.round(p, 3)):
        fpr = ((p >= t) & (y == 0)).sum() / negatives
        if fpr <= MAX_DEV_FPR:
            best = max(best, (f1_score(y, p >= t), float(t)))
    return best[1]


def report(y, p, threshold, sources=None):
    predicted = p >= threshold
    negatives = max(1, int((y == 0).sum()))
    out = {"n": int(len(y)), "positives": int(y.sum()),
           "precision": round(precision_score(y, predicted, zero_division=0), 4),
           "recall": round(recall_score(y, predicted), 4),
           "f1": round(f1_score(y, predicted), 4),
           "fpr": round(float((predicted & (y == 0)).sum() / negatives), 4),
           "roc_auc": round(roc_auc_score(y, p), 4)}
    if sources is not None:
        by_source = {}
        for source in sorted(set(sources)):
            mask = np.array([s == source for s in sources])
            if (y[mask] == 0).all():
                by_source[source] = {"n": int(mask.sum()), "fpr": round(float(predicted[mask].mean()), 4)}
            else:
                by_source[source] = {"n": int(mask.sum()), "recall": round(float(predicted[mask & (y == 1)].mean()), 4)}
        out["by_source"] = by_source
    return out


def category_accuracy(model, category_model, rows, response_windows, prompt_windows):
    """Share of the harmful pairs whose most likely category is their (rule-assigned) one."""
    labels = list(category_model.classes_)
    hits = []
    for row, rw, pw in zip(rows, response_windows, prompt_windows):
        if not row["harmful"]:
            continue
        p = prompt_features(pw) if row["prompt"] else np.zeros(rw.shape[1], np.float32)
        worst = int(model.predict_proba(np.array([pair_features(w, p) for w in rw]))[:, 1].argmax())
        dist = category_model.predict_proba(rw[worst:worst + 1])[0]
        if row["prompt"]:
            dist = (dist + category_model.predict_proba(p[None, :])[0]) / 2
        hits.append(labels[int(dist.argmax())] == row["category"])
    return round(float(np.mean(hits)), 4)


def rounded(values, digits=6):
    return [float(f"{v:.{digits}g}") for v in np.asarray(values).ravel()]


def packed(matrix):
    """Rows of weights as little-endian float32 in base64 (dense.rs reads either form)."""
    matrix = np.asarray(matrix, np.float32)
    return {"rows": int(matrix.shape[0]), "cols": int(matrix.shape[1]),
            "f32le_base64": base64.b64encode(matrix.astype("<f4").tobytes()).decode()}


def layers_of(mlp):
    """The network as dense layers, weights one row per output unit."""
    out = []
    for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
        last = i == len(mlp.coefs_) - 1
        out.append({"weights": packed(w.T), "bias": [float(v) for v in b],
                    "activation": "sigmoid" if last else "relu"})
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="models/minilm/model.onnx")
    parser.add_argument("--tokenizer", default="models/minilm/tokenizer.json")
    parser.add_argument("--out", default="models/heads/harm.json")
    parser.add_argument("--student", default="models/heads/student.json",
                        help="the cascade student file; its `harm` head is (re)written, the others kept")
    args = parser.parse_args()
    np.random.seed(SEED)
    sess = features.session(args.model)
    sess._model_path = open(args.model, "rb").read(1 << 20).hex()[:64] + str(os.path.getsize(args.model))
    tok = features.load_tokenizer(args.tokenizer, MAX_TOKENS, STRIDE)

    rows = harm_data.rows()
    split = {name: [r for r in rows if r["split"] == name] for name in ("train", "dev", "test")}
    windows = {}
    for name, part in split.items():
        windows[name] = (text_windows(sess, tok, [r["response"] for r in part]),
                         text_windows(sess, tok, [r["prompt"] for r in part]))

    x_train, y_train = window_rows(split["train"], *windows["train"])
    y_dev = np.array([r["harmful"] for r in split["dev"]])
    best = None
    for hidden in (64, 128):
        for alpha in (1e-3, 1e-2):
            model = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=alpha, max_iter=200,
                                  random_state=SEED, early_stopping=True)
            model.fit(x_train, y_train)
            p_dev = scores(model, split["dev"], *windows["dev"])
            auc = roc_auc_score(y_dev, p_dev)
            print(f"hidden={hidden} alpha={alpha}: dev ROC-AUC {auc:.4f}")
            if best is None or auc > best[0]:
                best = (auc, {"hidden": hidden, "alpha": alpha}, model, p_dev)
    auc, c, model, p_dev = best
    threshold = choose_threshold(y_dev, p_dev)

    # The category head: one text's features -> category, from harmful requests (their
    # prompts) and the windows of harmful responses, training split only.
    cx, cy = [], []
    for row, rw, pw in zip(split["train"], *windows["train"]):
        category = row["category"] or (harm_data.category_of(row["prompt"], row["source"].split(":", 1)[-1])
                                       if row["source"].startswith("refusal:") else None)
        if category is None:
            continue
        if row["prompt"]:
            cx.append(prompt_features(pw))
            cy.append(category)
        if row["harmful"]:
            cx.extend(rw)
            cy.extend([category] * len(rw))
    category_best = None
    for category_c in (0.1, 0.3, 1.0, 3.0, 10.0):
        candidate = LogisticRegression(C=category_c, max_iter=5000, random_state=SEED)
        candidate.fit(np.array(cx), np.array(cy))
        accuracy = category_accuracy(model, candidate, split["dev"], *windows["dev"])
        print(f"category C={category_c}: dev accuracy {accuracy}")
        if category_best is None or accuracy > category_best[0]:
            category_best = (accuracy, category_c, candidate)
    _, category_c, category_model = category_best
    labels = list(category_model.classes_)

    test = split["test"]
    y_test = np.array([r["harmful"] for r in test])
    p_test = scores(model, test, *windows["test"])
    figures = {"network": c, "dev_roc_auc": round(auc, 4), "threshold": threshold,
               "category_C": category_c,
               "test_category_accuracy": category_accuracy(model, category_model, test, *windows["test"]),
               "dev": report(y_dev, p_dev, threshold),
               "test": report(y_test, p_test, threshold, [r["source"] for r in test])}
    print(json.dumps(figures, indent=1))

    # Reference scores for the Rust test (float32 graph): a few test pairs of each kind.
    reference = []
    picks = [r for r in test if r["harmful"]][:3] + [r for r in test if r["source"].startswith("refusal:")][:2] \
        + [r for r in test if r["source"] == "halueval:dialogue"][:2] + [r for r in test if not r["prompt"]][:1]
    for r in picks:
        i = test.index(r)
        rw, pw = windows["test"][0][i], windows["test"][1][i]
        p = prompt_features(pw) if r["prompt"] else np.zeros(768, np.float32)
        window_scores = model.predict_proba(np.array([pair_features(w, p) for w in rw]))[:, 1]
        worst = int(window_scores.argmax())
        dist = category_model.predict_proba(rw[worst:worst + 1])[0]
        if r["prompt"]:
            dist = (dist + category_model.predict_proba(p[None, :])[0]) / 2
        reference.append({"prompt": r["prompt"], "response": r["response"],
                          "score": round(float(window_scores[worst]), 6),
                          "category": labels[int(dist.argmax())]})

    document = {
        "encoder_output": "features",
        "max_tokens": MAX_TOKENS,
        "stride": STRIDE,
        "seed": SEED,
        "inputs": "[response window (768), prompt max over windows (768), has_prompt]",
        "harm": {"layers": layers_of(model), "threshold": threshold},
        "categories": {"labels": labels, "weights": [rounded(w) for w in category_model.coef_],
                       "bias": rounded(category_model.intercept_)},
        "figures": figures,
        "reference": reference,
    }
    with open(args.out, "w") as f:
        json.dump(document, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", args.out, os.path.getsize(args.out), "bytes")

    # The cascade student's `harm` head, with the head above as its teacher.
    extra = harm_student.distilled_texts(np.random.default_rng(SEED))
    teacher = {"dev": p_dev, "test": p_test}
    bag = student.load_tokenizer(args.tokenizer)
    head = harm_student.train(bag, split, teacher, threshold, extra)
    print("student harm head:", json.dumps(head["training"]))
    with open(args.student) as f:
        students = json.load(f)
    students["heads"]["harm"] = head
    student.write(students, bag, args.student)
    print("wrote", args.student, os.path.getsize(args.student), "bytes")


if __name__ == "__main__":
    main()

"""The cascade student's `harm` head: decides "clean" for responses the harm head would pass.

The same sparse bag-of-word-pieces student as the toxicity and injection heads (student.py),
over the response text alone, trained on harm_data's rows and on DISTILLED more ordinary LLM
responses (HaluEval dialogue and summaries of the training split, as not harm: the teacher's
rare response-only false positives on them are not taught). It only ever decides "clean":
`clean_below` is the highest score under which at most MISS_BUDGET of the
teacher's dev true positives fall, and `flag_above` is 1.01 (never), because whether a response
is harm depends on its prompt, which the student does not read. The regularisation is the one
under which the student decides the most ordinary dev responses (ORDINARY sources) at that
threshold. train_harm.py writes the head into models/heads/student.json beside the others.
"""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score

import datasets
import student
import train_student

DISTILLED = 5000
ORDINARY = ("halueval:", "rust_books", "langkit:")
# The recall the student may cost, as a share of the teacher's dev true positives: stricter
# than the toxicity and injection heads' (train_student.MISS_BUDGET, 0.05), because a missed
# compliant answer is worse, and a bag of word pieces generalises poorly to kinds of harm
# that training does not show. Tried at 0.05 (2026-12-07): the student passed a compliant
# Wi-Fi cracking answer (tests/it/harm.rs).
MISS_BUDGET = 0.02


def clean_below(scores, true_positives):
    """Highest threshold under which at most MISS_BUDGET of the teacher's true positives fall."""
    kept = np.sort(scores[true_positives])
    if len(kept) == 0:
        return 0.0
    return float(np.floor(kept[int(np.floor(MISS_BUDGET * len(kept)))] * 1e5) / 1e5)


def train(bag, rows, teacher_scores, teacher_threshold, distilled):
    """rows: {split: [pair rows]}; teacher_scores: {split: harm head scores of those rows};
    distilled: extra ordinary training responses."""
    texts = {s: [r["response"] for r in rows[s]] for s in rows}
    labels = {s: np.array([r["harmful"] for r in rows[s]]) for s in rows}
    x_train = student.matrix(bag, texts["train"] + distilled)
    y_train = np.concatenate([labels["train"], np.zeros(len(distilled), int)])
    x = {s: student.matrix(bag, texts[s]) for s in ("dev", "test")}
    true_positives = (teacher_scores["dev"] >= teacher_threshold) & (labels["dev"] == 1)
    ordinary = np.array([r["source"].startswith(ORDINARY) for r in rows["dev"]])
    best = None
    for c in (0.1, 0.3, 1.0, 3.0):
        model = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=c, max_iter=2000,
                                   random_state=train_student.SEED)
        model.fit(x_train, y_train)
        p = model.predict_proba(x["dev"])[:, 1]
        share = float((p[ordinary] < clean_below(p, true_positives)).mean())
        print(f"harm student C={c}: decides {share:.3f} of ordinary dev responses")
        if best is None or share > best[0]:
            best = (share, c, model, roc_auc_score(labels["dev"], p))
    _, c, model, auc = best
    coef = model.coef_[0]
    nonzero = np.flatnonzero(np.abs(coef) >= 1e-4)
    head = {"labels": ["harm"], "bias": [round(float(model.intercept_[0]), train_student.DIGITS)],
            "weights": [[[int(i), round(float(coef[i]), train_student.DIGITS)] for i in nonzero]]}
    scores = {s: student.head_scores(head, x[s])[:, 0] for s in x}
    low = clean_below(scores["dev"], true_positives)
    head.update({"clean_below": [low], "flag_above": [1.01]})
    report = {"C": c, "dev_ordinary_decided": round(best[0], 4), "dev_roc_auc": round(auc, 4), "nonzero_weights": int(len(nonzero))}
    for s in ("dev", "test"):
        decided = scores[s] < low
        teacher = teacher_scores[s] >= teacher_threshold
        cascade = np.where(decided, False, teacher)
        report[s] = {"rows": int(len(decided)), "decided": round(float(decided.mean()), 4),
                     "teacher_f1": round(f1_score(labels[s], teacher), 4),
                     "cascade_f1": round(f1_score(labels[s], cascade), 4)}
    head["training"] = report
    return head


def distilled_texts(rng):
    """DISTILLED ordinary LLM responses of the training split."""
    responses = [t for t in datasets.llm_responses() if datasets.split_of(t) == "train"]
    return [responses[i] for i in sorted(rng.choice(len(responses), DISTILLED, replace=False))]

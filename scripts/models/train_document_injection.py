"""Trains the document-injection head (models/heads/document_injection.json): does one segment
of a context passage (a line, or a sentence of a long line) address the assistant with a task
of its own, rather than carry the document's content?

`injection_classify` with `fields = ["context"]` splits each passage into such segments
(src/operators/document_injection.rs), scores each with this head over the MiniLM `features`
output (one logistic regression), and reports the passage's worst segment.

Data (no test split of any benchmark is read):
- positives: BIPIA's *train* attacks (text and code, 125 strings in 25 categories; MIT,
  github.com/microsoft/BIPIA, `--bipia-benchmark`), each repeated 8 times, and 4,000 requests
  that people address to an assistant: the prompts of ../shared/data/injection_dev.jsonl
  (benign and jailbreak alike) and the last human turns of HaluEval dialogue histories. Inside a
  retrieved document, any of those is an instruction planted for the model.
- negatives: the segments of BIPIA's train contexts (50 emails, 300 of 900 tables, 50 code
  answers), of 300 HaluEval summarization articles and 1,000 dialogue knowledge snippets.
Dev: every 5th of BIPIA's train attack categories (never trained on) planted in every 5th
train context (never trained on) at the end, the start or before a sentence in the middle, as
BIPIA builds its samples; and the sentences of 100 more articles and 500 more knowledge
snippets. For each C the threshold is the lowest at which at most 3% of clean dev passages and
1% of dev article sentences are reported; the C with the best dev recall at its threshold
ships.

    git clone https://github.com/microsoft/BIPIA /tmp/BIPIA
    python scripts/models/train_document_injection.py --bipia-benchmark /tmp/BIPIA/benchmark
"""

import argparse
import json
import random
import re
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

import datasets
import features

SEED = 20261207
MAX_TOKENS = 128
STRIDE = 32
ATTACK_REPEATS = 8
REQUESTS = 4000
PASSAGE_FPR = 0.03
SENTENCE_FPR = 0.01
# Must match src/operators/document_injection.rs.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def segments(passage):
    """Lines, and the sentences of each line (the runtime's rule)."""
    out = []
    for line in passage.split("\n"):
        out += [s.strip() for s in SENTENCE_END.split(line) if s.strip()]
    return out


def bipia_contexts(benchmark, task):
    rows = [json.loads(line) for line in (benchmark / task / "train.jsonl").read_text().splitlines() if line]
    return ["\n".join(r["context"]) if task == "code" else r["context"] for r in rows]


def data(benchmark, rng):
    attacks = {k: json.loads((benchmark / f"{k}_attack_train.json").read_text()) for k in ("text", "code")}
    categories = sorted((k, c) for k in attacks for c in attacks[k])
    dev_categories = set(categories[::5])
    planted = {"train": [], "dev": []}
    for k, c in categories:
        planted["dev" if (k, c) in dev_categories else "train"] += attacks[k][c]
    prompts = [r["text"] for r in map(json.loads, open(f"{datasets.SHARED}/injection_dev.jsonl"))]
    turns = [datasets.last_human_turn(h) for h in datasets.halueval("dialogue", "dialogue_history")[:3000]]
    requests = [t for t in prompts + turns if t and len(t) < 600]
    rng.shuffle(requests)
    contexts = {t: bipia_contexts(benchmark, t) for t in ("email", "table", "code")}
    contexts["table"] = contexts["table"][:300]
    documents = {"train": [], "dev": []}
    for task, texts in contexts.items():
        for i, text in enumerate(texts):
            documents["dev" if i % 5 == 0 else "train"].append((task, text))
    news = datasets.halueval("summarization", "document")[:400]
    knowledge = datasets.halueval("dialogue", "knowledge")[:1500]
    positives = planted["train"] * ATTACK_REPEATS + requests[:REQUESTS]
    negatives = [s for _, text in documents["train"] for s in segments(text)]
    negatives += [s for d in news[:300] for s in segments(d)] + knowledge[:1000]
    dev_sentences = [s for d in news[300:] for s in segments(d)] + knowledge[1000:]
    dev_passages = []
    for j, (task, text) in enumerate(documents["dev"]):
        dev_passages.append((task, 0, text))
        for n, attack in enumerate(planted["dev"][j % 5::5][:6]):
            dev_passages.append((task, 1, datasets.bipia_insert(text, attack, ("end", "start", "middle")[n % 3], rng)))
    return positives, negatives, dev_passages, dev_sentences


def passage_scores(model, feats, passages):
    lists = [segments(p) for _, _, p in passages]
    flat = model.predict_proba(feats([s for l in lists for s in l]))[:, 1]
    out, i = [], 0
    for l in lists:
        out.append(float(flat[i:i + len(l)].max()) if l else 0.0)
        i += len(l)
    return np.array(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bipia-benchmark", type=Path, required=True)
    parser.add_argument("--model", default="models/minilm/model.onnx")
    parser.add_argument("--tokenizer", default="models/minilm/tokenizer.json")
    parser.add_argument("--out", default="models/heads/document_injection.json")
    args = parser.parse_args()
    rng = random.Random(SEED)
    sess = features.session(args.model)
    tok = features.load_tokenizer(args.tokenizer, MAX_TOKENS, STRIDE)

    def feats(texts):
        return np.array(features.first_window_features(sess, tok, texts))

    positives, negatives, dev_passages, dev_sentences = data(args.bipia_benchmark, rng)
    x = np.vstack([feats(positives), feats(negatives)])
    y = np.array([1] * len(positives) + [0] * len(negatives))
    labels = np.array([label for _, label, _ in dev_passages])
    sentence_feats = feats(dev_sentences)
    best = None
    for c in (0.1, 0.3, 1.0):
        model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, y)
        scores = passage_scores(model, feats, dev_passages)
        sentence_scores = model.predict_proba(sentence_feats)[:, 1]
        candidates = np.unique(np.concatenate([scores, sentence_scores]))
        ok = [t for t in candidates
              if (scores[labels == 0] >= t).mean() <= PASSAGE_FPR and (sentence_scores >= t).mean() <= SENTENCE_FPR]
        threshold = float(min(ok))
        recall = float((scores[labels == 1] >= threshold).mean())
        report = {"C": c, "threshold": round(threshold, 6), "dev_recall": round(recall, 4),
                  "dev_passage_fpr": round(float((scores[labels == 0] >= threshold).mean()), 4),
                  "dev_sentence_fpr": round(float((sentence_scores >= threshold).mean()), 4),
                  "dev_passages": {"planted": int(labels.sum()), "clean": int((labels == 0).sum())},
                  "dev_sentences": len(dev_sentences)}
        print(json.dumps(report))
        if best is None or recall > best[0]:
            best = (recall, model, report)
    _, model, report = best
    head = {
        "about": "document-injection head: does a segment of a context passage address the assistant? "
                 "scripts/models/train_document_injection.py; BIPIA train split only",
        "encoder_output": "features",
        "layers": [{"weights": [[round(float(v), 6) for v in model.coef_[0]]],
                    "bias": [round(float(model.intercept_[0]), 6)], "activation": "sigmoid"}],
        "threshold": report["threshold"],
        "report": report,
        "training_rows": {"positives": len(positives), "negatives": len(negatives)},
    }
    Path(args.out).write_text(json.dumps(head, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

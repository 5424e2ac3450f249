#!/usr/bin/env bash
# Fuzzes the event decoder, the Avro path and the topology parser for a bounded time each
# (FUZZ_SECONDS, default 60) with cargo-fuzz (libFuzzer), then prints executions, corpus size
# and crashes per target. Exit status 1 when any target crashed (artifacts in fuzz/artifacts).
#
# cargo-fuzz passes flags that need a nightly compiler; no nightly toolchain can be fetched
# here, so RUSTC_BOOTSTRAP=1 lets the stable one accept them. No sanitizer (`-s none`):
# the targets are safe Rust, and libFuzzer still finds panics, aborts, timeouts and OOMs.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
TARGETS="${FUZZ_TARGETS:-event_decoder avro_decoder topology_parser}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none -O

mkdir -p logs
failed=0
summary=()
for target in $TARGETS; do
  mkdir -p "corpus/$target" "artifacts/$target"
  cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
  before=$(ls "artifacts/$target" | wc -l)
  status=0
  cargo fuzz run -s none -O "$target" "corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    >"logs/$target.log" 2>&1 || status=$?
  runs=$(grep -oE 'Done [0-9]+ runs' "logs/$target.log" | tail -1 | grep -oE '[0-9]+' || echo "?")
  if [ "$runs" = "?" ]; then
    runs=$(grep -oE '^#[0-9]+' "logs/$target.log" | tail -1 | tr -d '#' || echo "?")
  fi
  crashes=$(( $(ls "artifacts/$target" | wc -l) - before ))
  corpus=$(ls "corpus/$target" | wc -l)
  summary+=("$target: ${runs} executions in ${SECONDS_PER_TARGET}s, corpus ${corpus}, new crashes ${crashes}, exit ${status}")
  if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    failed=1
    tail -30 "logs/$target.log"
  fi
done
printf '%s\n' "${summary[@]}"
exit "$failed"

#!/usr/bin/env bash
# The test command: makes sure the models and the test brokers' jars are there, then runs
# every test.
#
# Model tests run the real all-MiniLM-L6-v2 ONNX model through the ONNX Runtime library of the
# onnxruntime==1.31.1 wheel; scripts/setup.sh builds both (once, about a minute).
#
# Kafka tests run against Apache Kafka (KRaft, plain JVM processes started by
# scripts/kafka/broker.sh on free local ports) and the Avro tests against Apicurio Registry;
# scripts/kafka/fetch.sh fetches both from Maven Central once (needs Java 17, Java 21+ for the
# registry, and Maven).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/kafka/fetch.sh
bash scripts/setup.sh

cargo test --release --locked "$@"

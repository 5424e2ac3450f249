#!/usr/bin/env bash
# Fetches, once, what the Kafka tests, the bench and a broker-less user need from Maven Central:
# the Apache Kafka broker's jars (pinned in scripts/kafka/pom.xml) and Apicurio Registry's
# runnable archive (a Schema Registry with a Confluent-compatible API), into a cache, and
# compiles the readiness probe. Later runs find them there and return at once.
#
#   bash scripts/kafka/fetch.sh            # both
#   bash scripts/kafka/fetch.sh kafka      # the broker only
#
# Prints nothing but errors; the cache is $RAILYARD_CACHE_DIR (default ~/.cache/railyard).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/kafka/env.sh
source "$here/env.sh"

fetch_kafka() {
  if [ ! -f "$KAFKA_HOME/.complete" ]; then
    command -v mvn >/dev/null || { echo "error: Maven (mvn) is needed to fetch the Kafka jars (Debian: maven)" >&2; exit 1; }
    rm -rf "$KAFKA_HOME"
    mkdir -p "$KAFKA_HOME/libs"
    mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs" >"$KAFKA_HOME/fetch.log" 2>&1 \
      || { tail -30 "$KAFKA_HOME/fetch.log" >&2; echo "error: fetching the Kafka jars failed" >&2; exit 1; }
    touch "$KAFKA_HOME/.complete"
  fi
  # The admin helper, compiled again whenever its source changes.
  if ! cmp -s "$here/KafkaAdmin.java" "$KAFKA_HOME/probe/KafkaAdmin.java"; then
    rm -rf "$KAFKA_HOME/probe"
    mkdir -p "$KAFKA_HOME/probe"
    "$JAVA17/bin/javac" -d "$KAFKA_HOME/probe" -cp "$KAFKA_HOME/libs/*" "$here/KafkaAdmin.java"
    cp "$here/KafkaAdmin.java" "$KAFKA_HOME/probe/KafkaAdmin.java"
  fi
}

fetch_registry() {
  [ -f "$APICURIO_HOME/.complete" ] && return 0
  command -v mvn >/dev/null || { echo "error: Maven (mvn) is needed to fetch Apicurio Registry (Debian: maven)" >&2; exit 1; }
  rm -rf "$APICURIO_HOME"
  mkdir -p "$APICURIO_HOME"
  mvn -q -B dependency:copy -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
    -DoutputDirectory="$APICURIO_HOME" >"$APICURIO_HOME/fetch.log" 2>&1 \
    || { tail -30 "$APICURIO_HOME/fetch.log" >&2; echo "error: fetching Apicurio Registry failed" >&2; exit 1; }
  tar xzf "$APICURIO_HOME/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$APICURIO_HOME"
  rm "$APICURIO_HOME/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
  touch "$APICURIO_HOME/.complete"
}

case "${1:-all}" in
  kafka) fetch_kafka ;;
  registry) fetch_registry ;;
  all) fetch_kafka; fetch_registry ;;
  *) echo "usage: fetch.sh [kafka|registry|all]" >&2; exit 2 ;;
esac

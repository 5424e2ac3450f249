# Shared by the Kafka scripts: pinned versions, cache locations and the JDKs.
# The Kafka version is pinned in pom.xml; this reads it from there so it is written once.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
APICURIO_VERSION=3.3.3
CACHE_DIR="${RAILYARD_CACHE_DIR:-$HOME/.cache/railyard}"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
APICURIO_HOME="$CACHE_DIR/apicurio-registry-$APICURIO_VERSION"

# A JDK of at least the given major version: $JAVA_HOME, then the system's JVM folder.
find_jdk() {
  local want="$1" candidate major
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/javac" ] || continue
    major="$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 \
      | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')"
    if [ -n "$major" ] && [ "$major" -ge "$want" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
# The broker runs on Java 17 or newer; Apicurio Registry 3.2+ needs Java 21 or newer.
JAVA17="$(find_jdk 17)" || { echo "error: a JDK 17 or newer is needed for the Kafka broker (Debian: openjdk-17-jdk-headless)" >&2; exit 1; }
JAVA21="$(find_jdk 21 || true)"

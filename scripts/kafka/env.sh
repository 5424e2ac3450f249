# Shared by the Kafka scripts: pinned versions, cache locations, the JDKs, and the process
# helpers of broker.sh and registry.sh (free ports, stopping by pid, the watchdog).
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

# N free local ports, space-separated.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Sends SIGNAL to PID and waits up to 30 s for it to exit, then SIGKILLs it.
stop_pid() {
  local pid="$1" signal="$2" i
  kill "-$signal" "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
}

# Detached: once process WATCH is gone, SIGKILLs every process with a pid file in DIR (DIR/pid,
# DIR/node-*/pid) and removes DIR. Outlives the script that starts it, not the watched process.
start_watchdog() {
  local watch="$1" dir="$2"
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
    for pidfile in "$2"/pid "$2"/node-*/pid; do
      [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null
    done
    sleep 0.5
    rm -rf "$2"' watchdog "$watch" "$dir" >/dev/null 2>&1 </dev/null &
}

#!/usr/bin/env bash
# Apicurio Registry (a Schema Registry with a Confluent-compatible API under /apis/ccompat/v7)
# as a plain JVM process on a free local port, its storage an H2 file under DIR so a restart
# keeps every schema and id (WRITE_DELAY=0: a schema is on disk before its id is answered, so
# even a SIGKILL right after registering keeps it). Readiness is an HTTP call to the API, never a fixed sleep.
#
#   registry.sh start DIR [--watch PID]
#       starts it, waits until the API answers, prints the Confluent-compatible base URL
#       (also in DIR/url); --watch PID stops it and removes DIR once process PID is gone.
#   registry.sh stop DIR [--kill]      stops it by pid (SIGTERM and wait, or SIGKILL)
#   registry.sh restart DIR            starts it again on the same port and storage
#
# Needs a JDK 21 or newer (found in the system's JVM folder); fetches the archive first if
# needed (scripts/kafka/fetch.sh registry).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/kafka/env.sh
source "$here/env.sh"

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

launch() {
  local dir="$1" port
  port="$(cat "$dir/port")"
  [ -n "$JAVA21" ] || { echo "error: Apicurio Registry needs a JDK 21 or newer; none found in /usr/lib/jvm or JAVA_HOME" >&2; exit 1; }
  nohup "$JAVA21/bin/java" -Xms64m -Xmx"${RAILYARD_REGISTRY_HEAP:-384m}" -XX:+UseSerialGC \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
    -Dquarkus.log.level=WARN -Dquarkus.http.access-log.enabled=false \
    -Dapicurio.datasource.url="jdbc:h2:file:$dir/storage/registry;DB_CLOSE_ON_EXIT=FALSE;WRITE_DELAY=0" \
    -jar "$APICURIO_HOME/quarkus-run.jar" >>"$dir/registry.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  python3 - "$(cat "$dir/url")/subjects" "${RAILYARD_REGISTRY_START_TIMEOUT:-120}" "$!" <<'PY' \
    || { tail -20 "$dir/registry.log" >&2; exit 1; }
import os, sys, time, urllib.request
url, timeout, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("error: the registry process exited during start-up")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit(f"error: the registry at {url} did not answer within {timeout:.0f} s")
PY
}

start() {
  local dir="${1:-}" watch=""
  [ -n "$dir" ] || usage; shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --watch) watch="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  bash "$here/fetch.sh" registry
  mkdir -p "$dir/storage"
  dir="$(cd "$dir" && pwd)"
  free_ports 1 >"$dir/port"
  echo "http://127.0.0.1:$(cat "$dir/port")/apis/ccompat/v7" >"$dir/url"
  if [ -n "$watch" ]; then
    start_watchdog "$watch" "$dir"
  fi
  launch "$dir"
  cat "$dir/url"
}

stop() {
  local dir="${1:-}" signal=TERM
  [ -n "$dir" ] || usage
  [ "${2:-}" = "--kill" ] && signal=KILL
  [ -f "$dir/pid" ] || return 0
  stop_pid "$(cat "$dir/pid")" "$signal"
  rm -f "$dir/pid"
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  restart) [ -n "${1:-}" ] || usage; stop "$1"; launch "$1" ;;
  *) usage ;;
esac

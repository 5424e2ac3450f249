#!/usr/bin/env bash
# Apache Kafka in KRaft mode as plain JVM processes on this machine, for the tests, the bench
# and users without Docker: one node or a cluster of N combined broker+controller nodes on free
# local ports, each with its log on disk under DIR. Readiness is a metadata call (every broker
# listed, a controller active), never a fixed sleep; processes are stopped by their pid files.
#
#   broker.sh start DIR [--nodes N] [--listener NAME:PROTOCOL]... [--properties FILE]
#                       [--format-arg ARG]... [--watch PID]
#       formats and starts the nodes, waits until ready, prints the PLAINTEXT bootstrap
#       servers (also in DIR/bootstrap); DIR/listeners has NAME=host:port per node and listener.
#       --listener adds a listener (e.g. EXTERNAL:SASL_SSL; configure it with --properties);
#       --format-arg passes an argument to the storage format (e.g. --add-scram ...);
#       --watch PID stops the nodes and removes DIR once process PID is gone (test harnesses).
#   broker.sh stop DIR [--node I] [--kill]
#       stops every node (or node I) by pid: SIGTERM and wait (a controlled shutdown), or SIGKILL.
#   broker.sh start-node DIR I
#       starts a stopped node again on its ports and its on-disk log, waits until the cluster
#       lists every broker again.
#   broker.sh create-topics DIR PARTITIONS TOPIC...
#       creates topics (replication up to 3); existing ones are left as they are.
#
# Environment: RAILYARD_BROKER_HEAP (default 512m), RAILYARD_BROKER_JVM_OPTS (more JVM flags).
# Fetches the jars first if needed (scripts/kafka/fetch.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/kafka/env.sh
source "$here/env.sh"

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# A random cluster id (base64url; it may start with "-", hence --cluster-id=ID below).
cluster_id() {
  python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))'
}

classpath() { echo "$KAFKA_HOME/libs/*"; }

launch_node() {
  local dir="$1" node="$2"
  local node_dir="$dir/node-$node"
  # shellcheck disable=SC2086
  nohup "$JAVA17/bin/java" -Xms128m -Xmx"${RAILYARD_BROKER_HEAP:-512m}" -XX:+UseSerialGC \
    ${RAILYARD_BROKER_JVM_OPTS:-} \
    -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -cp "$(classpath)" kafka.Kafka "$node_dir/server.properties" \
    >>"$node_dir/server.log" 2>&1 </dev/null &
  echo $! >"$node_dir/pid"
}

await_ready() {
  local dir="$1" nodes
  nodes="$(cat "$dir/nodes")"
  if ! "$JAVA17/bin/java" -cp "$(classpath):$KAFKA_HOME/probe" KafkaAdmin await \
      "$(cat "$dir/bootstrap")" "$nodes" "${RAILYARD_BROKER_START_TIMEOUT:-90}"; then
    for log in "$dir"/node-*/server.log; do
      echo "--- $log" >&2
      tail -20 "$log" >&2
    done
    exit 1
  fi
}

start() {
  local dir="" nodes=1 watch="" properties=""
  local listeners=() format_args=()
  dir="${1:-}"; [ -n "$dir" ] || usage; shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes="$2"; shift 2 ;;
      --listener) listeners+=("$2"); shift 2 ;;
      --properties) properties="$2"; shift 2 ;;
      --format-arg) format_args+=("$2"); shift 2 ;;
      --watch) watch="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  bash "$here/fetch.sh" kafka
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if ls "$dir"/node-*/pid >/dev/null 2>&1; then
    echo "error: $dir already holds a broker (broker.sh stop $dir first)" >&2
    exit 1
  fi
  local per_node=$((2 + ${#listeners[@]}))
  read -r -a ports <<<"$(free_ports $((nodes * per_node)))"
  local voters="" bootstrap="" i
  for ((i = 0; i < nodes; i++)); do
    voters+="${voters:+,}$((i + 1))@127.0.0.1:${ports[i * per_node + 1]}"
    bootstrap+="${bootstrap:+,}127.0.0.1:${ports[i * per_node]}"
  done
  local replication=$((nodes < 3 ? nodes : 3))
  local min_isr=$((replication > 1 ? 2 : 1))
  local id
  id="$(cluster_id)"
  : >"$dir/listeners"
  for ((i = 0; i < nodes; i++)); do
    local node=$((i + 1)) node_dir="$dir/node-$((i + 1))"
    mkdir -p "$node_dir"
    local plain="${ports[i * per_node]}" controller="${ports[i * per_node + 1]}"
    local listen="PLAINTEXT://127.0.0.1:$plain,CONTROLLER://127.0.0.1:$controller"
    local advertise="PLAINTEXT://127.0.0.1:$plain"
    local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    echo "node$node.PLAINTEXT=127.0.0.1:$plain" >>"$dir/listeners"
    local j=2 listener
    for listener in "${listeners[@]}"; do
      local name="${listener%%:*}" protocol="${listener#*:}" port="${ports[i * per_node + j]}"
      listen+=",$name://127.0.0.1:$port"
      advertise+=",$name://127.0.0.1:$port"
      protocols+=",$name:$protocol"
      echo "node$node.$name=127.0.0.1:$port" >>"$dir/listeners"
      j=$((j + 1))
    done
    cat >"$node_dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
listeners=$listen
advertised.listeners=$advertise
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
log.dirs=$node_dir/data
num.partitions=1
default.replication.factor=$replication
auto.create.topics.enable=false
offsets.topic.num.partitions=1
offsets.topic.replication.factor=$replication
transaction.state.log.num.partitions=1
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
num.replica.fetchers=1
log.cleaner.threads=1
share.coordinator.state.topic.replication.factor=$replication
share.coordinator.state.topic.min.isr=$min_isr
share.coordinator.state.topic.num.partitions=1
PROPS
    if [ -n "$properties" ]; then
      cat "$properties" >>"$node_dir/server.properties"
    fi
    "$JAVA17/bin/java" -Dlog4j2.configurationFile="$here/log4j2.properties" -cp "$(classpath)" \
      kafka.tools.StorageTool format --cluster-id="$id" --config "$node_dir/server.properties" \
      ${format_args[@]+"${format_args[@]}"} >"$node_dir/format.log" 2>&1 \
      || { cat "$node_dir/format.log" >&2; exit 1; }
  done
  echo "$bootstrap" >"$dir/bootstrap"
  echo "$nodes" >"$dir/nodes"
  for ((i = 1; i <= nodes; i++)); do
    launch_node "$dir" "$i"
  done
  if [ -n "$watch" ]; then
    start_watchdog "$watch" "$dir"
  fi
  await_ready "$dir"
  echo "$bootstrap"
}

stop() {
  local dir="${1:-}" node="" signal=TERM
  [ -n "$dir" ] || usage; shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --node) node="$2"; shift 2 ;;
      --kill) signal=KILL; shift ;;
      *) usage ;;
    esac
  done
  local pidfile
  for pidfile in "$dir"/node-${node:-*}/pid; do
    [ -f "$pidfile" ] || continue
    stop_pid "$(cat "$pidfile")" "$signal"
    rm -f "$pidfile"
  done
}

start_node() {
  local dir="${1:-}" node="${2:-}"
  [ -n "$dir" ] && [ -n "$node" ] || usage
  if [ -f "$dir/node-$node/pid" ] && kill -0 "$(cat "$dir/node-$node/pid")" 2>/dev/null; then
    echo "error: node $node of $dir is running" >&2
    exit 1
  fi
  launch_node "$dir" "$node"
  await_ready "$dir"
}

create_topics() {
  local dir="${1:-}" partitions="${2:-}"
  [ -n "$dir" ] && [ -n "$partitions" ] && [ $# -gt 2 ] || usage
  shift 2
  "$JAVA17/bin/java" -cp "$(classpath):$KAFKA_HOME/probe" KafkaAdmin create \
    "$(cat "$dir/bootstrap")" "$partitions" "$@"
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  start-node) start_node "$@" ;;
  create-topics) create_topics "$@" ;;
  *) usage ;;
esac

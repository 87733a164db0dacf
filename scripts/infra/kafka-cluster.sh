# shellcheck shell=bash
# scripts/infra/kafka-cluster.sh: KAFKA_NODES (3) KRaft brokers on one machine, each also a voter of the controller
# quorum, from the same jars as the single broker. Sourced by scripts/infra.sh after kafka.sh.
#
# Node i (1-based) listens on KAFKA_PORT + 2(i-1) and its controller on KAFKA_CONTROLLER_PORT + 2(i-1), so the
# defaults give 9092/9093, 9094/9095, 9096/9097; its files are in $KAFKA_CLUSTER_DIR/node-<i>. With three or more
# nodes, topics get 3 replicas and min.insync.replicas=2 (kafka-files.sh), and the platform's producers write with
# acks=all (common/kafka/client.ts): one broker may die without losing an acknowledged event.

kafka_node_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
kafka_node_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }

# Starts the cluster (or finds it running from $KAFKA_CLUSTER_DIR) and waits until every broker is ready.
# Sets OUT_KAFKA_BROKERS and KAFKA_HOW. Every node is recorded as started, so `down` stops each of them.
up_kafka_cluster() {
  local n=$KAFKA_NODES base i dir port cport pid voters="" brokers="" running=0 t0=$EPOCHREALTIME
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 9)) || die "KAFKA_NODES must be a number from 1 to 9 (got '$n')"
  base=${KAFKA_CLUSTER_DIR:-$INFRA_DIR/kafka-cluster}
  mkdir -p "$base"
  base=$(cd "$base" && pwd)
  exec 8>"$base/.lock"
  flock -w 300 8 || die "another infra.sh is starting/stopping the brokers in $base"
  for ((i = 1; i <= n; i++)); do
    voters+="${voters:+,}$i@127.0.0.1:$(kafka_node_controller_port "$i")"
    brokers+="${brokers:+,}127.0.0.1:$(kafka_node_port "$i")"
    kafka_pid "$base/node-$i" >/dev/null && running=$((running + 1))
  done

  if ((running == n)); then
    for ((i = 1; i <= n; i++)); do
      kafka_wait_ready "$base/node-$i" "$(kafka_node_port "$i")" "$(kafka_pid "$base/node-$i")" "$KAFKA_START_TIMEOUT"
    done
    KAFKA_HOW="already running ($n brokers, $base)"
  else
    # Nodes that do not run are started (all of them, or the ones that died: they rejoin with their data).
    local missing=()
    for ((i = 1; i <= n; i++)); do
      kafka_pid "$base/node-$i" >/dev/null && continue
      missing+=("$i")
      port=$(kafka_node_port "$i") cport=$(kafka_node_controller_port "$i")
      port_open 127.0.0.1 "$port" && die "port $port is taken (a single broker?); move the cluster with KAFKA_PORT/KAFKA_CONTROLLER_PORT"
      port_open 127.0.0.1 "$cport" && die "controller port $cport is taken; move the cluster with KAFKA_CONTROLLER_PORT"
    done
    ensure_packages java
    kafka_ensure_libs
    # One cluster id for every node's storage: they refuse to form a quorum with a stranger.
    [ -s "$base/cluster.id" ] || kafka_random_uuid >"$base/cluster.id"
    # All launched before any is awaited: a node is ready only once a majority of the quorum runs.
    for i in "${missing[@]}"; do
      dir=$base/node-$i
      record_started kafka "$dir"
      mkdir -p "$dir"
      kafka_launch "$dir" "$(kafka_node_port "$i")" "$(kafka_node_controller_port "$i")" "$(cat "$base/cluster.id")" "$i" "$voters"
    done
    for i in "${missing[@]}"; do
      pid=$(cat "$base/node-$i/kafka.pid")
      kafka_wait_ready "$base/node-$i" "$(kafka_node_port "$i")" "$pid" "$KAFKA_START_TIMEOUT"
    done
    KAFKA_HOW="started node(s) ${missing[*]} of $n (node ids 1-$n, ready in $(since "$t0") s, $base)"
  fi
  exec 8>&-
  OUT_KAFKA_BROKERS=$brokers
}

#!/usr/bin/env bash
# scripts/redis-cluster.sh: a local Redis Cluster of 3 masters and 3 replicas from Debian's redis-server.
#
#   bash scripts/redis-cluster.sh start    start the 6 nodes, create the cluster, wait for cluster_state:ok;
#                                          prints REDIS_CLUSTER_NODES=... (a cluster already running from DIR is reused)
#   bash scripts/redis-cluster.sh status   CLUSTER INFO state and the role of each node
#   bash scripts/redis-cluster.sh stop     stop the nodes started from DIR and delete DIR (nothing in it is kept)
#
# Environment (all optional):
#   REDIS_CLUSTER_PORT (7000)           first of 6 consecutive ports; the cluster bus uses each port + 10000
#   REDIS_CLUSTER_DIR (.infra/redis-cluster-<port>)   one directory per node: redis.conf, nodes.conf, log, pid
#   REDIS_CLUSTER_NODE_TIMEOUT (2000)   cluster-node-timeout in ms: how long a master may be unreachable before
#                                       its replica is promoted. Short for tests; production uses 5-15 s.
#   REDIS_CLUSTER_START_TIMEOUT (30)    seconds to wait for cluster_state:ok
#
# No persistence (no RDB, no AOF): a node's data lives only in memory and in its replica; nodes.conf (the node's
# identity and view of the cluster) is the only file Redis writes. PostgreSQL is the record the platform rebuilds
# Redis from (docs/scale-out.md). Every node runs daemonized with its pid in DIR, so `stop` stops just these.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE=${REDIS_CLUSTER_PORT:-7000}
DIR=${REDIS_CLUSTER_DIR:-$ROOT/.infra/redis-cluster-$BASE}
NODE_TIMEOUT=${REDIS_CLUSTER_NODE_TIMEOUT:-2000}
START_TIMEOUT=${REDIS_CLUSTER_START_TIMEOUT:-30}
PORTS=()
for i in 0 1 2 3 4 5; do PORTS+=($((BASE + i))); done

die() { printf 'redis-cluster.sh: error: %s\n' "$*" >&2; exit 1; }
note() { printf 'redis-cluster.sh: %s\n' "$*" >&2; }
cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
answers() { [ "$(cli "$1" ping 2>/dev/null)" = PONG ]; }
nodes_list() { local p out=(); for p in "${PORTS[@]}"; do out+=("127.0.0.1:$p"); done; (IFS=,; printf '%s' "${out[*]}"); }

# The pid of the node on PORT started from DIR, if it runs: the command line must name this port, so a recycled
# pid is never signalled.
node_pid() {
  local pid
  pid=$(cat "$DIR/$1/redis.pid" 2>/dev/null) || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "redis-server.*:$1" || return 1
  printf '%s' "$pid"
}

cluster_ok() { # every node says cluster_state:ok and knows all 6, and 3 of them are replicas
  local p replicas=0
  for p in "${PORTS[@]}"; do
    cli "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    cli "$p" cluster info 2>/dev/null | grep -q '^cluster_known_nodes:6' || return 1
  done
  replicas=$(cli "$BASE" cluster nodes 2>/dev/null | grep -c ' slave ' || true)
  [ "$replicas" -eq 3 ]
}

wait_ok() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until cluster_ok; do
    ((SECONDS < deadline)) || die "the cluster on ports ${PORTS[0]}-${PORTS[5]} did not reach cluster_state:ok within $START_TIMEOUT s (logs in $DIR/<port>/redis.log)"
    sleep 0.2
  done
}

start_node() {
  local port=$1 dir=$DIR/$1
  mkdir -p "$dir"
  cat >"$dir/redis.conf" <<EOF
# Written by scripts/redis-cluster.sh; rewritten at every start.
bind 127.0.0.1
port $port
dir $dir
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout $NODE_TIMEOUT
# Memory only: the platform rebuilds Redis from PostgreSQL (docs/scale-out.md).
save ""
appendonly no
EOF
  redis-server "$dir/redis.conf" || die "redis-server did not start on port $port (see $dir/redis.log)"
}

cmd_start() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    die "redis-server and redis-cli are needed (Debian: apt-get install -y redis-server)"
  local p running=0 t0=$SECONDS
  for p in "${PORTS[@]}"; do node_pid "$p" >/dev/null && running=$((running + 1)); done
  if [ "$running" -eq 6 ]; then
    wait_ok
    note "reusing the cluster running from $DIR"
    printf 'REDIS_CLUSTER_NODES=%s\n' "$(nodes_list)"
    return 0
  fi
  [ "$running" -eq 0 ] || die "only $running of the 6 nodes from $DIR run; run \`$0 stop\` first"
  for p in "${PORTS[@]}"; do
    answers "$p" && die "port $p already answers (another Redis); pick other ports with REDIS_CLUSTER_PORT"
    answers $((p + 10000)) && die "cluster bus port $((p + 10000)) is taken"
  done
  rm -rf "$DIR" # a fresh cluster every time: nothing of an earlier one (nodes.conf) may rejoin it
  for p in "${PORTS[@]}"; do start_node "$p"; done
  local deadline=$((SECONDS + 10))
  for p in "${PORTS[@]}"; do
    until answers "$p"; do
      ((SECONDS < deadline)) || die "node $p does not answer (see $DIR/$p/redis.log)"
      sleep 0.05
    done
  done
  local hosts=()
  for p in "${PORTS[@]}"; do hosts+=("127.0.0.1:$p"); done
  # The first three become masters, each of the others a replica of one of them (on other ports).
  redis-cli --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1 ||
    die "redis-cli --cluster create failed: $(tail -n 5 "$DIR/create.log")"
  wait_ok
  note "cluster of 3 masters + 3 replicas on ports ${PORTS[0]}-${PORTS[5]} ready in $((SECONDS - t0)) s ($DIR)"
  printf 'REDIS_CLUSTER_NODES=%s\n' "$(nodes_list)"
}

cmd_stop() {
  local p pid stopped=0
  for p in "${PORTS[@]}"; do
    pid=$(node_pid "$p") || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    [ ! -d "/proc/$pid" ] || kill -KILL "$pid" 2>/dev/null || true
    stopped=$((stopped + 1))
  done
  rm -rf "$DIR"
  note "stopped $stopped node(s) of $DIR"
}

cmd_status() {
  local p role
  cli "$BASE" cluster info 2>/dev/null | grep -E '^cluster_(state|known_nodes|size)' || { note "port $BASE does not answer"; return 1; }
  for p in "${PORTS[@]}"; do
    role=$(cli "$p" role 2>/dev/null | head -n 1) || role="down"
    printf '127.0.0.1:%s  %s\n' "$p" "${role:-down}"
  done
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

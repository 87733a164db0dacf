# shellcheck shell=bash
# scripts/infra/kafka.sh: a single-node KRaft broker: start, wait until ready, stop, and the Kafka step of `up`.
# Sourced by scripts/infra.sh, which sets ROOT, INFRA_DIR and the variables documented at its top.

# The pid of the broker running from $1, if any. The command line must match, so a recycled pid is never killed.
kafka_pid() {
  local pid
  pid=$(cat "$1/kafka.pid" 2>/dev/null) || return 1
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $1/server.properties" || return 1
  printf '%s' "$pid"
}
kafka_listen_port() { sed -n 's#^listeners=PLAINTEXT://[^:]*:\([0-9]*\),.*#\1#p' "$1/server.properties" 2>/dev/null; }

kafka_java() { # run a Kafka tool (StorageTool) on the broker classpath; its log goes to stderr, warnings only
  java -cp "$KAFKA_LIBS/*" -Dlog4j.configuration="file:$KDIR/tools-log4j.properties" "$@"
}

# Start a broker from DIR (created if needed) on PORT/CONTROLLER_PORT and wait until it is ready.
# Sets KAFKA_HOW to a short description. A broker already running from DIR is left as it is.
kafka_start() {
  local dir=$1 port=$2 cport=$3 pid t0=$EPOCHREALTIME
  [[ $port =~ ^[0-9]+$ && $cport =~ ^[0-9]+$ ]] || die "kafka-start: ports must be numbers (got '$port' '$cport')"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  KDIR=$dir
  exec 8>"$dir/.lock"
  flock -w 300 8 || die "another infra.sh is starting/stopping the broker in $dir"

  if pid=$(kafka_pid "$dir"); then
    [ "$(kafka_listen_port "$dir")" = "$port" ] ||
      die "a broker from $dir is already running on port $(kafka_listen_port "$dir"), not $port; stop it first"
    kafka_wait_ready "$dir" "$port" "$pid" "$KAFKA_START_TIMEOUT"
    KAFKA_HOW="already running (pid $pid, $dir)"
    exec 8>&-
    return 0
  fi
  port_open 127.0.0.1 "$port" && die "port $port is taken by another process; cannot start a broker from $dir there"
  port_open 127.0.0.1 "$cport" && die "controller port $cport is taken by another process; pick another one"

  ensure_packages java
  kafka_ensure_libs
  [ -s "$dir/cluster.id" ] || kafka_random_uuid >"$dir/cluster.id"
  kafka_launch "$dir" "$port" "$cport" "$(cat "$dir/cluster.id")"
  pid=$(cat "$dir/kafka.pid")
  kafka_wait_ready "$dir" "$port" "$pid" "$KAFKA_START_TIMEOUT"
  KAFKA_HOW="started (pid $pid, $dir, ready in $(since "$t0") s, log $dir/logs/server.log)"
  exec 8>&-
}

# Start one broker process from DIR without waiting for it to be ready (a node of a cluster cannot be ready before
# a majority of the quorum runs): config, storage formatted once with CLUSTER_ID, then the JVM, its pid in DIR.
# dir port controllerPort clusterId [nodeId voters]
kafka_launch() {
  local dir=$1 port=$2 cport=$3 cluster_id=$4
  KDIR=$dir
  mkdir -p "$dir/logs" "$dir/data"
  kafka_write_config "$dir" "$port" "$cport" "${5:-}" "${6:-}"

  # Format once: a formatted log dir has meta.properties, and formatting again would refuse (or lose data).
  if [ ! -f "$dir/data/meta.properties" ]; then
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
      >"$dir/logs/format.log" 2>&1 || die "formatting Kafka storage in $dir/data failed: $(tail -n 5 "$dir/logs/format.log")"
  fi

  # One log per run, the previous one kept, so the readiness check below never matches an old run's line.
  [ ! -f "$dir/logs/server.log" ] || mv -f "$dir/logs/server.log" "$dir/logs/server.log.1"
  rm -f "$dir/kafka.pid"
  # 7>&- 8>&- 9>&-: a daemon must not inherit our flock descriptors, or it holds the locks for its lifetime.
  # setsid: its own session, so a Ctrl-C on `npm start`/`npm test` does not kill the broker; nohup for SIGHUP.
  # The pid file is written by the very process that then execs java, so it is java's pid.
  # shellcheck disable=SC2086,SC2016  # KAFKA_HEAP_OPTS holds several options; $$/$0/$@ belong to the child bash
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$dir/kafka.pid" \
    java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$KAFKA_LIBS/*" \
    kafka.Kafka "$dir/server.properties" </dev/null >>"$dir/logs/server.log" 2>&1 7>&- 8>&- 9>&- &
  local deadline=$((SECONDS + 10))
  until [ -s "$dir/kafka.pid" ]; do
    ((SECONDS < deadline)) || die "the Kafka process did not start (no pid file in $dir)"
    sleep 0.05
  done
}

# Ready = the process lives, the port accepts, and Kafka logged that the server (controller + broker,
# after the broker was unfenced) finished starting. The port alone opens a moment earlier.
kafka_wait_ready() {
  local dir=$1 port=$2 pid=$3 limit=$4 deadline=$((SECONDS + $4))
  while :; do
    if ! pid_alive "$pid"; then
      die "Kafka in $dir exited while starting. Last log lines:
$(tail -n 25 "$dir/logs/server.log" 2>/dev/null)"
    fi
    if grep -q 'Kafka Server started' "$dir/logs/server.log" 2>/dev/null && port_open 127.0.0.1 "$port"; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      kill -TERM "$pid" 2>/dev/null || true
      die "Kafka in $dir was not ready on 127.0.0.1:$port within $limit s (stopped it). Last log lines:
$(tail -n 25 "$dir/logs/server.log" 2>/dev/null)"
    fi
    sleep 0.2
  done
}

# Stop the broker running from DIR: SIGTERM lets it shut down cleanly (flushes, writes the clean-shutdown
# marker so the next start skips log recovery); SIGKILL only if it has not exited after the bound.
kafka_stop() {
  local dir=$1 pid t0=$EPOCHREALTIME
  [ -d "$dir" ] || { printf 'kafka     %s  not running (no such directory)\n' "$dir"; return 0; }
  dir=$(cd "$dir" && pwd)
  exec 8>"$dir/.lock"
  flock -w 300 8 || die "another infra.sh is starting/stopping the broker in $dir"
  if ! pid=$(kafka_pid "$dir"); then
    rm -f "$dir/kafka.pid"
    printf 'kafka     %s  not running\n' "$dir"
    exec 8>&-
    return 0
  fi
  local port how
  port=$(kafka_listen_port "$dir")
  kill -TERM "$pid" 2>/dev/null || true
  if wait_gone "$pid" "$KAFKA_STOP_TIMEOUT"; then
    how="stopped cleanly in $(since "$t0") s"
  else
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "Kafka pid $pid (from $dir) survived SIGKILL"
    how="killed: no clean exit within $KAFKA_STOP_TIMEOUT s"
  fi
  rm -f "$dir/kafka.pid"
  printf 'kafka     127.0.0.1:%s  %s (pid %s, %s)\n' "$port" "$how" "$pid" "$dir"
  exec 8>&-
}

up_kafka() {
  local brokers=${KAFKA_BROKERS:-} dir=${KAFKA_DIR:-$INFRA_DIR/kafka} how b ok=
  if [ -n "$brokers" ]; then
    for b in ${brokers//,/ }; do port_open "${b%:*}" "${b##*:}" && ok=1 && break; done
    [ -n "$ok" ] || die "KAFKA_BROKERS is set to $brokers but none of them accepts a connection. Start Kafka, or unset KAFKA_BROKERS to use a local one."
    how=reused
  elif ((${KAFKA_NODES:-1} > 1)); then
    up_kafka_cluster
    brokers=$OUT_KAFKA_BROKERS how=$KAFKA_HOW
  else
    brokers=127.0.0.1:$KAFKA_PORT
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if kafka_pid "$dir" >/dev/null; then
      kafka_start "$dir" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" # waits for readiness if it is still starting
      how=$KAFKA_HOW
      was_started kafka "$dir" && how="$how, started by an earlier infra.sh up"
    elif port_open 127.0.0.1 "$KAFKA_PORT"; then
      how=reused
    else
      # Record before starting, so a `down` after a failed start still cleans up.
      record_started kafka "$dir"
      kafka_start "$dir" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
      how=$KAFKA_HOW
    fi
  fi
  OUT_KAFKA_BROKERS=$brokers
  printf 'kafka     %s  %s\n' "$brokers" "$how"
}

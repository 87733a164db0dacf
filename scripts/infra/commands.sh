# shellcheck shell=bash
# scripts/infra/commands.sh: the commands infra.sh dispatches to: up (writes $INFRA_DIR/env), down, status.
# Sourced by scripts/infra.sh, which sets ROOT, INFRA_DIR and the variables documented at its top.

# Values are written bare when they hold no shell-special character (the usual case), else escaped by printf %q
# (backslashes, e.g. `flashgraph\?sslmode=disable`): sourcing the file gives the value back.
env_line() {
  local plain='^[A-Za-z0-9_@%+=:,./-]*$'
  if [[ $2 =~ $plain ]]; then printf 'export %s=%s\n' "$1" "$2"
  else printf 'export %s=%q\n' "$1" "$2"; fi
}

cmd_up() {
  lock_infra
  up_postgres
  up_redis
  up_kafka
  local tmp=$ENV_FILE.tmp.$$
  {
    printf '# Written by scripts/infra.sh up: the services this checkout uses. Source it: . .infra/env\n'
    env_line DATABASE_URL "$OUT_DATABASE_URL"
    env_line TEST_DATABASE_URL "$OUT_TEST_DATABASE_URL"
    env_line REDIS_URL "$OUT_REDIS_URL"
    env_line KAFKA_BROKERS "$OUT_KAFKA_BROKERS"
  } >"$tmp"
  mv -f "$tmp" "$ENV_FILE"
}

cmd_down() {
  lock_infra
  # With INFRA_RUN_RECORD, stop only what the `up` that wrote that file started (and forget just those).
  local source=$STARTED_FILE
  if [ -n "${INFRA_RUN_RECORD:-}" ]; then source=$INFRA_RUN_RECORD; fi
  if [ ! -s "$source" ]; then
    echo "infra.sh: nothing to stop ($source is empty: everything was reused)"
    return 0
  fi
  local kind a b lines=() brokers=() pid failed=0
  mapfile -t lines <"$source"
  # Reverse start order: Kafka and Redis before the database. Brokers listed one after another (a cluster) are
  # stopped together: a broker shuts down cleanly only while a majority of the controller quorum still runs.
  for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
    read -r kind a b <<<"${lines[i]}"
    if [ "$kind" != kafka ] && ((${#brokers[@]} > 0)); then
      for pid in "${brokers[@]}"; do wait "$pid" || failed=1; done
      brokers=()
    fi
    case $kind in
      kafka) kafka_stop "$a" & brokers+=($!) ;;
      redis) redis_stop "$a" "$b" ;;
      postgres) pg_stop "$a" "$b" ;;
      *) note "ignoring unknown line in $source: ${lines[i]}" ;;
    esac
    if [ "$source" != "$STARTED_FILE" ] && [ -f "$STARTED_FILE" ]; then
      grep -vxF "${lines[i]}" "$STARTED_FILE" >"$STARTED_FILE.tmp" || true
      mv "$STARTED_FILE.tmp" "$STARTED_FILE"
    fi
  done
  for pid in "${brokers[@]}"; do wait "$pid" || failed=1; done
  if [ "$source" = "$STARTED_FILE" ]; then rm -f "$STARTED_FILE" "$ENV_FILE"; else rm -f "$source"; fi
  return $failed
}

# Current value of a variable: the environment first, then what `up` wrote, then the default.
current() {
  local name=$1 def=$2 v=${!1:-}
  if [ -z "$v" ] && [ -f "$ENV_FILE" ]; then
    # shellcheck disable=SC1090  # our own generated file
    v=$(. "$ENV_FILE" >/dev/null 2>&1; printf '%s' "${!name:-}")
  fi
  printf '%s' "${v:-$def}"
}

cmd_status() {
  local url rurl brokers b ok=0 dir pid
  url=$(current DATABASE_URL "$DEFAULT_DATABASE_URL")
  rurl=$(current REDIS_URL "$DEFAULT_REDIS_URL")
  brokers=$(current KAFKA_BROKERS "127.0.0.1:$KAFKA_PORT")
  if command -v pg_isready >/dev/null && pg_answers "$url"; then
    printf 'postgres  %s  answers\n' "$(mask "$url")"
  else printf 'postgres  %s  does NOT answer\n' "$(mask "$url")"; ok=1; fi
  if command -v redis-cli >/dev/null && redis_answers "$rurl"; then
    printf 'redis     %s  answers\n' "$(mask "$rurl")"
  else printf 'redis     %s  does NOT answer\n' "$(mask "$rurl")"; ok=1; fi
  for b in ${brokers//,/ }; do
    if port_open "${b%:*}" "${b##*:}"; then printf 'kafka     %s  answers\n' "$b"
    else printf 'kafka     %s  does NOT answer\n' "$b"; ok=1; fi
  done
  dir=${KAFKA_DIR:-$INFRA_DIR/kafka}
  if [ -d "$dir" ] && pid=$(kafka_pid "$(cd "$dir" && pwd)"); then
    printf 'kafka     broker from %s running, pid %s, port %s\n' "$dir" "$pid" "$(kafka_listen_port "$(cd "$dir" && pwd)")"
  fi
  if [ -s "$STARTED_FILE" ]; then
    printf 'started by infra.sh up (stopped by down): %s\n' "$(paste -sd ';' "$STARTED_FILE" | sed 's/;/; /g')"
  fi
  return $ok
}

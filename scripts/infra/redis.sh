# shellcheck shell=bash
# scripts/infra/redis.sh: reuse or start redis-server (no persistence), stop what `up` started.
# Sourced by scripts/infra.sh, which sets ROOT, INFRA_DIR and the variables documented at its top.

redis_port() { local p=${1#*://}; p=${p%%/*}; p=${p##*@}; [[ $p == *:* ]] && printf '%s' "${p##*:}" || printf 6379; }
redis_host() { local p=${1#*://}; p=${p%%/*}; p=${p##*@}; printf '%s' "${p%%:*}"; }
redis_answers() { [ "$(timeout 3 redis-cli -u "$1" --no-auth-warning ping 2>/dev/null)" = PONG ]; }

up_redis() {
  local url=${REDIS_URL:-$DEFAULT_REDIS_URL} how port dir
  ensure_packages redis-cli
  port=$(redis_port "$url")
  dir=$INFRA_DIR/redis
  if redis_answers "$url"; then
    how=reused
    was_started redis "$port" "$dir/redis.pid" && how="already running (started by an earlier infra.sh up, pid $(cat "$dir/redis.pid" 2>/dev/null))"
  elif [ -n "${REDIS_URL:-}" ]; then
    die "REDIS_URL is set to $(mask "$url") but no Redis answers there (redis-cli ping). Start it, or unset REDIS_URL to use a local one."
  elif ! [[ $(redis_host "$url") =~ ^(127\.0\.0\.1|localhost)$ ]]; then
    die "no Redis answers at $(mask "$url")"
  else
    ensure_packages redis-server
    mkdir -p "$dir"
    note "starting redis-server on 127.0.0.1:$port"
    # 9>&-: keep our flock descriptor out of the daemon. No persistence: tests reset keys themselves and a dev cache should not outlive a reboot.
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --dir "$dir" --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" >&2 9>&- ||
      die "redis-server failed to start; see $dir/redis.log"
    record_started redis "$port" "$dir/redis.pid"
    local deadline=$((SECONDS + 15))
    until redis_answers "$url"; do
      ((SECONDS < deadline)) || die "redis-server started but does not answer at $url after 15 s; see $dir/redis.log"
      sleep 0.2
    done
    how="started (pid $(cat "$dir/redis.pid"), log $dir/redis.log)"
  fi
  OUT_REDIS_URL=$url
  printf 'redis     %s  %s\n' "$(mask "$url")" "$how"
}

redis_stop() { # port pidfile
  local pid
  pid=$(cat "$2" 2>/dev/null || true)
  if ! pid_alive "$pid" || ! grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
    printf 'redis     127.0.0.1:%s  not running\n' "$1"
    return 0
  fi
  kill -TERM "$pid"
  wait_gone "$pid" 15 || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
  rm -f "$2"
  printf 'redis     127.0.0.1:%s  stopped (pid %s)\n' "$1" "$pid"
}

#!/usr/bin/env bash
# scripts/infra.sh: make PostgreSQL, Redis and Kafka reachable for this project, without Docker.
#
#   bash scripts/infra.sh up                     reuse what answers, start what does not, write .infra/env
#   bash scripts/infra.sh status                 print what answers
#   bash scripts/infra.sh down                   stop exactly what `up` started (never what it reused)
#   bash scripts/infra.sh deps                   install missing system packages (root, Debian): CI uses this
#   bash scripts/infra.sh kafka-start DIR PORT CONTROLLER_PORT   a broker of its own, e.g. for a restart test
#   bash scripts/infra.sh kafka-stop DIR         SIGTERM, wait, SIGKILL after a bound; data in DIR is kept
#
# Environment (all optional):
#   DATABASE_URL, REDIS_URL, KAFKA_BROKERS  use these services; `up` fails if one is set but does not answer
#   TEST_DATABASE_URL                       database the test runner uses (default: <database>_test on DATABASE_URL's server)
#   INFRA_DIR (.infra)                      where env, started, the Redis and Kafka state live
#   POSTGRES_PORT (5432), REDIS_PORT (6379)  ports of the local defaults, when the URLs above are not set
#   KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_DIR ($INFRA_DIR/kafka)   the broker `up` starts
#   KAFKA_LIBS (.infra/kafka/libs)          broker jars, shared by every broker dir so they are fetched once
#   KAFKA_HEAP_OPTS (-Xms256m -Xmx768m), KAFKA_START_TIMEOUT (90 s), KAFKA_STOP_TIMEOUT (30 s)
#
# Only Debian 12 tools are used: bash, coreutils, util-linux (flock, setsid), psql/pg_isready, redis-cli,
# java, mvn. Everything the script starts is recorded in $INFRA_DIR/started so `down` can stop just that:
# the PostgreSQL and Redis a machine already runs are shared with others and must never be stopped here.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INFRA_DIR=${INFRA_DIR:-$ROOT/.infra}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_LIBS=${KAFKA_LIBS:-$ROOT/.infra/kafka/libs}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}
# First start formats storage and warms the JVM: ~10 s measured on 2 cores; the bound leaves room for a loaded CI box.
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}

# POSTGRES_PORT/REDIS_PORT only move the local defaults (e.g. to try the start path beside the shared services).
DEFAULT_DATABASE_URL=postgresql://postgres@127.0.0.1:${POSTGRES_PORT:-5432}/flashgraph
DEFAULT_REDIS_URL=redis://127.0.0.1:${REDIS_PORT:-6379}
STARTED_FILE=$INFRA_DIR/started
ENV_FILE=$INFRA_DIR/env

# ---------------------------------------------------------------- small helpers

die() { printf 'infra.sh: error: %s\n' "$*" >&2; exit 1; }
# Progress goes to stderr so stdout carries only the one-line-per-dependency summary.
note() { printf 'infra.sh: %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }

# Seconds since $1 (an $EPOCHREALTIME value), one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# Hide a password in a URL before printing it.
mask() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

# A TCP connect through bash's /dev/tcp: no nc/ss needed, and `timeout` bounds a black-holed address.
# shellcheck disable=SC2016  # $0/$1 expand in the child bash, on purpose
port_open() { timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# True while the process exists and is not a zombie. PID 1 on some sandboxes/containers does not reap
# orphans, so a stopped daemon can linger as a zombie and `kill -0` alone would call it alive.
pid_alive() {
  local stat
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
  stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# Wait (bounded) for a process to be gone; returns 1 if it is still there after $2 seconds.
wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2))
  while pid_alive "$pid"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

record_started() { # one line per thing `up` started, replayed in reverse by `down`
  mkdir -p "$INFRA_DIR"
  grep -qxF "$*" "$STARTED_FILE" 2>/dev/null || printf '%s\n' "$*" >>"$STARTED_FILE"
  # A caller that must later stop only what its own `up` started (npm start) names a file for this run.
  if [ -n "${INFRA_RUN_RECORD:-}" ]; then printf '%s\n' "$*" >>"$INFRA_RUN_RECORD"; fi
}
was_started() { grep -qxF "$*" "$STARTED_FILE" 2>/dev/null; }

# Serialise `up`/`down` (npm start and npm test may run them at the same time).
lock_infra() {
  mkdir -p "$INFRA_DIR"
  exec 9>"$INFRA_DIR/.lock"
  flock -w 300 9 || die "another infra.sh has held $INFRA_DIR/.lock for 5 minutes"
}

# ---------------------------------------------------------------- system packages (Debian, root only)

APT_UPDATED=
apt_install() {
  is_root || die "missing packages: $* (install them, or run infra.sh as root so it can)"
  command -v apt-get >/dev/null || die "missing packages: $* and no apt-get to install them"
  note "installing $* with apt-get"
  # Debian's postinst scripts start services right away; block that (as Docker images do) so this
  # script starts them itself, on the ports it chose, and knows it did.
  local policy=/usr/sbin/policy-rc.d made_policy=
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1; fi
  # apt/dpkg progress would flood CI logs: keep it in a file and show its end only if something fails.
  local rc=0 t0=$EPOCHREALTIME log
  log=$(mktemp /tmp/infra-apt.XXXXXX.log)
  {
    if [ -z "$APT_UPDATED" ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq && APT_UPDATED=1; fi &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
  } </dev/null >"$log" 2>&1 || rc=$?
  [ -z "$made_policy" ] || rm -f "$policy"
  if ((rc != 0)); then
    tail -n 30 "$log" >&2
    die "apt-get install $* failed (exit $rc); full output in $log"
  fi
  rm -f "$log"
  note "installed $* in $(since "$t0") s"
}

pg_server_installed() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }

# Install, in one apt-get call, every package whose command is missing. With no arguments: all of them.
ensure_packages() {
  local want=("$@") missing=() item
  ((${#want[@]})) || want=(java mvn psql postgres redis-cli redis-server)
  for item in "${want[@]}"; do
    case $item in
      java) command -v java >/dev/null || missing+=(openjdk-17-jre-headless) ;;
      mvn) command -v mvn >/dev/null || missing+=(maven) ;;
      psql) command -v psql >/dev/null && command -v pg_isready >/dev/null || missing+=(postgresql-client) ;;
      postgres) pg_server_installed && command -v pg_ctlcluster >/dev/null || missing+=(postgresql) ;;
      redis-cli) command -v redis-cli >/dev/null || missing+=(redis-tools) ;;
      redis-server) command -v redis-server >/dev/null || missing+=(redis-server) ;;
      *) die "ensure_packages: unknown item $item" ;;
    esac
  done
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

# ---------------------------------------------------------------- PostgreSQL

# postgresql://user[:pass]@host[:port]/db[?query] -> pieces. Good enough for the URLs this project uses.
pg_db() { local p=${1#*://}; p=${p%%\?*}; if [[ $p == */* ]]; then printf '%s' "${p#*/}"; fi; }
pg_host() { local p=${1#*://}; p=${p%%/*}; p=${p##*@}; printf '%s' "${p%%:*}"; }
pg_port() { local p=${1#*://}; p=${p%%/*}; p=${p##*@}; [[ $p == *:* ]] && printf '%s' "${p##*:}" || printf 5432; }
pg_with_db() { # same server and credentials, another database
  local url=$1 db=$2 q=
  [[ $url == *\?* ]] && q="?${url#*\?}"
  url=${url%%\?*}
  local rest=${url#*://}
  [[ $rest == */* ]] && url="${url%/*}"
  printf '%s/%s%s' "$url" "$db" "$q"
}

pg_answers() { pg_isready -q -t 3 -d "$1" >/dev/null 2>&1; }
# -w: never prompt for a password (there is no stdin in CI; a prompt would hang).
pg_psql() { PGCONNECT_TIMEOUT=5 psql -w -X -q -At -v ON_ERROR_STOP=1 "$@"; }
pg_login_ok() { pg_psql -d "$1" -c 'select 1' >/dev/null 2>&1; }

pg_ensure_database() {
  local url=$1 db admin
  db=$(pg_db "$url")
  [ -n "$db" ] || return 0
  pg_login_ok "$url" && return 0 # exists and we may log in: the common, fast path
  admin=$(pg_with_db "$url" postgres)
  pg_login_ok "$admin" || admin=$(pg_with_db "$url" template1)
  # \gexec runs the generated statement only when the database is missing; %I quotes the name.
  pg_psql -d "$admin" -v db="$db" >/dev/null <<'SQL' || pg_login_ok "$url" || die "cannot create database $db on $(mask "$url")"
SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
\gexec
SQL
}

# Debian's default pg_hba.conf wants a password over TCP; the project's default URL has none. Only in a
# cluster this script started, let user postgres in from loopback without one (what the dev machines do).
pg_allow_loopback_trust() {
  local ver=$1 name=$2 hba="/etc/postgresql/$1/$2/pg_hba.conf" marker='# flashgraph scripts/infra.sh: local trust'
  grep -qF "$marker" "$hba" 2>/dev/null && return 0
  note "allowing passwordless loopback login for user postgres in $hba"
  sed -i "1i $marker\nhost all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust" "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload
}

# Start (creating if needed) a Debian cluster listening on $port. Prints nothing on stdout.
pg_start_local() {
  local url=$1 port ver name="" line c_ver c_name c_port c_status
  port=$(pg_port "$url")
  is_root || die "PostgreSQL does not answer at $(mask "$url") and only root can install/start it here: start one or set DATABASE_URL"
  ensure_packages psql postgres
  ver=$(basename "$(dirname "$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -n1)")")")
  while read -r c_ver c_name c_port c_status _; do
    if [ "$c_ver" = "$ver" ] && [ "$c_port" = "$port" ]; then name=$c_name; line=$c_status; fi
  done < <(pg_lsclusters -h 2>/dev/null)
  if [ -z "$name" ]; then
    # Keep the Debian name `main` unless a `main` already exists on another port.
    name=main
    [ -d "/etc/postgresql/$ver/main" ] && name=flashgraph
    note "creating PostgreSQL $ver cluster '$name' on port $port"
    pg_createcluster -p "$port" "$ver" "$name" >&2
    line=down
  fi
  [ "$line" = online ] && die "PostgreSQL cluster $ver/$name is online but does not answer at $(mask "$url")"
  note "starting PostgreSQL $ver/$name on port $port"
  pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 9>&- ||
    die "pg_ctlcluster $ver $name start failed; see /var/log/postgresql/postgresql-$ver-$name.log"
  record_started postgres "$ver" "$name"
  local deadline=$((SECONDS + 30))
  until pg_answers "$url"; do
    ((SECONDS < deadline)) || die "PostgreSQL $ver/$name started but does not answer at $(mask "$url") after 30 s"
    sleep 0.3
  done
  pg_login_ok "$(pg_with_db "$url" postgres)" || pg_allow_loopback_trust "$ver" "$name"
  PG_STARTED="$ver/$name"
}

up_postgres() {
  local url=${DATABASE_URL:-$DEFAULT_DATABASE_URL} how test_url
  ensure_packages psql
  PG_STARTED=
  if pg_answers "$url"; then
    how="reused"
    local c
    c=$(grep '^postgres ' "$STARTED_FILE" 2>/dev/null | head -n1 || true)
    [ -z "$c" ] || how="already running (started by an earlier infra.sh up: ${c#postgres })"
  elif [ -n "${DATABASE_URL:-}" ]; then
    die "DATABASE_URL is set to $(mask "$url") but no PostgreSQL answers there (pg_isready). Start it, or unset DATABASE_URL to use a local one."
  elif ! [[ $(pg_host "$url") =~ ^(127\.0\.0\.1|localhost)$ ]]; then
    die "no PostgreSQL answers at $(mask "$url")"
  else
    pg_start_local "$url"
    how="started (cluster $PG_STARTED)"
  fi
  pg_login_ok "$(pg_with_db "$url" postgres)" || pg_login_ok "$url" ||
    die "PostgreSQL at $(mask "$url") answers but refuses the login (needs trust auth, or put the password in DATABASE_URL)"
  # Same rule as scripts/test.ts: <name>_test, unless the name already ends in _test.
  local db
  db=$(pg_db "$url")
  test_url=${TEST_DATABASE_URL:-$(pg_with_db "$url" "${db%_test}_test")}
  pg_ensure_database "$url"
  pg_ensure_database "$test_url"
  OUT_DATABASE_URL=$url OUT_TEST_DATABASE_URL=$test_url
  printf 'postgres  %s  %s; databases %s and %s exist\n' "$(mask "$url")" "$how" "$(pg_db "$url")" "$(pg_db "$test_url")"
}

# ---------------------------------------------------------------- Redis

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

# ---------------------------------------------------------------- Kafka (single-node KRaft from Maven Central jars)

# Fetch the broker jars once into $KAFKA_LIBS. Maven resolves kafka_2.13's transitive modules for us;
# a temporary directory + rename keeps a half-finished download from looking complete.
kafka_ensure_libs() {
  [ -f "$KAFKA_LIBS/.complete" ] && return 0
  ensure_packages java mvn
  mkdir -p "$(dirname "$KAFKA_LIBS")"
  exec 7>"$KAFKA_LIBS.lock"
  flock -w 600 7 || die "timed out waiting for another download into $KAFKA_LIBS"
  if [ ! -f "$KAFKA_LIBS/.complete" ]; then
    local t0=$EPOCHREALTIME tmp
    tmp=$(mktemp -d "$KAFKA_LIBS.tmp.XXXXXX")
    note "fetching Kafka 3.9.1 jars with Maven into $KAFKA_LIBS"
    # Maven's output goes to a file (even -q -B prints terminal escape codes); shown only if it fails.
    mvn -B -q -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$tmp" >"$tmp.log" 2>&1 || {
      tail -n 30 "$tmp.log" >&2
      rm -rf "$tmp" "$tmp.log"
      die "mvn could not fetch the Kafka jars (scripts/kafka/pom.xml); is Maven Central reachable?"
    }
    rm -f "$tmp.log"
    chmod 755 "$tmp" && touch "$tmp/.complete"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    note "Kafka jars ready in $(since "$t0") s"
  fi
  exec 7>&-
}

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

kafka_write_config() { # dir port controllerPort
  local dir=$1 port=$2 cport=$3
  # Rewritten on every start so the ports can change; node.id and the cluster id (in data/) must not.
  cat >"$dir/server.properties" <<EOF
# Written by scripts/infra.sh kafka-start; edits are lost at the next start.
# Single-node KRaft: this one process is both the controller quorum and the only broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
# Topics are created by the application (kafkajs admin) with explicit partition counts; a typo must fail, not create.
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
# Internal topics: one replica, and fewer partitions than the default 50 so the first consumer group and the
# first transaction do not wait for 50 partitions to be created on a 2-core machine.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
# A joining consumer gets its partitions at once instead of after the default 3 s (tests start many groups).
group.initial.rebalance.delay.ms=0
# Small, bounded disk use for a dev/test broker.
log.retention.hours=24
log.segment.bytes=67108864
EOF
  # log4j 1.x syntax (Kafka 3.9 logs through SLF4J 1.7 + reload4j). Everything goes to stdout, which the
  # start command sends to logs/server.log: one file holds both Kafka's log and any JVM crash message.
  cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.zookeeper=WARN
EOF
  # Tools (StorageTool format) log warnings to stderr only, so their stdout stays their answer.
  cat >"$dir/tools-log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

# A Kafka UUID as `kafka-storage.sh random-uuid` prints it: 16 random bytes, URL-safe base64, no padding.
# Done in bash to save a JVM start (~1 s); like Kafka, avoid a leading '-' that a CLI would take for an option.
kafka_random_uuid() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
    [[ $id == -* ]] || break
  done
  printf '%s\n' "$id"
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
  mkdir -p "$dir/logs" "$dir/data"
  kafka_write_config "$dir" "$port" "$cport"

  # Format once: a formatted log dir has meta.properties, and formatting again would refuse (or lose data).
  if [ ! -f "$dir/data/meta.properties" ]; then
    [ -s "$dir/cluster.id" ] || kafka_random_uuid >"$dir/cluster.id"
    kafka_java kafka.tools.StorageTool format -t "$(cat "$dir/cluster.id")" -c "$dir/server.properties" \
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
  pid=$(cat "$dir/kafka.pid")
  kafka_wait_ready "$dir" "$port" "$pid" "$KAFKA_START_TIMEOUT"
  KAFKA_HOW="started (pid $pid, $dir, ready in $(since "$t0") s, log $dir/logs/server.log)"
  exec 8>&-
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

# ---------------------------------------------------------------- commands

# Values are written bare when they hold no shell-special character (the usual case), single-quoted otherwise.
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
  local kind a b lines=()
  mapfile -t lines <"$source"
  # Reverse start order: Kafka and Redis before the database.
  for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
    read -r kind a b <<<"${lines[i]}"
    case $kind in
      kafka) kafka_stop "$a" ;;
      redis) redis_stop "$a" "$b" ;;
      postgres)
        pg_ctlcluster --skip-systemctl-redirect "$a" "$b" stop -m fast >&2 || die "pg_ctlcluster $a $b stop failed"
        printf 'postgres  cluster %s/%s  stopped\n' "$a" "$b" ;;
      *) note "ignoring unknown line in $source: ${lines[i]}" ;;
    esac
    if [ "$source" != "$STARTED_FILE" ] && [ -f "$STARTED_FILE" ]; then
      grep -vxF "${lines[i]}" "$STARTED_FILE" >"$STARTED_FILE.tmp" || true
      mv "$STARTED_FILE.tmp" "$STARTED_FILE"
    fi
  done
  if [ "$source" = "$STARTED_FILE" ]; then rm -f "$STARTED_FILE" "$ENV_FILE"; else rm -f "$source"; fi
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

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  deps) ensure_packages ;;
  kafka-start)
    [ $# -eq 4 ] || die "usage: infra.sh kafka-start <dir> <port> <controllerPort>"
    kafka_start "$2" "$3" "$4"
    printf 'kafka     127.0.0.1:%s  %s\n' "$3" "$KAFKA_HOW" ;;
  kafka-stop)
    [ $# -eq 2 ] || die "usage: infra.sh kafka-stop <dir>"
    kafka_stop "$2" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac

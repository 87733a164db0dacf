# shellcheck shell=bash
# scripts/infra/common.sh: logging, timing, process and port checks, the record of what `up` started, the lock.
# Sourced by scripts/infra.sh, which sets ROOT, INFRA_DIR and the variables documented at its top.

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

# shellcheck shell=bash
# scripts/infra/postgres.sh: reuse or start PostgreSQL (a Debian cluster), create the databases, stop it.
# Sourced by scripts/infra.sh, which sets ROOT, INFRA_DIR and the variables documented at its top.

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

pg_stop() { # version cluster-name, as `up` recorded them
  pg_ctlcluster --skip-systemctl-redirect "$1" "$2" stop -m fast >&2 || die "pg_ctlcluster $1 $2 stop failed"
  printf 'postgres  cluster %s/%s  stopped\n' "$1" "$2"
}

# shellcheck shell=bash
# scripts/infra/deps.sh: install missing system packages with apt-get (Debian, root only), for `deps` and `up`.
# Sourced by scripts/infra.sh, which sets ROOT, INFRA_DIR and the variables documented at its top.

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
  # Another apt-get (an unattended upgrade, a second installer) holds the dpkg lock for a while: wait for it.
  local lock=(-o DPkg::Lock::Timeout=300)
  {
    if [ -z "$APT_UPDATED" ]; then DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" update -qq && APT_UPDATED=1; fi &&
      DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq --no-install-recommends \
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
  ((${#want[@]})) || want=(java mvn psql postgres redis-cli redis-server chromium docker-compose)
  for item in "${want[@]}"; do
    case $item in
      java) command -v java >/dev/null || missing+=(openjdk-17-jre-headless) ;;
      mvn) command -v mvn >/dev/null || missing+=(maven) ;;
      psql) command -v psql >/dev/null && command -v pg_isready >/dev/null || missing+=(postgresql-client) ;;
      postgres) pg_server_installed && command -v pg_ctlcluster >/dev/null || missing+=(postgresql) ;;
      redis-cli) command -v redis-cli >/dev/null || missing+=(redis-tools) ;;
      redis-server) command -v redis-server >/dev/null || missing+=(redis-server) ;;
      # The storefront's browser tests (test/storefront.e2e.test.ts) drive Debian's Chromium through playwright-core.
      chromium) command -v chromium >/dev/null || missing+=(chromium) ;;
      # test/compose-file.int.test.ts has Compose check docker-compose.yml (no Docker daemon is needed for that).
      docker-compose) command -v docker-compose >/dev/null || missing+=(docker-compose) ;;
      # The cluster stack (npm run start:cluster, test:cluster, BENCH_CLUSTER=1) puts HAProxy in front of its services.
      haproxy) command -v haproxy >/dev/null || missing+=(haproxy) ;;
      *) die "ensure_packages: unknown item $item" ;;
    esac
  done
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

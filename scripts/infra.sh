#!/usr/bin/env bash
# scripts/infra.sh: make PostgreSQL, Redis and Kafka reachable for this project, without Docker.
#
#   bash scripts/infra.sh up                     reuse what answers, start what does not, write .infra/env
#   bash scripts/infra.sh status                 print what answers
#   bash scripts/infra.sh down                   stop exactly what `up` started (never what it reused)
#   bash scripts/infra.sh deps [item...]         install missing system packages (root, Debian): CI uses this;
#                                                items (chromium, docker-compose, ...) limit it to those
#   bash scripts/infra.sh kafka-start DIR PORT CONTROLLER_PORT   a broker of its own, e.g. for a restart test
#   bash scripts/infra.sh kafka-stop DIR         SIGTERM, wait, SIGKILL after a bound; data in DIR is kept
#
# Environment (all optional):
#   DATABASE_URL, REDIS_URL, KAFKA_BROKERS  use these services; `up` fails if one is set but does not answer
#   TEST_DATABASE_URL                       database the test runner uses (default: <database>_test on DATABASE_URL's server)
#   INFRA_DIR (.infra)                      where env, started, the Redis and Kafka state live
#   POSTGRES_PORT (5432), REDIS_PORT (6379)  ports of the local defaults, when the URLs above are not set
#   KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_DIR ($INFRA_DIR/kafka)   the broker `up` starts
#   KAFKA_NODES (1)                         3: `up` starts a 3-broker KRaft cluster instead (node i on KAFKA_PORT+2(i-1),
#                                           controller KAFKA_CONTROLLER_PORT+2(i-1)); topics then get 3 replicas,
#                                           min.insync.replicas=2 (scripts/infra/kafka-cluster.sh, docs/scale-out.md)
#   KAFKA_CLUSTER_DIR ($INFRA_DIR/kafka-cluster)   the cluster's node-<i> directories
#   KAFKA_LIBS (.infra/kafka/libs)          broker jars, shared by every broker dir so they are fetched once
#   KAFKA_HEAP_OPTS (-Xms256m -Xmx768m), KAFKA_START_TIMEOUT (90 s), KAFKA_STOP_TIMEOUT (30 s)
#
# Only Debian 12 tools are used: bash, coreutils, util-linux (flock, setsid), psql/pg_isready, redis-cli,
# java, mvn. Everything the script starts is recorded in $INFRA_DIR/started so `down` can stop just that:
# the PostgreSQL and Redis a machine already runs are shared with others and must never be stopped here.
#
# The functions live in scripts/infra/, one file per concern, sourced below: common.sh (logging, process and
# port checks, the run record), deps.sh (apt-get), postgres.sh, redis.sh, kafka-files.sh (jars, config),
# kafka.sh (start, stop), kafka-cluster.sh (KAFKA_NODES brokers) and commands.sh (up, down, status).
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

INFRA_LIB=$ROOT/scripts/infra
# shellcheck source-path=SCRIPTDIR source=infra/common.sh
. "$INFRA_LIB/common.sh"
# shellcheck source-path=SCRIPTDIR source=infra/deps.sh
. "$INFRA_LIB/deps.sh"
# shellcheck source-path=SCRIPTDIR source=infra/postgres.sh
. "$INFRA_LIB/postgres.sh"
# shellcheck source-path=SCRIPTDIR source=infra/redis.sh
. "$INFRA_LIB/redis.sh"
# shellcheck source-path=SCRIPTDIR source=infra/kafka-files.sh
. "$INFRA_LIB/kafka-files.sh"
# shellcheck source-path=SCRIPTDIR source=infra/kafka.sh
. "$INFRA_LIB/kafka.sh"
# shellcheck source-path=SCRIPTDIR source=infra/kafka-cluster.sh
. "$INFRA_LIB/kafka-cluster.sh"
# shellcheck source-path=SCRIPTDIR source=infra/commands.sh
. "$INFRA_LIB/commands.sh"

usage() { sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  deps) shift; ensure_packages "$@" ;;
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

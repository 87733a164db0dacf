# shellcheck shell=bash
# scripts/infra/kafka-files.sh: what a broker needs before it starts: the jars, the config files, a cluster id.
# Sourced by scripts/infra.sh, which sets ROOT, INFRA_DIR and the variables documented at its top.

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

# dir port controllerPort [nodeId voters]: without the last two, a single node (id 1, its own quorum); with them,
# one node of a cluster of brokers that are each also a controller (voters: 1@host:port,2@host:port,...).
kafka_write_config() {
  local dir=$1 port=$2 cport=$3 node=${4:-1} voters=${5:-1@127.0.0.1:$3} nodes replicas isr
  nodes=$(tr ',' '\n' <<<"$voters" | grep -c .)
  # Three or more brokers: every partition on three of them, a write acknowledged (acks=all) once two have it,
  # so one broker may die without losing an acknowledged event or refusing writes. Fewer: one copy.
  if ((nodes >= 3)); then replicas=3 isr=2; else replicas=1 isr=1; fi
  # Rewritten on every start so the ports can change; node.id and the cluster id (in data/) must not.
  cat >"$dir/server.properties" <<EOF
# Written by scripts/infra.sh; edits are lost at the next start.
# KRaft, $nodes node(s): every process is both a broker and a voter of the controller quorum.
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
# Topics are created by the application (kafkajs admin) with explicit partition counts; a typo must fail, not create.
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=$replicas
min.insync.replicas=$isr
# Internal topics: as many replicas as the topics, and fewer partitions than the default 50 so the first consumer
# group and the first transaction do not wait for 50 partitions to be created on a 2-core machine.
offsets.topic.replication.factor=$replicas
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$isr
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

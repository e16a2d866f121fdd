#!/usr/bin/env bash
# A single Apache Kafka 4 broker in KRaft mode (combined broker + controller) on 127.0.0.1,
# from jars that Maven resolves from Maven Central. Data lives in var/kafka and survives restarts.
#   kafka.sh start | stop | status
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE="$ROOT/deploy/local"
LIB="$HERE/target/lib"
DATA="$VAR/kafka/data"
CONF="$VAR/kafka/server.properties"

resolve_jars() {
  if [ ! -f "$LIB/.resolved" ] || [ "$HERE/pom.xml" -nt "$LIB/.resolved" ]; then
    command -v mvn >/dev/null || { say "Maven (mvn) is required to resolve Kafka's jars"; exit 1; }
    command -v java >/dev/null || { say "Java 17+ is required to run Kafka"; exit 1; }
    say "resolving Apache Kafka from Maven Central (first run only)…"
    rm -rf "$LIB"
    # Maven 3.8 still writes colour resets with -B; they are taken out of what a person reads.
    mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" package 2>&1 | sed -E 's/\x1b\[[0-9;]*m//g' >&2
    touch "$LIB/.resolved"
  fi
}

write_config() {
  mkdir -p "$DATA" "$VAR/kafka"
  # Replication 1 everywhere: one broker can hold no replicas; the transaction state log
  # and consumer offsets would otherwise never become available.
  cat >"$CONF" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=-1
PROPS
}

# A modest heap: the machine is shared with PostgreSQL, the workers and the tests.
JAVA_OPTS=(-Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Dlog4j2.configurationFile="$HERE/log4j2.properties" -Dkafka.logs.dir="$VAR/kafka")
java_cmd() { java "${JAVA_OPTS[@]}" -cp "$LIB/*" "$@"; }

start() {
  if pid_alive kafka; then say "kafka already running on 127.0.0.1:$KAFKA_PORT"; return 0; fi
  resolve_jars
  write_config
  if [ ! -f "$DATA/meta.properties" ]; then
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid)"
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$CONF" >>"$LOGS/kafka.log" 2>&1
  fi
  # setsid: a session and process group of its own, so ending the group of the shell that ran
  # `make up` (Ctrl-C, a CI step's cleanup) does not end the broker. In a background job of
  # this non-interactive shell setsid does not fork: $! is the broker's pid.
  setsid nohup java "${JAVA_OPTS[@]}" -cp "$LIB/*" kafka.Kafka "$CONF" >>"$LOGS/kafka.log" 2>&1 </dev/null &
  echo $! >"$RUN/kafka.pid"
  if ! wait_port "$KAFKA_PORT" 90; then
    say "kafka did not open 127.0.0.1:$KAFKA_PORT within 90 s; last lines of $LOGS/kafka.log:"
    tail -n 30 "$LOGS/kafka.log" >&2
    exit 1
  fi
  say "kafka listening on 127.0.0.1:$KAFKA_PORT (data in var/kafka, log in var/log/kafka.log)"
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid kafka ;;
  status) pid_alive kafka && echo "kafka running (pid $(cat "$RUN/kafka.pid"))" || echo "kafka stopped" ;;
  *) say "usage: $0 start|stop|status"; exit 2 ;;
esac

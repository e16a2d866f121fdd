#!/usr/bin/env bash
# Apache Kafka 4 in KRaft mode on 127.0.0.1, from jars that Maven resolves from Maven Central.
# One node (broker + controller) by default, its data in var/kafka, surviving restarts; with
# LEDGER_KAFKA_BROKERS=3, a cluster of three such nodes (node n: data in var/kafka/node-n,
# pid in var/run/kafka-n.pid, log in var/log/kafka-n.log; ports in lib.sh).
#   kafka.sh start | stop [n] | kill | status
# `start` starts whichever nodes are not running, then waits until each listens.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE="$ROOT/deploy/local"
LIB="$HERE/target/lib"
RF="$LEDGER_KAFKA_REPLICATION_FACTOR"
# Writes need two copies once there are three (events/topics.py's min_insync_replicas).
MIN_ISR=$((RF >= 3 ? 2 : 1))

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

# Node n's name (its pid file and log), directory, client and controller ports. One node keeps
# the names it always had, so an existing var/kafka is used as it is.
name() { if [ "$KAFKA_BROKERS" = 1 ]; then echo kafka; else echo "kafka-$1"; fi; }
node_dir() { if [ "$KAFKA_BROKERS" = 1 ]; then echo "$VAR/kafka"; else echo "$VAR/kafka/node-$1"; fi; }
port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }

voters() {
  local n out=""
  for n in $(seq 1 "$KAFKA_BROKERS"); do out="$out${out:+,}$n@127.0.0.1:$(controller_port "$n")"; done
  echo "$out"
}

write_config() {
  local n="$1" dir
  dir="$(node_dir "$n")"
  mkdir -p "$dir/data"
  # One broker: replication 1 everywhere, since it can hold no replicas (the transaction
  # state log and consumer offsets would otherwise never become available). Three: every
  # partition, Kafka's own included, on each of them, writes acknowledged by two.
  local tls_listener="" tls_map=""
  if [ "$TLS_MODE" = 1 ]; then
    tls_listener=",SASL_SSL://127.0.0.1:$(tls_port "$n")"
    tls_map=",SASL_SSL:SASL_SSL"
  fi
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:$(port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")$tls_listener
advertised.listeners=PLAINTEXT://127.0.0.1:$(port "$n")$tls_listener
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT$tls_map
$(tls_config)
log.dirs=$dir/data
num.partitions=6
default.replication.factor=$RF
min.insync.replicas=$MIN_ISR
offsets.topic.replication.factor=$RF
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$RF
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=$RF
share.coordinator.state.topic.min.isr=$MIN_ISR
group.initial.rebalance.delay.ms=0
$(session_timeouts)
auto.create.topics.enable=true
log.retention.hours=-1
PROPS
}

tls_port() { echo $((KAFKA_TLS_PORT + $1 - 1)); }

# The TLS mode's listener: TLS with the certificate of var/tls (tls.sh), SCRAM-SHA-512 users, as
# Strimzi's `tls: true, authentication: scram-sha-512` listener. A client asking it for
# metadata is told of the SASL_SSL listeners only: a service that connects there stays on TLS.
# The PLAINTEXT listener stays, on 127.0.0.1, for the brokers' replication and the tests' own
# clients.
tls_config() {
  [ "$TLS_MODE" = 1 ] || return 0
  printf '%s\n' \
    "sasl.enabled.mechanisms=SCRAM-SHA-512" \
    "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;" \
    "listener.name.sasl_ssl.ssl.keystore.type=PEM" \
    "listener.name.sasl_ssl.ssl.keystore.location=$TLS/server.pem"
}

# The SCRAM user `ledger`, with the password of var/tls/kafka-password: set (again) through the
# PLAINTEXT listener once the cluster answers; idempotent.
scram_user() {
  [ "$TLS_MODE" = 1 ] || return 0
  java $(java_opts 1) -cp "$LIB/*" kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$(port 1)" \
    --alter --entity-type users --entity-name "$KAFKA_USER" \
    --add-config "SCRAM-SHA-512=[password=$(cat "$TLS/kafka-password")]" >>"$LOGS/$(name 1).log" 2>&1
}

# A node that stops heartbeating to the controllers is fenced after broker.session.timeout.ms:
# only then are its leaderships moved and it is taken out of the in-sync replicas, and until
# then every write at acks=all to a partition it follows waits. Kafka's 9 s made a killed
# broker cost the writer 16 s of a 20 s bound (docs/faults.md); 6 s, beats every second, still
# leaves a loaded machine's pauses far behind.
session_timeouts() {
  if [ "$KAFKA_BROKERS" -gt 1 ]; then
    printf '%s\n' broker.session.timeout.ms=6000 broker.heartbeat.interval.ms=1000
  fi
}

# A modest heap: the machine is shared with PostgreSQL, the workers and the tests; three nodes
# share it three ways.
if [ "$KAFKA_BROKERS" = 1 ]; then HEAP=(-Xms256m -Xmx1g); else HEAP=(-Xms128m -Xmx320m); fi
java_opts() {
  echo "${HEAP[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Dlog4j2.configurationFile="$HERE/log4j2.properties" -Dkafka.logs.dir="$(node_dir "$1")"
}

cluster_id() {
  # Every node of a cluster is formatted with the same id, made once.
  local f="$VAR/kafka/cluster-id"
  [ -s "$f" ] || java $(java_opts 1) -cp "$LIB/*" kafka.tools.StorageTool random-uuid >"$f"
  cat "$f"
}

start_node() {
  local n="$1" dir log
  dir="$(node_dir "$n")"
  log="$LOGS/$(name "$n").log"
  write_config "$n"
  if [ ! -f "$dir/data/meta.properties" ]; then
    java $(java_opts "$n") -cp "$LIB/*" kafka.tools.StorageTool format -t "$(cluster_id)" \
      -c "$dir/server.properties" >>"$log" 2>&1
  fi
  # setsid: a session and process group of its own, so ending the group of the shell that ran
  # `make up` (Ctrl-C, a CI step's cleanup) does not end the broker. In a background job of
  # this non-interactive shell setsid does not fork: $! is the broker's pid.
  # shellcheck disable=SC2046
  setsid nohup java $(java_opts "$n") -cp "$LIB/*" kafka.Kafka "$dir/server.properties" \
    >>"$log" 2>&1 </dev/null &
  echo $! >"$RUN/$(name "$n").pid"
}

start() {
  local n started=()
  mkdir -p "$VAR/kafka"
  [ "$TLS_MODE" = 1 ] && "$HERE/tls.sh" certs
  for n in $(seq 1 "$KAFKA_BROKERS"); do
    if pid_alive "$(name "$n")"; then continue; fi
    [ ${#started[@]} -gt 0 ] || resolve_jars
    start_node "$n"
    started+=("$n")
  done
  if [ ${#started[@]} -eq 0 ]; then say "kafka already running on $(ports)"; return 0; fi
  # A node opens its client port once the controllers' quorum has it caught up: every node of
  # a cluster is started before any is waited for.
  for n in "${started[@]}"; do
    if ! wait_port "$(port "$n")" 90; then
      say "kafka node $n did not open 127.0.0.1:$(port "$n") within 90 s; last lines of $LOGS/$(name "$n").log:"
      tail -n 30 "$LOGS/$(name "$n").log" >&2
      exit 1
    fi
  done
  if [ "$TLS_MODE" = 1 ]; then
    scram_user || { say "kafka: the SCRAM user could not be set; see $LOGS/$(name 1).log"; exit 1; }
    for n in "${started[@]}"; do
      wait_port "$(tls_port "$n")" 30 || { say "kafka node $n: no TLS listener on $(tls_port "$n")"; exit 1; }
    done
    say "kafka: TLS + SCRAM-SHA-512 (user $KAFKA_USER) on $(tls_servers)"
  fi
  local logs="${LOGS#"$ROOT"/}/kafka.log"
  [ "$KAFKA_BROKERS" = 1 ] || logs="${LOGS#"$ROOT"/}/kafka-{1..$KAFKA_BROKERS}.log"
  say "kafka listening on $(ports) (data in ${VAR#"$ROOT"/}/kafka, log in $logs)"
}

tls_servers() {
  local n out=""
  for n in $(seq 1 "$KAFKA_BROKERS"); do out="$out${out:+,}127.0.0.1:$(tls_port "$n")"; done
  echo "$out"
}

ports() {
  local n out=""
  for n in $(seq 1 "$KAFKA_BROKERS"); do out="$out${out:+,}127.0.0.1:$(port "$n")"; done
  echo "$out"
}

# Every node is sent SIGTERM at once: a node stopped after the others would wait for a
# controller quorum that is gone before it gave up. Without a node: every node this var/ has a
# pid file for, one or three, whatever LEDGER_KAFKA_BROKERS says now.
stop() {
  local f names=()
  if [ -n "${1:-}" ]; then names=("$(name "$1")"); else
    for f in "$RUN"/kafka.pid "$RUN"/kafka-*.pid; do
      [ -f "$f" ] && names+=("$(basename "$f" .pid)")
    done
  fi
  for f in "${names[@]}"; do stop_pid "$f" & done
  wait
}

# Every node killed at once (SIGKILL): for a stack whose data is wiped next, where a controlled
# shutdown only waits (a three-node cluster's took 8-13 s of the fault suite).
kill_all() {
  local f
  for f in "$RUN"/kafka.pid "$RUN"/kafka-*.pid; do [ -f "$f" ] && kill_pid "$(basename "$f" .pid)"; done
  return 0
}

status() {
  local n
  for n in $(seq 1 "$KAFKA_BROKERS"); do
    if pid_alive "$(name "$n")"; then
      echo "$(name "$n") running on 127.0.0.1:$(port "$n") (pid $(cat "$RUN/$(name "$n").pid"))"
    else
      echo "$(name "$n") stopped"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  kill) kill_all ;;
  status) status ;;
  tls-servers) tls_servers ;;
  *) say "usage: $0 start | stop [node] | kill | status | tls-servers"; exit 2 ;;
esac

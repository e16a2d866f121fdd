#!/usr/bin/env bash
# The whole local stack: Kafka, PostgreSQL, topics, schema, and the service processes.
#   stack.sh up | down | status | logs
# With KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL set, that server is used and none is started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$ROOT/deploy/local"

# name and command of each service process, started in this order, stopped in reverse.
SERVICES=(writer projector risk webhooks api)
service_cmd() {
  case "$1" in
    writer) echo "$LEDGER serve writer" ;;
    projector) echo "$LEDGER serve projector" ;;
    risk) echo "$LEDGER serve risk" ;;
    webhooks) echo "$LEDGER serve webhooks" ;;
    api) echo "$LEDGER serve api" ;;
    *) say "unknown service $1"; return 1 ;;
  esac
}
ADMIN_TOKEN_FILE="$ROOT/.admin-token"

export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-}"
export DATABASE_URL="${DATABASE_URL:-}"
[ -n "$KAFKA_BOOTSTRAP_SERVERS" ] || unset KAFKA_BOOTSTRAP_SERVERS
[ -n "$DATABASE_URL" ] || unset DATABASE_URL

start_service() {
  local name="$1"
  if pid_alive "$name"; then say "$name already running"; return 0; fi
  # setsid: the service gets its own process group, so stopping it stops its children too.
  setsid nohup $(service_cmd "$name") >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
}

up() {
  if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then "$HERE/kafka.sh" start; else say "using Kafka at $KAFKA_BOOTSTRAP_SERVERS"; fi
  if [ -z "${DATABASE_URL:-}" ]; then "$HERE/postgres.sh" start; else say "using the PostgreSQL of DATABASE_URL"; fi
  "$LEDGER" wait all --timeout 120
  "$LEDGER" topics create >&2
  "$LEDGER" db migrate >&2
  local s
  for s in "${SERVICES[@]}"; do start_service "$s"; done
  if ! wait_port "$API_PORT" 60; then
    say "the API did not open 127.0.0.1:$API_PORT within 60 s; last lines of $LOGS/api.log:"
    tail -n 30 "$LOGS/api.log" >&2
    exit 1
  fi
  # A local admin token for scripts, made once (again if the database lost it).
  if [ ! -s "$ADMIN_TOKEN_FILE" ] || ! "$LEDGER" token verify "$(cat "$ADMIN_TOKEN_FILE")" 2>/dev/null; then
    (umask 077; "$LEDGER" token create --role admin 2>/dev/null >"$ADMIN_TOKEN_FILE")
    say "local admin token (also in .admin-token): $(cat "$ADMIN_TOKEN_FILE")"
  fi
  say "stack is up: the app at http://127.0.0.1:$API_PORT/ (sign in with an API token), API docs at /docs, logs in var/log/"
}

down() {
  local i
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do stop_pid "${SERVICES[$i]}"; done
  [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ] || "$HERE/kafka.sh" stop
  [ -n "${DATABASE_URL:-}" ] || "$HERE/postgres.sh" stop
  say "stack is down"
}

status() {
  "$HERE/kafka.sh" status
  "$HERE/postgres.sh" status
  local s
  for s in "${SERVICES[@]}"; do
    pid_alive "$s" && echo "$s running (pid $(cat "$RUN/$s.pid"))" || echo "$s stopped"
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  logs) exec tail -n 20 -F "$LOGS"/*.log ;;
  *) say "usage: $0 up|down|status|logs"; exit 2 ;;
esac

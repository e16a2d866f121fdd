#!/usr/bin/env bash
# The whole local stack: Kafka, PostgreSQL, topics, schema, and the service processes.
#   stack.sh up | down | discard | status | logs
# With KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL set, that server is used and none is started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$ROOT/deploy/local"

# The service processes, run by supervisord (the `supervisor` package, in the venv): it
# restarts one that exits, as `restart: unless-stopped` does in docker-compose.yml. Started in
# this order, stopped in reverse.
SERVICES=(writer projector risk webhooks alerts api)
SUPERVISOR_CONF="$RUN/supervisord.conf"
SUPERVISOR_LOG="$LOGS/supervisord.log"
# A second stack (LEDGER_VAR) keeps its token with the rest of it: its database is another.
if [ "$VAR" = "$ROOT/var" ]; then ADMIN_TOKEN_FILE="$ROOT/.admin-token"; else ADMIN_TOKEN_FILE="$VAR/admin-token"; fi

export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-}"
export DATABASE_URL="${DATABASE_URL:-}"
[ -n "$KAFKA_BOOTSTRAP_SERVERS" ] || unset KAFKA_BOOTSTRAP_SERVERS
[ -n "$DATABASE_URL" ] || unset DATABASE_URL

ctl() { "$ROOT/.venv/bin/supervisorctl" -c "$SUPERVISOR_CONF" "$@"; }

# The processes inherit supervisord's environment, i.e. this script's: KAFKA_BOOTSTRAP_SERVERS,
# DATABASE_URL, LEDGER_* (ports included) as they were at the `make up` that started it.
write_supervisor_conf() {
  local s i=0
  {
    cat <<CONF
[unix_http_server]
file=$RUN/supervisor.sock
chmod=0700

[supervisord]
logfile=$SUPERVISOR_LOG
logfile_maxbytes=10MB
logfile_backups=1
pidfile=$RUN/supervisord.pid
directory=$ROOT
childlogdir=$LOGS

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$RUN/supervisor.sock
CONF
    for s in "${SERVICES[@]}"; do
      i=$((i + 1))
      cat <<CONF

[program:$s]
command=$LEDGER serve $s
priority=$((100 + i))
autostart=true
; restarted whenever it exits, however often (a dependency may be away for a while)
autorestart=true
startsecs=2
startretries=1000
; SIGTERM lets it finish what it is doing; the whole process group goes, children included
stopsignal=TERM
stopwaitsecs=30
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=$LOGS/$s.log
stdout_logfile_maxbytes=0
CONF
    done
  } >"$SUPERVISOR_CONF.new"
  mv "$SUPERVISOR_CONF.new" "$SUPERVISOR_CONF"
}

start_services() {
  write_supervisor_conf
  if pid_alive supervisord; then
    # Already supervising: pick up a changed configuration, start what was stopped.
    ctl update >/dev/null
    ctl start all >/dev/null || true
  else
    # supervisord daemonizes into a session of its own: ending the caller's group leaves it.
    "$ROOT/.venv/bin/supervisord" -c "$SUPERVISOR_CONF"
  fi
}

# Processes an older version of this script started without a supervisor (var/run/NAME.pid).
stop_unsupervised() {
  local s
  for s in "${SERVICES[@]}"; do stop_pid "$s"; done
}

# restarts NAME: how often supervisord has started NAME again since supervisord itself started.
restarts() {
  [ -f "$SUPERVISOR_LOG" ] || { echo 0; return; }
  awk -v name="$1" '
    /supervisord started with pid/ { n = 0 }
    index($0, "spawned: '\''" name "'\''") { n++ }
    END { print (n > 0 ? n - 1 : 0) }' "$SUPERVISOR_LOG"
}

# The TLS mode: everything from here on (topics, migrations, the token, every service)
# connects to Kafka's SASL_SSL listener as the SCRAM user and to PostgreSQL with
# sslmode=verify-full, checking certificates and host names against var/tls/ca.crt: the
# settings a cluster gives (docs/operations.md), the secret read from a file.
use_tls() {
  if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    export KAFKA_BOOTSTRAP_SERVERS
    KAFKA_BOOTSTRAP_SERVERS="$("$HERE/kafka.sh" tls-servers)"
    export LEDGER_KAFKA_SECURITY_PROTOCOL=SASL_SSL LEDGER_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
    export LEDGER_KAFKA_SASL_USERNAME="$KAFKA_USER" LEDGER_KAFKA_SASL_PASSWORD_FILE="$TLS/kafka-password"
    export LEDGER_KAFKA_SSL_CAFILE="$TLS/ca.crt"
  fi
  if [ -z "${DATABASE_URL:-}" ]; then
    export DATABASE_URL="postgresql://ledger:ledger@127.0.0.1:$PG_PORT/ledger?sslmode=verify-full&sslrootcert=$TLS/ca.crt"
  fi
}

up() {
  # Kafka and PostgreSQL start side by side (a JVM's start and an initdb take seconds each); the
  # TLS mode's certificates, which both read, are made first.
  local kafka=""
  if [ "$TLS_MODE" = 1 ] && [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}${DATABASE_URL:-}" ]; then "$HERE/tls.sh" certs; fi
  if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then "$HERE/kafka.sh" start & kafka=$!; else say "using Kafka at $KAFKA_BOOTSTRAP_SERVERS"; fi
  if [ -z "${DATABASE_URL:-}" ]; then "$HERE/postgres.sh" start; else say "using the PostgreSQL of DATABASE_URL"; fi
  if [ -n "$kafka" ]; then wait "$kafka" || { say "kafka did not start"; exit 1; }; fi
  [ "$TLS_MODE" = 1 ] && use_tls
  "$LEDGER" wait all --timeout 120
  "$LEDGER" topics create >&2
  "$LEDGER" db migrate >&2
  stop_unsupervised
  start_services
  if ! wait_port "$API_PORT" 60; then
    say "the API did not open 127.0.0.1:$API_PORT within 60 s; last lines of $LOGS/api.log:"
    tail -n 30 "$LOGS/api.log" >&2
    exit 1
  fi
  # A local admin token for scripts, made once (again if the database lost it).
  if [ ! -s "$ADMIN_TOKEN_FILE" ] || ! "$LEDGER" token verify "$(cat "$ADMIN_TOKEN_FILE")" 2>/dev/null; then
    (umask 077; "$LEDGER" token create --role admin 2>/dev/null >"$ADMIN_TOKEN_FILE")
    # Cut: the whole secret in a terminal's scrollback or a CI log is a leaked admin token.
    token=$(cat "$ADMIN_TOKEN_FILE")
    say "local admin token (in .admin-token, readable by you only): ${token:0:8}…"
  fi
  say "stack is up: the app at http://127.0.0.1:$API_PORT/ (sign in with an API token), API docs at /docs, logs in var/log/"
}

down() {
  stop_unsupervised
  if pid_alive supervisord; then
    # Stops every program (in reverse order, SIGTERM then SIGKILL after 30 s), then itself.
    ctl shutdown >/dev/null || true
    for _ in $(seq 1 400); do pid_alive supervisord || break; sleep 0.1; done
  fi
  rm -f "$RUN/supervisord.pid"
  [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ] || "$HERE/kafka.sh" stop
  [ -n "${DATABASE_URL:-}" ] || "$HERE/postgres.sh" stop
  say "stack is down"
}

# descendants PID: the pids of PID's children, theirs, and so on.
descendants() {
  local child
  for child in $(pgrep -P "$1" || true); do echo "$child"; descendants "$child"; done
}

# What a test's stack of its own does before its data is wiped: every process killed at once,
# no clean shutdown to wait for (the services' SIGTERM, the brokers' controlled shutdown and
# PostgreSQL's checkpoint took 14-20 s of the three-broker faults' teardown).
discard() {
  local s
  for s in "${SERVICES[@]}"; do kill_pid "$s"; done
  if pid_alive supervisord; then
    # supervisord first, so that it restarts none of its programs; then they and theirs go
    # (an API's uvicorn workers, a risk agent's first-pass processes).
    local procs
    procs="$(descendants "$(cat "$RUN/supervisord.pid")")"
    kill_pid supervisord
    # shellcheck disable=SC2086 # one pid a word
    [ -z "$procs" ] || kill -KILL $procs 2>/dev/null || true
  fi
  rm -f "$RUN/supervisord.pid"
  [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ] || "$HERE/kafka.sh" kill
  [ -n "${DATABASE_URL:-}" ] || "$HERE/postgres.sh" kill
  say "stack is discarded"
}

status() {
  "$HERE/kafka.sh" status
  "$HERE/postgres.sh" status
  local s line
  for s in "${SERVICES[@]}"; do
    if pid_alive supervisord && line="$(ctl status "$s" 2>/dev/null || true)" && [ -n "$line" ]; then
      # e.g. "writer    RUNNING   pid 4242, uptime 0:03:12   restarts 1"
      printf '%s   restarts %s\n' "$line" "$(restarts "$s")"
    else
      printf '%-9s stopped\n' "$s"
    fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  discard) discard ;;
  status) status ;;
  logs) exec tail -n 20 -F "$LOGS"/*.log ;;
  *) say "usage: $0 up|down|discard|status|logs"; exit 2 ;;
esac

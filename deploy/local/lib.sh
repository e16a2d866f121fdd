# Shared by the local stack scripts: where things live and how to tell a process is alive.
# Everything the local stack writes stays under var/ at the repository root (git-ignored), or
# under LEDGER_VAR: a second stack of the same checkout (the three-broker fault scenarios',
# tests/support/cluster.py) lives in a directory of its own, on ports of its own.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VAR="${LEDGER_VAR:-$ROOT/var}"
RUN="$VAR/run"
LOGS="$VAR/log"
mkdir -p "$RUN" "$LOGS"

KAFKA_PORT="${LEDGER_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${LEDGER_KAFKA_CONTROLLER_PORT:-19093}"
# LEDGER_KAFKA_BROKERS=3: a KRaft cluster of three nodes (each broker and controller). Node n
# listens on KAFKA_PORT + 2(n-1), its controller on KAFKA_CONTROLLER_PORT + 2(n-1)
# (services/settings.py's local_kafka lists the same ports). Topics get a copy on each broker
# (at most 3), and writes need two of them (events/topics.py).
KAFKA_BROKERS="${LEDGER_KAFKA_BROKERS:-1}"
export LEDGER_KAFKA_BROKERS="$KAFKA_BROKERS"
export LEDGER_KAFKA_REPLICATION_FACTOR="${LEDGER_KAFKA_REPLICATION_FACTOR:-$((KAFKA_BROKERS < 3 ? KAFKA_BROKERS : 3))}"
# LEDGER_TLS=1: the TLS mode (deploy/local/tls.sh): Kafka gains a SASL_SSL listener with a
# SCRAM-SHA-512 user, node n's on KAFKA_TLS_PORT + n - 1 (after the last controller port by
# default), PostgreSQL takes TLS, and the services connect only so, checking certificates
# and host names against var/tls/ca.crt.
TLS_MODE="${LEDGER_TLS:-0}"
TLS="$VAR/tls"
KAFKA_TLS_PORT="${LEDGER_KAFKA_TLS_PORT:-$((KAFKA_PORT + 2 * KAFKA_BROKERS))}"
KAFKA_USER=ledger
PG_PORT="${LEDGER_PG_PORT:-15432}"
API_PORT="${LEDGER_API_PORT:-8000}"
PYTHON="$ROOT/.venv/bin/python"
LEDGER="$ROOT/.venv/bin/ledger"

say() { printf '%s\n' "$*" >&2; }

# pid_alive NAME: true when var/run/NAME.pid names a running process. A killed process whose
# parent never reaps it stays a zombie that `kill -0` still finds: that counts as dead.
pid_alive() {
  local f="$RUN/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null || return 1
  ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

# stop_pid NAME: TERM, wait up to 30 s, then KILL; removes the pid file.
stop_pid() {
  local f="$RUN/$1.pid" pid i
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 300); do pid_alive "$1" || break; sleep 0.1; done
    if pid_alive "$1"; then
      say "$1 did not stop in 30 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}

# kill_pid NAME: the process of var/run/NAME.pid killed at once (SIGKILL), for data about to be
# wiped: nothing of it needs a clean shutdown.
kill_pid() {
  local f="$RUN/$1.pid" pid i
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do pid_alive "$1" || break; sleep 0.1; done
  rm -f "$f"
}

# wait_port PORT SECONDS: true once something accepts TCP connections on 127.0.0.1:PORT.
wait_port() {
  local port="$1" secs="$2" i
  for i in $(seq 1 $((secs * 5))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

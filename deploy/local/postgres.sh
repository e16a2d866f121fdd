#!/usr/bin/env bash
# A PostgreSQL server from Debian's packages on 127.0.0.1, with its data in var/pg, and the
# project's role and database. Installs the packages when the machine has none.
#   postgres.sh start | stop | kill | status
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$ROOT/deploy/local"

PGDATA="$VAR/pg/data"
PGSOCK="$VAR/pg/sock"
DB_NAME="${LEDGER_DB_NAME:-ledger}"
DB_USER="${LEDGER_DB_USER:-ledger}"
DB_PASSWORD="${LEDGER_DB_PASSWORD:-ledger}"

find_bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

install_postgres() {
  [ "$(id -u)" = 0 ] || { say "PostgreSQL is missing and installing it needs root (apt-get)"; exit 1; }
  say "installing PostgreSQL from Debian's packages…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

# initdb and postgres refuse to run as root: run them as the postgres user Debian creates.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The TLS mode (LEDGER_TLS=1): the certificate of var/tls (tls.sh), in a copy the server's user
# owns (PostgreSQL refuses a key others can read); clients use sslmode=verify-full.
tls_options() {
  [ "$TLS_MODE" = 1 ] || return 0
  "$HERE/tls.sh" certs
  mkdir -p "$VAR/pg/tls"
  cp "$TLS/server.crt" "$TLS/server.key" "$VAR/pg/tls/"
  chmod 600 "$VAR/pg/tls/server.key"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$VAR/pg/tls"
  printf ' -c ssl=on -c ssl_cert_file=%s -c ssl_key_file=%s' "$VAR/pg/tls/server.crt" "$VAR/pg/tls/server.key"
}

start() {
  local bindir
  bindir="$(find_bindir || true)"
  if [ -z "$bindir" ]; then install_postgres; bindir="$(find_bindir)"; fi
  mkdir -p "$VAR/pg" "$PGSOCK"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$VAR/pg" "$PGSOCK"
  if as_pg "$bindir/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    say "postgresql already running on 127.0.0.1:$PG_PORT"
    return 0
  fi
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    as_pg "$bindir/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >>"$LOGS/postgres.log" 2>&1
  fi
  as_pg "$bindir/pg_ctl" -D "$PGDATA" -l "$VAR/pg/postgres.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PGSOCK -c max_connections=200 -c shared_buffers=256MB$(tls_options)" \
    >/dev/null
  as_pg "$bindir/pg_ctl" -D "$PGDATA" status | sed -n 's/.*PID: \([0-9]*\).*/\1/p' >"$RUN/postgres.pid" || true
  # Role and database, created once; the password lets clients connect over TCP.
  as_pg "$bindir/psql" -h "$PGSOCK" -p "$PG_PORT" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 <<SQL >/dev/null
SELECT 'CREATE ROLE "$DB_USER" LOGIN PASSWORD ''$DB_PASSWORD'''
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') \gexec
SELECT 'CREATE DATABASE "$DB_NAME" OWNER "$DB_USER"'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME') \gexec
SQL
  say "postgresql listening on 127.0.0.1:$PG_PORT (database $DB_NAME, data in var/pg, log in var/pg/postgres.log)"
}

# MODE: fast (a clean shutdown) or immediate (for data wiped next: no checkpoint to wait for).
stop() {
  local bindir mode="${1:-fast}"
  bindir="$(find_bindir || true)"
  if [ -n "$bindir" ] && [ -f "$PGDATA/PG_VERSION" ]; then
    as_pg "$bindir/pg_ctl" -D "$PGDATA" -m "$mode" -w stop >/dev/null 2>&1 || true
  fi
  rm -f "$RUN/postgres.pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) stop immediate ;;
  status) pid_alive postgres && echo "postgresql running (pid $(cat "$RUN/postgres.pid"))" || echo "postgresql stopped" ;;
  *) say "usage: $0 start|stop|kill|status"; exit 2 ;;
esac

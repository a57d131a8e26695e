#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and CI, on 127.0.0.1 only, from Debian's packages.
#
#   pg.sh up     install postgresql with apt if missing, initdb a cluster in $PG_DATA_DIR (once),
#                start it on 127.0.0.1:$PG_PORT, create the user and database; prints PG_URL=...
#                Safe to run again: a running cluster is reused.
#   pg.sh down   stop the cluster cleanly (fast shutdown) and wait for it to exit
#   pg.sh env    print PG_URL=... (the cluster must be up)
#   pg.sh status exit 0 if running, 3 if not
#   pg.sh reset  stop and delete the data directory
#
# Settings (environment): PG_PORT (15432), PG_DATA_DIR (${TMPDIR:-/tmp}/notify-pg-$PG_PORT),
# PG_USER (notify), PG_PASSWORD (notify), PG_DB (notify). Only stdout carries KEY=VALUE lines,
# so `set -a; . <(pg.sh up)` or `eval "$(pg.sh up | sed 's/^/export /')"` work.
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` OS user that
# the Debian package creates. The cluster is for tests: durable defaults, no tuning.
set -euo pipefail

PG_PORT="${PG_PORT:-15432}"
[[ "$PG_PORT" =~ ^[0-9]+$ ]] || { echo "pg.sh: ERROR: PG_PORT must be a number (got '$PG_PORT')" >&2; exit 1; }
PG_DATA_DIR="${PG_DATA_DIR:-${TMPDIR:-/tmp}/notify-pg-${PG_PORT}}"
PG_USER="${PG_USER:-notify}"
PG_PASSWORD="${PG_PASSWORD:-notify}"
PG_DB="${PG_DB:-notify}"
PG_START_TIMEOUT="${PG_START_TIMEOUT:-60}"
HOST=127.0.0.1
DATA="$PG_DATA_DIR/data"
LOG_FILE="$PG_DATA_DIR/postgres.log"

log() { printf 'pg.sh: %s\n' "$*" >&2; }
die() { printf 'pg.sh: ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$PG_USER" =~ ^[a-z_][a-z0-9_]*$ ]] || die "PG_USER must be a plain lower-case identifier (got '$PG_USER')"
[[ "$PG_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "PG_DB must be a plain lower-case identifier (got '$PG_DB')"
[[ "$PG_PASSWORD" =~ ^[A-Za-z0-9._-]+$ ]] || die "PG_PASSWORD may hold only [A-Za-z0-9._-] (it goes into a URL)"

# bindir finds the server binaries of the newest installed major version.
bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]] && echo "$d"
}

install_pg() {
  bindir >/dev/null && return 0
  [[ $EUID -eq 0 ]] || die "postgresql is not installed and installing it needs root (apt-get install postgresql)"
  log "installing postgresql from Debian (apt-get)"
  apt-get update -qq >/dev/null
  # The package would create and start a 'main' cluster on 5432; we do not need it.
  mkdir -p /etc/postgresql-common
  if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bindir >/dev/null || die "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb was found"
}

# as_owner runs a command as the cluster's OS user: postgres when we are root, else ourselves.
as_owner() {
  if [[ $EUID -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' OS user to run the server as (the Debian package creates it)"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() {
  local bin; bin=$(bindir) || return 1
  [[ -f "$DATA/PG_VERSION" ]] && as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

psql_admin() {
  local bin; bin=$(bindir)
  # Over the unix socket in the data dir, as the bootstrap superuser (trust for local sockets).
  as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DATA_DIR" -p "$PG_PORT" -U postgres -d postgres "$@"
}

print_env() {
  echo "PG_URL=postgres://${PG_USER}:${PG_PASSWORD}@${HOST}:${PG_PORT}/${PG_DB}?sslmode=disable"
}

cmd_up() {
  install_pg
  local bin; bin=$(bindir)
  mkdir -p "$PG_DATA_DIR"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$PG_DATA_DIR"; fi
  chmod 700 "$PG_DATA_DIR"
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "initdb $DATA ($("$bin/postgres" --version))"
    local pwfile="$PG_DATA_DIR/.pw"
    as_owner sh -c "umask 077; echo postgres-unused > '$pwfile'"
    as_owner "$bin/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$PG_DATA_DIR/initdb.log" 2>&1 \
      || { cat "$PG_DATA_DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
    # Loopback only; the socket lives in the data dir so nothing touches /var/run/postgresql.
    as_owner sh -c "cat >> '$DATA/postgresql.conf'" <<CONF

# pg.sh: a test cluster on loopback
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$PG_DATA_DIR'
max_connections = 100
logging_collector = off
CONF
  fi
  if running; then
    log "already running on $HOST:$PG_PORT ($DATA)"
  else
    log "starting on $HOST:$PG_PORT (log: $LOG_FILE)"
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG_FILE" -w -t "$PG_START_TIMEOUT" start >/dev/null \
      || { tail -n 20 "$LOG_FILE" >&2 || true; die "postgres did not start (is port $PG_PORT taken?)"; }
  fi
  local i
  for ((i = 0; i < PG_START_TIMEOUT * 5; i++)); do
    "$bin/pg_isready" -q -h "$HOST" -p "$PG_PORT" && break
    sleep 0.2
  done
  "$bin/pg_isready" -q -h "$HOST" -p "$PG_PORT" || die "postgres is not accepting connections on $HOST:$PG_PORT"
  psql_admin <<SQL
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', '$PG_USER', '$PG_PASSWORD')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER') \gexec
ALTER ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD';
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_DB', '$PG_USER')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB') \gexec
SQL
  print_env
}

cmd_down() {
  local bin
  if ! bin=$(bindir) || [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "no cluster at $DATA"; return 0
  fi
  if running; then
    as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    log "stopped"
  else
    log "not running"
  fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) running || die "not running; start it with: $0 up"; print_env ;;
  status) if running; then log "running on $HOST:$PG_PORT ($DATA)"; else log "not running"; exit 3; fi ;;
  reset) cmd_down; rm -rf "$PG_DATA_DIR"; log "removed $PG_DATA_DIR" ;;
  *) echo "usage: $0 up|down|env|status|reset" >&2; exit 2 ;;
esac

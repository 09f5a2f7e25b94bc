#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store's tests: start | stop | url.
#
# Why: the run store must behave the same on PostgreSQL as on SQLite, and CI has to prove it without a
# managed database. This script installs the server only when its binaries are missing, keeps its cluster
# under ${WISHSTAR_PG_DIR:-$HOME/.cache/wishstar/pg}, listens on 127.0.0.1 only (trust auth: test data only,
# never use it for anything else) and prints the SQLAlchemy URL on stdout. `start` is idempotent.
#
#   export WISHSTAR_TEST_POSTGRES_URL="$(scripts/postgres.sh start)"
set -euo pipefail

PORT="${WISHSTAR_PG_PORT:-55432}"
DB="wishstar_test"
ROLE="wishstar"
PGDIR="${WISHSTAR_PG_DIR:-$HOME/.cache/wishstar/pg}"

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$d/postgres" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then echo "$d"; return 0; fi
  done
  return 1
}

ensure_installed() {
  if find_bindir >/dev/null; then return 0; fi
  log "PostgreSQL server binaries not found; installing the postgresql package"
  local sudo=""
  if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
  find_bindir >/dev/null || { log "installation did not provide /usr/lib/postgresql/*/bin/postgres"; exit 1; }
}

# Root cannot run postgres: as root, run the server as the 'postgres' user, which must reach PGDIR.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

choose_dir() {
  if [[ "$(id -u)" != 0 ]]; then return 0; fi
  mkdir -p "$PGDIR"
  if ! runuser -u postgres -- test -x "$PGDIR"; then
    if [[ -n "${WISHSTAR_PG_DIR:-}" ]]; then
      log "user 'postgres' cannot reach WISHSTAR_PG_DIR=$PGDIR; choose a directory it can traverse"
      exit 1
    fi
    PGDIR="/var/tmp/wishstar-pg"
    log "user 'postgres' cannot reach \$HOME; using $PGDIR"
  fi
  mkdir -p "$PGDIR"
  chown postgres: "$PGDIR"
}

url() { echo "postgresql+psycopg://${ROLE}@127.0.0.1:${PORT}/${DB}"; }

is_running() { as_owner "$BIN/pg_ctl" status -D "$PGDIR/data" >/dev/null 2>&1; }

start() {
  ensure_installed
  BIN="$(find_bindir)"
  choose_dir
  if [[ -f "$PGDIR/data/PG_VERSION" ]] && is_running; then url; return 0; fi
  if [[ ! -f "$PGDIR/data/PG_VERSION" ]]; then
    as_owner mkdir -p "$PGDIR/data" "$PGDIR/run"
    as_owner "$BIN/initdb" -D "$PGDIR/data" -U "$ROLE" --auth=trust -E UTF8 --locale=C.UTF-8 >&2 \
      || as_owner "$BIN/initdb" -D "$PGDIR/data" -U "$ROLE" --auth=trust -E UTF8 >&2
  fi
  as_owner mkdir -p "$PGDIR/run"
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    log "port $PORT is taken by another process; set WISHSTAR_PG_PORT to a free port"
    exit 1
  fi
  as_owner "$BIN/pg_ctl" start -w -t 60 -D "$PGDIR/data" -l "$PGDIR/server.log" \
    -o "-h 127.0.0.1 -p $PORT -k $PGDIR/run -c fsync=off -c max_connections=200" >&2
  local psql=("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d postgres -v ON_ERROR_STOP=1 -qtA)
  if [[ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]]; then
    "${psql[@]}" -c "CREATE DATABASE $DB" >&2
  fi
  url
}

stop() {
  local bin
  bin="$(find_bindir)" || { log "no PostgreSQL installed; nothing to stop"; return 0; }
  BIN="$bin"
  choose_dir
  if [[ -f "$PGDIR/data/PG_VERSION" ]] && is_running; then
    as_owner "$BIN/pg_ctl" stop -w -m fast -D "$PGDIR/data" >&2
  else
    log "not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) choose_dir; url ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac

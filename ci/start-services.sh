#!/usr/bin/env bash
# Makes PostgreSQL and Redis available for the reference service and its tests.
#
#   ci/start-services.sh            install the Debian packages if missing (idempotent, fast)
#   eval "$(ci/start-services.sh --start)"
#                                   also start both on loopback and export DATABASE_URL/REDIS_URL
#   ci/start-services.sh --stop     stop what --start started (by PID)
#
# The integration tests of reference-service start their own throwaway servers and only need
# the packages; --start is for running the binary (benchmarks, demos). Everything but the
# `export` lines goes to stderr so that the output can be eval'ed.
set -euo pipefail

STATE_DIR="${KNEEPOINT_SERVICES_DIR:-${TMPDIR:-/tmp}/kneepoint-services}"
PG_PORT="${KNEEPOINT_PG_PORT:-55432}"
REDIS_PORT="${KNEEPOINT_REDIS_PORT:-56379}"

log() { echo "start-services: $*" >&2; }

pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [[ -n "$dir" && -x "$dir/initdb" ]] && echo "$dir"
}

install_packages() {
  local missing=()
  [[ -n "$(pg_bin)" ]] || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { log "need root (or sudo) to install: ${missing[*]}"; exit 1; }
    sudo=(sudo)
  fi
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
}

# Runs a command as the postgres user when we are root (PostgreSQL refuses to run as root).
as_pg() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  local bin
  bin="$(pg_bin)"
  mkdir -p "$STATE_DIR"
  chmod 755 "$STATE_DIR"
  if [[ ! -f "$STATE_DIR/pg/PG_VERSION" ]]; then
    mkdir -p "$STATE_DIR/pg"
    [[ "$(id -u)" -eq 0 ]] && chown postgres:postgres "$STATE_DIR/pg"
    as_pg "$bin/initdb" -D "$STATE_DIR/pg" -U postgres -A trust -E UTF8 --locale=C --no-sync >&2
  fi
  if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
    as_pg "$bin/pg_ctl" -D "$STATE_DIR/pg" -l "$STATE_DIR/pg/server.log" -w \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$STATE_DIR/pg -c max_connections=200" start >&2
  fi
  if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$STATE_DIR" --daemonize yes --pidfile "$STATE_DIR/redis.pid" --logfile "$STATE_DIR/redis.log" >&2
    for _ in $(seq 50); do
      redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
  fi
  log "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT (state in $STATE_DIR)"
  echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "export REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
}

stop() {
  local bin
  bin="$(pg_bin)"
  if [[ -f "$STATE_DIR/pg/postmaster.pid" ]]; then
    as_pg "$bin/pg_ctl" -D "$STATE_DIR/pg" -m fast -w stop >&2 || true
  fi
  if [[ -f "$STATE_DIR/redis.pid" ]]; then
    kill "$(cat "$STATE_DIR/redis.pid")" 2>/dev/null || true
    rm -f "$STATE_DIR/redis.pid"
  fi
  log "stopped"
}

install_packages
case "${1:-}" in
  "") ;;
  --start) start ;;
  --stop) stop ;;
  *) log "unknown argument \`$1\` (expected --start or --stop)"; exit 2 ;;
esac

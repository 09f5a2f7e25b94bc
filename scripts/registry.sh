#!/usr/bin/env bash
# A local OCI registry for the Kubernetes tests: start | stop | url | status.
#
# Why: no registry outside can be reached on these machines, so every image the real node runs (pause,
# busybox, debian) is built here (scripts/images.sh) and served from Debian's `docker-registry`
# (distribution 2.8). The package starts no service; this script runs it by hand on 127.0.0.1:<port>, plain
# http, no auth (test images only), with its config and storage in a state dir:
#
#   WISHSTAR_REGISTRY_DIR   (default ~/.cache/wishstar/registry): config.yml, storage/, registry.pid, registry.log
#   WISHSTAR_REGISTRY_PORT  (default 55050): a fixed port, because image names carry it (127.0.0.1:55050/...)
#
# `start` installs the package only when the binary is missing, is idempotent (a running registry is left
# alone) and prints the registry's host:port on stdout, as `url` does. Images survive `stop`/`start`.
set -euo pipefail

PORT="${WISHSTAR_REGISTRY_PORT:-55050}"
DIR="${WISHSTAR_REGISTRY_DIR:-$HOME/.cache/wishstar/registry}"
PIDFILE="$DIR/registry.pid"

log() { echo "registry.sh: $*" >&2; }

ensure_installed() {
  if command -v docker-registry >/dev/null 2>&1; then return 0; fi
  log "docker-registry not found; installing the docker-registry package"
  local sudo=""
  if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends docker-registry >&2
  command -v docker-registry >/dev/null 2>&1 || { log "installation did not provide docker-registry"; exit 1; }
}

hostport() { echo "127.0.0.1:${PORT}"; }

answers() { curl -fsS -o /dev/null --max-time 2 "http://$(hostport)/v2/" 2>/dev/null; }

running_pid() {
  local pid
  [[ -f "$PIDFILE" ]] || return 1
  pid="$(cat "$PIDFILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  # A reused pid is not ours: it must be docker-registry.
  grep -q docker-registry "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

write_config() {
  mkdir -p "$DIR/storage"
  cat > "$DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
  fields:
    service: wishstar-registry
storage:
  filesystem:
    rootdirectory: $DIR/storage
  delete:
    enabled: true
http:
  addr: $(hostport)
  headers:
    X-Content-Type-Options: [nosniff]
EOF
}

# A docker-registry serving our config whose pid file was lost (or written by a racing start): adopt it.
adopt() {
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qF "docker-registry serve $DIR/config.yml"; then
      echo "${p#/proc/}" > "$PIDFILE"
      return 0
    fi
  done
  return 1
}

start() {
  ensure_installed
  mkdir -p "$DIR"
  # One start at a time (two test sessions may ask together).
  exec 9> "$DIR/registry.lock"
  flock 9
  if running_pid >/dev/null && answers; then hostport; return 0; fi
  if answers && adopt && running_pid >/dev/null; then hostport; return 0; fi
  if answers; then
    log "something else already answers /v2/ on $(hostport); set WISHSTAR_REGISTRY_PORT"
    exit 1
  fi
  write_config
  # setsid: the registry outlives this script and the shell that ran it.
  setsid docker-registry serve "$DIR/config.yml" >> "$DIR/registry.log" 2>&1 < /dev/null 9>&- &
  echo $! > "$PIDFILE"

  for _ in $(seq 1 100); do
    if answers; then hostport; return 0; fi
    if ! running_pid >/dev/null; then break; fi
    sleep 0.1
  done
  log "the registry did not answer on http://$(hostport)/v2/; last lines of $DIR/registry.log:"
  tail -n 20 "$DIR/registry.log" >&2 || true
  exit 1
}

stop() {
  local pid
  if pid="$(running_pid)"; then
    kill "$pid" 2>/dev/null || true
    # Killed daemons linger as zombies for a moment here: poll.
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && break
      sleep 0.1
    done
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) hostport ;;
  status) if running_pid >/dev/null && answers; then echo "running on $(hostport)"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|url|status" >&2; exit 2 ;;
esac

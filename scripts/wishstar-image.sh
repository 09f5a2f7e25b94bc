#!/usr/bin/env bash
# Wishstar's own image, built here with buildah from the repository's Dockerfile and pushed to the local registry.
#
#   scripts/wishstar-image.sh build [--force]   build (when its inputs changed) and push; prints the reference
#   scripts/wishstar-image.sh ref               the reference, e.g. 127.0.0.1:55050/wishstar/wishstar:0.1.0
#
# Why: charts/wishstar needs an image, and the Dockerfile's `FROM docker.io/library/python:3.11-slim-bookworm`
# cannot be pulled here. As a Harbor proxy cache would, the local registry serves that image under
# <registry>/mirror/docker.io/library/python:3.11-slim-bookworm (built by `scripts/images.sh build
# mirror-python`), and buildah is given a registries.conf whose docker.io mirror is that path, so the Dockerfile
# stays the one a user builds anywhere. pip inside the build reaches PyPI through this machine's TLS-re-signing
# proxy: its CA bundle goes in as a build secret (/run/secrets/ca), never into a layer.
#
# Cached like scripts/images.sh (same buildah storage under ${WISHSTAR_CACHE:-~/.cache/wishstar}): a stamp of
# the Dockerfile, requirements.lock and the packaged sources; unchanged and still in the registry means no build.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE="${WISHSTAR_CACHE:-$HOME/.cache/wishstar}"
IMGCACHE="$CACHE/images"
BUILDAH_DIR="$CACHE/buildah"
STORAGE_DRIVER="${WISHSTAR_BUILDAH_DRIVER:-overlay}"
CA_BUNDLE="${WISHSTAR_BUILD_CA:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
BASE_PATH=mirror/docker.io/library/python
BASE_TAG=3.11-slim-bookworm
SOURCES=(Dockerfile .dockerignore pyproject.toml setup.py requirements.lock README.md cli engine pipelines tasks steps
  webhook)

log() { echo "wishstar-image.sh: $*" >&2; }
# The same storage flags as scripts/images.sh: mixing storage configurations makes every buildah call hang.
bah() { buildah --root "$BUILDAH_DIR/root" --runroot "$BUILDAH_DIR/runroot" --storage-driver "$STORAGE_DRIVER" "$@"; }
registry() { "$ROOT/scripts/registry.sh" url; }
version() { sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -n 1; }
ref() { echo "$(registry)/wishstar/wishstar:$(version)"; }

has_manifest() {
  curl -fsS -o /dev/null --max-time 5 \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$(registry)/v2/$1/manifests/$2" 2>/dev/null
}

stamp() {
  (cd "$ROOT" && find "${SOURCES[@]}" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' | LC_ALL=C sort \
    | xargs sha256sum; echo "base $BASE_PATH:$BASE_TAG") | sha256sum | cut -c1-16
}

build() {
  local force=0 image key dir t0
  [[ "${1:-}" == --force ]] && force=1
  mkdir -p "$IMGCACHE"
  exec 9> "$IMGCACHE/wishstar-image.lock"
  flock 9
  "$ROOT/scripts/registry.sh" start >/dev/null
  image="$(ref)"
  key="$(stamp)"
  if [[ "$force" != 1 && "$(cat "$IMGCACHE/wishstar.stamp" 2>/dev/null)" == "$key" ]] \
      && has_manifest wishstar/wishstar "$(version)"; then
    log "$image is up to date"
    echo "$image"
    return 0
  fi
  if ! has_manifest "$BASE_PATH" "$BASE_TAG"; then
    "$ROOT/scripts/images.sh" build mirror-python >/dev/null
  fi
  [[ -s "$CA_BUNDLE" ]] || { log "no CA bundle at $CA_BUNDLE (set WISHSTAR_BUILD_CA)"; exit 1; }
  dir="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now
  trap "rm -rf '$dir'" EXIT
  cat > "$dir/registries.conf" <<CONF
unqualified-search-registries = []
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "$(registry)/mirror/docker.io"
insecure = true
CONF
  t0=$SECONDS
  CONTAINERS_REGISTRIES_CONF="$dir/registries.conf" bah bud --isolation chroot --runtime runc --layers=false \
    --quiet --pull --secret "id=ca,src=$CA_BUNDLE" -f "$ROOT/Dockerfile" -t "wishstar/wishstar:$(version)" "$ROOT" \
    > "$dir/build.log" 2>&1 || { log "buildah bud failed:"; tail -n 40 "$dir/build.log" >&2; exit 1; }
  bah push --quiet --tls-verify=false "wishstar/wishstar:$(version)" "docker://$image"
  echo "$key" > "$IMGCACHE/wishstar.stamp"
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $((SECONDS - t0)) s  $image (Dockerfile, buildah)" >> "$IMGCACHE/build-times.log"
  log "built and pushed $image in $((SECONDS - t0)) s"
  echo "$image"
}

case "${1:-}" in
  build) shift; build "$@" ;;
  ref) ref ;;
  *) echo "usage: $0 build [--force] | ref" >&2; exit 2 ;;
esac

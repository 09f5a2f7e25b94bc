#!/usr/bin/env bash
# The container images the real Kubernetes node runs, built here and pushed to the local registry.
#
#   scripts/images.sh build [--force] [pause|busybox|debian ...]   build (all by default) and push
#   scripts/images.sh ref NAME                                      the image reference, e.g. for a Pod
#   scripts/images.sh list                                          every reference, one per line
#
# Why: no registry outside can be reached here, so nothing can be pulled; every image is built from Debian
# packages (../shared/notes/containers.md) with buildah (chroot isolation, runtime runc: crun fails on these
# hybrid-cgroup machines) and served by scripts/registry.sh (started if it is not running):
#
#   wishstar/pause:1          FROM scratch, Debian's static busybox sleeping forever: the node's sandbox_image
#   wishstar/busybox:1.35     FROM scratch, static busybox with every applet linked (/bin/sh, awk, tr, tail,
#                             timeout: what engine/compiler/entrypoint.py needs)
#   wishstar/debian:bookworm  debootstrap --variant=minbase bookworm + git, python3, ca-certificates
#
# Built only when named (not by a bare `build`, which the real node's fixtures run): the image-build task's
# builders and the public-image mirror (docs/images.md):
#
#   wishstar/buildah:1.28.2   FROM wishstar/debian + Debian's buildah and runc (vfs storage, chroot isolation)
#   wishstar/kaniko:v1.26.4   FROM scratch: the osscontainertools/kaniko executor (scripts/build-k8s.sh kaniko)
#                             under /kaniko, a static busybox under /busybox, as upstream's :debug image
#   wishstar/helm:3.19.5      FROM wishstar/debian + helm and kubectl (scripts/build-k8s.sh) + charts/app
#   mirror/docker.io/library/python:3.11-slim-bookworm
#                             FROM wishstar/debian + python3 3.11, pip, venv: the stand-in for Docker Hub's image
#                             that a Harbor proxy cache would serve (<local>/mirror/REGISTRY/PATH:TAG)
#
# The recipes are the Containerfiles in scripts/images/<name>/. Everything is cached under
# ${WISHSTAR_CACHE:-~/.cache/wishstar}: buildah's storage (buildah/), the debootstrap rootfs tarball and a stamp
# per image (images/). An image whose recipe and inputs did not change and that the registry still has is not
# rebuilt (--force rebuilds). Build times are printed and appended to images/build-times.log.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=scripts/lib/apt.sh
. "$ROOT/scripts/lib/apt.sh"
CACHE="${WISHSTAR_CACHE:-$HOME/.cache/wishstar}"
IMGCACHE="$CACHE/images"
BUILDAH_DIR="$CACHE/buildah"
STORAGE_DRIVER="${WISHSTAR_BUILDAH_DRIVER:-overlay}"
MIRROR="${WISHSTAR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
DEBIAN_PACKAGES="git,python3,ca-certificates"
ALL=(pause busybox debian)
EXTRA=(buildah kaniko helm mirror-python)
KANIKO_VERSION="${WISHSTAR_KANIKO_VERSION:-v1.26.4}"

log() { echo "images.sh: $*" >&2; }

tag_of() {
  case "$1" in
    pause) echo 1 ;;
    busybox) echo 1.35 ;;
    debian) echo "$SUITE" ;;
    buildah) echo 1.28.2 ;;
    helm) echo 3.19.5 ;;
    kaniko) echo "$KANIKO_VERSION" ;;
    mirror-python) echo 3.11-slim-bookworm ;;
    *) log "unknown image '$1' (known: ${ALL[*]} ${EXTRA[*]})"; exit 2 ;;
  esac
}

# The repository path of NAME in the registry: mirror-* images at the path of the public image they stand in for.
path_of() {
  case "$1" in
    mirror-python) echo mirror/docker.io/library/python ;;
    *) echo "wishstar/$1" ;;
  esac
}

# Images built FROM another local image: that one is built first, and its stamp is one of their inputs.
base_of() {
  case "$1" in
    buildah | helm | mirror-python) echo debian ;;
  esac
}

# The kaniko executor scripts/build-k8s.sh built (it builds it when missing: a few minutes cold).
kaniko_executor() {
  local path
  path="$("$ROOT/scripts/build-k8s.sh" paths | sed -n 's/^KANIKO=//p')"
  if [[ -z "$path" || ! -x "$path" ]]; then
    "$ROOT/scripts/build-k8s.sh" kaniko >&2
    path="$("$ROOT/scripts/build-k8s.sh" paths | sed -n 's/^KANIKO=//p')"
  fi
  [[ -n "$path" && -x "$path" ]] || { log "no kaniko executor after scripts/build-k8s.sh kaniko"; exit 1; }
  echo "$path"
}

registry() { "$ROOT/scripts/registry.sh" url; }
ref() { echo "$(registry)/$(path_of "$1"):$(tag_of "$1")"; }

ensure_installed() {
  local -a missing=()
  command -v buildah >/dev/null 2>&1 || missing+=(buildah)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  # /bin/busybox must be the static one (busybox-static): it runs FROM scratch, with no libc.
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  apt_install "${missing[@]}"
}

# One storage configuration from the very first call (mixing them makes every call hang): always these flags.
bah() {
  buildah --root "$BUILDAH_DIR/root" --runroot "$BUILDAH_DIR/runroot" --storage-driver "$STORAGE_DRIVER" "$@"
}

# The registry has NAME:TAG (any manifest media type).
in_registry() {
  curl -fsS -o /dev/null --max-time 5 \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$(registry)/v2/$(path_of "$1")/manifests/$(tag_of "$1")" 2>/dev/null
}

busybox_version() { dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || sha256sum /bin/busybox | cut -c1-16; }

# What the image depends on: its recipe and its inputs. A change rebuilds it.
inputs_of() {
  cat "$ROOT/scripts/images/$1/Containerfile"
  case "$1" in
    pause | busybox) echo "busybox $(busybox_version)" ;;
    debian) echo "debootstrap minbase $SUITE $MIRROR $DEBIAN_PACKAGES" ;;
    kaniko) echo "kaniko $KANIKO_VERSION busybox $(busybox_version)"; sha256sum /etc/ssl/certs/ca-certificates.crt ;;
    helm) sha256sum "$(k8s_tool HELM)" "$(k8s_tool KUBECTL)"
          (cd "$ROOT/charts/app" && find . -type f | LC_ALL=C sort | xargs sha256sum) ;;
  esac
  if [[ -n "$(base_of "$1")" ]]; then echo "base $(base_of "$1") $(stamp_of "$(base_of "$1")")"; fi
}
# A binary scripts/build-k8s.sh built (HELM, KUBECTL): its path, built first when missing.
k8s_tool() {
  local path
  path="$("$ROOT/scripts/build-k8s.sh" paths | sed -n "s/^$1=//p")"
  if [[ ! -x "$path" ]]; then
    case "$1" in HELM) "$ROOT/scripts/build-k8s.sh" helm >&2 ;; *) "$ROOT/scripts/build-k8s.sh" kubernetes >&2 ;; esac
  fi
  echo "$path"
}
stamp_of() { inputs_of "$1" | sha256sum | cut -c1-16; }

# The debootstrap rootfs as a tarball, cached: about 90 s the first time, nothing after.
debian_rootfs() {
  local key tarball tmp
  key="$(echo "$SUITE $MIRROR $DEBIAN_PACKAGES" | sha256sum | cut -c1-12)"
  tarball="$IMGCACHE/debian-$SUITE-minbase-$key.tar"
  if [[ -s "$tarball" ]]; then echo "$tarball"; return 0; fi
  tmp="$(mktemp -d "$IMGCACHE/debootstrap.XXXXXX")"
  log "debootstrap --variant=minbase --include=$DEBIAN_PACKAGES $SUITE from $MIRROR"
  local t0=$SECONDS
  if ! debootstrap --variant=minbase --include="$DEBIAN_PACKAGES" "$SUITE" "$tmp/rootfs" "$MIRROR" \
      > "$IMGCACHE/debootstrap.log" 2>&1; then
    log "debootstrap failed; last lines of $IMGCACHE/debootstrap.log:"
    tail -n 30 "$IMGCACHE/debootstrap.log" >&2
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$tmp/rootfs"/var/cache/apt/archives/*.deb "$tmp/rootfs"/var/lib/apt/lists/* \
    "$tmp/rootfs"/var/log/* "$tmp/rootfs"/debootstrap
  # /dev, /proc and /sys are the runtime's to fill.
  tar --numeric-owner --xattrs -C "$tmp/rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$tmp/rootfs.tar" .
  mv "$tmp/rootfs.tar" "$tarball"
  rm -rf "$tmp"
  record "debian rootfs (debootstrap minbase $SUITE + $DEBIAN_PACKAGES, $(du -m "$tarball" | cut -f1) MB tar)" \
    $((SECONDS - t0))
  echo "$tarball"
}

busybox_rootfs() {
  local dir="$1" path
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc" "$dir/root"
  chmod 1777 "$dir/tmp"
  cp /bin/busybox "$dir/bin/busybox"
  while read -r path; do
    [[ "$path" == */* ]] || continue # linuxrc
    [[ "$path" == bin/busybox ]] && continue
    mkdir -p "$dir/$(dirname "$path")"
    ln -sf /bin/busybox "$dir/$path"
  done < <(/bin/busybox --list-full)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
}

# kaniko's rootfs: the executor and CA certificates under /kaniko, busybox and its applets under /busybox.
kaniko_rootfs() {
  local dir="$1" applet
  mkdir -p "$dir/kaniko/ssl/certs" "$dir/kaniko/.docker" "$dir/busybox" "$dir/bin" "$dir/tmp" "$dir/workspace"
  chmod 1777 "$dir/tmp"
  cp "$(kaniko_executor)" "$dir/kaniko/executor"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/kaniko/ssl/certs/ca-certificates.crt"
  cp /bin/busybox "$dir/busybox/busybox"
  for applet in $(/bin/busybox --list); do
    [[ "$applet" == busybox ]] || ln -sf busybox "$dir/busybox/$applet"
  done
  ln -sf /busybox/sh "$dir/bin/sh"
}

record() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $2 s  $1"
  echo "$line" >> "$IMGCACHE/build-times.log"
  log "built in $2 s: $1"
}

build_one() {
  local name="$1" force="$2" stamp ctx image t0 t1 local_name
  if [[ -n "$(base_of "$name")" ]]; then
    build_one "$(base_of "$name")" 0
    # FROM localhost/wishstar/<base>: buildah's storage must hold it (a wiped cache still has it in the registry)
    bah inspect --type image "localhost/$(path_of "$(base_of "$name")"):$(tag_of "$(base_of "$name")")" \
      >/dev/null 2>&1 || bah pull --quiet --tls-verify=false "docker://$(ref "$(base_of "$name")")" >/dev/null
    bah inspect --type image "localhost/$(path_of "$(base_of "$name")"):$(tag_of "$(base_of "$name")")" \
      >/dev/null 2>&1 || bah tag "$(ref "$(base_of "$name")")" \
      "localhost/$(path_of "$(base_of "$name")"):$(tag_of "$(base_of "$name")")"
  fi
  stamp="$(stamp_of "$name")"
  local_name="$(path_of "$name"):$(tag_of "$name")"
  image="$(ref "$name")"
  if [[ "$force" != 1 && "$(cat "$IMGCACHE/$name.stamp" 2>/dev/null)" == "$stamp" ]] && in_registry "$name"; then
    log "$image is up to date"
    return 0
  fi
  ctx="$(mktemp -d "$IMGCACHE/ctx.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: ctx is local
  trap "rm -rf '$ctx'" RETURN
  case "$name" in
    pause) cp /bin/busybox "$ctx/busybox" ;;
    busybox) busybox_rootfs "$ctx/rootfs" ;;
    debian) ln "$(debian_rootfs)" "$ctx/rootfs.tar" ;;
    kaniko) kaniko_rootfs "$ctx/rootfs" ;;
    helm) cp "$(k8s_tool HELM)" "$(k8s_tool KUBECTL)" "$ctx/"; cp -r "$ROOT/charts/app" "$ctx/app" ;;
  esac
  t0=$SECONDS
  bah bud --isolation chroot --runtime runc --layers=false --quiet \
    -f "$ROOT/scripts/images/$name/Containerfile" -t "$local_name" "$ctx" >/dev/null
  t1=$SECONDS
  bah push --quiet --tls-verify=false "$local_name" "docker://$image"
  if [[ "$name" != mirror-* ]]; then
    bah push --quiet --tls-verify=false "$local_name" "docker://$(registry)/wishstar/$name:latest"
  fi
  echo "$stamp" > "$IMGCACHE/$name.stamp"
  record "$image (build $((t1 - t0)) s, push $((SECONDS - t1)) s)" $((SECONDS - t0))
}

build() {
  local force=0 name
  local -a names=()
  for name in "$@"; do
    case "$name" in
      --force) force=1 ;;
      *) tag_of "$name" >/dev/null; names+=("$name") ;;
    esac
  done
  ((${#names[@]})) || names=("${ALL[@]}")
  ensure_installed
  mkdir -p "$IMGCACHE" "$BUILDAH_DIR"
  # One build at a time per cache: a second caller waits, then finds the images up to date.
  exec 9> "$IMGCACHE/build.lock"
  flock 9
  "$ROOT/scripts/registry.sh" start >/dev/null
  for name in "${names[@]}"; do build_one "$name" "$force"; done
  for name in "${names[@]}"; do ref "$name"; done
}

cmd="${1:-}"
shift || true
case "$cmd" in
  build) build "$@" ;;
  ref) [[ $# -eq 1 ]] || { echo "usage: $0 ref NAME" >&2; exit 2; }; ref "$1" ;;
  list) for n in "${ALL[@]}"; do ref "$n"; done ;;
  *) echo "usage: $0 build [--force] [NAME...] | ref NAME | list" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Build the Kubernetes test-cluster binaries from the Go module proxy (no prebuilt binary can be downloaded here).
#
#   scripts/build-k8s.sh [all|etcd|kwok|kubernetes|helm|kaniko|paths]
#
# Everything lives under ~/.cache/wishstar/, keyed by version, so a clean machine builds once and later runs reuse:
#   binaries     ~/.cache/wishstar/bin/<tool>-<version>/
#   wrapper mods ~/.cache/wishstar/src/<tool>-<version>/
#   GOMODCACHE   ~/.cache/wishstar/gomod      GOCACHE ~/.cache/wishstar/gocache
# Idempotent: a tool whose binaries are all present is skipped. Prints how long each build took.
# `paths` prints NAME=PATH lines for every binary (used by scripts/cluster.sh and tests/k8s/cluster.py).
set -euo pipefail

# Pinned versions (see docs/kubernetes.md).
K8S_VERSION="${WISHSTAR_K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${WISHSTAR_ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${WISHSTAR_KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${WISHSTAR_HELM_VERSION:-v3.19.5}"
# kaniko: the maintained fork (Google archived GoogleContainerTools/kaniko in June 2025); docs/images.md.
KANIKO_VERSION="${WISHSTAR_KANIKO_VERSION:-v1.26.4}"

CACHE="${WISHSTAR_CACHE:-$HOME/.cache/wishstar}"
BIN_ROOT="$CACHE/bin"
SRC_ROOT="$CACHE/src"
export GOMODCACHE="$CACHE/gomod"
export GOCACHE="$CACHE/gocache"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"

K8S_DIR="$BIN_ROOT/kubernetes-$K8S_VERSION"
ETCD_DIR="$BIN_ROOT/etcd-$ETCD_VERSION"
KWOK_DIR="$BIN_ROOT/kwok-$KWOK_VERSION"
HELM_DIR="$BIN_ROOT/helm-$HELM_VERSION"
KANIKO_DIR="$BIN_ROOT/kaniko-$KANIKO_VERSION"
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

log() { printf '[build-k8s] %s\n' "$*" >&2; }

need_go() {
  command -v go >/dev/null 2>&1 || { log "go is not installed (needed to build the cluster binaries)"; exit 2; }
}

# run_timed NAME CMD...: runs CMD, prints how long it took
run_timed() {
  local name="$1" start=$SECONDS
  shift
  log "building $name ..."
  "$@"
  log "built $name in $((SECONDS - start))s"
}

# A wrapper module: `go install` of these main packages fails because of replace directives in their go.mod.
new_wrapper() { # DIR MODULE
  mkdir -p "$1"
  printf 'module %s\n\ngo 1.24.0\n\ngodebug default=go1.24\n' "$2" >"$1/go.mod"
  rm -f "$1/go.sum"
}

build_etcd() {
  local w="$SRC_ROOT/etcd-$ETCD_VERSION"
  new_wrapper "$w" wishstar.invalid/etcdbin
  cd "$w"
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  mkdir -p "$ETCD_DIR"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ETCD_DIR/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$ETCD_DIR/etcd.tmp" "$ETCD_DIR/etcd"
}

build_kubernetes() {
  local K="$K8S_VERSION" S="v0.${K8S_VERSION#v1.}" w="$SRC_ROOT/kubernetes-$K8S_VERSION" gomod minor
  minor="${K#v1.}"; minor="${minor%%.*}"
  new_wrapper "$w" wishstar.invalid/k8sbin
  # The replace list comes from the release's own go.mod: every ./staging module -> its published v0.X.Y.
  gomod="$(cd /tmp && go mod download -json "k8s.io/kubernetes@$K" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')"
  cd "$w"
  local mods=() m
  mapfile -t mods < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$gomod")
  ((${#mods[@]} > 20)) || { log "found only ${#mods[@]} staging modules in $gomod"; exit 1; }
  local edits=()
  for m in "${mods[@]}"; do edits+=("-replace=$m=$m@$S"); done
  go mod edit "${edits[@]}"
  log "replaced ${#mods[@]} staging modules with $S"
  local pkgs=()
  for m in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$m"); done
  # Every package pinned to the release: a bare `go get PKG` would mean @upgrade (the newest k8s.io/kubernetes).
  go get "${pkgs[@]/%/@$K}"
  grep -Eq "k8s\.io/kubernetes $K( |$)" go.mod || { log "k8s.io/kubernetes is not at $K in $w/go.mod"; exit 1; }
  local ldf="-s -w" kv
  for kv in "gitVersion=$K" gitMajor=1 "gitMinor=$minor" gitTreeState=clean; do
    ldf="$ldf -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
  done
  mkdir -p "$K8S_DIR/tmp"
  # All five in one invocation with CGO off: one shared compile of the common packages (the kubelet with CGO on
  # would rebuild the whole dependency tree a second time, because net/os/user differ).
  CGO_ENABLED=0 go build -trimpath -tags selinux,notest -ldflags "$ldf" -o "$K8S_DIR/tmp/" "${pkgs[@]}"
  for m in "${K8S_CMDS[@]}"; do mv "$K8S_DIR/tmp/$m" "$K8S_DIR/$m"; done
  rmdir "$K8S_DIR/tmp"
}

build_kwok() {
  mkdir -p "$KWOK_DIR"
  GOBIN="$KWOK_DIR" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$K8S_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

build_helm() {
  local minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  mkdir -p "$HELM_DIR"
  GOBIN="$HELM_DIR" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

# kaniko's executor (not part of `all`: only the image-build task's kaniko image needs it; scripts/images.sh
# builds it on demand). `go install github.com/osscontainertools/kaniko/cmd/executor@VERSION` fails here: it
# reads the module's version list for deprecations, and this machine's module proxy answers that list with
# 403 "This module version is not available"; `go get` of the exact version in a wrapper module does not ask.
build_kaniko() {
  local w="$SRC_ROOT/kaniko-$KANIKO_VERSION" mod=github.com/osscontainertools/kaniko
  new_wrapper "$w" wishstar.invalid/kanikobin
  cd "$w"
  go get "$mod/cmd/executor@$KANIKO_VERSION"
  grep -Eq "$mod $KANIKO_VERSION( |$)" go.mod || { log "$mod is not at $KANIKO_VERSION in $w/go.mod"; exit 1; }
  mkdir -p "$KANIKO_DIR"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X $mod/pkg/version.version=$KANIKO_VERSION" \
    -o "$KANIKO_DIR/executor.tmp" "$mod/cmd/executor"
  mv "$KANIKO_DIR/executor.tmp" "$KANIKO_DIR/executor"
}

have_all() { # DIR NAME...
  local d="$1" n
  shift
  for n in "$@"; do [[ -x "$d/$n" ]] || return 1; done
}

build_one() {
  local what="$1"
  case "$what" in
    etcd) have_all "$ETCD_DIR" etcd && { log "etcd $ETCD_VERSION: cached"; return; }
      need_go; (run_timed "etcd $ETCD_VERSION" build_etcd) ;;
    kwok) have_all "$KWOK_DIR" kwok && { log "kwok $KWOK_VERSION: cached"; return; }
      need_go; (run_timed "kwok $KWOK_VERSION" build_kwok) ;;
    kubernetes) have_all "$K8S_DIR" "${K8S_CMDS[@]}" && { log "kubernetes $K8S_VERSION: cached"; return; }
      need_go; (run_timed "kubernetes $K8S_VERSION (${K8S_CMDS[*]})" build_kubernetes) ;;
    helm) have_all "$HELM_DIR" helm && { log "helm $HELM_VERSION: cached"; return; }
      need_go; (run_timed "helm $HELM_VERSION" build_helm) ;;
    kaniko) have_all "$KANIKO_DIR" executor && { log "kaniko $KANIKO_VERSION: cached"; return; }
      need_go; (run_timed "kaniko $KANIKO_VERSION" build_kaniko) ;;
    *) log "unknown target: $what"; exit 2 ;;
  esac
}

paths() {
  local n
  echo "ETCD=$ETCD_DIR/etcd"
  echo "KWOK=$KWOK_DIR/kwok"
  echo "HELM=$HELM_DIR/helm"
  echo "KANIKO=$KANIKO_DIR/executor"
  for n in "${K8S_CMDS[@]}"; do
    local var="${n^^}"
    echo "${var//-/_}=$K8S_DIR/$n"
  done
}

cmd="${1:-all}"
if [[ "$cmd" != paths ]]; then
  # One build at a time per cache (CI and a developer, or two sessions, may ask together): the others wait, then
  # find the binaries built and skip.
  mkdir -p "$CACHE"
  exec 9>"$CACHE/build.lock"
  if ! flock -n 9; then
    log "another build holds $CACHE/build.lock; waiting for it"
    flock 9
  fi
fi
case "$cmd" in
  all)
    total=$SECONDS
    for t in etcd kwok kubernetes helm; do build_one "$t"; done
    log "all binaries ready ($((SECONDS - total))s)"
    ;;
  etcd | kwok | kubernetes | helm | kaniko) build_one "$cmd" ;;
  paths) paths ;;
  *) echo "usage: $0 [all|etcd|kwok|kubernetes|helm|kaniko|paths]" >&2; exit 2 ;;
esac

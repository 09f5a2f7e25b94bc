#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, built here from Go modules, with KWOK simulated nodes.
#
#   scripts/cluster.sh build          build/cache etcd, kube-*, kubectl, kwok, helm (scripts/build-k8s.sh)
#   scripts/cluster.sh up [DIR]       PKI, etcd, kube-apiserver, controller-manager, scheduler, kwok + 2 KWOK nodes;
#                                     prints `export KUBECONFIG=DIR/kubeconfig`
#   scripts/cluster.sh env [DIR]      prints the export lines again (KUBECONFIG, PATH with kubectl)
#   scripts/cluster.sh status [DIR]   which components run
#   scripts/cluster.sh down [DIR]     stops every component by PID and removes DIR
#   scripts/cluster.sh restart COMPONENT [DIR]
#                                     stops one component (kube-apiserver, etcd, kube-controller-manager,
#                                     kube-scheduler, kwok) by PID and starts it again: same flags, same port
#   scripts/cluster.sh credential NAME GROUP [DIR]
#                                     writes DIR/kubeconfigs/NAME.kubeconfig, a client certificate for user NAME in
#                                     GROUP (e.g. system:node:n1 system:nodes for a kubelet), prints its path
#
# DIR defaults to $WISHSTAR_CLUSTER_DIR or ~/.cache/wishstar/cluster. Every port is a free one on 127.0.0.1.
# With WISHSTAR_CLUSTER_OWNER_PID set, `up` also starts a watchdog that runs `down` when that process is gone
# (the pytest fixture uses it, so a killed test session leaves no daemons behind).
# Layout of DIR: kubeconfig (admin), kubeconfigs/, pki/, etcd/, logs/<component>.log, pids/<component>.pid, ports.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=scripts/lib/apt.sh
. "$ROOT/scripts/lib/apt.sh"
DEFAULT_DIR="${WISHSTAR_CLUSTER_DIR:-$HOME/.cache/wishstar/cluster}"
KWOK_NODES="${WISHSTAR_KWOK_NODES:-kwok-node-0 kwok-node-1}"
STARTUP_TIMEOUT="${WISHSTAR_CLUSTER_TIMEOUT:-120}"

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

load_paths() {
  local line
  while IFS= read -r line; do export "BIN_$line"; done < <("$ROOT/scripts/build-k8s.sh" paths)
}

check_binaries() {
  local missing=() v
  for v in BIN_ETCD BIN_KWOK BIN_KUBE_APISERVER BIN_KUBE_CONTROLLER_MANAGER BIN_KUBE_SCHEDULER BIN_KUBECTL; do
    [[ -x "${!v}" ]] || missing+=("${!v}")
  done
  ((${#missing[@]} == 0)) || die "binaries not built: ${missing[*]} (run: scripts/cluster.sh build)"
}

ensure_packages() {
  local missing=() p
  for p in openssl curl python3; do command -v "$p" >/dev/null 2>&1 || missing+=("$p"); done
  apt_install "${missing[@]}"
}

free_ports() { # N -> N distinct free TCP ports on 127.0.0.1
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# ---------------------------------------------------------------------------------------------------------
# PKI (openssl CLI)
ossl() { openssl "$@" 2>/dev/null; }

new_ca() { # NAME CN
  local p="$DIR/pki/$1"
  ossl req -x509 -newkey rsa:2048 -nodes -keyout "$p.key" -out "$p.crt" -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
}

# sign_cert CA NAME SUBJECT EXT_LINES...
sign_cert() {
  local ca="$DIR/pki/$1" p="$DIR/pki/$2" subj="$3"
  local ext="$p.ext"
  shift 3
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "$@" >"$ext"
  ossl req -new -newkey rsa:2048 -nodes -keyout "$p.key" -out "$p.csr" -subj "$subj"
  ossl x509 -req -in "$p.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -out "$p.crt" -days 3650 -extfile "$ext"
  rm -f "$p.csr" "$ext"
}

client_cert() { # NAME USER [GROUP]
  local subj="/CN=$2"
  [[ -n "${3:-}" ]] && subj="/O=$3/CN=$2"
  sign_cert client-ca "$1" "$subj" "extendedKeyUsage=clientAuth"
}

b64() { base64 -w0 <"$1"; }

write_kubeconfig() { # FILE CERTNAME USER
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: wishstar
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(b64 "$DIR/pki/ca.crt")
users:
- name: $3
  user:
    client-certificate-data: $(b64 "$DIR/pki/$2.crt")
    client-key-data: $(b64 "$DIR/pki/$2.key")
contexts:
- name: wishstar
  context:
    cluster: wishstar
    user: $3
current-context: wishstar
EOF
  chmod 600 "$1"
}

make_pki() {
  mkdir -p "$DIR/pki" "$DIR/kubeconfigs"
  new_ca ca wishstar-serving-ca
  new_ca client-ca wishstar-client-ca
  sign_cert ca apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth" \
    "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  client_cert admin wishstar-admin system:masters
  client_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  client_cert controller-manager system:kube-controller-manager
  client_cert scheduler system:kube-scheduler
  # kwok updates Node and Pod status and deletes Pods for every node it simulates: a cluster-wide identity.
  client_cert kwok wishstar-kwok system:masters
  ossl genrsa -out "$DIR/pki/sa.key" 2048
  ossl rsa -in "$DIR/pki/sa.key" -pubout -out "$DIR/pki/sa.pub"
  chmod 600 "$DIR"/pki/*.key
  write_kubeconfig "$DIR/kubeconfig" admin wishstar-admin
  write_kubeconfig "$DIR/kubeconfigs/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
  write_kubeconfig "$DIR/kubeconfigs/scheduler.kubeconfig" scheduler system:kube-scheduler
  write_kubeconfig "$DIR/kubeconfigs/kwok.kubeconfig" kwok wishstar-kwok
}

# ---------------------------------------------------------------------------------------------------------
# processes
start() { # NAME CMD...
  local name="$1"
  shift
  # setsid: own session, so a Ctrl-C meant for the caller does not kill the cluster half-way; `down` stops it.
  setsid "$@" >"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/pids/$name.pid"
}

alive() { local pid; pid="$(cat "$DIR/pids/$1.pid" 2>/dev/null)" && kill -0 "$pid" 2>/dev/null; }

wait_for() { # NAME URL [CURL ARGS...]: until URL answers 200 (fails fast when the process died)
  local name="$1" url="$2" deadline=$((SECONDS + STARTUP_TIMEOUT)) t0=$SECONDS
  shift 2
  until curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null; do
    if ! alive "$name"; then
      log "$name exited; last lines of $DIR/logs/$name.log:"
      tail -n 30 "$DIR/logs/$name.log" >&2 || true
      die "$name did not start"
    fi
    ((SECONDS < deadline)) || { tail -n 30 "$DIR/logs/$name.log" >&2 || true; die "$name not healthy after ${STARTUP_TIMEOUT}s ($url)"; }
    sleep 0.2
  done
  log "$name healthy ($((SECONDS - t0))s)"
}

kubectl_() { "$BIN_KUBECTL" --kubeconfig "$DIR/kubeconfig" "$@"; }

stop_all() {
  local name
  [[ -d "$DIR/pids" ]] || return 0
  # reverse start order: the watchdog first, then kwok, scheduler, controller-manager, apiserver, etcd
  for name in watchdog kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    if [[ "$name" == watchdog && "$(cat "$DIR/pids/watchdog.pid" 2>/dev/null)" == "${WATCHDOG_SELF:-}" ]]; then
      rm -f "$DIR/pids/watchdog.pid"
      continue
    fi
    stop_component "$name"
  done
}

# ---------------------------------------------------------------------------------------------------------
# components: the same flags at `up` and at `restart` (ports from DIR/ports)
load_ports() {
  local line
  while IFS= read -r line; do [[ "$line" == *_PORT=* ]] && declare -g "$line"; done <"$DIR/ports"
}

start_component() { # NAME (etcd and kube-apiserver are waited for: the next ones need them)
  local pki="$DIR/pki" kc="$DIR/kubeconfigs"
  case "$1" in
    etcd)
      start etcd "$BIN_ETCD" --name wishstar --data-dir "$DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "wishstar=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync=true --log-level=warn \
        --quota-backend-bytes=2147483648
      wait_component etcd ;;
    kube-apiserver)
      # --kubelet-preferred-address-types: InternalIP first, a node's hostname need not resolve here.
      # --endpoint-reconciler-type=none: a loopback address is not a valid endpoint of the `kubernetes` Service.
      start kube-apiserver "$BIN_KUBE_APISERVER" \
        --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
        --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --cert-dir="$DIR/apiserver" \
        --client-ca-file="$pki/client-ca.crt" \
        --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
        --service-cluster-ip-range=10.0.0.0/24 \
        --service-account-issuer="https://127.0.0.1:$APISERVER_PORT" \
        --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
        --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
        --allow-privileged=true --endpoint-reconciler-type=none --profiling=false --v=1
      wait_component kube-apiserver ;;
    kube-controller-manager)
      start kube-controller-manager "$BIN_KUBE_CONTROLLER_MANAGER" \
        --kubeconfig="$kc/controller-manager.kubeconfig" \
        --authentication-kubeconfig="$kc/controller-manager.kubeconfig" \
        --authorization-kubeconfig="$kc/controller-manager.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$CM_PORT" --cert-dir="$DIR/controller-manager" --leader-elect=false \
        --use-service-account-credentials=true \
        --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
        --cluster-signing-cert-file="$pki/client-ca.crt" --cluster-signing-key-file="$pki/client-ca.key" \
        --profiling=false --v=1 ;;
    kube-scheduler)
      start kube-scheduler "$BIN_KUBE_SCHEDULER" \
        --kubeconfig="$kc/scheduler.kubeconfig" \
        --authentication-kubeconfig="$kc/scheduler.kubeconfig" \
        --authorization-kubeconfig="$kc/scheduler.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --cert-dir="$DIR/scheduler" --leader-elect=false \
        --profiling=false --v=1 ;;
    kwok)
      # stages from scripts/kwok/, one multi-document config (re-read at every start)
      local f first=1
      mkdir -p "$DIR/kwok"
      : >"$DIR/kwok/stages.yaml"
      for f in "$ROOT"/scripts/kwok/*.yaml; do
        ((first)) || echo '---' >>"$DIR/kwok/stages.yaml"
        first=0
        cat "$f" >>"$DIR/kwok/stages.yaml"
      done
      start kwok "$BIN_KWOK" --kubeconfig="$kc/kwok.kubeconfig" --config="$DIR/kwok/stages.yaml" \
        --manage-nodes-with-label-selector=wishstar.dev/node-kind=kwok \
        --server-address="127.0.0.1:$KWOK_PORT" --node-lease-duration-seconds=40 --cidr=10.244.0.0/16 ;;
    *) die "unknown component: $1 (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)" ;;
  esac
}

wait_component() {
  case "$1" in
    etcd) wait_for etcd "http://127.0.0.1:$ETCD_PORT/health" ;;
    kube-apiserver) wait_for kube-apiserver "https://127.0.0.1:$APISERVER_PORT/readyz" --cacert "$DIR/pki/ca.crt" ;;
    kube-controller-manager) wait_for kube-controller-manager "https://127.0.0.1:$CM_PORT/healthz" -k ;;
    kube-scheduler) wait_for kube-scheduler "https://127.0.0.1:$SCHED_PORT/healthz" -k ;;
    kwok) wait_for kwok "http://127.0.0.1:$KWOK_PORT/healthz" ;;
  esac
}

stop_component() { # NAME: TERM, then KILL after 5 s; a zombie awaiting its reaper counts as gone
  local pidfile="$DIR/pids/$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" == Z* ]] && break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

# ---------------------------------------------------------------------------------------------------------
cmd_up() {
  ensure_packages
  load_paths
  check_binaries
  if [[ -f "$DIR/pids/kube-apiserver.pid" ]] && alive kube-apiserver; then
    die "a cluster already runs in $DIR (scripts/cluster.sh down $DIR first)"
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR/logs" "$DIR/pids" "$DIR/etcd" "$DIR/kwok"
  local t0=$SECONDS
  local ports
  read -r ETCD_PORT ETCD_PEER_PORT APISERVER_PORT CM_PORT SCHED_PORT KWOK_PORT <<<"$(free_ports 6)"
  ports="ETCD_PORT=$ETCD_PORT ETCD_PEER_PORT=$ETCD_PEER_PORT APISERVER_PORT=$APISERVER_PORT CM_PORT=$CM_PORT SCHED_PORT=$SCHED_PORT KWOK_PORT=$KWOK_PORT"
  printf '%s\n' $ports >"$DIR/ports"
  make_pki
  log "PKI ready ($((SECONDS - t0))s)"

  # any failure from here on (die, a failed command under set -e) stops what already started
  trap 'rc=$?; if ((rc)); then log "start-up failed; stopping what started (logs kept in $DIR/logs)"; stop_all; fi' EXIT

  start_component etcd
  start_component kube-apiserver
  start_component kube-controller-manager
  start_component kube-scheduler
  start_component kwok
  wait_component kube-controller-manager
  wait_component kube-scheduler
  wait_component kwok

  local node
  for node in $KWOK_NODES; do
    kubectl_ apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $node
  labels:
    kubernetes.io/hostname: $node
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    wishstar.dev/node-kind: kwok
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
spec: {}
EOF
  done
  local t1=$SECONDS
  # shellcheck disable=SC2046,SC2086
  kubectl_ wait --for=condition=Ready --timeout="${STARTUP_TIMEOUT}s" $(printf 'node/%s ' $KWOK_NODES) >/dev/null
  log "KWOK nodes Ready: $KWOK_NODES ($((SECONDS - t1))s)"
  # Pods cannot be created in a namespace before the controller-manager made its `default` ServiceAccount.
  local deadline=$((SECONDS + STARTUP_TIMEOUT))
  until kubectl_ -n default get serviceaccount default >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "no default ServiceAccount after ${STARTUP_TIMEOUT}s (controller-manager log: $DIR/logs/kube-controller-manager.log)"
    sleep 0.2
  done
  trap - EXIT

  if [[ -n "${WISHSTAR_CLUSTER_OWNER_PID:-}" ]]; then
    local owner="$WISHSTAR_CLUSTER_OWNER_PID"
    setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 2; done; WATCHDOG_SELF=$$ exec "$2" down "$3"' \
      watchdog "$owner" "$ROOT/scripts/cluster.sh" "$DIR" >"$DIR/logs/watchdog.log" 2>&1 </dev/null &
    echo $! >"$DIR/pids/watchdog.pid"
  fi
  log "cluster up in $((SECONDS - t0))s: https://127.0.0.1:$APISERVER_PORT ($DIR)"
  cmd_env
}

cmd_env() {
  [[ -f "$DIR/kubeconfig" ]] || die "no cluster in $DIR (scripts/cluster.sh up $DIR)"
  load_paths
  echo "export KUBECONFIG=$DIR/kubeconfig"
  echo "export PATH=$(dirname "$BIN_KUBECTL"):$(dirname "$BIN_HELM"):\$PATH"
}

cmd_status() {
  local name rc=0
  [[ -d "$DIR/pids" ]] || { echo "no cluster in $DIR"; return 1; }
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok watchdog; do
    [[ -f "$DIR/pids/$name.pid" ]] || continue
    if alive "$name"; then echo "$name: running (pid $(cat "$DIR/pids/$name.pid"))"; else echo "$name: DEAD"; rc=1; fi
  done
  return $rc
}

cmd_down() {
  stop_all
  # only remove what looks like a cluster dir
  if [[ -f "$DIR/ports" || -d "$DIR/pki" ]]; then rm -rf "$DIR"; fi
  log "down ($DIR)"
}

cmd_restart() { # NAME: stop one component by PID and start it again with the same flags and port
  [[ -f "$DIR/ports" ]] || die "no cluster in $DIR"
  load_paths
  load_ports
  local t0=$SECONDS
  stop_component "$1"
  mv -f "$DIR/logs/$1.log" "$DIR/logs/$1.log.$(date +%s)" 2>/dev/null || true
  start_component "$1"
  wait_component "$1"
  log "$1 restarted ($((SECONDS - t0))s)"
}

cmd_credential() { # NAME GROUP
  local name="$1" group="${2:-}"
  [[ -f "$DIR/pki/client-ca.key" ]] || die "no cluster in $DIR"
  APISERVER_PORT="$(sed -n 's/^APISERVER_PORT=//p' "$DIR/ports")"
  local file="${name//[^A-Za-z0-9._-]/_}"
  client_cert "user-$file" "$name" "$group"
  write_kubeconfig "$DIR/kubeconfigs/$file.kubeconfig" "user-$file" "$name"
  echo "$DIR/kubeconfigs/$file.kubeconfig"
}

case "${1:-}" in
  build) shift; exec "$ROOT/scripts/build-k8s.sh" "${@:-all}" ;;
  up) DIR="$(realpath -m "${2:-$DEFAULT_DIR}")"; cmd_up ;;
  env) DIR="$(realpath -m "${2:-$DEFAULT_DIR}")"; cmd_env ;;
  status) DIR="$(realpath -m "${2:-$DEFAULT_DIR}")"; cmd_status ;;
  down) DIR="$(realpath -m "${2:-$DEFAULT_DIR}")"; cmd_down ;;
  restart)
    [[ $# -ge 2 ]] || die "usage: $0 restart COMPONENT [DIR]"
    DIR="$(realpath -m "${3:-$DEFAULT_DIR}")"; cmd_restart "$2" ;;
  credential)
    [[ $# -ge 2 ]] || die "usage: $0 credential NAME [GROUP] [DIR]"
    DIR="$(realpath -m "${4:-$DEFAULT_DIR}")"; cmd_credential "$2" "${3:-}" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac

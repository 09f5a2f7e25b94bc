#!/usr/bin/env bash
# The real Kubernetes node of the test cluster: Debian's containerd + runc + CNI plugins, and the kubelet built by
# scripts/build-k8s.sh, registered with a running API server.
#
#   scripts/node.sh up --kubeconfig ADMIN_KUBECONFIG [--name NAME] [--client-ca-cert F --client-ca-key F]
#   scripts/node.sh down      stop the node's Pods, the kubelet and containerd; delete the Node object
#   scripts/node.sh status    running or not (exit 1 when not)
#   scripts/node.sh env       NAME=VALUE lines: NODE_NAME, NODE_DIR, CONTAINERD_SOCKET, KUBELET_LOG, ...
#
# Why: KWOK nodes only pretend; this node runs real containers from the images scripts/images.sh builds and the
# local registry (scripts/registry.sh) serves, so steps really execute and exit codes, termination messages and
# logs really come back. What these machines need (../shared/notes/containers.md, kubernetes-from-source.md):
#   containerd CRI: restrict_oom_score_adj = true (root lacks CAP_SYS_RESOURCE), runc (crun fails on hybrid
#   cgroups), sandbox_image = the local pause image, the local registry as plain http; CNI bridge conflist with
#   cniVersion 1.0.0 and the plugins from /usr/lib/cni.
#   kubelet: cgroupDriver cgroupfs, failSwapOn false, failCgroupV1 false, oomScoreAdj 0 and maxOpenFiles at the
#   current hard limit (neither can be raised here), low eviction thresholds, label wishstar.dev/node-kind=real,
#   no taints, serving on the node IP only (x509 + Webhook: the API server's kubelet client certificate reads logs).
# The node credential is a client certificate for system:node:NAME in group system:nodes, signed with the
# cluster's client CA (--client-ca-cert/--client-ca-key, or found next to the kubeconfig).
#
# State lives in ${WISHSTAR_NODE_DIR:-~/.cache/wishstar/node}: containerd's root (pulled images stay cached
# across up/down), its state and socket, the kubelet's root dir, the CNI config and IPAM data, logs and pids.
# `up` is idempotent: a node that is already up and Ready is left alone. With WISHSTAR_NODE_OWNER_PID, a watchdog
# runs `down` when that process exits. Several nodes can run on one machine
# (concurrent test sessions) when each has its own WISHSTAR_NODE_DIR, --name, WISHSTAR_NODE_BRIDGE and
# WISHSTAR_NODE_POD_SUBNET: each kubelet gets its own cgroup root (/wishstar-NAME in every v1 hierarchy), so
# one kubelet never cleans up another's Pod cgroups.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=scripts/lib/apt.sh
. "$ROOT/scripts/lib/apt.sh"
DIR="${WISHSTAR_NODE_DIR:-$HOME/.cache/wishstar/node}"
CNI_BIN=/usr/lib/cni
POD_SUBNET="${WISHSTAR_NODE_POD_SUBNET:-10.88.0.0/16}"
BRIDGE="${WISHSTAR_NODE_BRIDGE:-wishstar0}"
SOCK="$DIR/containerd/containerd.sock"
ENVFILE="$DIR/node.env"

log() { echo "node.sh: $*" >&2; }
die() { log "$*"; exit 1; }

ensure_installed() {
  local -a missing=()
  command -v containerd >/dev/null 2>&1 || missing+=(containerd)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  [[ -x "$CNI_BIN/bridge" ]] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  apt_install "${missing[@]}"
}

# The kubelet and kubectl scripts/build-k8s.sh built (WISHSTAR_KUBELET / WISHSTAR_KUBECTL override).
find_binaries() {
  local paths=""
  if [[ -x "$ROOT/scripts/build-k8s.sh" ]]; then paths="$("$ROOT/scripts/build-k8s.sh" paths 2>/dev/null || true)"; fi
  KUBELET="${WISHSTAR_KUBELET:-$(sed -n 's/^KUBELET=//p' <<<"$paths")}"
  KUBECTL="${WISHSTAR_KUBECTL:-$(sed -n 's/^KUBECTL=//p' <<<"$paths")}"
  [[ -n "$KUBELET" && -x "$KUBELET" ]] \
    || die "no kubelet binary (looked at '${KUBELET:-nothing}'): build it with scripts/build-k8s.sh kubernetes, or set WISHSTAR_KUBELET"
  [[ -n "$KUBECTL" && -x "$KUBECTL" ]] \
    || die "no kubectl binary (looked at '${KUBECTL:-nothing}'): build it with scripts/build-k8s.sh kubernetes, or set WISHSTAR_KUBECTL"
}

# The node's address: the kubelet refuses a loopback node IP ("nodeIP can't be loopback address") and then
# publishes no address at all, so the API server could not reach it for logs. The source address of the
# default route, unless WISHSTAR_NODE_IP says otherwise; the kubelet listens on it only.
node_ip() {
  local ip="${WISHSTAR_NODE_IP:-}"
  [[ -n "$ip" ]] || ip="$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n 1)"
  [[ -n "$ip" ]] || die "no non-loopback IPv4 address for the node (no default route): set WISHSTAR_NODE_IP"
  echo "$ip"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pid_alive() { # PIDFILE NAME: the pid in PIDFILE runs a command whose cmdline contains NAME
  local pid
  [[ -f "$1" ]] || return 1
  pid="$(cat "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]] || return 1
  grep -q "$2" "/proc/$pid/cmdline" 2>/dev/null
}

stop_pid() { # PIDFILE NAME [SIGNAL]: stop it and wait until it is gone (killed daemons linger as zombies here)
  local pid
  if pid_alive "$1" "$2"; then
    pid="$(cat "$1")"
    kill "-${3:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do pid_alive "$1" "$2" || break; sleep 0.1; done
    if pid_alive "$1" "$2"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
  fi
  rm -f "$1"
}

ctr_() { ctr --address "$SOCK" "$@"; }

# ------------------------------------------------------------------------------------------------------------
write_containerd_config() {
  local registry pause
  registry="$("$ROOT/scripts/registry.sh" url)"
  pause="$("$ROOT/scripts/images.sh" ref pause)"
  mkdir -p "$DIR/containerd/root" "$DIR/containerd/state" "$DIR/containerd/certs.d/$registry" "$DIR/cni/net.d" \
    "$DIR/cni/ipam" "$DIR/logs"
  cat > "$DIR/containerd/certs.d/$registry/hosts.toml" <<EOF
# The local registry (scripts/registry.sh) speaks plain http.
server = "http://$registry"
[host."http://$registry"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
EOF
  cat > "$DIR/containerd/config.toml" <<EOF
# Written by scripts/node.sh: a containerd of its own (root, state, socket) for the real test node.
version = 2
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
  level = "info"
[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause"
  # Root lacks CAP_SYS_RESOURCE here: without this, every sandbox fails to lower its oom_score_adj.
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  max_container_log_line_size = 16384
  # Pod network namespaces under our state dir, not /var/run/netns: `down` removes them with the rest.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$DIR/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$DIR/containerd/certs.d"
EOF
  cat > "$DIR/cni/net.d/10-wishstar.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "wishstar",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$DIR/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

start_containerd() {
  if pid_alive "$DIR/containerd.pid" containerd && ctr_ version >/dev/null 2>&1; then return 0; fi
  stop_pid "$DIR/containerd.pid" containerd
  write_containerd_config
  setsid containerd --config "$DIR/containerd/config.toml" >> "$DIR/logs/containerd.log" 2>&1 < /dev/null &
  echo $! > "$DIR/containerd.pid"
  for _ in $(seq 1 150); do
    if ctr_ version >/dev/null 2>&1; then return 0; fi
    pid_alive "$DIR/containerd.pid" containerd || break
    sleep 0.1
  done
  tail -n 30 "$DIR/logs/containerd.log" >&2 || true
  die "containerd did not answer on $SOCK (log: $DIR/logs/containerd.log)"
}

# ------------------------------------------------------------------------------------------------------------
# kubeconfig_field KUBECONFIG EXPR: a field of the current context's cluster or user, as JSON path
kubeconfig_field() { "$KUBECTL" --kubeconfig "$1" config view --raw --minify -o "jsonpath=$2"; }

find_client_ca() {
  local base d
  if [[ -n "$CA_CERT" || -n "$CA_KEY" ]]; then
    [[ -f "$CA_CERT" && -f "$CA_KEY" ]] || die "--client-ca-cert/--client-ca-key: '$CA_CERT' / '$CA_KEY' not found"
    return 0
  fi
  d="$(dirname -- "$KUBECONFIG_ADMIN")"
  for base in "$d/client-ca" "$d/pki/client-ca" "$d/../pki/client-ca" "$d/ca/client-ca" "$d/client_ca"; do
    if [[ -f "$base.crt" && -f "$base.key" ]]; then CA_CERT="$base.crt"; CA_KEY="$base.key"; return 0; fi
  done
  die "the cluster's client CA was not found next to $KUBECONFIG_ADMIN: pass --client-ca-cert and --client-ca-key"
}

# A client certificate for system:node:NAME (group system:nodes) and the kubelet's kubeconfig.
node_credentials() {
  local pki="$DIR/pki" server ca_data ca_file
  mkdir -p "$pki"
  openssl genrsa -out "$pki/node.key" 2048 2>/dev/null
  openssl req -new -key "$pki/node.key" -subj "/O=system:nodes/CN=system:node:$NAME" -out "$pki/node.csr" 2>/dev/null
  printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > "$pki/node.ext"
  openssl x509 -req -in "$pki/node.csr" -CA "$CA_CERT" -CAkey "$CA_KEY" -CAcreateserial -CAserial "$pki/ca.srl" \
    -days 30 -sha256 -extfile "$pki/node.ext" -out "$pki/node.crt" 2>/dev/null
  cp "$CA_CERT" "$pki/client-ca.crt"
  server="$(kubeconfig_field "$KUBECONFIG_ADMIN" '{.clusters[0].cluster.server}')"
  ca_data="$(kubeconfig_field "$KUBECONFIG_ADMIN" '{.clusters[0].cluster.certificate-authority-data}')"
  ca_file="$(kubeconfig_field "$KUBECONFIG_ADMIN" '{.clusters[0].cluster.certificate-authority}')"
  if [[ -n "$ca_data" ]]; then
    base64 -d <<<"$ca_data" > "$pki/server-ca.crt"
  elif [[ -n "$ca_file" ]]; then
    cp "$ca_file" "$pki/server-ca.crt"
  else
    die "$KUBECONFIG_ADMIN has no certificate-authority for its cluster"
  fi
  cat > "$DIR/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: wishstar
  cluster:
    server: $server
    certificate-authority: $pki/server-ca.crt
users:
- name: system:node:$NAME
  user:
    client-certificate: $pki/node.crt
    client-key: $pki/node.key
contexts:
- name: node
  context: {cluster: wishstar, user: "system:node:$NAME"}
current-context: node
EOF
}

# The kubelet's cgroup root, created in every cgroup v1 hierarchy (it refuses a root that does not exist).
cgroup_root() { echo "/wishstar-$NAME"; }
make_cgroup_root() {
  local h
  for h in /sys/fs/cgroup/*/; do
    h="${h%/}"
    [[ "$h" == */unified ]] && continue
    mountpoint -q "$h" || continue
    mkdir -p "$h$(cgroup_root)"
    if [[ -f "$h/cpuset.cpus" ]]; then # a new cpuset cgroup starts empty: no task could join it
      cat "$h/cpuset.cpus" > "$h$(cgroup_root)/cpuset.cpus"
      cat "$h/cpuset.mems" > "$h$(cgroup_root)/cpuset.mems"
    fi
  done
}
remove_cgroup_root() { # NAME: deepest first; only empty cgroups can go
  local h
  for h in /sys/fs/cgroup/*/; do
    h="${h%/}"
    [[ -d "$h/wishstar-$1" ]] || continue
    find "$h/wishstar-$1" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

write_kubelet_config() {
  local port="$1" hport="$2" ip="$3"
  mkdir -p "$DIR/kubelet/root" "$DIR/kubelet/certs" "$DIR/kubelet/pod-logs"
  cat > "$DIR/kubelet/config.yaml" <<EOF
# Written by scripts/node.sh.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: $port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $hport
containerRuntimeEndpoint: unix://$SOCK
imageServiceEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
cgroupRoot: $(cgroup_root)
podLogsDirectory: $DIR/kubelet/pod-logs
failSwapOn: false
failCgroupV1: false
# Root lacks CAP_SYS_RESOURCE: the kubelet can neither lower its oom_score_adj nor raise RLIMIT_NOFILE.
oomScoreAdj: 0
maxOpenFiles: $(ulimit -Hn)
# The API server reads logs and execs with its kubelet client certificate (signed by the client CA); the
# kubelet asks the API server whether that user may (Webhook); anonymous requests are refused.
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $DIR/pki/client-ca.crt}
authorization: {mode: Webhook}
registerNode: true
registerWithTaints: []
# A small or busy disk must not taint the node: evict only when almost nothing is left.
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
  imagefs.inodesFree: 1%
evictionPressureTransitionPeriod: 10s
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
serializeImagePulls: false
resolvConf: /etc/resolv.conf
staticPodPath: ""
rotateCertificates: false
serverTLSBootstrap: false
containerLogMaxSize: 10Mi
syncFrequency: 10s
EOF
}

start_kubelet() {
  local port hport ip
  port="$(free_port)"
  hport="$(free_port)"
  ip="$(node_ip)"
  make_cgroup_root
  write_kubelet_config "$port" "$hport" "$ip"
  setsid "$KUBELET" --config "$DIR/kubelet/config.yaml" --kubeconfig "$DIR/kubelet.kubeconfig" \
    --root-dir "$DIR/kubelet/root" --cert-dir "$DIR/kubelet/certs" --hostname-override "$NAME" \
    --node-ip "$ip" --node-labels "wishstar.dev/node-kind=real" --v "${WISHSTAR_KUBELET_VERBOSITY:-1}" \
    >> "$DIR/logs/kubelet.log" 2>&1 < /dev/null &
  echo $! > "$DIR/kubelet.pid"
  cat > "$ENVFILE" <<EOF
NODE_NAME=$NAME
NODE_DIR=$DIR
CGROUP_ROOT=$(cgroup_root)
BRIDGE=$BRIDGE
CONTAINERD_SOCKET=$SOCK
NODE_IP=$ip
KUBELET_PORT=$port
KUBELET_HEALTHZ=http://127.0.0.1:$hport/healthz
KUBELET_LOG=$DIR/logs/kubelet.log
CONTAINERD_LOG=$DIR/logs/containerd.log
ADMIN_KUBECONFIG=$KUBECONFIG_ADMIN
KUBECTL=$KUBECTL
EOF
}

# With WISHSTAR_NODE_OWNER_PID set (the pytest fixture sets it), `down` runs when that process is gone, so a
# killed test session leaves no kubelet or containerd behind.
start_watchdog() {
  [[ -n "${WISHSTAR_NODE_OWNER_PID:-}" ]] || return 0
  stop_pid "$DIR/watchdog.pid" node-watchdog
  WISHSTAR_NODE_DIR="$DIR" setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 2; done; exec "$2" down' \
    node-watchdog "$WISHSTAR_NODE_OWNER_PID" "$ROOT/scripts/node.sh" >> "$DIR/logs/watchdog.log" 2>&1 < /dev/null &
  echo $! > "$DIR/watchdog.pid"
}

node_ready() {
  # Ready, and the node controller has lifted its not-ready taint (Pods are refused until it does)
  [[ "$("$KUBECTL" --kubeconfig "$KUBECONFIG_ADMIN" get node "$NAME" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]] &&
  [[ -z "$("$KUBECTL" --kubeconfig "$KUBECONFIG_ADMIN" get node "$NAME" \
    -o 'jsonpath={.spec.taints[?(@.key=="node.kubernetes.io/not-ready")].key}' 2>/dev/null)" ]]
}

wait_ready() {
  local deadline=$((SECONDS + ${WISHSTAR_NODE_TIMEOUT:-120}))
  while ((SECONDS < deadline)); do
    if node_ready; then return 0; fi
    if ! pid_alive "$DIR/kubelet.pid" kubelet; then
      log "the kubelet exited; last lines of $DIR/logs/kubelet.log:"
      grep -E '^[EF][0-9]{4}|error|Error|fail' "$DIR/logs/kubelet.log" | tail -n 25 >&2 || true
      die "the kubelet exited before node $NAME became Ready"
    fi
    sleep 0.5
  done
  log "node $NAME not Ready after ${WISHSTAR_NODE_TIMEOUT:-120} s; kubelet errors:"
  grep -E '^E[0-9]{4}' "$DIR/logs/kubelet.log" | tail -n 25 >&2 || true
  die "node $NAME did not become Ready"
}

up() {
  KUBECONFIG_ADMIN="" NAME="${WISHSTAR_NODE_NAME:-wishstar-real}" CA_CERT="" CA_KEY=""
  while (($#)); do
    case "$1" in
      --kubeconfig) KUBECONFIG_ADMIN="$2"; shift 2 ;;
      --name) NAME="$2"; shift 2 ;;
      --client-ca-cert) CA_CERT="$2"; shift 2 ;;
      --client-ca-key) CA_KEY="$2"; shift 2 ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
  [[ -n "$KUBECONFIG_ADMIN" ]] || KUBECONFIG_ADMIN="${WISHSTAR_TEST_KUBECONFIG:-${KUBECONFIG:-}}"
  [[ -n "$KUBECONFIG_ADMIN" && -f "$KUBECONFIG_ADMIN" ]] || die "up: --kubeconfig FILE (an admin kubeconfig) is required"
  KUBECONFIG_ADMIN="$(realpath "$KUBECONFIG_ADMIN")"
  ensure_installed
  find_binaries
  mkdir -p "$DIR/logs"
  if pid_alive "$DIR/kubelet.pid" kubelet && node_ready; then echo "$NAME"; return 0; fi
  find_client_ca
  local t0=$SECONDS
  "$ROOT/scripts/images.sh" build pause >/dev/null
  start_containerd
  stop_pid "$DIR/kubelet.pid" kubelet
  node_credentials
  start_kubelet
  wait_ready
  start_watchdog
  log "node $NAME Ready in $((SECONDS - t0)) s (kubelet log: $DIR/logs/kubelet.log)"
  echo "$NAME"
}

# ------------------------------------------------------------------------------------------------------------
# Shims of our containerd outlive it: find them by the socket on their command line, stop them by pid.
our_shims() {
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "containerd-shim.*-address $SOCK "; then
      echo "${p#/proc/}"
    fi
  done
}

# NAMESPACE NAME of every Pod bound to the node (down's variables: kubectl, kubeconfig, name).
on_node() {
  "$kubectl" --kubeconfig "$kubeconfig" get pods -A --field-selector "spec.nodeName=$name" \
    -o 'jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name}{"\n"}{end}' 2>/dev/null
}

down() {
  local name="" kubeconfig="" kubectl="" bridge="" t
  if [[ -f "$ENVFILE" ]]; then
    name="$(sed -n 's/^NODE_NAME=//p' "$ENVFILE")"
    bridge="$(sed -n 's/^BRIDGE=//p' "$ENVFILE")"
    kubeconfig="$(sed -n 's/^ADMIN_KUBECONFIG=//p' "$ENVFILE")"
    kubectl="$(sed -n 's/^KUBECTL=//p' "$ENVFILE")"
  fi
  local api=""
  if [[ -n "$name" && -x "$kubectl" && -f "$kubeconfig" ]] \
      && "$kubectl" --kubeconfig "$kubeconfig" get node "$name" >/dev/null 2>&1; then api=1; fi
  # Let the kubelet tear its Pods down (CNI DEL, unmounts) while it still runs.
  if [[ -n "$api" ]] && pid_alive "$DIR/kubelet.pid" kubelet; then
    "$kubectl" --kubeconfig "$kubeconfig" delete pods -A --field-selector "spec.nodeName=$name" \
      --grace-period=1 --wait=false >/dev/null 2>&1 || true
    for _ in $(seq 1 40); do
      [[ -z "$(on_node)" ]] && break
      sleep 0.5
    done
  fi
  stop_pid "$DIR/kubelet.pid" kubelet
  # (run by the watchdog itself, this process no longer has "node-watchdog" on its command line: not stopped)
  stop_pid "$DIR/watchdog.pid" node-watchdog
  if pid_alive "$DIR/containerd.pid" containerd; then
    for t in $(ctr_ -n k8s.io tasks ls -q 2>/dev/null); do ctr_ -n k8s.io tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
  fi
  stop_pid "$DIR/containerd.pid" containerd
  for t in $(our_shims); do kill -KILL "$t" 2>/dev/null || true; done
  # Whatever the kubelet or containerd left mounted under the node's dir (deepest first).
  awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$DIR/containerd/state" "$DIR/kubelet/root" "$DIR/cni/ipam"
  if [[ -n "$name" ]]; then remove_cgroup_root "$name"; fi
  if [[ -n "$bridge" ]] && ip link show "$bridge" >/dev/null 2>&1; then ip link del "$bridge" 2>/dev/null || true; fi
  if [[ -n "$api" ]]; then
    # Pods the kubelet did not finish deleting would stay Terminating for good without their node.
    on_node | while read -r ns pod; do
      "$kubectl" --kubeconfig "$kubeconfig" -n "$ns" delete pod "$pod" --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    done
    "$kubectl" --kubeconfig "$kubeconfig" delete node "$name" --wait=false >/dev/null 2>&1 || true
  fi
  rm -f "$ENVFILE"
}

status() {
  if pid_alive "$DIR/kubelet.pid" kubelet && pid_alive "$DIR/containerd.pid" containerd; then
    echo "running: $(sed -n 's/^NODE_NAME=//p' "$ENVFILE" 2>/dev/null)"
  else
    echo "stopped"
    return 1
  fi
}

cmd="${1:-}"
shift || true
case "$cmd" in
  up) up "$@" ;;
  down) down ;;
  status) status ;;
  env) [[ -f "$ENVFILE" ]] || die "the node is not up"; cat "$ENVFILE" ;;
  containerd) ensure_installed; start_containerd; echo "$SOCK" ;; # containerd alone (debugging)
  *) echo "usage: $0 up --kubeconfig FILE [--name NAME] [--client-ca-cert F --client-ca-key F] | down | status | env" >&2
    exit 2 ;;
esac

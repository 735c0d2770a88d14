# Shared by tests/cluster/up, down and sim: where a cluster's state lives, how
# to find the pinned binaries, and small process/wait helpers.
#
# A cluster is a state directory holding its PKI, kubeconfigs, etcd data,
# component logs and PIDs. Its name picks the directory:
#   ${NODEGUARD_CLUSTER_DIR:-${NODEGUARD_CLUSTERS_ROOT:-/tmp/nodeguard-clusters}/<name>}
# where <name> is --name, else $NODEGUARD_CLUSTER_NAME, else "default".

# shellcheck source=cache.sh
source "$(dirname "${BASH_SOURCE[0]}")/cache.sh"

NODEGUARD_CLUSTER_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The order in which components start; `down` stops them in reverse.
NODEGUARD_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
# Started later, on demand (sim starts sim-player and sim-kubelet); `down` stops them first.
NODEGUARD_HELPERS=(sim-player sim-kubelet)

ng_log() { echo "${NG_PROG:-cluster}: $*" >&2; }
ng_die() {
  ng_log "error: $*"
  exit 1
}

# ng_state_dir NAME: the state directory of cluster NAME.
ng_state_dir() {
  local name=$1
  if [ -n "${NODEGUARD_CLUSTER_DIR:-}" ]; then
    echo "$NODEGUARD_CLUSTER_DIR"
  else
    echo "${NODEGUARD_CLUSTERS_ROOT:-/tmp/nodeguard-clusters}/$name"
  fi
}

ng_valid_name() { [[ $1 =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ ]]; }

# ng_bin_dir: the pinned binaries (built by build-components.sh), or fail.
ng_bin_dir() {
  local bin
  bin=${NODEGUARD_CLUSTER_BIN:-$(nodeguard_cluster_bin_dir)}
  local c
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
    [ -x "$bin/$c" ] || ng_die "$bin/$c is missing: run tests/cluster/build-components.sh (or make cluster-components)"
  done
  echo "$bin"
}

# ng_kubectl_path: the pinned kubectl when built, else the one on PATH.
ng_kubectl_path() {
  local bin
  bin=${NODEGUARD_CLUSTER_BIN:-$(nodeguard_cluster_bin_dir)}
  if [ -x "$bin/kubectl" ]; then
    echo "$bin/kubectl"
  elif command -v kubectl >/dev/null; then
    command -v kubectl
  else
    ng_die "no kubectl: run tests/cluster/build-components.sh"
  fi
}

# ng_free_ports N [TAKEN...]: N distinct free TCP ports on 127.0.0.1, none of
# TAKEN, below the kernel's ephemeral range so outgoing connections cannot
# take them before the components bind. Callers pass the ports other clusters
# recorded (they may not listen yet) and choose under a lock.
ng_free_ports() {
  python3 - "$@" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
taken = {int(p) for p in sys.argv[2:] if p.isdigit()}
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except OSError:
    low = 32768
candidates = [p for p in range(20000, max(low, 20001)) if p not in taken]
random.shuffle(candidates)
found, held = [], []
for port in candidates:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s)
    found.append(port)
    if len(found) == n:
        break
for s in held:
    s.close()
if len(found) < n:
    sys.exit("not enough free ports")
print(" ".join(map(str, found)))
PY
}

# ng_pid_alive STATE COMPONENT: true when the recorded PID still runs the
# component of this cluster (guards against a recycled PID).
ng_pid_alive() {
  local state=$1 comp=$2 pid
  pid=$(cat "$state/pids/$comp.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$state/"
}

# ng_wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.2s.
ng_wait_for() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      ng_log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# ng_stop_cluster STATE: stop every recorded helper and component, newest first.
ng_stop_cluster() {
  local state=$1 i comp pid
  local pids=() order=("${NODEGUARD_HELPERS[@]}")
  for ((i = ${#NODEGUARD_COMPONENTS[@]} - 1; i >= 0; i--)); do order+=("${NODEGUARD_COMPONENTS[i]}"); done
  for comp in "${order[@]}"; do
    if ng_pid_alive "$state" "$comp"; then
      pid=$(cat "$state/pids/$comp.pid")
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$comp:$pid")
    fi
  done
  local deadline=$((SECONDS + 15)) entry
  for entry in "${pids[@]}"; do
    comp=${entry%%:*}
    pid=${entry#*:}
    while ng_pid_alive "$state" "$comp" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if ng_pid_alive "$state" "$comp"; then
      ng_log "$comp (pid $pid) ignored SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -f "$state"/pids/*.pid
}

# ng_env STATE KEY: the value of KEY in STATE/cluster.env (written by up).
ng_env() { sed -n "s/^$2=//p" "$1/cluster.env"; }

# ng_start STATE COMPONENT COMMAND...: run COMMAND detached (own session, no
# inherited terminal or pipes, so a caller such as ctest does not wait on it),
# appending to STATE/logs/COMPONENT.log (a restart keeps the earlier lines),
# and record its PID in STATE/pids/COMPONENT.pid.
ng_start() {
  local state=$1 comp=$2
  shift 2
  setsid "$@" </dev/null >>"$state/logs/$comp.log" 2>&1 &
  echo $! >"$state/pids/$comp.pid"
}

# ng_start_apiserver STATE: kube-apiserver with the binaries, ports and
# certificates STATE records (cluster.env, pki/). `up` starts it so, and
# `control-plane start-apiserver` starts it again the same way.
ng_start_apiserver() {
  local state=$1 bin etcd_port api_port pki=$1/pki
  bin=$(ng_env "$state" NODEGUARD_CLUSTER_BIN)
  etcd_port=$(ng_env "$state" ETCD_PORT)
  api_port=$(ng_env "$state" APISERVER_PORT)
  [ -n "$bin" ] && [ -n "$etcd_port" ] && [ -n "$api_port" ] || ng_die "$state/cluster.env is incomplete"
  # up --pod-eviction-seconds: the DefaultTolerationSeconds admission plugin's
  # tolerations for not-ready/unreachable (300 s unless set).
  local eviction inflight mutating media storage=()
  eviction=$(ng_env "$state" POD_EVICTION_SECONDS)
  # up --max-requests-inflight: the seats API Priority and Fairness shares.
  inflight=$(ng_env "$state" MAX_REQUESTS_INFLIGHT)
  mutating=$(ng_env "$state" MAX_MUTATING_REQUESTS_INFLIGHT)
  # up --storage-json: objects stored in etcd as JSON (readable history).
  media=$(ng_env "$state" STORAGE_MEDIA_TYPE)
  [ -z "$media" ] || storage=(--storage-media-type "$media")
  ng_start "$state" kube-apiserver "$bin/kube-apiserver" "${storage[@]}" \
    --max-requests-inflight "${inflight:-400}" \
    --max-mutating-requests-inflight "${mutating:-200}" \
    --default-not-ready-toleration-seconds "${eviction:-300}" \
    --default-unreachable-toleration-seconds "${eviction:-300}" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --cert-dir "$state/run" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode Node,RBAC \
    --allow-privileged=true \
    --endpoint-reconciler-type none \
    --profiling=false
}

# ng_wait_apiserver_ready STATE SECONDS: wait until /readyz answers 200
# (RBAC bootstrap roles included).
ng_wait_apiserver_ready() {
  local state=$1 timeout=$2 pki=$1/pki
  ng_wait_for "$timeout" "kube-apiserver /readyz" curl -fsS --cacert "$pki/ca.crt" \
    --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$(ng_env "$state" APISERVER_PORT)/readyz"
}

# Helpers for the cluster acceptance tests (bash, run by CTest with the
# "cluster" fixture). Each test sources this file, uses its own namespace and
# puts back every node it touched, so tests can share one cluster.
#
# Environment (set by nodeguard_cluster_test in tests/cluster/CMakeLists.txt):
#   KUBECONFIG                      the fixture's kubeconfig
#   NODEGUARD_SIM                   tests/cluster/sim
#   NODEGUARD_CLUSTER_FIXTURE_DIR   where the fixture keeps kubeconfig, state-dir, up-seconds
set -euo pipefail

: "${KUBECONFIG:?run through ctest (needs the cluster fixture) or export KUBECONFIG}"
: "${NODEGUARD_SIM:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/sim}"
export KUBECONFIG
NG_PROG=$(basename "$0" .sh)
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../versions.env"
KUBECTL=$(ng_kubectl_path)

k() { "$KUBECTL" "$@"; }
sim() { "$NODEGUARD_SIM" "$@"; }
say() { echo "[$(date -u +%T)] $*"; }

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# cannot_set_up WHAT: this test could not set up what a check needs. Under CI
# (CI=true) that fails the test: a check CI skips is a check nobody runs.
# Elsewhere the check is left out, with a line saying so.
cannot_set_up() {
  [ "${CI:-}" != true ] || fail "cannot set up (CI=true, so this fails instead of skipping): $*"
  echo "NOT CHECKED (this fails under CI=true): $*" >&2
}

# Cleanup actions run in reverse order at exit, pass or fail.
_cleanups=()
on_exit_do() { _cleanups+=("$*"); }
_finish() {
  local rc=$? i
  if [ "$rc" -ne 0 ] && [ -n "${NODEGUARD_CLUSTER_FIXTURE_DIR:-}" ]; then
    touch "$NODEGUARD_CLUSTER_FIXTURE_DIR/failed"
    echo "--- node state at failure:" >&2
    sim status >&2 || true
    k get nodes -o custom-columns='NAME:.metadata.name,TAINTS:.spec.taints[*].key,UNSCHEDULABLE:.spec.unschedulable' >&2 || true
    local state f
    state=$(cat "$NODEGUARD_CLUSTER_FIXTURE_DIR/state-dir" 2>/dev/null || true)
    for f in "$state"/logs/kube-controller-manager.log "$state"/logs/kwok.log; do
      [ -f "$f" ] || continue
      echo "--- last lines of $f (all logs: $NODEGUARD_CLUSTER_FIXTURE_DIR/logs after the run)" >&2
      tail -n 10 "$f" >&2
    done
  fi
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
    eval "${_cleanups[i]}" >/dev/null 2>&1 || echo "cleanup failed: ${_cleanups[i]}" >&2
  done
  exit "$rc"
}
trap _finish EXIT

# new_namespace PREFIX: a fresh namespace, deleted at exit.
new_namespace() {
  local ns
  ns="$1-$(tr -dc a-z0-9 </dev/urandom | head -c 5)"
  k create namespace "$ns" >/dev/null
  on_exit_do k delete namespace "$ns" --wait=false
  # Pods are admitted once the namespace's default service account exists.
  ng_wait_for 30 "service account default in $ns" k -n "$ns" get serviceaccount default
  echo "$ns"
}

# eventually TIMEOUT DESCRIPTION COMMAND...: until COMMAND succeeds, or fail.
eventually() {
  local timeout=$1 what=$2
  shift 2
  ng_wait_for "$timeout" "$what" "$@" || fail "timed out after ${timeout}s: $what"
}

# assert_eq ACTUAL EXPECTED DESCRIPTION
assert_eq() {
  [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

ready_field() { k get node "$1" -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].$2}"; }
taints_of() { k get node "$1" -o jsonpath='{range .spec.taints[*]}{.key}:{.effect}{"\n"}{end}'; }
has_taint() { taints_of "$1" | grep -qxF "$2"; }
lacks_taint() { ! has_taint "$1" "$2"; }
lease_renew_time() { k -n kube-node-lease get lease "$1" -o jsonpath='{.spec.renewTime}'; }
lease_renewed_since() { [ "$(lease_renew_time "$1")" != "$2" ]; }
ready_is() { [ "$(ready_field "$1" status)" = "$2" ]; }

# a simulated worker of the fixture, by number (worker-07 for 7).
worker() { printf 'worker-%02d' "$1"; }

# restore_node NODE: at exit, heal NODE (kwok side) and wait until the
# controller manager lifted its node.kubernetes.io taints.
restore_node() {
  on_exit_do "sim heal $1; sim wait $1 --ready True --untainted --timeout 60"
}

# Pods of a namespace, one line each: name phase node.
pods_of() {
  k -n "$1" get pods -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} {.spec.nodeName}{"\n"}{end}'
}
pod_count_is() { [ "$(pods_of "$1" | grep -c .)" -eq "$2" ]; }
count_running() { pods_of "$1" | awk '$2 == "Running"' | wc -l; }
running_at_least() { [ "$(count_running "$1")" -ge "$2" ]; }

# deployment NS NAME REPLICAS: a Deployment of pause-like pods (kwok runs no
# containers, the image is never pulled).
deployment() {
  k -n "$1" create deployment "$2" --image=registry.k8s.io/pause:3.10 --replicas="$3" >/dev/null
}

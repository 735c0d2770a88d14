#!/usr/bin/env bash
# The real node (tests/cluster/real-node) joins the fixture's cluster and works
# as a node: up (Ready, its label and taint, containerd as the runtime), a pod
# on the local pause image Running with an IP of the node's bridge; one real
# node per machine (a second `up` from another cluster exits 3 and names the
# first); the faults the agent's commands use (restart-runtime: the container
# survives and new pods still start; restart-kubelet: Ready again); and down
# leaves the machine as it found it: no Node, no process, mount, cgroup,
# bridge, state directory or host directory of the real node, kernel settings
# as before. Root only (containerd, mounts, cgroups): under CI a machine that
# cannot run it fails this test.
source "$(dirname "$0")/lib.sh"
cluster_dir=$(cd "$(dirname "$0")/.." && pwd)
RN=${NODEGUARD_REAL_NODE:-$cluster_dir/real-node}
unset NODEGUARD_CLUSTER_DIR NODEGUARD_CLUSTER_NAME
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

[ "$(id -u)" -eq 0 ] || fail "the real node needs root (containerd, mounts, cgroups); run as root"
NODE=real-01
RUN=/run/nodeguard-real-node
LIB=/var/lib/nodeguard-real-node
# One real node per machine: another test run's goes first (up to 10 min);
# one whose cluster is gone is removed.
deadline=$((SECONDS + 600))
while [ -e "$RUN" ]; do
  other=$("$RN" status 2>&1 || true)
  if [[ $other == *"the cluster does not answer"* ]]; then
    "$RN" down
    continue
  fi
  [ "$SECONDS" -lt "$deadline" ] || fail "another real node ran for 10 min: $(tr '\n' ' ' <<<"$other")"
  [ -n "${waited:-}" ] || say "waiting for another real node to go: $(tr '\n' ' ' <<<"$other")"
  waited=1
  sleep 5
done

# What down must leave as it was.
machine_snapshot() {
  echo "links: $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')"
  echo "mounts: $(grep -c -e nodeguard-real-node -e /run/netns -e kubelet /proc/self/mountinfo || true)"
  local h
  for h in $(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts | sort -u); do
    [ -e "$h/nodeguard-real-node" ] && echo "cgroup: $h/nodeguard-real-node"
  done
  local d
  for d in /run/containerd /var/lib/cni /var/log/containers /var/log/pods /run/netns /var/lib/kubelet \
    /var/lib/containerd /opt/containerd /etc/cni "$RUN" "$LIB"; do
    [ -e "$d" ] && echo "exists: $d ($(find "$d" 2>/dev/null | wc -l) entries)"
  done
  local s
  for s in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
    echo "sysctl: $s=$(sysctl -n "$s")"
  done
  # (a pattern that does not match grep's own command line)
  echo "processes: $(grep -lsE '/run/nodeguard-real-nod[e]' /proc/[0-9]*/cmdline 2>/dev/null | wc -l)"
}
# status_has REGEX: a line of `real-node status` matches.
status_has() { grep -q "$1" <<<"$("$RN" status)"; }
containerd_pid() { sed -n 's/^containerd .*(pid \([0-9]*\))$/\1/p' <<<"$("$RN" status)"; }

before=$(machine_snapshot)
on_exit_do "$RN" down

say "real-node up"
start=$(date +%s)
"$RN" up --kubeconfig "$KUBECONFIG" --name "$NODE" --label nodeguard.io/test=real-node --wait-lock 600 >/tmp/real-node-up.$$ 2>&1 ||
  { cat /tmp/real-node-up.$$ >&2; rm -f /tmp/real-node-up.$$; fail "real-node up failed"; }
up_seconds=$(($(date +%s) - start))
assert_eq "$(tail -n 1 /tmp/real-node-up.$$)" "$NODE" "the last line of up's output"
rm -f /tmp/real-node-up.$$
say "real node $NODE up and Ready in ${up_seconds}s"

assert_eq "$(ready_field "$NODE" status)" True "Ready"
assert_eq "$(ready_field "$NODE" reason)" KubeletReady "Ready's reason"
assert_eq "$(k get node "$NODE" -o jsonpath='{.metadata.labels.nodeguard\.io/real-node}')" true "label nodeguard.io/real-node"
assert_eq "$(k get node "$NODE" -o jsonpath='{.metadata.labels.nodeguard\.io/test}')" real-node "the extra --label"
has_taint "$NODE" nodeguard.io/real-node:NoSchedule || fail "no nodeguard.io/real-node:NoSchedule taint: $(taints_of "$NODE")"
runtime=$(k get node "$NODE" -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}')
[[ $runtime == containerd://1.* ]] || fail "container runtime $runtime, want Debian's containerd"
assert_eq "$(k get node "$NODE" -o jsonpath='{.status.nodeInfo.kubeletVersion}')" "$KUBERNETES_VERSION" "kubelet version"
status_has '^containerd *running' || fail "status: $("$RN" status)"

say "up again for the same cluster and node: a no-op"
"$RN" up --kubeconfig "$KUBECONFIG" --name "$NODE" >/dev/null 2>&1 || fail "a second up of the same node failed"

say "up from a second cluster: refused, one real node per machine"
second="real-node-second-$$-$RANDOM"
on_exit_do "$cluster_dir/down" --name "$second"
second_kubeconfig=$("$cluster_dir/up" --name "$second" 2>/dev/null | tail -n 1)
set +e
refusal=$("$RN" up --kubeconfig "$second_kubeconfig" --name real-02 2>&1)
rc=$?
set -e
assert_eq "$rc" 3 "exit status of up while another cluster's real node runs"
[[ $refusal == *"a real node already runs on this machine: $NODE"* ]] || fail "unclear refusal: $refusal"
say "refused: $(echo "$refusal" | tail -n 1 | cut -c1-160)..."
assert_eq "$(k --kubeconfig "$second_kubeconfig" get nodes -o name | grep -c . || true)" 0 "nodes of the second cluster"
"$cluster_dir/down" --name "$second" >/dev/null 2>&1
assert_eq "$(ready_field "$NODE" status)" True "Ready after the second cluster went"

ns=$(new_namespace real-node)
# (new_namespace runs in a subshell here, so its own cleanup registration is lost)
on_exit_do k delete namespace "$ns" --wait=false
pod() {
  cat <<EOF
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "$1", "namespace": "$ns"},
 "spec": {"nodeSelector": {"nodeguard.io/real-node": "true"},
          "tolerations": [{"key": "nodeguard.io/real-node", "operator": "Exists", "effect": "NoSchedule"}],
          "terminationGracePeriodSeconds": 5,
          "containers": [{"name": "pause", "image": "nodeguard.local/pause:1", "imagePullPolicy": "Never"}]}}
EOF
}
pod_field() { k -n "$ns" get pod "$1" -o jsonpath="$2"; }
running() { [ "$(pod_field "$1" '{.status.phase}')" = Running ]; }
pod_gone() { ! k -n "$ns" get pod "$1" >/dev/null 2>&1; }
node_ready() { [ "$(ready_field "$NODE" status)" = True ]; }
say "a pod on the real node"
pod first | k create -f - >/dev/null
eventually 60 "pod first Running" running first
assert_eq "$(pod_field first '{.spec.nodeName}')" "$NODE" "pod first's node"
ip=$(pod_field first '{.status.podIP}')
[[ $ip == 10.250.77.* ]] || fail "pod IP $ip is not on the real node's bridge (10.250.77.0/24)"
container=$(pod_field first '{.status.containerStatuses[0].containerID}')
say "pod first Running, IP $ip, $container"

say "restart-runtime (the agent's RestartContainerRuntime): the container survives"
pid_before=$(containerd_pid)
"$RN" restart-runtime
pid_after=$(containerd_pid)
[ -n "$pid_after" ] && [ "$pid_after" != "$pid_before" ] || fail "containerd pid $pid_before -> $pid_after"
running first || fail "pod first is not Running after restart-runtime"
assert_eq "$(pod_field first '{.status.containerStatuses[0].containerID}')" "$container" "first's container after restart-runtime"
assert_eq "$(pod_field first '{.status.containerStatuses[0].restartCount}')" 0 "first's restarts"

say "restart-kubelet (the agent's RestartKubelet): Ready again, new pods start"
"$RN" restart-kubelet
eventually 60 "Ready after restart-kubelet" node_ready
pod second | k create -f - >/dev/null
eventually 60 "pod second Running" running second
assert_eq "$(pod_field first '{.status.containerStatuses[0].containerID}')" "$container" "first's container after restart-kubelet"

say "freeze-runtime and thaw-runtime"
"$RN" freeze-runtime
status_has '^containerd *frozen' || fail "not frozen: $("$RN" status)"
"$RN" thaw-runtime
status_has '^containerd *running' || fail "not running after thaw: $("$RN" status)"

say "a deleted pod is finalized by the kubelet"
k -n "$ns" delete pod second --wait=false >/dev/null
eventually 60 "pod second gone" pod_gone second

say "real-node down with a pod still running"
start=$(date +%s)
"$RN" down
say "down in $(($(date +%s) - start))s"
k get node "$NODE" >/dev/null 2>&1 && fail "Node $NODE still exists after down"
k -n "$ns" get pod first >/dev/null 2>&1 && fail "pod first (bound to $NODE) still exists after down"
after=$(machine_snapshot)
if [ "$before" != "$after" ]; then
  diff <(echo "$before") <(echo "$after") >&2 || true
  fail "down did not leave the machine as it was (diff above: < before, > after)"
fi
"$RN" down || fail "a second down failed"
"$RN" status >/dev/null 2>&1 && fail "status reports a real node after down"
say "down left the machine as it was: $(echo "$after" | grep -c .) facts compared"

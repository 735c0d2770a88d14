#!/usr/bin/env bash
# A silent node (kubelet stopped heartbeating) goes Unknown and is tainted
# node.kubernetes.io/unreachable by kube-controller-manager; healing lifts it.
source "$(dirname "$0")/lib.sh"
node=$(worker 4)
restore_node "$node"
ns=$(new_namespace silent)
# A pod bound to the node before it goes silent.
k -n "$ns" run bound --image=registry.k8s.io/pause:3.10 --restart=Never \
  --overrides="{\"spec\":{\"nodeName\":\"$node\"}}" >/dev/null
eventually 30 "pod on $node Running" running_at_least "$ns" 1
sim silent "$node"
frozen=$(lease_renew_time "$node")
eventually 60 "Ready=Unknown" ready_is "$node" Unknown
say "Unknown: $(ready_field "$node" message)"
eventually 30 "unreachable NoExecute taint" has_taint "$node" node.kubernetes.io/unreachable:NoExecute
eventually 30 "unreachable NoSchedule taint" has_taint "$node" node.kubernetes.io/unreachable:NoSchedule
assert_eq "$(lease_renew_time "$node")" "$frozen" "lease renewTime of a silent node"
# Nobody finalizes a pod deleted behind a dead kubelet: it stays Terminating.
k -n "$ns" delete pod bound --wait=false >/dev/null
sleep 5
[ -n "$(k -n "$ns" get pod bound -o jsonpath='{.metadata.deletionTimestamp}')" ] ||
  fail "the pod on the silent node is gone or not terminating"
say "pod on the silent node stays Terminating"
sim heal "$node"
assert_eq "$(ready_field "$node" status)" True "$node Ready after heal"
eventually 30 "unreachable taints lifted" eval "! taints_of $node | grep -q node.kubernetes.io/unreachable"
[ "$(lease_renew_time "$node")" != "$frozen" ] || fail "lease not renewed after heal"
# The kubelet is back and finishes the deletion.
eventually 30 "terminating pod removed after heal" pod_count_is "$ns" 0
say "healed"

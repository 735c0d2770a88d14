#!/usr/bin/env bash
# A silent node (kubelet stopped heartbeating) goes Unknown and is tainted
# node.kubernetes.io/unreachable by kube-controller-manager; healing lifts it.
source "$(dirname "$0")/lib.sh"
node=$(worker 4)
restore_node "$node"
sim silent "$node"
frozen=$(lease_renew_time "$node")
eventually 60 "Ready=Unknown" ready_is "$node" Unknown
say "Unknown: $(ready_field "$node" message)"
eventually 30 "unreachable NoExecute taint" has_taint "$node" node.kubernetes.io/unreachable:NoExecute
has_taint "$node" node.kubernetes.io/unreachable:NoSchedule || fail "no unreachable NoSchedule taint"
assert_eq "$(lease_renew_time "$node")" "$frozen" "lease renewTime of a silent node"
sim heal "$node"
assert_eq "$(ready_field "$node" status)" True "$node Ready after heal"
eventually 30 "unreachable taints lifted" eval "! taints_of $node | grep -q node.kubernetes.io/unreachable"
[ "$(lease_renew_time "$node")" != "$frozen" ] || fail "lease not renewed after heal"
say "healed"

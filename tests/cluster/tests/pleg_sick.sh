#!/usr/bin/env bash
# A PLEG-sick node reports exactly what a kubelet writes, stays sick (kwok does
# not flip it back), keeps its heartbeats; kube-controller-manager taints it
# node.kubernetes.io/not-ready; healing lifts all of it.
source "$(dirname "$0")/lib.sh"
node=$(worker 3)
restore_node "$node"

check_condition() {
  assert_eq "$(ready_field "$node" status)" False "$node Ready status"
  assert_eq "$(ready_field "$node" reason)" KubeletNotReady "$node Ready reason"
  assert_eq "$(ready_field "$node" message)" "$1" "$node Ready message"
}

for form in runtime-down aggregated current; do
  case $form in
    current) want='PLEG is not healthy: pleg was last seen active 3m5.12s ago; threshold is 3m0s' ;;
    runtime-down) want='container runtime is down,PLEG is not healthy: pleg was last seen active 3m5.12s ago; threshold is 3m0s' ;;
    aggregated) want='[container runtime status check may not have completed yet, PLEG is not healthy: pleg has yet to be successful]' ;;
  esac
  sim pleg-sick "$node" --form "$form"
  check_condition "$want"
  say "$form: $want"
done

eventually 30 "not-ready NoSchedule taint" has_taint "$node" node.kubernetes.io/not-ready:NoSchedule
eventually 30 "not-ready NoExecute taint" has_taint "$node" node.kubernetes.io/not-ready:NoExecute
say "kube-controller-manager tainted $node: $(taints_of "$node" | tr '\n' ' ')"

lease_before=$(lease_renew_time "$node")
since=$(ready_field "$node" lastTransitionTime)
say "waiting 35s: the node must stay sick"
sleep 35
check_condition 'PLEG is not healthy: pleg was last seen active 3m5.12s ago; threshold is 3m0s'
assert_eq "$(ready_field "$node" lastTransitionTime)" "$since" "Ready lastTransitionTime (no flapping)"
[ "$(lease_renew_time "$node")" != "$lease_before" ] || fail "the lease was not renewed: a PLEG-sick kubelet still heartbeats"
has_taint "$node" node.kubernetes.io/not-ready:NoExecute || fail "not-ready taint gone while still sick"

sim heal "$node"
assert_eq "$(ready_field "$node" status)" True "$node Ready after heal"
eventually 30 "not-ready taints lifted" eval "! taints_of $node | grep -q node.kubernetes.io/not-ready"
say "healed: Ready, taints lifted"

#!/usr/bin/env bash
# A PLEG-sick node reports exactly what a kubelet writes, in each of the three
# message forms, and each stays through a re-evaluation of the node by kwok
# (kwok does not flip it back); its lease and status heartbeats go on;
# kube-controller-manager taints it node.kubernetes.io/not-ready; healing
# lifts all of it.
source "$(dirname "$0")/lib.sh"
node=$(worker 3)
restore_node "$node"

check_condition() {
  assert_eq "$(ready_field "$node" status)" False "$node Ready status"
  assert_eq "$(ready_field "$node" reason)" KubeletNotReady "$node Ready reason"
  assert_eq "$(ready_field "$node" message)" "$1" "$node Ready message"
}
heartbeat_since() { [ "$(ready_field "$node" lastHeartbeatTime)" != "$1" ]; }

# Each form must stay, not just appear: after kwok wrote it, the node is
# changed (an annotation kwok's stages ignore; kwok re-evaluates its stages on
# every change of a node) and the test waits until kwok has played a stage on
# the sick node again: its status heartbeat, which moves lastHeartbeatTime
# 10-15 s after the node's last change (tests/cluster/kwok/stages.yaml). kwok's
# stock stages would flip the node back to Ready at such a re-evaluation.
poke=nodeguard-test/kwok-poke
on_exit_do k annotate node "$node" "$poke-"
lease_before=$(lease_renew_time "$node")
first_since=""
for form in runtime-down aggregated current; do
  case $form in
    current) want='PLEG is not healthy: pleg was last seen active 3m5.12s ago; threshold is 3m0s' ;;
    runtime-down) want='container runtime is down,PLEG is not healthy: pleg was last seen active 3m5.12s ago; threshold is 3m0s' ;;
    aggregated) want='[container runtime status check may not have completed yet, PLEG is not healthy: pleg has yet to be successful]' ;;
  esac
  sim pleg-sick "$node" --form "$form"
  check_condition "$want"
  since=$(ready_field "$node" lastTransitionTime)
  beat=$(ready_field "$node" lastHeartbeatTime)
  : "${first_since:=$since}"
  k annotate node "$node" --overwrite "$poke=$form" >/dev/null
  eventually 45 "kwok to re-evaluate the $form-sick $node (a status heartbeat)" heartbeat_since "$beat"
  check_condition "$want"
  assert_eq "$(ready_field "$node" lastTransitionTime)" "$since" "Ready lastTransitionTime (no flapping)"
  say "$form: $want (kept through kwok's heartbeat at $(ready_field "$node" lastHeartbeatTime))"
done
# Ready stayed False throughout: the message changed, the transition did not.
assert_eq "$since" "$first_since" "Ready lastTransitionTime across the three forms"

eventually 30 "not-ready NoSchedule taint" has_taint "$node" node.kubernetes.io/not-ready:NoSchedule
eventually 30 "not-ready NoExecute taint" has_taint "$node" node.kubernetes.io/not-ready:NoExecute
say "kube-controller-manager tainted $node: $(taints_of "$node" | tr '\n' ' ')"
[ "$(lease_renew_time "$node")" != "$lease_before" ] || fail "the lease was not renewed: a PLEG-sick kubelet still heartbeats"

sim heal "$node"
assert_eq "$(ready_field "$node" status)" True "$node Ready after heal"
eventually 30 "not-ready taints lifted" eval "! taints_of $node | grep -q node.kubernetes.io/not-ready"
say "healed: Ready, taints lifted"

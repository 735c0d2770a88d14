#!/usr/bin/env bash
# A frozen container runtime, as the simulator plays it (tests/cluster/sim-player,
# the model in tests/cluster/lib/kubelet_model.py; sim_fidelity_test.py compares
# it with the real kubelet's recording):
#   - pleg-sick (default, fast timing): Ready=False with the bracketed aggregate
#     "[container runtime is down, PLEG is not healthy: ...]" once the command
#     returns; each post carries a new "last seen active" figure, none between
#     posts; lastTransitionTime stays; the lease is renewed; kube-controller-
#     manager taints the node not-ready, never unreachable;
#   - the older kubelets' forms (--form) show exactly and stay through a post;
#   - runtime-down holds "container runtime is down"; pleg-sick moves it on,
#     keeping the fault time;
#   - the player is crash-only: killed, the node stays as it was (the lease
#     lapses, so no longer than that) and the next sim command starts a new
#     one that carries on; heal works without a player;
#   - heal lifts all of it.
source "$(dirname "$0")/lib.sh"
node=$(worker 3)
restore_node "$node"

ready_check() {
  assert_eq "$(ready_field "$node" status)" False "$node Ready status"
  assert_eq "$(ready_field "$node" reason)" KubeletNotReady "$node Ready reason"
}
heartbeat_since() { [ "$(ready_field "$node" lastHeartbeatTime)" != "$1" ]; }
annotation() { k get node "$node" -o jsonpath="{.metadata.annotations.nodeguard\.io/$1}"; }
played_by() { [ "$(k get node "$node" -o jsonpath='{.metadata.labels.nodeguard\.io/sim-player}')" = "$1" ]; }
# seen MESSAGE: the "last seen active" figure, in whole seconds.
seen() { python3 -c 'import re, sys; m = re.search(r"last seen active (?:(\d+)h)?(?:(\d+)m)?(\d+)(?:\.\d+)?s ago", sys.argv[1]); print(int(m.group(1) or 0) * 3600 + int(m.group(2) or 0) * 60 + int(m.group(3)))' "$1"; }

# --- the real sequence, fast timing
lease_before=$(lease_renew_time "$node")
start=$SECONDS
sim pleg-sick "$node"
say "pleg-sick returned after $((SECONDS - start))s"
ready_check
msg=$(ready_field "$node" message)
[[ $msg == "[container runtime is down, PLEG is not healthy: pleg was last seen active "*" ago; threshold is 3m0s]" ]] ||
  fail "not the real kubelet's aggregate: $msg"
played_by held || fail "$node is not held by sim-player: $(sim status "$node")"
since=$(ready_field "$node" lastTransitionTime)
beat=$(ready_field "$node" lastHeartbeatTime)
say "shown: $msg (heartbeat $beat)"
# The next post: a new figure, one cadence (130 s of real time) further.
eventually 30 "the next status post" heartbeat_since "$beat"
msg2=$(ready_field "$node" message)
[ "$msg2" != "$msg" ] || fail "a post without a new message: $msg2"
step=$(($(seen "$msg2") - $(seen "$msg")))
[ $((step % 130)) -eq 0 ] && [ "$step" -gt 0 ] || fail "'last seen active' moved by ${step}s, not by 130s steps: $msg -> $msg2"
assert_eq "$(ready_field "$node" lastTransitionTime)" "$since" "Ready lastTransitionTime (no flapping)"
say "next post: $msg2"
eventually 30 "not-ready NoSchedule taint" has_taint "$node" node.kubernetes.io/not-ready:NoSchedule
eventually 30 "not-ready NoExecute taint" has_taint "$node" node.kubernetes.io/not-ready:NoExecute
eventually 30 "the lease renewed by the player" lease_renewed_since "$node" "$lease_before"
taints_of "$node" | grep -q unreachable && fail "tainted unreachable: the lease lapsed"
say "kube-controller-manager tainted $node: $(taints_of "$node" | tr '\n' ' ')"

# --- the player dies; the node stays as it was; the next sim starts another
state=$(cat "$NODEGUARD_CLUSTER_FIXTURE_DIR/state-dir")
pid=$(cat "$state/pids/sim-player.pid")
ng_pid_alive "$state" sim-player || fail "no sim-player running for $state"
kill -KILL "$pid"
fault=$(annotation sim-fault-at)
sim pleg-sick "$node"   # Still pleg-sick: the fault time is kept, a new player carries on.
assert_eq "$(annotation sim-fault-at)" "$fault" "fault time after pleg-sick again"
new_pid=$(cat "$state/pids/sim-player.pid")
[ "$new_pid" != "$pid" ] && ng_pid_alive "$state" sim-player || fail "no new sim-player"
beat=$(ready_field "$node" lastHeartbeatTime)
msg=$(ready_field "$node" message)
eventually 30 "a post by the new player" heartbeat_since "$beat"
[ $((($(seen "$(ready_field "$node" message)") - $(seen "$msg")) % 130)) -eq 0 ] ||
  fail "the new player is off the grid: $msg -> $(ready_field "$node" message)"
say "sim-player $pid killed; $new_pid carries on: $(ready_field "$node" message)"

# --- older kubelets' forms: exact, and kept through a post
first_since=$(ready_field "$node" lastTransitionTime)
for form in runtime-down aggregated current; do
  case $form in
    current) want='PLEG is not healthy: pleg was last seen active 3m5.12s ago; threshold is 3m0s' ;;
    runtime-down) want='container runtime is down,PLEG is not healthy: pleg was last seen active 3m5.12s ago; threshold is 3m0s' ;;
    aggregated) want='[container runtime status check may not have completed yet, PLEG is not healthy: pleg has yet to be successful]' ;;
  esac
  sim pleg-sick "$node" --form "$form"
  ready_check
  assert_eq "$(ready_field "$node" message)" "$want" "$node Ready message"
  beat=$(ready_field "$node" lastHeartbeatTime)
  eventually 30 "the next post of the $form form" heartbeat_since "$beat"
  assert_eq "$(ready_field "$node" message)" "$want" "$node Ready message after a post"
  assert_eq "$(ready_field "$node" lastTransitionTime)" "$first_since" "Ready lastTransitionTime across forms"
  say "$form: $want (kept through the post at $(ready_field "$node" lastHeartbeatTime))"
done

# --- heal without a player (it died): kwok takes the node back
kill -KILL "$(cat "$state/pids/sim-player.pid")"
sim heal "$node"
assert_eq "$(ready_field "$node" status)" True "$node Ready after heal"
played_by "" || fail "$node still labelled for the player after heal"
eventually 30 "not-ready taints lifted" eval "! taints_of $node | grep -q node.kubernetes.io/not-ready"
say "healed without a player: Ready, taints lifted"

# --- runtime-down, then pleg-sick moves it on
sim runtime-down "$node"
ready_check
assert_eq "$(ready_field "$node" message)" "container runtime is down" "runtime-down message"
fault=$(annotation sim-fault-at)
beat=$(ready_field "$node" lastHeartbeatTime)
eventually 30 "a re-post of runtime-down" heartbeat_since "$beat"
assert_eq "$(ready_field "$node" message)" "container runtime is down" "runtime-down message, re-posted"
sim pleg-sick "$node"
assert_eq "$(annotation sim-fault-at)" "$fault" "fault time kept by pleg-sick"
[[ $(ready_field "$node" message) == "[container runtime is down, PLEG is not healthy: "* ]] ||
  fail "pleg-sick after runtime-down: $(ready_field "$node" message)"
say "runtime-down, then pleg-sick: $(ready_field "$node" message)"

sim heal "$node"
assert_eq "$(ready_field "$node" status)" True "$node Ready after heal"
eventually 30 "not-ready taints lifted" eval "! taints_of $node | grep -q node.kubernetes.io/not-ready"
say "healed: Ready, taints lifted"

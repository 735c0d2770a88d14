#!/usr/bin/env bash
# A simulated reboot: new bootID and NotReady at once, Ready after the delay.
source "$(dirname "$0")/lib.sh"
node=$(worker 5)
restore_node "$node"
before=$(k get node "$node" -o jsonpath='{.status.nodeInfo.bootID}')
start=$SECONDS
sim reboot "$node" --delay 8
after=$(k get node "$node" -o jsonpath='{.status.nodeInfo.bootID}')
say "bootID $before -> $after"
[ -n "$after" ] && [ "$after" != "$before" ] || fail "bootID did not change"
assert_eq "$(ready_field "$node" status)" False "Ready right after the reboot"
eventually 30 "Ready again" ready_is "$node" True
took=$((SECONDS - start))
say "Ready again after ~${took}s"
[ "$took" -ge 6 ] || fail "came back after ${took}s, before the 8s delay"
assert_eq "$(k get node "$node" -o jsonpath='{.status.nodeInfo.bootID}')" "$after" "bootID after coming back"

#!/usr/bin/env bash
# The scheduler sends no new pod to a node tainted NoSchedule (what nodeguard's
# pod cap relies on), and does once the taint is gone.
source "$(dirname "$0")/lib.sh"
node=$(worker 7)
taint=nodeguard.io/test-cap=full:NoSchedule
k taint node "$node" "$taint" >/dev/null
on_exit_do k taint node "$node" "${taint%%=*}:NoSchedule-"
ns=$(new_namespace taint)
deployment "$ns" web 60
eventually 120 "60 pods Running" running_at_least "$ns" 60
on_node=$(pods_of "$ns" | awk -v n="$node" '$3 == n' | wc -l)
say "pods on tainted $node: $on_node of 60"
assert_eq "$on_node" 0 "pods scheduled onto the tainted node"
# Control: without the taint the same node does get pods.
k taint node "$node" "${taint%%=*}:NoSchedule-" >/dev/null
k -n "$ns" scale deployment web --replicas=100 >/dev/null
eventually 120 "100 pods Running" running_at_least "$ns" 100
on_node=$(pods_of "$ns" | awk -v n="$node" '$3 == n' | wc -l)
say "pods on $node once untainted: $on_node"
[ "$on_node" -gt 0 ] || fail "the untainted node got no pods: the check above proves nothing"

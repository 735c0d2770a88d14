#!/usr/bin/env bash
# A Deployment of 100 replicas is scheduled by the real scheduler across the
# simulated nodes, and kwok runs the pods.
source "$(dirname "$0")/lib.sh"
ns=$(new_namespace deploy)
deployment "$ns" web 100
eventually 120 "100 pods Running" running_at_least "$ns" 100
nodes=$(pods_of "$ns" | awk '$2 == "Running" {print $3}' | sort -u | wc -l)
say "100 pods Running on $nodes nodes"
# Default scoring (least allocated, topology spread by hostname) spreads them.
[ "$nodes" -ge 15 ] || fail "want the pods spread over >= 15 nodes, got $nodes"
pods_of "$ns" | awk '$3 !~ /^worker-/ {bad = 1} END {exit bad}' || fail "a pod is not on a simulated worker"
# Deleted pods are finalized by kwok (as a kubelet would) and disappear.
k -n "$ns" scale deployment web --replicas=10 >/dev/null
eventually 60 "scaled down to 10 pods" pod_count_is "$ns" 10

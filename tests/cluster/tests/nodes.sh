#!/usr/bin/env bash
# The fixture's 20 simulated workers are Ready, untainted, look like the
# incident's nodes, and kwok keeps renewing their leases.
source "$(dirname "$0")/lib.sh"
rows=$(k get nodes -l type=kwok,node-role.kubernetes.io/worker -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.status.capacity.cpu} {.status.capacity.memory} {.status.capacity.pods} {.status.nodeInfo.bootID} {.status.nodeInfo.containerRuntimeVersion} {.status.nodeInfo.kubeletVersion} {.spec.taints}{"\n"}{end}')
count=$(grep -c . <<<"$rows" || true)
say "$count simulated workers"
[ "$count" -ge 20 ] || fail "want at least 20 simulated workers, have $count"
uuid='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
while read -r name ready cpu mem pods boot runtime kubelet taints; do
  assert_eq "$ready" True "$name Ready"
  assert_eq "$cpu/$mem/$pods" 8/32Gi/110 "$name capacity cpu/memory/pods"
  [[ $boot =~ $uuid ]] || fail "$name bootID '$boot' is not a UUID"
  [[ $runtime == containerd://1.7.* ]] || fail "$name runtime '$runtime'"
  assert_eq "$kubelet" "$KUBERNETES_VERSION" "$name kubeletVersion"
  assert_eq "${taints:-}" "" "$name taints"
done <<<"$rows"
# Liveness is the lease, renewed every ~5s by kwok.
node=$(worker 1)
before=$(lease_renew_time "$node")
eventually 15 "lease of $node renewed" lease_renewed_since "$node" "$before"
say "lease of $node renewed after $before"

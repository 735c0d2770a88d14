#!/usr/bin/env bash
# The Eviction API refuses (HTTP 429) to evict a pod whose PodDisruptionBudget
# allows no disruption, and accepts (201) once the budget allows one. An
# evicted pod on a PLEG-sick node stays until the node heals.
source "$(dirname "$0")/lib.sh"
ns=$(new_namespace evict)
deployment "$ns" guarded 3
eventually 60 "3 pods Running" running_at_least "$ns" 3
k -n "$ns" create poddisruptionbudget guarded --selector=app=guarded --min-available=3 >/dev/null
budget_is() { [ "$(k -n "$ns" get pdb guarded -o jsonpath='{.status.observedGeneration}/{.status.currentHealthy}/{.status.disruptionsAllowed}')" = "$1" ]; }
eventually 30 "PDB observed: 3 healthy, 0 disruptions allowed" budget_is 1/3/0

# Talk to the API server directly, with the kubeconfig's client certificate.
tmp=$(mktemp -d)
on_exit_do rm -rf "$tmp"
k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$tmp/ca.crt"
k config view --raw --minify -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >"$tmp/client.crt"
k config view --raw --minify -o jsonpath='{.users[0].user.client-key-data}' | base64 -d >"$tmp/client.key"
server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
evict() {
  local pod=$1
  curl -sS -o "$tmp/body" -w '%{http_code}' --cacert "$tmp/ca.crt" --cert "$tmp/client.crt" --key "$tmp/client.key" \
    -H 'Content-Type: application/json' -X POST \
    --data "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"$pod\",\"namespace\":\"$ns\"}}" \
    "$server/api/v1/namespaces/$ns/pods/$pod/eviction"
}
pod=$(pods_of "$ns" | awk 'NR == 1 {print $1}')
code=$(evict "$pod")
say "eviction of $pod: HTTP $code: $(python3 -c 'import json,sys; print(json.load(sys.stdin).get("message"))' <"$tmp/body")"
assert_eq "$code" 429 "HTTP status of an eviction the PDB forbids"
grep -q '"reason": *"TooManyRequests"' "$tmp/body" || fail "no TooManyRequests reason: $(cat "$tmp/body")"
assert_eq "$(k -n "$ns" get pod "$pod" -o jsonpath='{.metadata.deletionTimestamp}')" "" "deletionTimestamp of the refused pod"

# Control: with one disruption allowed the same request succeeds.
k -n "$ns" patch pdb guarded --type merge -p '{"spec":{"minAvailable":2}}' >/dev/null
eventually 30 "PDB allows 1 disruption" budget_is 2/3/1
code=$(evict "$pod")
assert_eq "$code" 201 "HTTP status of an eviction the PDB allows"
eventually 30 "evicted pod gone" eval "! k -n $ns get pod $pod >/dev/null 2>&1"
say "allowed eviction: HTTP 201, pod removed"

# On a node whose runtime froze (sim pleg-sick) the API server still accepts
# an eviction (the PDB allows one), but nobody finalizes the pod: it stays,
# deletionTimestamp set and Running, until the node heals, as behind a real
# frozen runtime. A drain that waits for it waits until then.
node=$(worker 6)
restore_node "$node"
k -n "$ns" run frozen --image=registry.k8s.io/pause:3.10 --restart=Never \
  --overrides="{\"spec\":{\"nodeName\":\"$node\",\"terminationGracePeriodSeconds\":5}}" >/dev/null
eventually 30 "pod frozen Running on $node" eval "[ \"\$(k -n $ns get pod frozen -o jsonpath='{.status.phase}')\" = Running ]"
sim pleg-sick "$node"
code=$(evict frozen)
assert_eq "$code" 201 "HTTP status of an eviction from a PLEG-sick node"
[ -n "$(k -n "$ns" get pod frozen -o jsonpath='{.metadata.deletionTimestamp}')" ] || fail "no deletionTimestamp on the evicted pod"
sleep 5
assert_eq "$(k -n "$ns" get pod frozen -o jsonpath='{.status.phase}')" Running "phase of the evicted pod on the sick node, 5 s later"
say "evicted from the PLEG-sick $node: still there, Terminating and Running"
sim heal "$node"
eventually 30 "the evicted pod finalized after heal" eval "! k -n $ns get pod frozen >/dev/null 2>&1"
say "healed: the evicted pod is gone"

#!/usr/bin/env bash
# Several clusters at once (issue 3: ports and names are not fixed, so parallel
# test runs do not collide): a second, control-plane-only cluster with another
# name starts while the fixture's cluster runs; the two have distinct ports
# (their cluster.env), both answer /readyz, each sees its own nodes; stopping
# the second leaves the fixture's cluster healthy. The second cluster is
# stopped and removed on any exit, also when the test fails or is killed.
source "$(dirname "$0")/lib.sh"
cluster_dir=$(cd "$(dirname "$0")/.." && pwd)
# The second cluster lives under its own name, never in a directory meant for
# another cluster.
unset NODEGUARD_CLUSTER_DIR NODEGUARD_CLUSTER_NAME
# EXIT runs lib.sh's cleanups; a signal (ctest's timeout) must end in an exit too.
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

fixture_state=$(cat "${NODEGUARD_CLUSTER_FIXTURE_DIR:?}/state-dir")
[ -f "$fixture_state/cluster.env" ] || fail "no cluster.env in the fixture's state $fixture_state"
fixture_name=$(sed -n 's/^NODEGUARD_CLUSTER_NAME=//p' "$fixture_state/cluster.env")
second="second-$$-$RANDOM"
[ "$second" != "$fixture_name" ] || fail "the second cluster got the fixture's name"

on_exit_do "$cluster_dir/down" --name "$second"
say "starting cluster '$second' (control plane only) next to '$fixture_name'"
start=$(date +%s)
second_kubeconfig=$("$cluster_dir/up" --name "$second" | tail -n 1)
say "'$second' up in $(($(date +%s) - start))s"
second_state=$(dirname "$second_kubeconfig")
[ "$second_state" != "$fixture_state" ] || fail "both clusters use the state $second_state"

# Distinct ports: every *PORT of one cluster.env differs from every one of the other.
ports_of() { sed -n 's/^[A-Z_]*PORT=\([0-9]*\)$/\1/p' "$1/cluster.env" | sort -n; }
fixture_ports=$(ports_of "$fixture_state")
second_ports=$(ports_of "$second_state")
[ "$(echo "$fixture_ports" | wc -l)" -eq 6 ] || fail "fixture cluster.env ports: $fixture_ports"
[ "$(echo "$second_ports" | wc -l)" -eq 6 ] || fail "second cluster.env ports: $second_ports"
shared=$(comm -12 <(echo "$fixture_ports") <(echo "$second_ports"))
[ -z "$shared" ] || fail "the clusters share ports: $shared"
say "ports: '$fixture_name' $(echo $fixture_ports), '$second' $(echo $second_ports)"
fixture_url=$(sed -n 's/^APISERVER_URL=//p' "$fixture_state/cluster.env")
second_url=$(sed -n 's/^APISERVER_URL=//p' "$second_state/cluster.env")
[ "$fixture_url" != "$second_url" ] || fail "both API servers at $fixture_url"

# Both healthy, each its own cluster: the fixture has its 20 workers, the
# second none (control plane only).
readyz() { k --kubeconfig "$1" get --raw /readyz; }
assert_eq "$(readyz "$KUBECONFIG")" ok "fixture /readyz"
assert_eq "$(readyz "$second_kubeconfig")" ok "second /readyz"
assert_eq "$(k --kubeconfig "$second_kubeconfig" get nodes -o name | grep -c . || true)" 0 \
  "nodes of the second cluster"
fixture_nodes=$(k get nodes -l type=kwok -o name | grep -c .)
[ "$fixture_nodes" -ge 20 ] || fail "the fixture has $fixture_nodes nodes, want 20"
say "both answer /readyz ok; '$fixture_name' has $fixture_nodes nodes, '$second' none"

# Stop the second: its processes end, the fixture's keep running and serving.
second_pids=$(cat "$second_state"/pids/*.pid)
fixture_pids=$(cat "$fixture_state"/pids/*.pid)
lease_before=$(lease_renew_time "$(worker 1)")
"$cluster_dir/down" --name "$second"
[ ! -d "$second_state" ] || fail "down left $second_state"
# Gone or a zombie (exited; its new parent has not reaped it yet).
running() { [ -n "$(ps -o stat= -p "$1" | grep -v '^Z')" ]; }
for pid in $second_pids; do
  ! running "$pid" || fail "process $pid of '$second' still runs after down: $(ps -o args= -p "$pid")"
done
for c in "${NODEGUARD_COMPONENTS[@]}"; do
  ng_pid_alive "$fixture_state" "$c" || fail "the fixture's $c died when '$second' went down"
done
assert_eq "$(cat "$fixture_state"/pids/*.pid)" "$fixture_pids" "the fixture's component PIDs"
assert_eq "$(readyz "$KUBECONFIG")" ok "fixture /readyz after down of '$second'"
# Still working, not just up: kwok renews the leases, every node stays Ready.
eventually 30 "the fixture's node leases renewed" lease_renewed_since "$(worker 1)" "$lease_before"
not_ready=$(k get nodes -l type=kwok -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | awk '$2 != "True"')
[ -z "$not_ready" ] || fail "fixture nodes not Ready after down of '$second': $not_ready"
say "'$second' stopped and removed; '$fixture_name' healthy: components alive, /readyz ok, leases renewing, $fixture_nodes nodes Ready"

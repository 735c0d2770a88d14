#!/usr/bin/env bash
# The install manifests against the local cluster (fixture "cluster"):
#  1. `kubectl kustomize manifests/` renders; static checks of what it renders
#     (check_rendered.py install): hardening, probes, resources, RBAC without
#     wildcards or Secrets, image tag = project version.
#  2. The monitoring component renders; its PrometheusRule has the expected
#     groups and alerts, reads only the documented metrics contract, and passes
#     `promtool check rules` and the alert unit tests in alerts_test.yaml
#     (promtool built from the Go module proxy and cached by get-promtool.sh,
#     which `make test` runs first; without it the test fails).
#  3. `kubectl apply --server-side -k manifests/` is accepted, then the
#     monitoring objects too, against the Prometheus Operator's own CRDs
#     (from its Go module), so their schemas validate our objects.
#  4. RBAC: `kubectl auth can-i` for what each service account must be
#     allowed and must not be, and the complete rule list of each account
#     compared with the expected one (nothing wider).
#  5. The agent's ValidatingAdmissionPolicy with a real pod-bound token of the
#     agent's service account: its own node's nodeguard.io/agent-status and
#     nodeguard.io/early-warning only.
# Everything it creates is removed at exit; the NodeHealthPolicy CRD only if
# it was not there before.
source "$(dirname "$0")/../../cluster/tests/lib.sh"
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
on_exit_do rm -rf "$work"
failures=0
bad() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# --- 1. render and static checks --------------------------------------------
say "rendering manifests/"
render_manifests "$work/install.yaml"
python3 "$here/check_rendered.py" install "$work/install.yaml" "$NG_REPO" || bad "static checks of manifests/"

# --- 2. monitoring component and alert rules --------------------------------
say "rendering manifests/ with the monitoring component"
mkdir -p "$work/overlay"
render_with_monitoring "$work/overlay" "$work/monitoring.yaml"
python3 "$here/check_rendered.py" monitoring "$work/monitoring.yaml" "$NG_REPO" "$work/rules.yaml" ||
  bad "checks of the PrometheusRule"
# NODEGUARD_PROMTOOL: a promtool to use, or "build" to build (and cache) one
# now with get-promtool.sh (minutes the first time). Default: the one
# get-promtool.sh cached (`make test` and `make promtool` build it). No
# promtool is a failure: the alert rules and their unit tests are this test's
# point, and a test that skips them cannot fail.
promtool=${NODEGUARD_PROMTOOL:-cached}
case $promtool in
  cached) promtool=$("$here/get-promtool.sh" --cached | tail -1) || promtool="" ;;
  build) promtool=$("$here/get-promtool.sh" | tail -1) || promtool="" ;;
esac
[ -n "$promtool" ] && [ -x "$promtool" ] ||
  fail "no promtool (NODEGUARD_PROMTOOL=${NODEGUARD_PROMTOOL:-cached}): build it with 'make promtool' (tests/integration/manifests/get-promtool.sh)"
say "promtool check rules / test rules ($("$promtool" --version 2>&1 | head -1))"
"$promtool" check rules "$work/rules.yaml" || bad "promtool check rules"
cp "$here/alerts_test.yaml" "$work/alerts_test.yaml"
(cd "$work" && "$promtool" test rules alerts_test.yaml) || bad "promtool test rules (alerts_test.yaml)"

# --- 3. apply ---------------------------------------------------------------
had_crd=0
crd_exists nodehealthpolicies.nodeguard.io && had_crd=1
select_kinds "$work/install.yaml" "$work/remove.yaml" Namespace ServiceAccount ClusterRole \
  ClusterRoleBinding Role RoleBinding Deployment PodDisruptionBudget Service DaemonSet \
  ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding FlowSchema PriorityLevelConfiguration
on_exit_do k delete -f "$work/remove.yaml" --ignore-not-found --wait=true --timeout=90s
if [ "$had_crd" -eq 0 ]; then
  on_exit_do '[ -z "$(k get nodehealthpolicies -o name 2>/dev/null)" ] && k delete crd nodehealthpolicies.nodeguard.io --ignore-not-found'
fi

say "kubectl apply -k manifests/"
k apply -k "$NG_REPO/manifests" || fail "kubectl apply -k manifests/ was refused"
# Re-applying server-side (what install.md recommends), also by another field
# manager such as a GitOps tool, must not conflict with the API server's
# defaults (atomic structs, defaulted fields).
k apply --server-side -k "$NG_REPO/manifests" >/dev/null || bad "server-side apply after apply conflicts"
k apply --server-side --field-manager=nodeguard-test -k "$NG_REPO/manifests" >/dev/null ||
  bad "server-side apply by a second manager conflicts"
eventually 60 "the admission policy type-checks" \
  sh -c "'$KUBECTL' get validatingadmissionpolicy nodeguard-agent-own-node -o jsonpath='{.status.observedGeneration}' | grep -qx 1"
warnings=$(k get validatingadmissionpolicy nodeguard-agent-own-node -o jsonpath='{.status.typeChecking.expressionWarnings}')
[ -z "$warnings" ] || bad "type-checking warnings in the admission policy: $warnings"

# The Prometheus Operator's CRDs, from its Go module (cached by Go).
readonly PROMETHEUS_OPERATOR_VERSION=v0.85.0
if moddir=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json \
  "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'); then
  crds=$moddir/example/prometheus-operator-crd
  for r in servicemonitors prometheusrules; do
    if ! crd_exists "$r.monitoring.coreos.com"; then
      k apply --server-side -f "$crds/monitoring.coreos.com_$r.yaml" >/dev/null || fail "could not install the $r CRD"
      on_exit_do k delete crd "$r.monitoring.coreos.com" --ignore-not-found
    fi
    k wait --for condition=Established --timeout 60s "crd/$r.monitoring.coreos.com" >/dev/null
  done
  select_kinds "$work/monitoring.yaml" "$work/monitoring-only.yaml" ServiceMonitor PrometheusRule ConfigMap
  on_exit_do k delete -f "$work/monitoring-only.yaml" --ignore-not-found
  say "applying the ServiceMonitor and PrometheusRule (Prometheus Operator $PROMETHEUS_OPERATOR_VERSION CRDs)"
  k apply --server-side --field-manager=nodeguard-test -f "$work/monitoring-only.yaml" ||
    bad "the monitoring objects were refused"
else
  cannot_set_up "the Prometheus Operator module could not be downloaded; monitoring objects not applied"
fi

# The workloads are accepted and (kwok plays the kubelet) scheduled: the
# agent on every node, whatever its taints.
eventually 90 "the controller Deployment available" \
  "$KUBECTL" -n "$NG_NAMESPACE" rollout status deployment/nodeguard-controller --timeout=5s
nodes=$(k get nodes -o name | wc -l)
eventually 90 "an agent pod on each of the $nodes nodes" sh -c \
  "[ \"\$('$KUBECTL' -n $NG_NAMESPACE get daemonset nodeguard-agent -o jsonpath='{.status.numberAvailable}')\" = $nodes ]"

# --- 4. RBAC ----------------------------------------------------------------
controller=system:serviceaccount:$NG_NAMESPACE:nodeguard-controller
agent=system:serviceaccount:$NG_NAMESPACE:nodeguard-agent

# can USER yes|no VERB RESOURCE [kubectl auth can-i flags...]
can() {
  local user=$1 want=$2 verb=$3 res=$4 got
  shift 4
  got=$(k auth can-i "$verb" "$res" --as="$user" "$@" 2>/dev/null) || true
  if [ "$got" != "$want" ]; then
    bad "${user##*:} can-i $verb $res $*: got '$got', want '$want'"
  fi
}

# sar USER yes|no VERB GROUP RESOURCE NAMESPACE: a SubjectAccessReview, for
# resources whose CRD is not installed (kubectl auth can-i cannot map those to
# their API group: it would ask about group "").
sar() {
  local user=$1 want=$2 verb=$3 group=$4 res=$5 ns=$6 got
  got=$(k create -o jsonpath='{.status.allowed}' -f - <<EOF
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec:
  user: $user
  groups: [system:serviceaccounts, "system:serviceaccounts:$NG_NAMESPACE", system:authenticated]
  resourceAttributes: {group: $group, resource: $res, verb: $verb, namespace: "$ns"}
EOF
  )
  [ "$got" = true ] && got=yes || got=no
  [ "$got" = "$want" ] || bad "${user##*:} may $verb $group/$res in '$ns': got '$got', want '$want'"
}

say "auth can-i: the controller"
for v in get list watch patch; do can "$controller" yes "$v" nodes; done
for v in get list watch patch; do can "$controller" yes "$v" pods -A; done
can "$controller" yes create pods --subresource=eviction -n default
can "$controller" yes create pods --subresource=eviction -n team-a
for v in list watch; do can "$controller" yes "$v" poddisruptionbudgets.policy -A; done
for v in create list patch; do can "$controller" yes "$v" events -n default; done
for v in get list watch patch update; do can "$controller" yes "$v" nodehealthpolicies.nodeguard.io; done
for v in get patch update; do can "$controller" yes "$v" nodehealthpolicies.nodeguard.io --subresource=status; done
can "$controller" yes update nodehealthpolicies.nodeguard.io --subresource=finalizers
can "$controller" yes create leases.coordination.k8s.io -n "$NG_NAMESPACE"
for v in get update; do can "$controller" yes "$v" leases.coordination.k8s.io/nodeguard-controller -n "$NG_NAMESPACE"; done
for v in get list watch create update patch delete; do sar "$controller" yes "$v" wgpolicyk8s.io policyreports team-a; done
sar "$controller" no get wgpolicyk8s.io clusterpolicyreports ""
# ... and nothing it does not need.
for ns in "$NG_NAMESPACE" default kube-system; do
  for v in get list watch; do can "$controller" no "$v" secrets -n "$ns"; done
done
can "$controller" no get configmaps -n "$NG_NAMESPACE"
for v in create update delete deletecollection; do can "$controller" no "$v" nodes; done
for v in update patch; do can "$controller" no "$v" nodes --subresource=status; done
for v in create update delete deletecollection; do can "$controller" no "$v" pods -n default; done
can "$controller" no update pods --subresource=status -n default
can "$controller" no create pods --subresource=exec -n default
can "$controller" no delete events -n default
can "$controller" no update leases.coordination.k8s.io/other -n "$NG_NAMESPACE"
can "$controller" no create leases.coordination.k8s.io -n kube-node-lease
can "$controller" no update leases.coordination.k8s.io/worker-01 -n kube-node-lease
for v in create delete; do can "$controller" no "$v" nodehealthpolicies.nodeguard.io; done
can "$controller" no create poddisruptionbudgets.policy -n default
can "$controller" no patch deployments.apps -n default
can "$controller" no delete daemonsets.apps -n "$NG_NAMESPACE"
can "$controller" no create serviceaccounts --subresource=token -n "$NG_NAMESPACE"
can "$controller" no create customresourcedefinitions.apiextensions.k8s.io
can "$controller" no escalate clusterroles.rbac.authorization.k8s.io
can "$controller" no bind clusterroles.rbac.authorization.k8s.io
can "$controller" no impersonate users

say "auth can-i: the agent"
for v in get list watch patch; do can "$agent" yes "$v" nodes; done
for v in get list; do can "$agent" no "$v" secrets -n "$NG_NAMESPACE"; done
for v in create update delete; do can "$agent" no "$v" nodes; done
for v in update patch; do can "$agent" no "$v" nodes --subresource=status; done
for v in get list watch patch delete; do can "$agent" no "$v" pods -n default; done
can "$agent" no create pods --subresource=eviction -n default
can "$agent" no create events -n default
can "$agent" no get leases.coordination.k8s.io -n "$NG_NAMESPACE"
can "$agent" no update leases.coordination.k8s.io/worker-01 -n kube-node-lease
can "$agent" no get nodehealthpolicies.nodeguard.io
can "$agent" no patch nodehealthpolicies.nodeguard.io

# The complete list of what each account may do on resources (apart from
# what every authenticated user may), so a rule added later cannot widen it
# unnoticed: update the expectation here and the reasons in rbac.yaml.
# expect_rules USER NAMESPACE < "resource|resourceNames|verbs" lines
expect_rules() {
  local user=$1 ns=$2 got want
  want=$(sort)
  got=$(k auth can-i --list --as="$user" -n "$ns" | python3 -c '
import re, sys
for line in sys.stdin.readlines()[1:]:
    m = re.match(r"^(\S+)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]\s*$", line)
    if not m or m.group(1).startswith("selfsubject"):
        continue
    print("|".join([m.group(1), m.group(3), " ".join(sorted(m.group(4).split()))]))
' | sort)
  if [ "$got" != "$want" ]; then
    bad "the rules of ${user##*:} in namespace $ns differ from the expected ones"
    diff <(echo "$want") <(echo "$got") | sed 's/^/    (< want, > got) /' >&2 || true
  fi
}
say "auth can-i --list: nothing wider than expected"
controller_cluster_rules='events||create list patch
nodehealthpolicies.nodeguard.io/finalizers||update
nodehealthpolicies.nodeguard.io/status||get patch update
nodehealthpolicies.nodeguard.io||get list patch update watch
nodes||get list patch watch
poddisruptionbudgets.policy||list watch
pods/eviction||create
pods||get list patch watch
policyreports.wgpolicyk8s.io||create delete get list patch update watch'
expect_rules "$controller" default <<<"$controller_cluster_rules"
expect_rules "$controller" "$NG_NAMESPACE" <<EOF
$controller_cluster_rules
leases.coordination.k8s.io||create
leases.coordination.k8s.io|nodeguard-controller|get update
EOF
agent_rules='nodes/metrics||get
nodes||get list patch watch'
expect_rules "$agent" default <<<"$agent_rules"
expect_rules "$agent" "$NG_NAMESPACE" <<<"$agent_rules"

# --- 5. the agent's admission policy, with a real pod-bound token -----------
say "the agent's admission policy, with the token of a running agent pod"
read -r pod own_node <<<"$(k -n "$NG_NAMESPACE" get pods -l app.kubernetes.io/component=agent \
  -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}' | sort -k2 | head -1)"
[ -n "$own_node" ] || fail "no agent pod bound to a node"
other_node=$(k get nodes -o name | sed 's#^node/##' | grep -vxF "$own_node" | head -1)
[ -n "$other_node" ] || fail "the cluster needs two nodes"
token_kubeconfig "$work/agent.kubeconfig" nodeguard-agent "$pod"
on_exit_do k annotate node "$own_node" nodeguard.io/agent-status- nodeguard.io/early-warning- nodeguard.io/test-
as_agent() { "$KUBECTL" --kubeconfig "$work/agent.kubeconfig" "$@"; }

whoami=$(as_agent auth whoami -o jsonpath='{.status.userInfo.extra.authentication\.kubernetes\.io/node-name[0]}')
assert_eq "$whoami" "$own_node" "node name in the agent pod's token"

# allowed CMD...: must succeed; denied PATTERN CMD...: must fail with PATTERN in stderr.
allowed() { as_agent "$@" >/dev/null 2>"$work/err" || bad "agent denied: $* ($(cat "$work/err"))"; }
denied() {
  local pattern=$1
  shift
  if as_agent "$@" >/dev/null 2>"$work/err"; then
    bad "agent allowed: $*"
  elif ! grep -q -- "$pattern" "$work/err"; then
    bad "agent denied for another reason than '$pattern': $* ($(cat "$work/err"))"
  fi
}
status='{"id":"test-1","state":"Done"}'
allowed annotate node "$own_node" "nodeguard.io/agent-status=$status" --overwrite
assert_eq "$(k get node "$own_node" -o jsonpath='{.metadata.annotations.nodeguard\.io/agent-status}')" "$status" \
  "agent-status written by the agent"
early='{"level":"Healthy","since":"2026-12-07T10:43:18Z","observedAt":"2026-12-07T10:43:18Z"}'
allowed annotate node "$own_node" "nodeguard.io/early-warning=$early" --overwrite
assert_eq "$(k get node "$own_node" -o jsonpath='{.metadata.annotations.nodeguard\.io/early-warning}')" "$early" \
  "early-warning written by the agent"
allowed get node "$own_node"
allowed get nodes --field-selector "metadata.name=$own_node"
denied "may not change node $other_node" annotate node "$other_node" "nodeguard.io/agent-status=$status" --overwrite
denied "may not change node $other_node" annotate node "$other_node" "nodeguard.io/early-warning=$early" --overwrite
denied "only the nodeguard.io/agent-status and nodeguard.io/early-warning annotations" annotate node "$own_node" nodeguard.io/remediation=x
denied "only the nodeguard.io/agent-status and nodeguard.io/early-warning annotations" annotate node "$own_node" nodeguard.io/test=x
denied "labels" label node "$own_node" nodeguard.io/test=x
denied "spec" patch node "$own_node" -p '{"spec":{"unschedulable":true}}'
denied "spec" taint node "$own_node" nodeguard.io/test=x:NoSchedule
denied "forbidden" delete node "$own_node" --wait=false
denied "forbidden" patch node "$own_node" --subresource=status -p '{"status":{"phase":"Running"}}'
denied "forbidden" get pods -A
# An impersonated agent without a node in its credentials is refused too.
k annotate node "$own_node" nodeguard.io/test=x >/dev/null
if k --as="$agent" annotate node "$own_node" "nodeguard.io/agent-status=$status" --overwrite >/dev/null 2>"$work/err"; then
  bad "an agent credential without a node name was allowed"
else
  grep -q "names no node" "$work/err" || bad "unexpected denial: $(cat "$work/err")"
fi
# The admin (anyone but the agent) is not affected by the policy.
k annotate node "$own_node" nodeguard.io/test- >/dev/null || bad "the policy hit another user"

[ "$failures" -eq 0 ] || fail "$failures checks failed"
say "PASS"

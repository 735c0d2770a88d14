#!/usr/bin/env bash
# The Helm chart (manifests/charts/nodeguard) with the real helm binary (get-helm.sh,
# built from the Go module proxy and cached), on a cluster of its own (the
# chart's cluster-scoped objects have the kustomize install's names, which
# manifests.install applies to the fixture's cluster):
#  1. `helm lint --strict`, and the chart's version and appVersion are the
#     project's (CMakeLists.txt).
#  2. `helm template` with default values renders exactly the objects
#     `kubectl kustomize manifests/` renders (compare_rendered.py lists the
#     allowed differences: the Namespace, Helm's own labels); with the
#     monitoring values on, exactly manifests/ plus its monitoring component;
#     with agent.earlyWarning.enabled, exactly manifests/ with the DaemonSet
#     patch docs/install.md gives for --early-warning.
#  3. values.schema.json refuses bad values with a message naming the value.
#  4. `helm install --wait` into the cluster: every object created, the
#     workloads rolled out (kwok plays their pods: the image cannot be pulled
#     here), and the controller itself, run as a local process with a real
#     token of the chart's service account, reaches Ready and leads: the
#     chart's RBAC and FlowSchemas are enough for it.
#  5. `helm upgrade` with a value changed (extra controller args) changes the
#     Deployment; `helm uninstall` removes every object but the CRD (Helm
#     never deletes crds/), and the release is gone.
#
# Usage: helm_test.sh --nodeguard PATH --cluster NAME [--keep]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
nodeguard="" cluster="" keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --nodeguard) nodeguard=$2; shift 2 ;;
    --cluster) cluster=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$nodeguard" ] && [ -n "$cluster" ] || { echo "usage: helm_test.sh --nodeguard PATH --cluster NAME" >&2; exit 2; }
helm=$("$here/get-helm.sh" --cached | tail -1) || helm=""
[ -x "$helm" ] || { echo "FAIL: no helm: build it with 'make helm' (tests/integration/helm/get-helm.sh)" >&2; exit 1; }

KUBECONFIG=$("$repo/tests/cluster/up" --name "$cluster" --nodes 1 | tail -1)
export KUBECONFIG
source "$repo/tests/cluster/tests/lib.sh"
source "$repo/tests/integration/manifests/lib.sh"
[ "$keep" -eq 1 ] || on_exit_do "'$repo/tests/cluster/down' --name '$cluster'"
work=$(mktemp -d)
on_exit_do rm -rf "$work"
chart=$repo/manifests/charts/nodeguard
ns=nodeguard-system
release=nodeguard
failures=0
bad() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
h() { "$helm" --kubeconfig "$KUBECONFIG" "$@"; }
say "helm $("$helm" version --short)"

# --- 1. lint, versions -------------------------------------------------------
h lint --strict "$chart" || bad "helm lint --strict"
version=$(sed -n 's/.*project(nodeguard VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
grep -qx "version: $version" "$chart/Chart.yaml" || bad "Chart.yaml version is not the project's $version"
grep -qx "appVersion: \"$version\"" "$chart/Chart.yaml" || bad "Chart.yaml appVersion is not the project's $version"

# --- 2. the same objects as kustomize ----------------------------------------
render_manifests "$work/kustomize.yaml"
h template "$release" "$chart" --namespace "$ns" --include-crds >"$work/helm.yaml" || fail "helm template failed"
python3 "$here/compare_rendered.py" "$work/kustomize.yaml" "$work/helm.yaml" ||
  bad "the chart's default objects differ from manifests/"
mkdir -p "$work/overlay"
render_with_monitoring "$work/overlay" "$work/kustomize-monitoring.yaml"
h template "$release" "$chart" --namespace "$ns" --include-crds \
  --set monitoring.serviceMonitor.enabled=true --set monitoring.prometheusRule.enabled=true \
  --set monitoring.dashboard.enabled=true \
  >"$work/helm-monitoring.yaml" || fail "helm template with monitoring failed"
python3 "$here/compare_rendered.py" "$work/kustomize-monitoring.yaml" "$work/helm-monitoring.yaml" ||
  bad "the chart's objects with monitoring differ from manifests/ with its monitoring component"
mkdir -p "$work/early"
render_with_early_warning "$work/early" "$work/kustomize-early.yaml"
h template "$release" "$chart" --namespace "$ns" --include-crds --set agent.earlyWarning.enabled=true \
  >"$work/helm-early.yaml" || fail "helm template with early warning failed"
python3 "$here/compare_rendered.py" "$work/kustomize-early.yaml" "$work/helm-early.yaml" ||
  bad "the chart's objects with agent.earlyWarning.enabled differ from manifests/ with docs/install.md's patch"
mkdir -p "$work/notify"
render_with_notifications "$work/notify" "$work/kustomize-notify.yaml"
grep -q -- "--notifications-config=/etc/nodeguard/notifications/notifications.yaml" \
  "$work/kustomize-notify.yaml" || bad "the notifications component passes no --notifications-config"
h template "$release" "$chart" --namespace "$ns" --include-crds --set notifications.enabled=true \
  >"$work/helm-notify.yaml" || fail "helm template with notifications failed"
python3 "$here/compare_rendered.py" "$work/kustomize-notify.yaml" "$work/helm-notify.yaml" ||
  bad "the chart's objects with notifications.enabled differ from manifests/ with its notifications component"

# --- 3. the values schema ----------------------------------------------------
refused() { # VALUE... : helm template must fail, naming the first value's key
  local out
  if out=$(h template "$release" "$chart" --namespace "$ns" "$@" 2>&1); then
    bad "helm template accepted $*"
  elif ! grep -q "values don't meet the specifications of the schema" <<<"$out"; then
    bad "helm template refused $* but not by the schema: $out"
  else
    say "refused $*: $(grep -m1 -E 'at |/' <<<"$out" | sed 's/^ *//')"
  fi
}
refused --set logFormat=xml
refused --set controller.replicas=0
refused --set image.pullPolicy=Sometimes
refused --set flowControl.lendablePercent=101
refused --set controller.unknownKey=1
refused --set notifications.secretName=
refused --set agent.earlyWarning.kubeletPort=0

# --- 4. install --------------------------------------------------------------
k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
# The agent is privileged: the namespace must allow it (docs/install.md).
k label namespace "$ns" --overwrite pod-security.kubernetes.io/enforce=privileged >/dev/null
on_exit_do "'$helm' --kubeconfig '$KUBECONFIG' uninstall $release --namespace $ns --wait >/dev/null 2>&1 || true"
say "helm install"
h install "$release" "$chart" --namespace "$ns" --wait --timeout 180s || fail "helm install failed"
status=$(h status "$release" --namespace "$ns" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["info"]["status"])')
[ "$status" = deployed ] || bad "the release is $status, not deployed"
for kind_name in deployment/nodeguard-controller daemonset/nodeguard-agent service/nodeguard-controller-metrics \
  poddisruptionbudget/nodeguard-controller serviceaccount/nodeguard-controller serviceaccount/nodeguard-agent \
  role/nodeguard-leader-election rolebinding/nodeguard-leader-election; do
  k -n "$ns" get "$kind_name" >/dev/null || bad "$kind_name not installed"
done
for kind_name in clusterrole/nodeguard-controller clusterrole/nodeguard-agent \
  clusterrolebinding/nodeguard-controller clusterrolebinding/nodeguard-agent \
  validatingadmissionpolicy/nodeguard-agent-own-node validatingadmissionpolicybinding/nodeguard-agent-own-node \
  flowschema/nodeguard flowschema/nodeguard-leader-election prioritylevelconfiguration/nodeguard \
  crd/nodehealthpolicies.nodeguard.io; do
  k get "$kind_name" >/dev/null || bad "$kind_name not installed"
done

# The controller itself, as the chart's service account would run it.
token_kubeconfig "$work/controller.kubeconfig" nodeguard-controller
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
probe_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$nodeguard" controller --kubeconfig "$work/controller.kubeconfig" --leader-elect=true \
  --leader-election-namespace "$ns" --leader-election-id nodeguard-controller --identity helm-test \
  --metrics-bind-address "127.0.0.1:$metrics_port" --health-probe-bind-address "127.0.0.1:$probe_port" \
  >"$work/controller.log" 2>&1 &
controller_pid=$!
on_exit_do "kill $controller_pid 2>/dev/null || true"
leading() { curl -fsS "http://127.0.0.1:$metrics_port/metrics" | grep -qx 'nodeguard_leader 1'; }
if eventually 60 "the controller Ready with the chart's service account" \
  curl -fsS "http://127.0.0.1:$probe_port/readyz" >/dev/null && eventually 60 "the controller leading" leading; then
  say "the controller is Ready and leads with the chart's RBAC"
else
  bad "the controller with the chart's service account did not become Ready and lead:
$(tail -20 "$work/controller.log")"
fi
if grep -q "Forbidden (403)" "$work/controller.log"; then
  bad "the controller was refused by RBAC: $(grep -m3 'Forbidden (403)' "$work/controller.log")"
fi
# SIGTERM: the controller releases its Lease and exits 0.
kill -TERM "$controller_pid"
if wait "$controller_pid"; then
  say "the controller exited 0 on SIGTERM"
else
  bad "the controller exited with $? on SIGTERM: $(tail -5 "$work/controller.log")"
fi

# --- 5. upgrade, uninstall ---------------------------------------------------
say "helm upgrade"
h upgrade "$release" "$chart" --namespace "$ns" --wait --timeout 180s \
  --set 'controller.extraArgs={--kube-api-qps=50,--kube-api-burst=100}' || bad "helm upgrade failed"
args=$(k -n "$ns" get deployment nodeguard-controller -o jsonpath='{.spec.template.spec.containers[0].args}')
grep -q -- '--kube-api-qps=50' <<<"$args" || bad "the upgrade did not reach the Deployment: $args"
[ "$(h history "$release" --namespace "$ns" -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] ||
  bad "the release does not have two revisions"
say "helm uninstall"
h uninstall "$release" --namespace "$ns" --wait --timeout 120s || bad "helm uninstall failed"
left=$(k get clusterrole,clusterrolebinding,flowschema,prioritylevelconfiguration,validatingadmissionpolicy,validatingadmissionpolicybinding -o name -l app.kubernetes.io/instance=$release 2>/dev/null)
left+=$(k -n "$ns" get all,serviceaccount,role,rolebinding,poddisruptionbudget -o name -l app.kubernetes.io/instance=$release 2>/dev/null)
[ -z "$left" ] || bad "helm uninstall left: $left"
k get crd nodehealthpolicies.nodeguard.io >/dev/null || bad "the CRD went with the release (Helm keeps crds/)"

[ "$failures" -eq 0 ] || fail "$failures check(s) failed"
say "PASS"

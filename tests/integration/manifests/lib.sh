# Helpers shared by the manifest test (tests/integration/manifests) and the
# image test (tests/image): rendering the install manifests, applying parts of
# them, and kubeconfigs that authenticate as a service account with a real
# token, so what is checked is what the API server grants that account.
#
# Sourced after tests/cluster/tests/lib.sh (k, say, fail, on_exit_do, ...).

NG_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
NG_NAMESPACE=nodeguard-system

# render_manifests OUT: `kubectl kustomize manifests/` into OUT.
render_manifests() {
  k kustomize "$NG_REPO/manifests" >"$1" || fail "kubectl kustomize manifests/ failed"
}

# render_with_component DIR OUT COMPONENT: an overlay in DIR with manifests/
# plus the kustomize component manifests/COMPONENT, rendered into OUT
# (kustomize wants relative paths).
render_with_component() {
  local dir=$1 out=$2 component=$3 rel
  rel=$(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$NG_REPO/manifests" "$dir")
  cat >"$dir/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [$rel]
components: [$rel/$component]
EOF
  k kustomize "$dir" >"$out" || fail "kubectl kustomize of manifests/ with $component/ failed"
}

# render_with_monitoring DIR OUT: manifests/ with the monitoring component.
render_with_monitoring() { render_with_component "$1" "$2" monitoring; }

# render_with_notifications DIR OUT: manifests/ with the notifications
# component (the Secret nodeguard-notifications mounted, the flag passed).
render_with_notifications() { render_with_component "$1" "$2" notifications; }

# render_with_early_warning DIR OUT: an overlay in DIR with manifests/ and the
# DaemonSet patch docs/install.md gives for --early-warning (the YAML block
# that targets the agent's DaemonSet), rendered into OUT.
render_with_early_warning() {
  local dir=$1 out=$2 rel
  rel=$(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$NG_REPO/manifests" "$dir")
  {
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%s]\npatches:\n' "$rel"
    python3 - "$NG_REPO/docs/install.md" <<'PY' || fail "no early-warning patch in docs/install.md"
import re, sys
blocks = re.findall(r"```yaml\n(.*?)```", open(sys.argv[1]).read(), re.S)
patch = [b for b in blocks if b.lstrip().startswith("- target: {kind: DaemonSet, name: nodeguard-agent}")]
if len(patch) != 1:
    sys.exit(1)
sys.stdout.write(patch[0])
PY
  } >"$dir/kustomization.yaml"
  k kustomize "$dir" >"$out" || fail "kubectl kustomize of manifests/ with the early-warning patch failed"
}

# select_kinds IN OUT KIND...: the documents of IN whose kind is one of KIND.
select_kinds() {
  local in=$1 out=$2
  shift 2
  python3 - "$in" "$out" "$@" <<'PY'
import sys, yaml
src, dst, kinds = sys.argv[1], sys.argv[2], set(sys.argv[3:])
docs = [d for d in yaml.safe_load_all(open(src)) if d and d.get("kind") in kinds]
with open(dst, "w") as f:
    yaml.safe_dump_all(docs, f, sort_keys=False)
PY
}

# crd_exists NAME
crd_exists() { k get crd "$1" >/dev/null 2>&1; }

# token_kubeconfig OUT SERVICE_ACCOUNT [POD]: a kubeconfig for the cluster of
# $KUBECONFIG that authenticates with a fresh token of SERVICE_ACCOUNT in
# nodeguard-system (bound to POD when given: such a token carries the pod's
# node name, as the kubelet's projected tokens do).
token_kubeconfig() {
  local out=$1 sa=$2 pod=${3:-} token
  local bound=()
  [ -n "$pod" ] && bound=(--bound-object-kind Pod --bound-object-name "$pod")
  token=$(k -n "$NG_NAMESPACE" create token "$sa" --duration 1h "${bound[@]}") ||
    fail "could not create a token for $sa"
  k config view --raw --minify --flatten -o json | python3 -c '
import json, sys
cfg = json.load(sys.stdin)
cluster = cfg["clusters"][0]
out = {
    "apiVersion": "v1", "kind": "Config",
    "clusters": [cluster],
    "users": [{"name": sys.argv[2], "user": {"token": sys.argv[3]}}],
    "contexts": [{"name": sys.argv[2], "context": {"cluster": cluster["name"], "user": sys.argv[2]}}],
    "current-context": sys.argv[2],
}
with open(sys.argv[1], "w") as f:
    json.dump(out, f)
' "$out" "$sa" "$token"
  chmod 600 "$out"
}

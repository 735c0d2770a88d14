#!/usr/bin/env bash
# The image's runtime filesystem, built as the Dockerfile builds it
# (build-rootfs.sh: debootstrap minbase bookworm + install-runtime.sh with
# runtime-packages.txt), with the built nodeguard binary copied in.
#
# Usage: tests/image/image_test.sh rootfs NODEGUARD_BINARY VERSION
#        tests/image/image_test.sh controller NODEGUARD_BINARY VERSION
#
#   rootfs      (no cluster) every listed package is installed; every shared
#               library of the binary resolves inside the filesystem; the
#               non-root user 65532 exists and `nodeguard --version` run as it
#               prints VERSION; nsenter and the CA bundle are there; the
#               Dockerfile's labels and user agree with the project.
#   controller  (fixture "cluster") runs `nodeguard controller` as uid 65532
#               inside the filesystem, mounted read-only as the Deployment
#               mounts it, authenticated as the controller's service account
#               with only the RBAC of manifests/, against the local cluster,
#               until it acts on the sample policy
#               manifests/samples/incident-workers.yaml (narrowed to two
#               nodes of its own): policy status, the density taint, a flagged
#               pod, the taint removed when the policy is deleted, and a clean
#               SIGTERM that releases the Lease. A binary whose
#               `nodeguard controller --help` offers no --kubeconfig fails.
#
# Needs root (chroot, mounts); mounts live in a private mount namespace.
set -euo pipefail
exec 3>&2
mode=${1:?usage: image_test.sh rootfs|controller NODEGUARD_BINARY VERSION}
binary=${2:?nodeguard binary}
version=${3:?expected version}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
list=$repo/manifests/image/runtime-packages.txt
readonly UID_GID=65532:65532

say() { echo "[$(date -u +%T)] $*"; }
[ "$(id -u)" -eq 0 ] || { echo "image_test: must run as root (chroot)" >&2; exit 1; }
[ -x "$binary" ] || { echo "image_test: no binary at $binary" >&2; exit 1; }

# run_in_rootfs [--ro] [--pidfile F] CHROOT_ARGS...: chroot into $rootfs with
# /proc, /dev and a tmpfs /tmp, optionally with the root read-only (as
# readOnlyRootFilesystem does), in a private mount namespace. With --pidfile,
# F receives the PID of the chrooted process (exec keeps it).
run_in_rootfs() {
  local ro=0 pidfile=/dev/null
  while :; do
    case $1 in
      --ro) ro=1; shift ;;
      --pidfile) pidfile=$2; shift 2 ;;
      *) break ;;
    esac
  done
  unshare --mount --propagation private -- sh -c '
    root=$1 ro=$2 pidfile=$3; shift 3
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o size=16m,mode=1777 tmpfs "$root/tmp"
    [ "$ro" = 1 ] && mount -o remount,bind,ro "$root"
    echo $$ >"$pidfile"
    exec chroot "$@"
  ' run_in_rootfs "$rootfs" "$ro" "$pidfile" "$@"
}

start=$(date +%s)
tarball=$("$here/build-rootfs.sh" | tail -1)
work=$(mktemp -d "${TMPDIR:-/tmp}/nodeguard-image-test.XXXXXX")
cleanups=("rm -rf '$work'")
finish() {
  local rc=$? i
  for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" >/dev/null 2>&1 || true; done
  exit "$rc"
}
trap finish EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"
tar -C "$rootfs" --numeric-owner -xzf "$tarball"
# As the Dockerfile's COPY --from=build: root-owned, world-executable.
install -o 0 -g 0 -m 0755 "$binary" "$rootfs/usr/local/bin/nodeguard"
say "runtime filesystem ready in $(( $(date +%s) - start ))s ($(du -sh "$rootfs" | cut -f1), from $tarball)"

failures=0
bad() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

check_rootfs() {
  local p missing out
  # Every listed package is installed.
  for p in $(sed -e 's/#.*//' "$list"); do
    chroot "$rootfs" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      bad "package $p from runtime-packages.txt is not installed"
  done
  # Every shared library of the binary resolves inside the filesystem.
  out=$(run_in_rootfs "$rootfs" ldd /usr/local/bin/nodeguard 2>&1) || bad "ldd failed in the rootfs: $out"
  missing=$(grep "not found" <<<"$out" || true)
  [ -z "$missing" ] || bad "libraries missing from the runtime filesystem (add their packages to runtime-packages.txt): $missing"
  say "the binary links: $(awk '$1 ~ /^lib/ {print $1}' <<<"$out" | tr '\n' ' ')"
  # Packages listed for libraries the binary does not link (yet): a note, not a
  # failure, while the binary is still the skeleton of its modes.
  local linked_pkgs unused=()
  # (dpkg -S inside the rootfs; with merged /usr a library may be known under
  # /lib or /usr/lib, so ask for both names.)
  # shellcheck disable=SC2016
  linked_pkgs=$(chroot "$rootfs" sh -c 'for l in "$@"; do
      dpkg -S "$l" 2>/dev/null || dpkg -S "$(readlink -f "$l")" 2>/dev/null || true
    done' sh $(awk '$3 ~ /^\// {print $3}' <<<"$out") | cut -d: -f1 | sort -u)
  for p in $(sed -e 's/#.*//' "$list"); do
    case $p in ca-certificates | util-linux) continue ;; esac
    grep -qx "$p" <<<"$linked_pkgs" || unused+=("$p")
  done
  [ ${#unused[@]} -eq 0 ] || say "note: listed but not linked by this binary: ${unused[*]}"

  # The non-root user of the Dockerfile's USER line.
  grep -q "^USER $UID_GID\$" "$repo/Dockerfile" || bad "Dockerfile: USER $UID_GID expected"
  grep -q '^nodeguard:x:65532:65532:' "$rootfs/etc/passwd" || bad "no user nodeguard with uid/gid 65532"
  out=$(run_in_rootfs --userspec=$UID_GID "$rootfs" /usr/bin/id -u 2>&1) || true
  [ "$out" = 65532 ] || bad "chroot --userspec=$UID_GID runs as '$out'"
  # The binary, as that user, on a read-only root.
  out=$(run_in_rootfs --ro --userspec=$UID_GID "$rootfs" /usr/local/bin/nodeguard --version 2>&1) ||
    bad "nodeguard --version failed as uid 65532: $out"
  [ "$out" = "nodeguard $version" ] || bad "nodeguard --version printed '$out', want 'nodeguard $version'"
  say "as uid 65532 on a read-only root: $out"
  # The agent's nsenter, and the CA bundle for API servers signed by a public CA.
  run_in_rootfs "$rootfs" nsenter --version >/dev/null 2>&1 || bad "nsenter missing (util-linux)"
  [ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ] || bad "CA bundle missing (ca-certificates)"
  # The Dockerfile's version label default follows the project version.
  grep -q "^ARG VERSION=$version\$" "$repo/Dockerfile" || bad "Dockerfile: ARG VERSION=$version expected"
  grep -q '^ENTRYPOINT \["/usr/local/bin/nodeguard"\]' "$repo/Dockerfile" || bad "Dockerfile: ENTRYPOINT nodeguard expected"
  grep -q 'install-runtime.sh /tmp/image/runtime-packages.txt' "$repo/Dockerfile" ||
    bad "Dockerfile: the runtime stage must run install-runtime.sh with runtime-packages.txt"
}

check_controller() {
  if ! "$binary" controller --help 2>/dev/null | grep -- --kubeconfig >/dev/null; then
    echo "FAIL: 'nodeguard controller --help' offers no --kubeconfig" >&2
    exit 1
  fi
  # The cluster helpers (k, sim, eventually, ...) and the manifest helpers.
  # Their EXIT trap replaces ours: hand our cleanups to it.
  source "$repo/tests/cluster/tests/lib.sh"
  source "$repo/tests/integration/manifests/lib.sh"
  local c
  for c in "${cleanups[@]}"; do on_exit_do "$c"; done

  local suffix nodes=() policy=image-incident-workers ns
  suffix=$(head -c 16 /dev/urandom | md5sum | cut -c1-4)
  # Namespace, CRD, service accounts and RBAC from manifests/ (no workloads:
  # the controller under test is ours).
  render_manifests "$work/install.yaml"
  select_kinds "$work/install.yaml" "$work/rbac.yaml" Namespace CustomResourceDefinition \
    ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding
  crd_exists nodehealthpolicies.nodeguard.io && had_crd=1 || had_crd=0
  select_kinds "$work/install.yaml" "$work/remove.yaml" Namespace ServiceAccount ClusterRole \
    ClusterRoleBinding Role RoleBinding
  on_exit_do k delete -f "$work/remove.yaml" --ignore-not-found --wait=true --timeout=90s
  if [ "$had_crd" -eq 0 ]; then
    on_exit_do '[ -z "$(k get nodehealthpolicies -o name 2>/dev/null)" ] && k delete crd nodehealthpolicies.nodeguard.io --ignore-not-found'
  fi
  k apply --server-side --field-manager=nodeguard-image-test -f "$work/rbac.yaml" >/dev/null
  k wait --for condition=Established --timeout 60s crd/nodehealthpolicies.nodeguard.io >/dev/null
  eventually 30 "service account nodeguard-controller" k -n "$NG_NAMESPACE" get serviceaccount nodeguard-controller

  # Two nodes of our own, so the sample policy touches nothing else.
  sim create-nodes 2 --prefix "ngimg-$suffix-" >/dev/null
  nodes=("ngimg-$suffix-01" "ngimg-$suffix-02")
  on_exit_do sim delete-nodes "${nodes[@]}"
  k label node "${nodes[@]}" "nodeguard.io/test-suite=image-$suffix" >/dev/null
  # Runs after the controller is stopped (cleanups run in reverse): a policy
  # left behind would keep its finalizer forever without a controller.
  on_exit_do "k patch nodehealthpolicy $policy --type=merge -p '{\"metadata\":{\"finalizers\":null}}'; k delete nodehealthpolicy $policy --ignore-not-found"

  # The sample policy, narrowed to those nodes.
  python3 - "$repo/manifests/samples/incident-workers.yaml" "$work/policy.yaml" "$policy" "image-$suffix" <<'PY'
import sys, yaml
src, dst, name, suite = sys.argv[1:]
p = yaml.safe_load(open(src))
p["metadata"] = {"name": name}
p["spec"]["nodeSelector"] = {"matchLabels": {"nodeguard.io/test-suite": suite}}
yaml.safe_dump(p, open(dst, "w"), sort_keys=False)
PY
  local cap taint_at taint_key=nodeguard.io/pod-density-exceeded
  cap=$(python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1]))["spec"]["podDensity"]; print(min(d["maxPods"], d["maxPodsPerCore"] * 8, 110))' "$work/policy.yaml")
  taint_at=$((cap - $(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["podDensity"].get("taintAhead", 0))' "$work/policy.yaml")))

  # The controller's credentials: a token of its service account, nothing more.
  mkdir -p "$rootfs/etc/nodeguard"
  token_kubeconfig "$rootfs/etc/nodeguard/kubeconfig" nodeguard-controller
  chown 65532:65532 "$rootfs/etc/nodeguard/kubeconfig"
  local metrics_port probe_port
  read -r metrics_port probe_port <<<"$(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')"

  say "starting nodeguard controller as uid 65532 in the read-only runtime filesystem"
  run_in_rootfs --ro --pidfile "$work/controller.pid" --userspec=$UID_GID "$rootfs" \
    /usr/local/bin/nodeguard controller --kubeconfig /etc/nodeguard/kubeconfig \
    --leader-elect=true --leader-election-namespace "$NG_NAMESPACE" --leader-election-id nodeguard-controller \
    --metrics-bind-address "127.0.0.1:$metrics_port" --health-probe-bind-address "127.0.0.1:$probe_port" \
    --log-format json --log-level debug >"$work/controller.log" 2>&1 &
  # $! is the subshell running run_in_rootfs; the controller is its child
  # (unshare, sh and chroot exec into it) and its PID is in the pidfile. Kill
  # it only while that subshell is still its parent: then it is ours.
  local launcher=$!
  on_exit_do "pid=\$(cat '$work/controller.pid' 2>/dev/null); [ -n \"\$pid\" ] && [ \"\$(awk '/^PPid:/ {print \$2}' /proc/\$pid/status 2>/dev/null)\" = $launcher ] && kill -KILL \$pid; wait $launcher || true"
  # (Cleanup output is discarded by the cluster test library; fd 3 is stderr.)
  on_exit_do "[ -f '$work/passed' ] || { echo '--- controller log (last 60 lines)'; tail -n 60 '$work/controller.log'; } >&3"
  eventually 60 "the controller's /readyz" curl -fsS -o /dev/null "http://127.0.0.1:$probe_port/readyz"
  [ "$(stat -c %u "/proc/$(cat "$work/controller.pid")")" = 65532 ] || fail "the controller does not run as uid 65532"
  local root_opts
  root_opts=$(awk '$5 == "/" {print $6}' "/proc/$(cat "$work/controller.pid")/mountinfo")
  [[ $root_opts == ro* ]] || fail "the controller's root filesystem is mounted '$root_opts', want read-only"
  eventually 30 "the controller holds the Lease" sh -c \
    "'$KUBECTL' -n $NG_NAMESPACE get lease nodeguard-controller -o jsonpath='{.spec.holderIdentity}' | grep -q ."

  say "applying the sample policy (cap $cap, taint at $taint_at pods) to ${nodes[*]}"
  k apply -f "$work/policy.yaml" >/dev/null
  eventually 30 "status.observedGeneration and selectedNodes=2" sh -c "
    [ \"\$('$KUBECTL' get nhp $policy -o jsonpath='{.status.observedGeneration}/{.metadata.generation}/{.status.selectedNodes}')\" = 1/1/2 ]"
  eventually 30 "the policy Ready" sh -c \
    "'$KUBECTL' get nhp $policy -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"

  # Pods without requests onto the first node, up to the taint mark.
  ns=image-$suffix
  k create namespace "$ns" >/dev/null
  on_exit_do k delete namespace "$ns" --wait=false
  eventually 30 "service account default in $ns" k -n "$ns" get serviceaccount default
  k -n "$ns" create deployment flood --image=registry.k8s.io/pause:3.10 --replicas="$taint_at" \
    --dry-run=client -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
d["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/hostname": sys.argv[1]}
print(json.dumps(d))' "${nodes[0]}" | k apply -f - >/dev/null
  eventually 120 "$taint_at pods running on ${nodes[0]}" running_at_least "$ns" "$taint_at"
  eventually 60 "the density taint on ${nodes[0]}" has_taint "${nodes[0]}" "$taint_key:NoSchedule"
  lacks_taint "${nodes[1]}" "$taint_key:NoSchedule" || bad "the density taint on ${nodes[1]}, which has no pods"
  eventually 30 "status.cappedNodes=1" sh -c \
    "[ \"\$('$KUBECTL' get nhp $policy -o jsonpath='{.status.cappedNodes}')\" = 1 ]"
  local pod
  pod=$(k -n "$ns" get pods -o jsonpath='{.items[0].metadata.name}')
  eventually 60 "pod $pod flagged (annotatePods)" sh -c \
    "'$KUBECTL' -n $ns get pod $pod -o jsonpath='{.metadata.annotations.nodeguard\.io/resource-findings}' | grep -q ."
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || bad "GET /metrics failed"
  for m in nodeguard_selected_nodes nodeguard_density_capped_nodes nodeguard_pods_missing_resources; do
    grep -q "^$m{.*policy=\"$policy\"" "$work/metrics.txt" || bad "/metrics has no $m for policy $policy (docs/operations.md contract)"
  done

  say "deleting the policy: the controller removes its taint first (finalizer)"
  k delete nodehealthpolicy "$policy" --wait=false >/dev/null
  eventually 60 "the density taint removed from ${nodes[0]}" lacks_taint "${nodes[0]}" "$taint_key:NoSchedule"
  eventually 30 "the policy gone" sh -c "! '$KUBECTL' get nhp $policy >/dev/null 2>&1"

  say "SIGTERM: the controller exits and releases the Lease"
  local pid t0
  eventually 10 "the controller's pidfile" test -s "$work/controller.pid"
  pid=$(cat "$work/controller.pid")
  t0=$(date +%s)
  kill -TERM "$pid"
  local rc=0
  wait "$launcher" || rc=$?
  [ "$rc" -eq 0 ] || bad "the controller exited with $rc after SIGTERM"
  [ $(( $(date +%s) - t0 )) -le 10 ] || bad "the controller took more than 10s to exit after SIGTERM"
  local holder
  holder=$(k -n "$NG_NAMESPACE" get lease nodeguard-controller -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)
  [ -z "$holder" ] || bad "the Lease is still held by '$holder' after a clean shutdown"
  if grep -qi '"level":"error"' "$work/controller.log"; then
    say "note: the controller logged errors:"
    grep -i '"level":"error"' "$work/controller.log" | tail -5
  fi
  [ "$failures" -ne 0 ] || touch "$work/passed"
}

case $mode in
  rootfs) check_rootfs ;;
  controller) check_controller ;;
  *) echo "image_test: unknown mode $mode" >&2; exit 2 ;;
esac
[ "$failures" -eq 0 ] || { echo "FAIL: $failures checks failed" >&2; exit 1; }
say "PASS ($mode, $(( $(date +%s) - start ))s)"

#!/usr/bin/env bash
# The image, two ways. The image itself, built from the Dockerfile by
# build-image.sh (podman, vfs, nodeguard's own storage; tests/image/podman.sh)
# and run with podman. And its runtime filesystem built without a container
# engine, as the Dockerfile builds it (build-rootfs.sh: debootstrap minbase
# bookworm + install-runtime.sh with runtime-packages.txt), with the build
# tree's nodeguard binary copied in.
#
# Usage: tests/image/image_test.sh image VERSION
#        tests/image/image_test.sh container VERSION
#        tests/image/image_test.sh rootfs NODEGUARD_BINARY VERSION
#        tests/image/image_test.sh controller NODEGUARD_BINARY VERSION
#
#   image       (no cluster) builds the image (build-image.sh; cached, or
#               cold) and checks it: `podman run --rm IMAGE --version` prints
#               VERSION (read-only root, no capabilities, no network); the
#               configured user is 65532:65532 and the process runs as uid
#               65532; the entrypoint and command; the OCI labels (title,
#               version = VERSION, revision = this checkout's commit, source,
#               base name); every shared library resolves, nsenter and the CA
#               bundle are there and no compiler is (the build stage stayed
#               behind); the image is under 200 MB (the build stage alone is
#               over 1 GB), and prints its size.
#   container   (fixture "cluster") the controller check below, but the
#               controller is the image run by podman: its own USER (no
#               --user), --network host, --read-only, all capabilities
#               dropped, no new privileges (the Deployment's securityContext),
#               the kubeconfig mounted read-only.
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
# Needs root (chroot, mounts, podman); mounts live in a private mount
# namespace.
set -euo pipefail
exec 3>&2
usage="usage: image_test.sh image|container VERSION, or rootfs|controller NODEGUARD_BINARY VERSION"
mode=${1:?$usage}
case $mode in
  image | container) binary='' version=${2:?$usage} ;;
  rootfs | controller) binary=${2:?$usage} version=${3:?$usage} ;;
  *) echo "image_test: unknown mode $mode; $usage" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
podman=$here/podman.sh
repo=$(cd "$here/../.." && pwd)
list=$repo/manifests/image/runtime-packages.txt
readonly UID_GID=65532:65532

say() { echo "[$(date -u +%T)] $*"; }
[ "$(id -u)" -eq 0 ] || { echo "image_test: must run as root (chroot, podman)" >&2; exit 1; }
[ -z "$binary" ] || [ -x "$binary" ] || { echo "image_test: no binary at $binary" >&2; exit 1; }

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
work=$(mktemp -d "${TMPDIR:-/tmp}/nodeguard-image-test.XXXXXX")
cleanups=("rm -rf '$work'")
finish() {
  local rc=$? i
  # Every cleanup runs; one that fails is reported (the test's own status stays).
  for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do
    eval "${cleanups[i]}" >/dev/null 2>&1 || echo "image_test: cleanup failed (status $?): ${cleanups[i]}" >&2
  done
  exit "$rc"
}
trap finish EXIT
rootfs='' image=''
case $mode in
  rootfs | controller)
    tarball=$("$here/build-rootfs.sh" | tail -1)
    rootfs=$work/rootfs
    mkdir -p "$rootfs"
    tar -C "$rootfs" --numeric-owner -xzf "$tarball"
    # As the Dockerfile's COPY --from=build: root-owned, world-executable.
    install -o 0 -g 0 -m 0755 "$binary" "$rootfs/usr/local/bin/nodeguard"
    say "runtime filesystem ready in $(( $(date +%s) - start ))s ($(du -sh "$rootfs" | cut -f1), from $tarball)"
    ;;
  image | container)
    # Its progress (and podman's) on stderr; the reference on the last line.
    image=$("$here/build-image.sh" | tail -1)
    say "image $image built in $(( $(date +%s) - start ))s"
    ;;
esac

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

# The image as the Deployment runs it (securityContext: read-only root, no
# capabilities, no privilege escalation), with the image's own USER.
run_image() {
  "$podman" run --rm --read-only --cap-drop ALL --security-opt no-new-privileges "$@"
}

check_image() {
  local out
  out=$(run_image --network none "$image" --version 2>&1) || bad "podman run $image --version failed: $out"
  [ "$out" = "nodeguard $version" ] || bad "podman run $image --version printed '$out', want 'nodeguard $version'"
  say "podman run --rm $image --version: $out"

  # What the image declares: user, entrypoint, labels, size.
  "$podman" image inspect "$image" >"$work/inspect.json" || bad "podman image inspect $image failed"
  local head revision_want source_want
  head=$(git -C "$repo" rev-parse HEAD)
  # A tree with no uncommitted change at all must be labelled with its commit
  # exactly; else the commit or the commit marked dirty.
  if [ -z "$(git -C "$repo" status --porcelain)" ]; then revision_want=$head; else revision_want="$head|$head-dirty"; fi
  source_want=""
  if git -C "$repo" remote get-url origin >/dev/null 2>&1; then
    source_want=$(git -C "$repo" remote get-url origin)
  fi
  out=$(python3 - "$work/inspect.json" "$version" "$revision_want" "$source_want" <<'PY'
import json, sys
inspect, version, revisions, source = sys.argv[1], sys.argv[2], sys.argv[3].split("|"), sys.argv[4]
img = json.load(open(inspect))[0]
cfg = img["Config"]
labels = cfg.get("Labels") or {}
problems = []
def want(what, got, ok):
    if not ok:
        problems.append(f"{what}: got {got!r}")
want("Config.User (want 65532:65532)", cfg.get("User"), cfg.get("User") == "65532:65532")
want("Config.Entrypoint", cfg.get("Entrypoint"), cfg.get("Entrypoint") == ["/usr/local/bin/nodeguard"])
want("Config.Cmd", cfg.get("Cmd"), cfg.get("Cmd") == ["controller"])
oci = "org.opencontainers.image."
want(oci + "title", labels.get(oci + "title"), labels.get(oci + "title") == "nodeguard")
want(oci + "description", labels.get(oci + "description"), bool(labels.get(oci + "description")))
want(oci + "version (want %s)" % version, labels.get(oci + "version"), labels.get(oci + "version") == version)
want(oci + "revision (want %s)" % " or ".join(revisions), labels.get(oci + "revision"),
     labels.get(oci + "revision") in revisions)
want(oci + "source (want %r)" % source, labels.get(oci + "source"), labels.get(oci + "source") == source)
want(oci + "base.name", labels.get(oci + "base.name"),
     labels.get(oci + "base.name") == "localhost/nodeguard-base/debian:bookworm-slim")
for p in problems:
    print("FAIL:", p)
print("size", img["Size"])
print("revision", labels.get(oci + "revision"))
PY
) || bad "could not read podman image inspect's output: $out"
  while read -r line; do bad "image config: ${line#FAIL: }"; done < <(grep '^FAIL:' <<<"$out")
  local size revision
  size=$(awk '$1 == "size" {print $2}' <<<"$out")
  revision=$(awk '$1 == "revision" {print $2}' <<<"$out")
  say "labels: version $version, revision $revision; user 65532:65532; size $((size / 1000000)) MB ($size bytes)"
  # The runtime stage only: the build stage (compilers, -dev packages) is over 1 GB.
  if [ "${size:-0}" -le 0 ] || [ "$size" -ge 200000000 ]; then bad "image size '$size' bytes, want under 200 MB"; fi

  # Inside, as the image's user: the libraries, the agent's nsenter, the CA
  # bundle, no build tools, the root read-only. One container (vfs copies the
  # image for each).
  # shellcheck disable=SC2016 # expanded in the container
  out=$(run_image --network none --entrypoint /bin/sh "$image" -c '
    echo "uid $(id -u) gid $(id -g)"
    ldd /usr/local/bin/nodeguard | grep "not found" | sed "s/^/missing library /"
    nsenter --version >/dev/null 2>&1 || echo "missing nsenter"
    [ -s /etc/ssl/certs/ca-certificates.crt ] || echo "missing CA bundle"
    for t in g++ gcc cmake ninja; do command -v $t >/dev/null && echo "build tool $t present"; done
    awk '\''$5 == "/" && $6 !~ /^ro/ {print "root filesystem mounted " $6}'\'' /proc/self/mountinfo
    true' 2>&1) || bad "the checks in the image failed: $out"
  grep -qx "uid 65532 gid 65532" <<<"$out" || bad "the image does not run as 65532:65532: $out"
  while read -r line; do bad "in the image: $line"; done < <(grep -v '^uid ' <<<"$out")
}

# nodeguard CMD...: the binary under test, from the build tree or the image.
nodeguard() {
  if [ -n "$image" ]; then "$podman" run --rm --network none "$image" "$@"; else "$binary" "$@"; fi
}

check_controller() {
  if ! nodeguard controller --help 2>/dev/null | grep -- --kubeconfig >/dev/null; then
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
  # In the container: mounted read-only at the same place.
  local confdir=${rootfs:-$work}/etc/nodeguard
  mkdir -p "$confdir"
  token_kubeconfig "$confdir/kubeconfig" nodeguard-controller
  chown 65532:65532 "$confdir/kubeconfig"
  local metrics_port probe_port
  read -r metrics_port probe_port <<<"$(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')"

  local args=(controller --kubeconfig /etc/nodeguard/kubeconfig
    --leader-elect=true --leader-election-namespace "$NG_NAMESPACE" --leader-election-id nodeguard-controller
    --metrics-bind-address "127.0.0.1:$metrics_port" --health-probe-bind-address "127.0.0.1:$probe_port"
    --log-format json --log-level debug)
  local launcher
  if [ -n "$image" ]; then
    local name=nodeguard-image-test-$suffix
    say "starting $image (its USER, read-only root, no capabilities, host network) as container $name"
    run_image --name "$name" --network host --volume "$confdir:/etc/nodeguard:ro" \
      "$image" "${args[@]}" </dev/null >"$work/controller.log" 2>&1 &
    # $! is `podman run`, attached: it exits with the controller's status.
    launcher=$!
    on_exit_do "'$podman' rm --force --time 0 $name; wait $launcher; rc=\$?; if [ \$rc -ne 0 ]; then echo \"cleanup: launcher $launcher exited \$rc after the forced stop\" >&3; fi"
    container_pid() {
      local pid
      pid=$("$podman" container inspect --format '{{.State.Pid}}' "$name" 2>/dev/null) && [ "${pid:-0}" -gt 0 ] &&
        echo "$pid" >"$work/controller.pid"
    }
    eventually 60 "container $name running" container_pid
  else
    say "starting nodeguard controller as uid 65532 in the read-only runtime filesystem"
    run_in_rootfs --ro --pidfile "$work/controller.pid" --userspec=$UID_GID "$rootfs" \
      /usr/local/bin/nodeguard "${args[@]}" >"$work/controller.log" 2>&1 &
    # $! is the subshell running run_in_rootfs; the controller is its child
    # (unshare, sh and chroot exec into it) and its PID is in the pidfile. Kill
    # it only while that subshell is still its parent: then it is ours.
    launcher=$!
    on_exit_do "pid=\$(cat '$work/controller.pid' 2>/dev/null); [ -n \"\$pid\" ] && [ \"\$(awk '/^PPid:/ {print \$2}' /proc/\$pid/status 2>/dev/null)\" = $launcher ] && kill -KILL \$pid; wait $launcher; rc=\$?; if [ \$rc -ne 0 ]; then echo \"cleanup: launcher $launcher exited \$rc after the forced stop\" >&3; fi"
  fi
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
  image) check_image ;;
  rootfs) check_rootfs ;;
  controller | container) check_controller ;;
esac
[ "$failures" -eq 0 ] || { echo "FAIL: $failures checks failed" >&2; exit 1; }
say "PASS ($mode, $(( $(date +%s) - start ))s)"

#!/usr/bin/env bash
# Builds the pinned cluster components (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kubelet, etcd, kwok) from the Go module proxy into a
# versioned cache outside the repository. The three modules (kubernetes, etcd,
# kwok) build at the same time, and each module's binaries come from one `go
# build`, which links them in parallel: on a cold 2-core machine the module
# downloads and the mostly single-threaded links then overlap the compiles.
#
# A second run with the cache present does nothing. Prints the bin directory
# on stdout as its last line so callers can `bin=$(build-components.sh | tail -1)`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/lib/cache.sh"

bin=$(nodeguard_cluster_bin_dir)
want=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet etcd kwok)
missing=()
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build-components: Go toolchain not found (install golang)" >&2; exit 1; }
export CGO_ENABLED=0 GOFLAGS=-mod=mod
work=$(dirname "$bin")/src
mkdir -p "$bin" "$work"
# One build per cache at a time (a fixture and e2e.demo's own cluster may both
# ask at once); whoever waited finds the binaries the first one built.
exec {lockfd}>"$(dirname "$bin")/.build.lock"
flock "$lockfd"
missing=()
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi
log() { echo "build-components: $*" >&2; }

build_kube() {
  local dir=$work/kube
  mkdir -p "$dir"
  local modfile
  modfile=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module nodeguard.local/kube-components"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
    # with local paths; as a dependency those replaces do not apply, so point
    # each at its published release.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$modfile" |
      while read -r m; do echo "	$m => $m $KUBE_STAGING_VERSION"; done
    echo ")"
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  (cd "$dir" && go mod tidy >&2)
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local ld=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  local pkgs=()
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet; do
    [ -x "$bin/$c" ] || pkgs+=("k8s.io/kubernetes/cmd/$c")
  done
  [ ${#pkgs[@]} -eq 0 ] && return
  log "building ${pkgs[*]##*/} $KUBERNETES_VERSION"
  go_build_into_bin "$dir" "-s -w $ld" "${pkgs[@]}"
}

# go_build_into_bin DIR LDFLAGS PKG...: one `go build` of the main packages
# (import paths; each binary is named after its last element) into a staging
# directory, then each binary moved into $bin, so a binary in $bin is always
# complete (an interrupted build leaves only the staging directory, which the
# next run empties).
go_build_into_bin() {
  local dir=$1 ldflags=$2
  shift 2
  local stage=$dir/.out p
  rm -rf "$stage" && mkdir -p "$stage"
  (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$stage/" "$@")
  for p in "$@"; do mv "$stage/${p##*/}" "$bin/${p##*/}"; done
}

build_etcd() {
  [ -x "$bin/etcd" ] && return
  local dir=$work/etcd
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<MOD
module nodeguard.local/etcd

go 1.26

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  mkdir -p "$dir/etcd"
  cat >"$dir/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "building etcd $ETCD_VERSION"
  (cd "$dir" && go mod tidy >&2)
  go_build_into_bin "$dir" "-s -w" nodeguard.local/etcd/etcd
}

build_kwok() {
  local dir=$work/kwok
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<MOD
module nodeguard.local/kwok

go 1.26

require sigs.k8s.io/kwok $KWOK_VERSION
MOD
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
GO
  (cd "$dir" && go mod tidy >&2)
  [ -x "$bin/kwok" ] && return
  log "building kwok $KWOK_VERSION"
  go_build_into_bin "$dir" "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
}

start=$(date +%s)
# The three modules at once. A background job's failure does not stop the
# script, so every status is collected and checked.
build_etcd & etcd_job=$!
build_kwok & kwok_job=$!
build_kube & kube_job=$!
failed=()
wait "$etcd_job" || failed+=(etcd)
wait "$kwok_job" || failed+=(kwok)
wait "$kube_job" || failed+=(kubernetes)
if [ ${#failed[@]} -ne 0 ]; then
  log "failed: ${failed[*]}"
  exit 1
fi
log "done in $(( $(date +%s) - start ))s -> $bin"
echo "$bin"

#!/usr/bin/env bash
# Builds the pinned cluster components (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kubelet, etcd, kwok, kwokctl) from
# the Go module proxy into a versioned cache outside the repository.
#
# A second run with the cache present does nothing. Prints the bin directory
# on stdout as its last line so callers can `bin=$(build-components.sh | tail -1)`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/lib/cache.sh"

bin=$(nodeguard_cluster_bin_dir)
want=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet etcd kwok kwokctl)
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
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet; do
    [ -x "$bin/$c" ] && continue
    log "building $c $KUBERNETES_VERSION"
    (cd "$dir" && go build -trimpath -ldflags "-s -w $ld" -o "$bin/$c.tmp" "k8s.io/kubernetes/cmd/$c" && mv "$bin/$c.tmp" "$bin/$c")
  done
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
  cat >"$dir/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "building etcd $ETCD_VERSION"
  (cd "$dir" && go mod tidy >&2 && go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" . && mv "$bin/etcd.tmp" "$bin/etcd")
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
	_ "sigs.k8s.io/kwok/cmd/kwokctl"
)
GO
  (cd "$dir" && go mod tidy >&2)
  for c in kwok kwokctl; do
    [ -x "$bin/$c" ] && continue
    log "building $c $KWOK_VERSION"
    (cd "$dir" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" -o "$bin/$c.tmp" "sigs.k8s.io/kwok/cmd/$c" && mv "$bin/$c.tmp" "$bin/$c")
  done
}

start=$(date +%s)
build_etcd
build_kwok
build_kube
log "done in $(( $(date +%s) - start ))s -> $bin"
echo "$bin"

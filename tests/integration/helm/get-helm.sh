#!/usr/bin/env bash
# Builds helm (the Helm 4 client) from the Go module proxy into a versioned
# cache outside the repository, like promtool (tests/integration/manifests/
# get-promtool.sh) and the cluster components. `make test` runs it as the
# CTest test helm.build (fixture "helm", beside the cluster suites); `make
# helm` runs it alone. A second run with the cache present does nothing.
#
# Usage: get-helm.sh [--cached]
#   --cached  only report a helm built before; never build (exit 1 if none)
#
# Prints the helm path as the last line of stdout; exits 1 (nothing on
# stdout) when Go is missing or the build fails. The chart's tests fail
# without it.
set -euo pipefail
cached_only=0
[ "${1:-}" = --cached ] && cached_only=1
readonly HELM_MODULE_VERSION=v4.3.2
root=${NODEGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeguard}
dir=$root/helm-$HELM_MODULE_VERSION
bin=$dir/helm
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
[ "$cached_only" -eq 0 ] || exit 1
command -v go >/dev/null || { echo "get-helm: Go toolchain not found (make deps)" >&2; exit 1; }
mkdir -p "$dir"
exec {lockfd}>"$dir/.lock"
flock "$lockfd"
[ -x "$bin" ] && { echo "$bin"; exit 0; }
echo "get-helm: building helm $HELM_MODULE_VERSION with $(go env GOVERSION) (first run only)" >&2
start=$(date +%s)
rm -rf "$dir/.tmp"
# helm prints the version it was built as from ldflags; without them it says
# "v4.x-unreleased"-like strings, so set the tag as its Makefile does.
ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_MODULE_VERSION"
# Niced: under `make test` this build runs beside the cluster suites.
if ! GOBIN=$dir/.tmp CGO_ENABLED=0 GOFLAGS=-mod=mod \
  nice -n 10 go install -trimpath -ldflags "$ldflags" \
  "helm.sh/helm/v4/cmd/helm@$HELM_MODULE_VERSION" >&2; then
  echo "get-helm: build failed" >&2
  exit 1
fi
"$dir/.tmp/helm" version >/dev/null || { echo "get-helm: the built helm does not run" >&2; exit 1; }
mv "$dir/.tmp/helm" "$bin"
rm -rf "$dir/.tmp"
echo "get-helm: built in $(($(date +%s) - start))s -> $bin" >&2
echo "$bin"

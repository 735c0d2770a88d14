#!/usr/bin/env bash
# Builds promtool (Prometheus' rule and exposition checker) from the Go module
# proxy into a versioned cache outside the repository, like the cluster
# components (but in a cache of its own: the components' cache key is not
# touched). `make test` runs it as the CTest test promtool.build (fixture
# "promtool", beside the cluster suites); `make promtool` runs it alone. A
# second run with the cache present does nothing.
#
# Usage: get-promtool.sh [--cached]
#   --cached  only report a promtool built before; never build (exit 1 if none)
#
# Prints the promtool path as the last line of stdout; exits 1 (nothing on
# stdout) when Go is missing or the build fails. The tests that need promtool
# (manifests.install, runtime.metrics_exposition) fail without it.
#
# Built with the build tag remove_all_sd: promtool then registers none of
# Prometheus' cloud service discoveries (AWS, Azure, GCE, ...), which
# `check rules`, `test rules` and `check metrics` never use and which are most
# of its cold build (measured in docs/testing.md).
set -euo pipefail
cached_only=0
[ "${1:-}" = --cached ] && cached_only=1
readonly PROMETHEUS_MODULE_VERSION=v0.316.0 # Prometheus 3.x's Go module tag.
readonly BUILD_TAGS=remove_all_sd
root=${NODEGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeguard}
dir=$root/promtool-$PROMETHEUS_MODULE_VERSION-$BUILD_TAGS
bin=$dir/promtool
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
[ "$cached_only" -eq 0 ] || exit 1
command -v go >/dev/null || { echo "get-promtool: Go toolchain not found (make deps)" >&2; exit 1; }
mkdir -p "$dir"
exec {lockfd}>"$dir/.lock"
flock "$lockfd"
[ -x "$bin" ] && { echo "$bin"; exit 0; }
echo "get-promtool: building promtool $PROMETHEUS_MODULE_VERSION with $(go env GOVERSION) (first run only)" >&2
start=$(date +%s)
rm -rf "$dir/.tmp"
# Niced: under `make test` this build runs beside the cluster suites (CTest
# fixture "promtool"), whose control plane must keep its share of the CPU.
if ! GOBIN=$dir/.tmp CGO_ENABLED=0 GOFLAGS=-mod=mod \
  nice -n 10 go install -trimpath -ldflags "-s -w" -tags "$BUILD_TAGS" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" >&2; then
  echo "get-promtool: build failed" >&2
  exit 1
fi
"$dir/.tmp/promtool" --version >/dev/null || { echo "get-promtool: the built promtool does not run" >&2; exit 1; }
mv "$dir/.tmp/promtool" "$bin"
rmdir "$dir/.tmp" 2>/dev/null || true
echo "get-promtool: built in $(($(date +%s) - start))s -> $bin" >&2
echo "$bin"

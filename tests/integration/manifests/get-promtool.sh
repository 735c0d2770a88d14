#!/usr/bin/env bash
# Builds promtool (Prometheus' rule checker) from the Go module proxy into a
# versioned cache outside the repository, like the cluster components. A
# second run with the cache present does nothing.
#
# Usage: get-promtool.sh [--cached]
#   --cached  only report a promtool built before; never build (exit 1 if none)
#
# Prints the promtool path as the last line of stdout; exits 1 (and prints
# nothing on stdout) when Go is missing or the build fails, so callers can
# fall back to the YAML checks alone. The first build compiles Prometheus'
# service discovery too: about 12 CPU-minutes.
set -euo pipefail
cached_only=0
[ "${1:-}" = --cached ] && cached_only=1
readonly PROMETHEUS_MODULE_VERSION=v0.316.0  # Prometheus 3.x's Go module tag.
root=${NODEGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeguard}
dir=$root/tools/promtool-$PROMETHEUS_MODULE_VERSION
bin=$dir/promtool
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
[ "$cached_only" -eq 0 ] || exit 1
command -v go >/dev/null || { echo "get-promtool: Go toolchain not found" >&2; exit 1; }
mkdir -p "$dir"
exec {lockfd}>"$dir/.lock"
flock "$lockfd"
[ -x "$bin" ] && { echo "$bin"; exit 0; }
echo "get-promtool: building promtool $PROMETHEUS_MODULE_VERSION (first run only)" >&2
start=$(date +%s)
if ! GOBIN=$dir/.tmp CGO_ENABLED=0 GOFLAGS=-mod=mod \
  go install -trimpath -ldflags "-s -w" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" >&2; then
  echo "get-promtool: build failed" >&2
  exit 1
fi
mv "$dir/.tmp/promtool" "$bin"
rmdir "$dir/.tmp" 2>/dev/null || true
echo "get-promtool: built in $(( $(date +%s) - start ))s -> $bin" >&2
echo "$bin"

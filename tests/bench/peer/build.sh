#!/usr/bin/env bash
# Builds the scale benchmark's peer (main.go: a controller-runtime cache of
# Pods and Nodes) from the Go module proxy, pinned by go.mod/go.sum, into a
# cache outside the repository keyed by its sources' hash (the cluster
# components' cache is not touched). Benchmarks only; never in `make test`.
#
# Usage: build.sh        prints the binary's path as the last line of stdout
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-16)
root=${NODEGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeguard}
dir=$root/peer-$key
bin=$dir/peer
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "peer build: Go toolchain not found (make deps)" >&2; exit 1; }
mkdir -p "$dir"
exec {lockfd}>"$dir/.lock"
flock "$lockfd"
[ -x "$bin" ] && { echo "$bin"; exit 0; }
echo "peer build: $(go env GOVERSION), controller-runtime $(grep -o 'controller-runtime v[^ ]*' "$here/go.mod" | cut -d' ' -f2) (first run only)" >&2
start=$(date +%s)
(cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 10 go build -trimpath -o "$dir/.tmp-peer" .)
mv "$dir/.tmp-peer" "$bin"
echo "peer build: built in $(($(date +%s) - start))s -> $bin" >&2
echo "$bin"

#!/usr/bin/env bash
# Builds one Go command from the Go module proxy into a versioned cache outside
# the repository (like the cluster components, but each tool in a cache
# directory of its own, so no other cache key is touched). A second run with
# the cache present does nothing; concurrent runs wait on a lock.
#
# Usage: go-tool.sh [--cached] --name NAME --package PKG@VERSION --cache-dir DIR
#                   [--tags TAGS] [--ldflags FLAGS] --check 'ARGS'
#   --cached     only report a tool built before; never build (exit 1 if none)
#   --name       the binary's name (the last element of PKG)
#   --package    what `go install` builds, with its version
#   --cache-dir  its directory under the nodeguard cache (name and version in it)
#   --tags       Go build tags
#   --ldflags    linker flags (default "-s -w")
#   --check      arguments the built binary must accept with exit 0 before it is kept
#
# Prints the binary's path as the last line of stdout; exits 1 (nothing on
# stdout) when Go is missing or the build fails. The build is niced: under
# `make test` it runs beside the cluster suites, whose control planes must keep
# their share of the CPU.
set -euo pipefail
cached_only=0 name='' package='' cache_dir='' tags='' ldflags='-s -w' check=''
while [ $# -gt 0 ]; do
  case $1 in
    --cached) cached_only=1; shift ;;
    --name) name=$2; shift 2 ;;
    --package) package=$2; shift 2 ;;
    --cache-dir) cache_dir=$2; shift 2 ;;
    --tags) tags=$2; shift 2 ;;
    --ldflags) ldflags=$2; shift 2 ;;
    --check) check=$2; shift 2 ;;
    *) echo "go-tool: unknown argument $1" >&2; exit 2 ;;
  esac
done
for required in name package cache_dir check; do
  [ -n "${!required}" ] || { echo "go-tool: --${required//_/-} is required" >&2; exit 2; }
done
root=${NODEGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeguard}
dir=$root/$cache_dir
bin=$dir/$name
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
[ "$cached_only" -eq 0 ] || exit 1
command -v go >/dev/null || { echo "get-$name: Go toolchain not found (make deps)" >&2; exit 1; }
mkdir -p "$dir"
exec {lockfd}>"$dir/.lock"
flock "$lockfd"
[ -x "$bin" ] && { echo "$bin"; exit 0; }
echo "get-$name: building $package with $(go env GOVERSION) (first run only)" >&2
start=$(date +%s)
rm -rf "$dir/.tmp"
if ! GOBIN=$dir/.tmp CGO_ENABLED=0 GOFLAGS=-mod=mod \
  nice -n 10 go install -trimpath -ldflags "$ldflags" ${tags:+-tags "$tags"} "$package" >&2; then
  echo "get-$name: build failed" >&2
  exit 1
fi
read -r -a check_args <<<"$check"
"$dir/.tmp/$name" "${check_args[@]}" >/dev/null || { echo "get-$name: the built $name does not run" >&2; exit 1; }
mv "$dir/.tmp/$name" "$bin"
rm -rf "$dir/.tmp"
echo "get-$name: built in $(($(date +%s) - start))s -> $bin" >&2
echo "$bin"

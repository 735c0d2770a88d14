#!/usr/bin/env bash
# The fixture's cluster came up from the component cache: it runs the pinned
# binaries of the versioned cache directory, none of them was built or
# replaced while it started, and build-components.sh with the cache present
# builds nothing (it never calls `go`; a stub `go` first on PATH records any
# call) and prints that same directory.
#
# How long `up` took (control plane plus 20 Ready nodes; the target is under a
# minute) is reported, not asserted: a loaded CI machine must not fail the
# suite on time alone.
source "$(dirname "$0")/lib.sh"
cluster_dir=$(cd "$(dirname "$0")/.." && pwd)
fixture=${NODEGUARD_CLUSTER_FIXTURE_DIR:?}
file=$fixture/up-seconds
[ -s "$file" ] || fail "the fixture did not record its start time ($file)"
state=$(cat "$fixture/state-dir")
[ -f "$state/cluster.env" ] || fail "no cluster.env in the fixture's state $state"

# build-components.sh with the cache present: no `go`, no output but the bin dir.
stub=$(mktemp -d)
on_exit_do rm -rf "$stub"
printf '#!/bin/sh\necho "go $*" >>"%s/go-calls"\nexit 1\n' "$stub" >"$stub/go"
chmod +x "$stub/go"
t0=$(date +%s.%N)
PATH="$stub:$PATH" "$cluster_dir/build-components.sh" >"$stub/out" 2>"$stub/err" ||
  fail "build-components.sh failed with the cache present: $(cat "$stub/err")"
t1=$(date +%s.%N)
[ ! -e "$stub/go-calls" ] || fail "build-components.sh ran go with the cache present: $(cat "$stub/go-calls")"
[ ! -s "$stub/err" ] || fail "build-components.sh reported work with the cache present: $(cat "$stub/err")"
cache_bin=$(tail -n 1 "$stub/out")
[ -d "$cache_bin" ] || fail "build-components.sh printed '$cache_bin', not a directory"
say "build-components.sh with the cache present: nothing built, no go call, $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')s -> $cache_bin"

# The cluster runs those binaries (or NODEGUARD_CLUSTER_BIN's, if set on purpose).
want_bin=${NODEGUARD_CLUSTER_BIN:-$cache_bin}
ran_bin=$(sed -n 's/^NODEGUARD_CLUSTER_BIN=//p' "$state/cluster.env")
assert_eq "$ran_bin" "$want_bin" "the fixture's binary directory (cluster.env)"
for c in "${NODEGUARD_COMPONENTS[@]}"; do
  pid=$(cat "$state/pids/$c.pid") || fail "no pid file for $c"
  exe=$(readlink "/proc/$pid/exe") || fail "$c (pid $pid) is not running"
  assert_eq "$exe" "$(readlink -f "$want_bin/$c")" "binary of the running $c (pid $pid)"
  # Built before `up` chose its ports: nothing was (re)built while it started.
  [ "$want_bin/$c" -ot "$state/cluster.env" ] ||
    fail "$want_bin/$c is newer than the cluster's start ($state/cluster.env): built during up?"
done
say "the fixture runs ${NODEGUARD_COMPONENTS[*]} from $want_bin, all built before it started"

seconds=$(cat "$file")
say "cluster up (from cache, 20 nodes Ready) in ${seconds}s"
if awk -v s="$seconds" 'BEGIN {exit !(s >= 60)}'; then
  say "WARNING: slower than the 60s target"
fi

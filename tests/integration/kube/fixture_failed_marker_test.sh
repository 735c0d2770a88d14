#!/usr/bin/env bash
# The gtest cluster suites' failed marker (fixture_failed_marker.cpp): a
# passing run leaves no NODEGUARD_CLUSTER_FIXTURE_DIR/failed, a failing one does.
# Usage: fixture_failed_marker_test.sh PROBE_BINARY
set -u
probe=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
NODEGUARD_CLUSTER_FIXTURE_DIR=$dir "$probe" >"$dir/pass.log" 2>&1 ||
  { cat "$dir/pass.log"; echo "FAIL: the passing probe failed"; exit 1; }
[ ! -e "$dir/failed" ] || { echo "FAIL: a passing run left the failed marker"; exit 1; }
if NODEGUARD_CLUSTER_FIXTURE_DIR=$dir FIXTURE_MARKER_PROBE_FAIL=1 "$probe" >"$dir/fail.log" 2>&1; then
  cat "$dir/fail.log"; echo "FAIL: the failing probe passed"; exit 1
fi
[ -e "$dir/failed" ] || { echo "FAIL: a failing gtest run left no failed marker in $dir"; exit 1; }
# Outside the fixture: nothing written, no crash.
FIXTURE_MARKER_PROBE_FAIL=1 "$probe" >/dev/null 2>&1
[ $? -eq 1 ] || { echo "FAIL: the probe outside the fixture did not fail with 1"; exit 1; }
echo "ok: the failed marker is left by a failing gtest run only"

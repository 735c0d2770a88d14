#!/usr/bin/env bash
# Reports how long the fixture's `up` took (control plane from the binary
# cache plus 20 Ready nodes). The target is under a minute; the time is
# reported, not asserted: a loaded CI machine must not fail the suite.
source "$(dirname "$0")/lib.sh"
file=${NODEGUARD_CLUSTER_FIXTURE_DIR:?}/up-seconds
[ -s "$file" ] || fail "the fixture did not record its start time ($file)"
seconds=$(cat "$file")
say "cluster up (from cache, 20 nodes Ready) in ${seconds}s"
if awk -v s="$seconds" 'BEGIN {exit !(s >= 60)}'; then
  say "WARNING: slower than the 60s target"
fi

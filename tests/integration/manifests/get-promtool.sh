#!/usr/bin/env bash
# Builds promtool (Prometheus' rule and exposition checker) from the Go module
# proxy into a versioned cache outside the repository (tests/lib/go-tool.sh,
# like helm and the cluster components). `make test` runs it as the CTest test
# promtool.build (fixture "promtool", beside the cluster suites); `make
# promtool` runs it alone.
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
readonly PROMETHEUS_MODULE_VERSION=v0.316.0 # Prometheus 3.x's Go module tag.
readonly BUILD_TAGS=remove_all_sd
exec "$(dirname "$0")/../../lib/go-tool.sh" "$@" --name promtool \
  --package "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" \
  --cache-dir "promtool-$PROMETHEUS_MODULE_VERSION-$BUILD_TAGS" \
  --tags "$BUILD_TAGS" --check --version

#!/usr/bin/env bash
# Builds helm (the Helm 4 client) from the Go module proxy into a versioned
# cache outside the repository (tests/lib/go-tool.sh, like promtool and the
# cluster components). `make test` runs it as the CTest test helm.build
# (fixture "helm", beside the cluster suites); `make helm` runs it alone.
#
# Usage: get-helm.sh [--cached]
#   --cached  only report a helm built before; never build (exit 1 if none)
#
# Prints the helm path as the last line of stdout; exits 1 (nothing on
# stdout) when Go is missing or the build fails. The chart's tests fail
# without it.
set -euo pipefail
readonly HELM_MODULE_VERSION=v4.3.2
# helm prints the version it was built as from ldflags; without them it says
# "v4.x-unreleased"-like strings, so set the tag as its Makefile does.
exec "$(dirname "$0")/../../lib/go-tool.sh" "$@" --name helm \
  --package "helm.sh/helm/v4/cmd/helm@$HELM_MODULE_VERSION" \
  --cache-dir "helm-$HELM_MODULE_VERSION" \
  --ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_MODULE_VERSION" \
  --check version

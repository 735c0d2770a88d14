#!/usr/bin/env bash
# kubectl and the API server report the pinned Kubernetes version.
source "$(dirname "$0")/lib.sh"
json=$(k version -o json)
server=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])' <<<"$json")
client=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])' <<<"$json")
say "server $server, client $client"
assert_eq "$server" "$KUBERNETES_VERSION" "server version"
assert_eq "$client" "$KUBERNETES_VERSION" "kubectl version"

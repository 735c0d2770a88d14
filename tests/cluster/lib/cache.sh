# Shared by the cluster scripts: where the pinned binaries live.
# The directory name hashes versions.env and the build script, so a change to
# either selects a fresh cache and an old one is never reused by mistake.
nodeguard_cluster_bin_dir() {
  local here root key
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  root=${NODEGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeguard}
  key=$(cat "$here/versions.env" "$here/build-components.sh" | sha256sum | cut -c1-16)
  echo "$root/$key/bin"
}

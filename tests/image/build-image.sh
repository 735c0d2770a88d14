#!/usr/bin/env bash
# Builds the Dockerfile for real with Debian's podman (tests/image/podman.sh:
# vfs storage of nodeguard's own under ~/.cache/nodeguard/podman) and tags it
# localhost/nodeguard:VERSION, VERSION being the CMake project version (what
# `nodeguard --version` prints). `make image` runs it.
#
# No registry is reachable here, so FROM debian:bookworm cannot be pulled: the
# debootstrap base of build-rootfs.sh (--base, cached in
# ~/.cache/nodeguard/image) is imported once as
#   localhost/nodeguard-base/debian:bookworm       (the build stage's base)
#   localhost/nodeguard-base/debian:bookworm-slim  (the runtime stage's base)
# (one image, two names: that base is already slimmed as bookworm-slim is),
# labelled with the tarball's SHA-256 so a rebuilt base is imported again, and
# passed as the Dockerfile's BUILD_IMAGE and RUNTIME_IMAGE. The Dockerfile's
# defaults stay the public images for builders with a registry. apt inside the
# build uses the Debian mirror.
#
# Labels: org.opencontainers.image.version = VERSION, .revision = the commit
# (`git rev-parse HEAD`, with "-dirty" when the build's inputs differ from it),
# .source = the `origin` remote's URL when there is one.
#
# Build steps run with the host's network (no bridge, so no firewall rules are
# added on a shared machine) and CMAKE_BUILD_PARALLEL_LEVEL compile jobs
# (default: nproc). The layer cache makes a rebuild of an unchanged tree take
# seconds; a change under controller/ recompiles nodeguard. The build stage
# is tagged localhost/nodeguard-build:VERSION; after a build, images of
# earlier builds that nothing tagged refers to are removed (vfs stores every
# layer as a full copy, so they add up fast).
#
# Usage: tests/image/build-image.sh [--no-cache]
#   --no-cache   start from an empty layer cache: every image in nodeguard's
#                podman storage is removed first and the base imported again
#                (a cold build; e.g. to pick up Debian security updates;
#                build-rootfs.sh --rebuild renews the base tarball itself)
# Env: NODEGUARD_IMAGE (default localhost/nodeguard:VERSION),
#      CMAKE_BUILD_PARALLEL_LEVEL.
# Prints the image reference as the last line of stdout; progress on stderr.
# Needs root (the base's debootstrap; podman's storage).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
podman=$here/podman.sh

cold=0
for a in "$@"; do
  case $a in
    --no-cache) cold=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown argument $a" >&2; exit 2 ;;
  esac
done

log() { echo "build-image: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { log "must run as root (debootstrap, podman storage)"; exit 1; }

version=$(sed -n 's/^project(nodeguard VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
[ -n "$version" ] || { log "no project(nodeguard VERSION ...) in CMakeLists.txt"; exit 1; }
image=${NODEGUARD_IMAGE:-localhost/nodeguard:$version}
revision=$(git -C "$root" rev-parse HEAD)
# The build's inputs: what .dockerignore lets into the context.
if [ -n "$(git -C "$root" status --porcelain -- Dockerfile .dockerignore .ci/install-deps CMakeLists.txt controller manifests/image)" ]; then
  revision=$revision-dirty
fi
source_url=$(git -C "$root" remote get-url origin 2>/dev/null || true)
jobs=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}

# One build at a time per storage.
lock=${NODEGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeguard}/podman/.build-lock
mkdir -p "$(dirname "$lock")"
exec {lockfd}>"$lock"
flock "$lockfd"

start=$SECONDS
if [ "$cold" -eq 1 ]; then
  log "--no-cache: removing every image of $("$podman" info --format '{{.Store.GraphRoot}}')"
  "$podman" image prune --all --force >/dev/null
fi
# The base images, imported again only when the tarball changed.
base_tar=$("$here/build-rootfs.sh" --base | tail -1)
base_sum=$(sha256sum "$base_tar" | cut -d' ' -f1)
base_repo=localhost/nodeguard-base/debian
build_stage=localhost/nodeguard-build:$version
have=$("$podman" image inspect --format '{{index .Labels "io.nodeguard.base.sha256"}}' \
  "$base_repo:bookworm" 2>/dev/null || true)
if [ "$have" != "$base_sum" ]; then
  log "importing $base_tar as $base_repo:bookworm and :bookworm-slim"
  "$podman" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --change "LABEL io.nodeguard.base.sha256=$base_sum" \
    "$base_tar" "$base_repo:bookworm" >/dev/null
fi
# (Tagging again is a no-op when it already points there.)
"$podman" tag "$base_repo:bookworm" "$base_repo:bookworm-slim"

build_args=(
  --build-arg BUILD_IMAGE="$base_repo:bookworm"
  --build-arg RUNTIME_IMAGE="$base_repo:bookworm-slim"
  --build-arg CMAKE_BUILD_PARALLEL_LEVEL="$jobs"
  --build-arg VERSION="$version"
  --build-arg REVISION="$revision"
  --build-arg SOURCE="$source_url"
)
build() {
  "$podman" build --layers --pull=never --network host \
    --file "$root/Dockerfile" "${build_args[@]}" "$@" "$root" >&2
}
log "building $image (version $version, revision $revision, $jobs compile jobs)"
build_start=$SECONDS
# The build stage first, under a tag of its own: an untagged image without
# children counts as garbage below, and the build stage's last layer is a
# parent of nothing in the final image. The full build then finds it cached.
build --target build --tag "$build_stage"
build --tag "$image"
log "built $image in $((SECONDS - build_start))s ($((SECONDS - start))s with the base)"

# Earlier builds' layers: an untagged image without children is garbage once a
# build has succeeded (vfs stores every layer as a full copy, so they add up).
# Removing one can leave its parent childless, so repeat until none is left.
for _ in $(seq 20); do
  [ -n "$("$podman" image prune --force 2>/dev/null)" ] || break
done
log "storage: $(du -sh "$("$podman" info --format '{{.Store.GraphRoot}}')" | cut -f1)"
echo "$image"

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
# minutes (vfs: every cached step still copies the build stage); a change
# under controller/ recompiles nodeguard. When every input (the context's
# files, the build arguments, the base) is what the current image was built
# from, podman is not run at all. The build stage is tagged
# localhost/nodeguard-build:VERSION; after a build, images of earlier builds
# that nothing tagged refers to are removed (vfs stores every layer as a full
# copy, so they add up fast).
#
# Usage: tests/image/build-image.sh [--no-cache]
#   --no-cache   start from an empty layer cache: every image in nodeguard's
#                podman storage is removed first and the base imported again
#                (a cold build; e.g. to pick up Debian security updates;
#                build-rootfs.sh --rebuild renews the base tarball itself)
# Env: NODEGUARD_IMAGE (default localhost/nodeguard:VERSION),
#      CMAKE_BUILD_PARALLEL_LEVEL, NODEGUARD_PODMAN_DRIVER (vfs, the default, or
#      overlay: a storage of its own; see podman.sh).
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
# The build's inputs: the Dockerfile and what .dockerignore lets into the
# context (its `!path` lines).
mapfile -t inputs < <(echo Dockerfile; echo .dockerignore; sed -n 's|^!\(.*[^/]\)/*$|\1|p' "$root/.dockerignore")
if [ -n "$(git -C "$root" status --porcelain -- "${inputs[@]}")" ]; then
  revision=$revision-dirty
fi
# A clone without an origin remote gets an empty source label.
source_url=""
if git -C "$root" remote get-url origin >/dev/null 2>&1; then
  source_url=$(git -C "$root" remote get-url origin)
fi
jobs=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}

# One build at a time per storage.
state=${NODEGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeguard}/podman
mkdir -p "$state"
driver=${NODEGUARD_PODMAN_DRIVER:-vfs}
exec {lockfd}>"$state/.build-lock-$driver"
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
have=""
if "$podman" image exists "$base_repo:bookworm"; then
  have=$("$podman" image inspect --format '{{index .Labels "io.nodeguard.base.sha256"}}' \
    "$base_repo:bookworm")
fi
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
  # The same labels again as flags: buildah 1.28 takes the Dockerfile's LABEL
  # step from the cache when only a build argument in it changed (its history
  # holds the unexpanded "${REVISION}"), which would label a new commit's image
  # with an old revision. Labels given as flags are set on the final commit.
  --label org.opencontainers.image.version="$version"
  --label org.opencontainers.image.revision="$revision"
  --label org.opencontainers.image.source="$source_url"
  --label org.opencontainers.image.base.name="$base_repo:bookworm-slim"
)

# Every input of the build: the context's files (paths, modes, contents), the
# build arguments, the base's image ID. When the image was built from exactly
# these, podman is not run at all: with vfs even an all-cached build copies
# the 1.6 GB build stage once per step (minutes).
key=$({
  (cd "$root" && find "${inputs[@]}" -type f -printf '%p %m\n' | LC_ALL=C sort)
  (cd "$root" && find "${inputs[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  printf '%s\n' "${build_args[@]}"
  "$podman" image inspect --format '{{.Id}}' "$base_repo:bookworm"
} | sha256sum | cut -d' ' -f1)
keyfile=$state/built-$driver-$(tr -c 'a-zA-Z0-9.\n' _ <<<"$image")
if [ "$cold" -eq 0 ] && [ -f "$keyfile" ] &&
  [ "$(cat "$keyfile")" = "$key $("$podman" image inspect --format '{{.Id}}' "$image" 2>/dev/null)" ]; then
  log "$image is up to date (built from these inputs; $((SECONDS - start))s)"
  echo "$image"
  exit 0
fi
rm -f "$keyfile"

log "building $image (version $version, revision $revision, $jobs compile jobs)"
build_start=$SECONDS
"$podman" build --layers --pull=never --network host \
  --file "$root/Dockerfile" "${build_args[@]}" --tag "$image" "$root" 2>&1 | tee "$state/build-$driver.log" >&2
log "built $image in $((SECONDS - build_start))s ($((SECONDS - start))s with the base)"

# The build stage's last image, named: untagged and a parent of nothing in the
# final image, it would count as garbage below, and the next build would
# compile again. Its ID is the last "--> ID" before the runtime stage starts.
stage_id=$(awk '/^\[2\/2\] / {exit} /^--> [0-9a-f]+$/ {id = $2} END {print id}' "$state/build-$driver.log")
if [ -n "$stage_id" ] && "$podman" tag "$stage_id" "$build_stage" 2>/dev/null; then
  # Earlier builds' layers: an untagged image without children is garbage (vfs
  # stores every layer as a full copy, so they add up). Removing one can leave
  # its parent childless, so repeat until none is left.
  for _ in $(seq 20); do
    [ -n "$("$podman" image prune --force 2>/dev/null)" ] || break
  done
else
  log "note: could not find the build stage's image in podman's output; nothing pruned"
fi
echo "$key $("$podman" image inspect --format '{{.Id}}' "$image")" >"$keyfile"
log "storage: $(du -sh "$("$podman" info --format '{{.Store.GraphRoot}}')" | cut -f1)"
echo "$image"

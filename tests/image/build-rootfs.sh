#!/usr/bin/env bash
# Builds the filesystem of the Dockerfile's runtime stage without a container
# engine, and caches it outside the repository as tarballs:
#
#   base.tar.gz     `debootstrap --variant=minbase bookworm` with the apt
#                   sources of the debian:bookworm-slim image (what its FROM
#                   gives). Keyed by this script.
#   runtime.tar.gz  base + manifests/image/install-runtime.sh run in a chroot
#                   with manifests/image/runtime-packages.txt, exactly as the
#                   Dockerfile RUNs it. Keyed by this script, the install
#                   script and the package list.
#
# Usage: tests/image/build-rootfs.sh [--base] [--rebuild]
#   --base     stop after base.tar.gz and print its path (podman import uses it)
#   --rebuild  ignore the cache (e.g. to pick up Debian security updates)
#
# Prints the tarball's path as the last line of stdout; progress on stderr.
# Needs root (debootstrap, chroot, mount) and debootstrap (installed through
# apt when missing). Mounts happen in a private mount namespace, so nothing
# stays mounted if the script dies.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
list=$root/manifests/image/runtime-packages.txt
installer=$root/manifests/image/install-runtime.sh
suite=bookworm
mirror=${NODEGUARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}

want_base=0
rebuild=0
for a in "$@"; do
  case $a in
    --base) want_base=1 ;;
    --rebuild) rebuild=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-rootfs: unknown argument $a" >&2; exit 2 ;;
  esac
done

log() { echo "build-rootfs: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { log "must run as root (debootstrap, chroot)"; exit 1; }

cache=${NODEGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeguard}/image
base_key=$(sha256sum <"$0" | cut -c1-16)
runtime_key=$(cat "$0" "$installer" "$list" | sha256sum | cut -c1-16)
base_tar=$cache/base-$base_key.tar.gz
runtime_tar=$cache/runtime-$runtime_key.tar.gz
mkdir -p "$cache"

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/nodeguard-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT

# in_chroot DIR CMD...: run CMD chrooted in DIR with /proc, /dev and the host's
# DNS, in a private mount namespace that dies with the command.
in_chroot() {
  local dir=$1
  shift
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  unshare --mount --propagation private -- sh -c '
    dir=$1; shift
    mount -t proc proc "$dir/proc" && mount --rbind /dev "$dir/dev" && exec chroot "$dir" "$@"
  ' in_chroot "$dir" "$@"
}

# pack DIR TARBALL: write atomically, so a concurrent reader never sees half.
pack() {
  tar -C "$1" --numeric-owner -czf "$2.tmp.$$" . && mv "$2.tmp.$$" "$2"
}

build_base() {
  local dir=$work/base start=$SECONDS
  log "debootstrap --variant=minbase $suite (cold, a few minutes)"
  debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    return 1
  }
  # The apt sources of the debian:bookworm(-slim) image, so packages (and
  # security updates) come from the same suites as in the Dockerfile.
  rm -f "$dir/etc/apt/sources.list"
  cat >"$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # What makes debian:bookworm-slim slim (debuerreotype --slimify): dpkg
  # leaves out documentation, manuals and translations, now and for every
  # package installed later.
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  find "$dir/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$dir"/usr/share/{groff,info,linda,lintian/overrides,locale,man}/*
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/*
  : >"$dir/etc/resolv.conf"
  pack "$dir" "$base_tar"
  log "base filesystem in $((SECONDS - start))s -> $base_tar"
}

build_runtime() {
  local dir=$work/runtime start=$SECONDS
  mkdir -p "$dir"
  tar -C "$dir" --numeric-owner -xzf "$base_tar"
  install -m 0644 "$list" "$dir/tmp/runtime-packages.txt"
  install -m 0755 "$installer" "$dir/tmp/install-runtime.sh"
  log "installing the runtime packages"
  in_chroot "$dir" /tmp/install-runtime.sh /tmp/runtime-packages.txt
  rm -f "$dir/tmp/runtime-packages.txt" "$dir/tmp/install-runtime.sh"
  : >"$dir/etc/resolv.conf"
  pack "$dir" "$runtime_tar"
  log "runtime filesystem in $((SECONDS - start))s -> $runtime_tar"
}

# One builder at a time per cache (ctest may start two image tests at once).
exec {lockfd}>"$cache/.lock"
flock "$lockfd"
if [ "$rebuild" -eq 1 ]; then rm -f "$base_tar" "$runtime_tar"; fi
[ -f "$base_tar" ] || build_base
if [ "$want_base" -eq 1 ]; then
  echo "$base_tar"
  exit 0
fi
[ -f "$runtime_tar" ] || build_runtime
# Tarballs of older keys are never used again.
find "$cache" -maxdepth 1 \( -name 'base-*.tar.gz' -o -name 'runtime-*.tar.gz' \) \
  ! -name "${base_tar##*/}" ! -name "${runtime_tar##*/}" -delete
echo "$runtime_tar"

#!/usr/bin/env bash
# Debian's podman with nodeguard's own container storage, so that building and
# running the image here changes no configuration the host relies on:
#
#   storage   driver vfs (the only one this sandbox offers: no overlay mounts
#             for container storage), graph root
#             ~/.cache/nodeguard/podman/storage (NODEGUARD_CACHE moves it),
#             run root /run/nodeguard-podman
#   engine    cgroupfs (no systemd here), events to a file under the graph
#             root's parent, no log driver needing journald, the open-files
#             and process limits the host allows
#
# Both files are written under ~/.cache/nodeguard/podman/ and handed to podman
# through CONTAINERS_STORAGE_CONF and CONTAINERS_CONF; /etc/containers (the
# package's defaults) is left as installed. Installs podman through apt when
# missing (root).
#
# Usage: tests/image/podman.sh PODMAN_ARGS...   e.g. tests/image/podman.sh images
#        tests/image/podman.sh --env            print the two exports, for a shell
set -euo pipefail

cache=${NODEGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeguard}/podman
# NODEGUARD_PODMAN_DRIVER=overlay: a second storage beside the vfs one (the
# kernel here mounts overlay; not the default, see docs/testing.md).
driver=${NODEGUARD_PODMAN_DRIVER:-vfs}
case $driver in
  vfs) suffix='' ;;
  overlay) suffix=-overlay ;;
  *) echo "podman.sh: NODEGUARD_PODMAN_DRIVER must be vfs or overlay" >&2; exit 2 ;;
esac
runroot=${NODEGUARD_PODMAN_RUNROOT:-/run/nodeguard-podman$suffix}

log() { echo "podman.sh: $*" >&2; }

if ! command -v podman >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { log "podman is not installed (run as root to install it through apt)"; exit 1; }
  log "installing podman (Debian)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null; }
fi

mkdir -p "$cache/storage$suffix" "$cache/tmp"
# write FILE: stdin to FILE, replaced atomically and only when it changed (a
# concurrent podman never reads half a file).
write() {
  local tmp=$1.tmp.$$
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}
write "$cache/storage$suffix.conf" <<EOF
# Written by tests/image/podman.sh; used through CONTAINERS_STORAGE_CONF only.
[storage]
driver = "$driver"
graphroot = "$cache/storage$suffix"
runroot = "$runroot"
EOF
# podman raises a root container's open-files and process limits to the
# kernel's maxima, which needs CAP_SYS_RESOURCE, which this sandbox does not
# grant ("error setting rlimit type 7", then 6): the host's hard limits
# instead, and at most 32768 processes (podman 4.3 lowers its own process
# limit to that, observed in /proc/PID/limits; the container cannot exceed it).
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
nproc=$(ulimit -Hu)
if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
write "$cache/containers$suffix.conf" <<EOF
# Written by tests/image/podman.sh; used through CONTAINERS_CONF only.
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$cache/events$suffix.log"
tmp_dir = "$runroot/libpod"
EOF

export CONTAINERS_STORAGE_CONF=$cache/storage$suffix.conf
export CONTAINERS_CONF=$cache/containers$suffix.conf
# Big layer copies (vfs) go to the cache's disk, not a small /tmp.
export TMPDIR=$cache/tmp

if [ "${1:-}" = --env ]; then
  printf 'export CONTAINERS_STORAGE_CONF=%q CONTAINERS_CONF=%q TMPDIR=%q\n' \
    "$CONTAINERS_STORAGE_CONF" "$CONTAINERS_CONF" "$TMPDIR"
  exit 0
fi
exec podman "$@"

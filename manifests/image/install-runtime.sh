#!/bin/sh
# Turns a Debian bookworm base (the debian:bookworm-slim image, or a
# `debootstrap --variant=minbase bookworm` tree) into nodeguard's runtime
# filesystem. The Dockerfile's runtime stage RUNs exactly this script, and
# tests/image runs it in a chroot, so the tested filesystem is the shipped one.
#
# Usage: install-runtime.sh PACKAGE_LIST
#   Installs the packages listed in PACKAGE_LIST (runtime-packages.txt) without
#   recommends, creates the non-root user nodeguard (uid/gid 65532, the
#   distroless "nonroot" id) the controller runs as, and removes apt's caches.
set -eu
list=${1:?usage: install-runtime.sh PACKAGE_LIST}

packages=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$' | tr '\n' ' ')
[ -n "$packages" ] || { echo "install-runtime: no packages in $list" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $packages >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log

if ! getent group nodeguard >/dev/null; then
  groupadd -K GID_MAX=65532 --gid 65532 nodeguard
fi
if ! getent passwd nodeguard >/dev/null; then
  useradd -K UID_MAX=65532 --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin nodeguard
fi

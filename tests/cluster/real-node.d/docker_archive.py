#!/usr/bin/env python3
"""Writes a one-layer image as a docker-archive tar (`docker save` format),
which `ctr images import` reads: the real node's pause image, made without a
registry (tests/cluster/real-node).

Usage: docker_archive.py --binary PATH --tag NAME:TAG [--tag ...] --out TAR

The layer holds the binary as /pause (root-owned, 0755); the image's
Entrypoint is ["/pause"]. Every timestamp is zero, so the same binary gives
the same archive (and the same image digest) byte for byte.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile


def add_bytes(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def tar_bytes(entries):
    """A tar (bytes) of (name, data, mode) entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in entries:
            add_bytes(tar, name, data, mode)
    return buf.getvalue()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--tag", action="append", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    for tag in args.tag:
        if ":" not in tag.rsplit("/", 1)[-1]:
            sys.exit(f"docker_archive.py: --tag {tag}: want NAME:TAG")
    with open(args.binary, "rb") as f:
        binary = f.read()

    layer = tar_bytes([("pause", binary, 0o755)])
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": ["/pause"], "Env": [], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created": "1970-01-01T00:00:00Z",
                     "created_by": "tests/cluster/real-node.d/docker_archive.py"}],
    }, sort_keys=True, separators=(",", ":")).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{
        "Config": f"{config_digest}.json",
        "RepoTags": args.tag,
        "Layers": [f"{layer_digest}/layer.tar"],
    }]).encode()

    archive = tar_bytes([
        (f"{layer_digest}/layer.tar", layer, 0o644),
        (f"{config_digest}.json", config, 0o644),
        ("manifest.json", manifest, 0o644),
    ])
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(archive)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()

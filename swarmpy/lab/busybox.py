"""Reproducible OCI images built without Docker, chiefly busybox from Debian's busybox-static.

The lab preloads ``library/busybox:latest`` into its registry so services can run on a machine
with no internet. ``busybox_image()`` is one layer: /bin/busybox, a symlink per applet that
``busybox --list`` names, /etc/passwd, /etc/group and /tmp. Every timestamp is fixed and gzip
carries no mtime, so digests are stable across runs and machines with the same busybox.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import subprocess
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from swarmpy.engine.images.digests import sha256_of
from swarmpy.engine.images.manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    host_platform,
)

BUSYBOX = "/bin/busybox"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CREATED = "2024-01-01T00:00:00Z"
_MTIME = 1704067200  # CREATED as a timestamp


@dataclass(frozen=True)
class Entry:
    """One tar entry: a file (``data``), a directory, or a symlink (``link``)."""

    name: str
    data: bytes | None = None
    mode: int = 0o644
    link: str | None = None
    uid: int = 0
    gid: int = 0


def dir_entry(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, mode=mode)


def tar_layer(entries: Iterable[Entry]) -> bytes:
    """An uncompressed layer tar (its sha256 is the layer's diff_id)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.mtime, info.mode, info.uid, info.gid = _MTIME, entry.mode, entry.uid, entry.gid
            if entry.link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, entry.link
                tar.addfile(info)
            elif entry.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return out.getvalue()


@dataclass(frozen=True)
class Image:
    """An image as a registry stores it: a config blob and gzipped layer blobs."""

    config: bytes
    layers: tuple[bytes, ...]  # gzipped, lowest first
    diff_ids: tuple[str, ...] = ()

    @property
    def config_digest(self) -> str:
        """Also the image id."""
        return sha256_of(self.config)

    @property
    def layer_digests(self) -> tuple[str, ...]:
        return tuple(sha256_of(layer) for layer in self.layers)

    def manifest(self, media_type: str = DOCKER_MANIFEST) -> bytes:
        oci = media_type == OCI_MANIFEST
        doc = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "digest": self.config_digest,
                "size": len(self.config),
            },
            "layers": [
                {
                    "mediaType": OCI_LAYER_GZIP if oci else DOCKER_LAYER_GZIP,
                    "digest": sha256_of(layer),
                    "size": len(layer),
                }
                for layer in self.layers
            ],
        }
        return json.dumps(doc, indent=2).encode()


def make_image(
    layer_tars: Sequence[bytes],
    cmd: Sequence[str] = ("sh",),
    env: Sequence[str] = (PATH_ENV,),
    entrypoint: Sequence[str] | None = None,
    workdir: str = "",
    created_by: Sequence[str] = (),
) -> Image:
    """An image from uncompressed layer tars, lowest first."""
    diff_ids = tuple(sha256_of(t) for t in layer_tars)
    history = [
        {"created": CREATED, "created_by": created_by[i] if i < len(created_by) else f"layer {i}"}
        for i in range(len(layer_tars))
    ]
    config = {
        "architecture": host_platform()[0],
        "os": "linux",
        "created": CREATED,
        "config": {
            "Env": list(env),
            "Cmd": list(cmd),
            "Entrypoint": list(entrypoint) if entrypoint else None,
            "WorkingDir": workdir,
        },
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": history,
    }
    return Image(
        config=json.dumps(config, sort_keys=True).encode(),
        layers=tuple(gzip.compress(t, mtime=0) for t in layer_tars),
        diff_ids=diff_ids,
    )


def busybox_applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True)
    return sorted({a for a in out.stdout.split() if a and a != "busybox"})


@functools.cache
def busybox_layer() -> bytes:
    """The uncompressed rootfs tar of the busybox image."""
    with open(BUSYBOX, "rb") as binary:
        busybox = binary.read()
    entries = [
        dir_entry("bin"),
        dir_entry("etc"),
        dir_entry("root", 0o700),
        dir_entry("tmp", 0o1777),
        dir_entry("usr"),
        dir_entry("usr/bin"),
        dir_entry("var"),
        Entry("bin/busybox", busybox, mode=0o755),
        *(Entry(f"bin/{applet}", link="busybox", mode=0o777) for applet in busybox_applets()),
        Entry("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
        Entry("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
    ]
    return tar_layer(entries)


@functools.cache
def busybox_image() -> Image:
    return make_image([busybox_layer()], created_by=["ADD busybox-static rootfs"])

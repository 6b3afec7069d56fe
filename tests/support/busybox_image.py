"""Real, reproducible OCI images built without Docker.

``busybox_image()`` is a one-layer image made from Debian's static ``/bin/busybox``: every
applet ``busybox --list`` names is a symlink in /bin, plus /etc/passwd, /etc/group and /tmp.
``make_image`` builds any image from layer tars (see ``tar_layer``), e.g. one that adds a layer
on top of busybox's. An image can be pushed (tests.support.registry.push_image), saved as a
``docker save`` tarball (``save_docker_tar``) or written as an OCI layout (``write_oci_layout``).
Digests are stable across runs: every timestamp is fixed and gzip carries no mtime.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from swarmpy.agent.images.manifest import host_platform

BUSYBOX = "/bin/busybox"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CREATED = "2024-01-01T00:00:00Z"
_MTIME = 1704067200  # CREATED as a timestamp

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


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
    diff_ids: tuple[str, ...] = field(default=())

    @property
    def config_digest(self) -> str:
        """Also the image id."""
        return sha256(self.config)

    @property
    def layer_digests(self) -> tuple[str, ...]:
        return tuple(sha256(layer) for layer in self.layers)

    def manifest(self, media_type: str = DOCKER_MANIFEST) -> bytes:
        oci = media_type == OCI_MANIFEST
        doc = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json" if oci else DOCKER_CONFIG,
                "digest": self.config_digest,
                "size": len(self.config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"
                    if oci
                    else DOCKER_LAYER,
                    "digest": sha256(layer),
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
    diff_ids = tuple(sha256(t) for t in layer_tars)
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
    entries = [
        dir_entry("bin"),
        dir_entry("etc"),
        dir_entry("root", 0o700),
        dir_entry("tmp", 0o1777),
        dir_entry("usr"),
        dir_entry("usr/bin"),
        dir_entry("var"),
        Entry("bin/busybox", Path(BUSYBOX).read_bytes(), mode=0o755),
        *(Entry(f"bin/{applet}", link="busybox", mode=0o777) for applet in busybox_applets()),
        Entry("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
        Entry("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
    ]
    return tar_layer(entries)


@functools.cache
def busybox_image() -> Image:
    return make_image([busybox_layer()], created_by=["ADD busybox-static rootfs"])


def save_docker_tar(path: Path, image: Image, repo_tags: Sequence[str]) -> None:
    """Write ``image`` as ``docker save`` does (manifest.json + repositories, layer.tar dirs)."""
    layer_names = [f"{d.split(':')[1]}/layer.tar" for d in image.diff_ids]
    config_name = f"{image.config_digest.split(':')[1]}.json"
    manifest = [{"Config": config_name, "RepoTags": list(repo_tags), "Layers": layer_names}]
    repositories: dict[str, dict[str, str]] = {}
    for tag in repo_tags:
        repo, _, name = tag.rpartition(":")
        repositories.setdefault(repo, {})[name] = image.diff_ids[-1].split(":")[1]
    files = {
        "manifest.json": json.dumps(manifest).encode(),
        "repositories": json.dumps(repositories).encode(),
        config_name: image.config,
    }
    for name, layer in zip(layer_names, image.layers, strict=True):
        files[name] = gzip.decompress(layer)
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), _MTIME
            tar.addfile(info, io.BytesIO(data))


def write_oci_layout(directory: Path, image: Image, ref_name: str) -> None:
    """Write ``image`` as an OCI image layout directory; ``ref_name`` goes in the
    org.opencontainers.image.ref.name annotation (use a full reference, e.g. ``busybox:1``).
    """
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    manifest = image.manifest(OCI_MANIFEST)
    for blob in (image.config, *image.layers, manifest):
        (blobs / sha256(blob).split(":")[1]).write_bytes(blob)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))

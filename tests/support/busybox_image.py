"""Real, reproducible OCI images built without Docker, for tests.

The image builder itself is the lab's (``swarmpy.lab.busybox``: the lab preloads busybox
into its registry); this module re-exports it and adds what only tests need: writing an
image as a ``docker save`` tarball (``save_docker_tar``) or an OCI layout
(``write_oci_layout``). Push with ``tests.support.registry.push_image``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path

from swarmpy.engine.images.manifest import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from swarmpy.lab.busybox import (
    _MTIME,
    BUSYBOX,
    CREATED,
    PATH_ENV,
    Entry,
    Image,
    busybox_applets,
    busybox_image,
    busybox_layer,
    dir_entry,
    make_image,
    tar_layer,
)

__all__ = [
    "BUSYBOX",
    "CREATED",
    "DOCKER_MANIFEST",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "PATH_ENV",
    "Entry",
    "Image",
    "busybox_applets",
    "busybox_image",
    "busybox_layer",
    "dir_entry",
    "make_image",
    "save_docker_tar",
    "sha256",
    "tar_layer",
    "write_oci_layout",
]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


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

"""``docker save``: images as one tar that ``docker load`` (and ``swarmpy image load``) reads.

Docker's layout: ``manifest.json`` (Config, RepoTags, Layers per image), ``repositories``, the
config as ``<id hex>.json``, and one ``<dir>/layer.tar`` (uncompressed: its digest is the
layer's diff_id) with ``VERSION`` and ``json`` per layer.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any, BinaryIO

from swarmpy.engine.images.digests import digest_hex
from swarmpy.engine.images.reference import familiar_name, parse_reference
from swarmpy.engine.images.store import ImageStore
from swarmpy.errors import InvalidArgument

_GZIP_MAGIC = b"\x1f\x8b"


def save_images(store: ImageStore, names: list[str], out: Any) -> None:
    """Write the images ``names`` name (references or ids) to ``out`` as one tar."""
    entries: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        seen: dict[str, dict[str, Any]] = {}
        for name in names:
            record = store.get(name)
            tags = _tags_for(name, record.repo_tags)
            if record.id in seen:
                seen[record.id]["RepoTags"] += [
                    t for t in tags if t not in seen[record.id]["RepoTags"]
                ]
                continue
            config = store.config_blob(record.id)
            _add_bytes(tar, f"{digest_hex(record.id)}.json", config)
            layers = []
            for diff_id in record.diff_ids:
                layer_dir = digest_hex(diff_id)
                layers.append(f"{layer_dir}/layer.tar")
                if layer_dir in written:
                    continue
                written.add(layer_dir)
                blob, _ = store.layer_blob(diff_id)
                _add_dir(tar, layer_dir)
                _add_bytes(tar, f"{layer_dir}/VERSION", b"1.0")
                _add_bytes(tar, f"{layer_dir}/json", json.dumps({"id": layer_dir}).encode())
                _add_layer(tar, f"{layer_dir}/layer.tar", blob.open("rb"))
            entry = {"Config": f"{digest_hex(record.id)}.json", "RepoTags": tags, "Layers": layers}
            seen[record.id] = entry
            entries.append(entry)
            for tag in tags:
                repo, _, tag_name = tag.rpartition(":")
                repositories.setdefault(repo, {})[tag_name] = digest_hex(
                    diff_id_top(record.diff_ids)
                )
        _add_bytes(tar, "manifest.json", json.dumps(entries).encode())
        _add_bytes(tar, "repositories", json.dumps(repositories).encode())


def diff_id_top(diff_ids: tuple[str, ...]) -> str:
    return diff_ids[-1] if diff_ids else "sha256:" + "0" * 64


def _tags_for(name: str, repo_tags: tuple[str, ...]) -> list[str]:
    """What the archive names the image: the reference asked for, else all its tags (Docker:
    an image asked for by id keeps its tags)."""
    try:
        ref = parse_reference(name)
    except InvalidArgument:
        ref = None
    key = f"{ref.name}:{ref.tag}" if ref is not None and ref.tag else None
    if key is not None and key in repo_tags:
        return [familiar_name(key)]
    return [familiar_name(t) for t in repo_tags]


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_layer(tar: tarfile.TarFile, name: str, blob: BinaryIO) -> None:
    """The layer uncompressed: its size is needed up front, so it is measured first."""
    with blob:
        compressed = blob.read(2) == _GZIP_MAGIC
        blob.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=blob, mode="rb") if compressed else blob  # type: ignore[assignment]
        size = 0
        while chunk := stream.read(1 << 20):
            size += len(chunk)
        blob.seek(0)
        stream = gzip.GzipFile(fileobj=blob, mode="rb") if compressed else blob  # type: ignore[assignment]
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o644
        tar.addfile(info, stream)

"""Reading image archives: ``docker save`` tarballs and OCI image layouts (tar or directory).

A ``docker save`` tar has ``manifest.json`` (Config, RepoTags, Layers per image); an OCI layout
has ``index.json`` whose descriptors name images through annotations. Newer Docker writes both;
``manifest.json`` wins since it carries the full tags.
"""

from __future__ import annotations

import contextlib
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from swarmpy.engine.images import manifest as mf
from swarmpy.engine.images.digests import digest_hex, verify_bytes
from swarmpy.engine.images.layers import LayerSource
from swarmpy.engine.images.reference import parse_reference
from swarmpy.engine.images.untar import safe_name
from swarmpy.errors import ImageError, InvalidArgument


@dataclass(frozen=True)
class ArchiveImage:
    config: bytes
    layers: tuple[LayerSource, ...]  # lowest first; each verified later against its diff_id
    repo_tags: tuple[str, ...]  # canonical references


class _Files:
    """Named files of an archive, whether a directory or a (possibly compressed) tar."""

    def __init__(self, path: Path, tar: tarfile.TarFile | None) -> None:
        self._path = path
        self._tar = tar

    def exists(self, name: str) -> bool:
        name = safe_name(name)
        if self._tar is None:
            return (self._path / name).is_file()
        return any(safe_name(m.name) == name for m in self._tar.getmembers())

    def read(self, name: str) -> bytes:
        with self.open(name) as stream:
            return stream.read()

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        clean = safe_name(name)
        if self._tar is None:
            path = self._path / clean
            if path.is_symlink() or not path.is_file():
                raise ImageError(f"invalid archive: {name} is missing")
            with path.open("rb") as plain:
                yield plain
            return
        member = next((m for m in self._tar.getmembers() if safe_name(m.name) == clean), None)
        stream = self._tar.extractfile(member) if member and member.isreg() else None
        if stream is None:
            raise ImageError(f"invalid archive: {name} is missing")
        with stream as opened:
            yield cast(BinaryIO, opened)

    def source(self, name: str) -> LayerSource:
        return lambda: self.open(name)


@contextlib.contextmanager
def open_archive(path: Path) -> Iterator[list[ArchiveImage]]:
    """The images in the archive at ``path``; layer sources are valid inside the block."""
    if path.is_dir():
        yield _images(_Files(path, None))
        return
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 (closed below; open() can fail)
    except tarfile.ReadError:
        # tarfile's own message lists each compression it tried, one per line.
        raise ImageError(
            f"cannot read image archive {path}: not a tar archive (plain, gzip, bzip2 or xz)"
        ) from None
    except (OSError, tarfile.TarError) as exc:
        raise ImageError(f"cannot read image archive {path}: {exc}") from None
    with tar:
        yield _images(_Files(path, tar))


def _images(files: _Files) -> list[ArchiveImage]:
    if files.exists("manifest.json"):
        return _docker_save(files)
    if files.exists("index.json"):
        return _oci_layout(files)
    raise ImageError("invalid archive: neither manifest.json nor index.json found")


def _json(files: _Files, name: str) -> Any:
    try:
        return json.loads(files.read(name))
    except ValueError as exc:
        raise ImageError(f"invalid archive: {name}: {exc}") from None


def _docker_save(files: _Files) -> list[ArchiveImage]:
    entries = _json(files, "manifest.json")
    if not isinstance(entries, list):
        raise ImageError("invalid archive: manifest.json is not a list")
    images = []
    for entry in entries:
        try:
            config = files.read(entry["Config"])
            layers = tuple(files.source(name) for name in entry["Layers"])
            tags = tuple(_canonical(t) for t in entry.get("RepoTags") or ())
        except (KeyError, TypeError) as exc:
            raise ImageError(f"invalid archive: bad manifest.json entry: {exc}") from None
        images.append(ArchiveImage(config, layers, tags))
    return images


def _oci_layout(files: _Files) -> list[ArchiveImage]:
    index = mf.parse(files.read("index.json"), mf.OCI_INDEX)
    assert isinstance(index, mf.Index)
    images = []
    for descriptor in index.manifests:
        manifest = _platform_manifest(files, descriptor)
        config = _blob(files, manifest.config.digest)
        layers = tuple(files.source(_blob_name(d.digest)) for d in manifest.layers)
        name = _oci_name(descriptor)
        images.append(ArchiveImage(config, layers, (name,) if name else ()))
    return images


def _platform_manifest(files: _Files, descriptor: mf.Descriptor) -> mf.Manifest:
    parsed = mf.parse(_blob(files, descriptor.digest), descriptor.media_type)
    if isinstance(parsed, mf.Index):
        arch, variant = mf.host_platform()
        chosen = mf.choose_platform(parsed, arch, variant)
        parsed = mf.parse(_blob(files, chosen.digest), chosen.media_type)
    if not isinstance(parsed, mf.Manifest):
        raise ImageError(f"invalid archive: {descriptor.digest} is not an image manifest")
    return parsed


def _oci_name(descriptor: mf.Descriptor) -> str | None:
    """containerd's full-name annotation, else ref.name when it is a full reference.

    A bare tag (``latest``, as the OCI spec allows) names no repository, so the image loads
    untagged rather than under a guessed name.
    """
    full = descriptor.annotation(mf.CONTAINERD_NAME_ANNOTATION)
    if full:
        return _canonical(full)
    ref_name = descriptor.annotation(mf.REF_NAME_ANNOTATION)
    if ref_name and (":" in ref_name or "/" in ref_name):
        return _canonical(ref_name)
    return None


def _blob_name(digest: str) -> str:
    return f"blobs/sha256/{digest_hex(digest)}"


def _blob(files: _Files, digest: str) -> bytes:
    data = files.read(_blob_name(digest))
    verify_bytes(data, digest, "blob")
    return data


def _canonical(text: str) -> str:
    try:
        ref = parse_reference(text)
    except InvalidArgument as exc:
        raise ImageError(f"invalid archive: bad image name: {exc}") from None
    return f"{ref.name}:{ref.tag or 'latest'}"

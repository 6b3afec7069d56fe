"""OCI and Docker v2 manifests and indexes: parsing and platform selection (pure)."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from typing import Any

from swarmpy.engine.images.digests import digest_hex
from swarmpy.errors import ImageError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name"

_MACHINE_TO_GOARCH = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: tuple[tuple[str, str], ...] = ()
    platform: tuple[str, str, str] | None = None  # (os, architecture, variant)

    def annotation(self, key: str) -> str | None:
        return dict(self.annotations).get(key)


@dataclass(frozen=True)
class Manifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Index:
    manifests: tuple[Descriptor, ...]


def host_platform() -> tuple[str, str]:
    """Go-style (architecture, variant) of this machine, as registries label images."""
    machine = platform.machine().lower()
    return _MACHINE_TO_GOARCH.get(machine, (machine, ""))


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """``data`` as a JSON object; anything else is a malformed ``what`` (an image's manifest
    or config)."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ImageError(f"malformed {what}: {exc}") from None
    if not isinstance(doc, dict):
        raise ImageError(f"malformed {what}: not a JSON object")
    return doc


def parse(data: bytes, media_type: str = "") -> Manifest | Index:
    """Parse a manifest or an index; ``media_type`` (e.g. from Content-Type) may be empty."""
    doc = json_object(data, "image manifest")
    kind = doc.get("mediaType") or media_type
    if kind in INDEX_TYPES or (not kind and "manifests" in doc):
        return Index(tuple(_descriptor(m) for m in _list(doc, "manifests")))
    if kind in MANIFEST_TYPES or (not kind and "config" in doc):
        if not isinstance(doc.get("config"), dict):
            raise ImageError("malformed image manifest: no config")
        return Manifest(
            config=_descriptor(doc["config"]),
            layers=tuple(_descriptor(layer) for layer in _list(doc, "layers")),
        )
    raise ImageError(f"unsupported manifest type {kind or 'unknown'!r}")


def choose_platform(index: Index, arch: str, variant: str = "", os: str = "linux") -> Descriptor:
    """Pick the manifest for os/arch, preferring the exact variant, as dockerd does."""
    candidates = [
        d for d in index.manifests if d.platform and d.platform[0] == os and d.platform[1] == arch
    ]
    exact = [d for d in candidates if not variant or d.platform is None or d.platform[2] == variant]
    chosen = exact or candidates
    if not chosen:
        raise ImageError(f"no matching manifest for {os}/{arch} in the manifest list entries")
    return chosen[0]


def _list(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ImageError(f"malformed image manifest: bad {key!r}")
    return value


def _descriptor(raw: dict[str, Any]) -> Descriptor:
    try:
        digest = str(raw["digest"])
        digest_hex(digest)
        plat = raw.get("platform")
        return Descriptor(
            media_type=str(raw.get("mediaType", "")),
            digest=digest,
            size=int(raw.get("size", 0)),
            annotations=tuple(sorted((raw.get("annotations") or {}).items())),
            platform=(
                (
                    str(plat.get("os", "")),
                    str(plat.get("architecture", "")),
                    plat.get("variant", ""),
                )
                if isinstance(plat, dict)
                else None
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ImageError(f"malformed image manifest descriptor: {exc}") from None

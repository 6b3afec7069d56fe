"""What the node knows about an image: its record, the runtime's view of its config."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from swarmpy.dockerjson.health import image_health
from swarmpy.engine.images.digests import digest_hex
from swarmpy.engine.images.manifest import json_object
from swarmpy.errors import ImageError
from swarmpy.model import HealthConfig


@dataclass(frozen=True)
class ImageRecord:
    id: str  # "sha256:<hex>": the digest of the image's config blob
    repo_tags: tuple[str, ...] = ()  # canonical: "docker.io/library/busybox:latest"
    repo_digests: tuple[str, ...] = ()  # canonical: "docker.io/library/busybox@sha256:..."
    created: str = ""  # RFC 3339, from the config
    architecture: str = ""
    os: str = ""
    size: int = 0  # bytes of content in all layers
    diff_ids: tuple[str, ...] = ()  # lowest layer first
    parent: str = ""  # the image a build step made this one from ("" for pulled images)

    @property
    def short_id(self) -> str:
        return digest_hex(self.id)[:12]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> ImageRecord:
        raw = json.loads(text)
        for key in ("repo_tags", "repo_digests", "diff_ids"):
            raw[key] = tuple(raw[key])
        return cls(**raw)


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image's config that the runtime needs to start a container."""

    image_id: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # "K=V"
    workdir: str = ""
    user: str = ""
    healthcheck: HealthConfig | None = None  # the image's HEALTHCHECK
    stop_signal: str = ""  # the image's STOPSIGNAL ("" is SIGTERM)
    volumes: tuple[str, ...] = ()  # the image's VOLUME paths: an anonymous volume each


def parse_config(data: bytes) -> dict[str, Any]:
    return json_object(data, "image config")


def diff_ids_of(doc: dict[str, Any]) -> tuple[str, ...]:
    rootfs = doc.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list):
        raise ImageError("malformed image config: no rootfs.diff_ids")
    for diff_id in ids:
        digest_hex(str(diff_id))
    return tuple(str(d) for d in ids)


def runtime_config(image_id: str, doc: dict[str, Any]) -> ImageConfig:
    cfg = doc.get("config") or {}
    return ImageConfig(
        image_id=image_id,
        entrypoint=tuple(cfg.get("Entrypoint") or ()),
        cmd=tuple(cfg.get("Cmd") or ()),
        env=tuple(cfg.get("Env") or ()),
        workdir=str(cfg.get("WorkingDir") or ""),
        user=str(cfg.get("User") or ""),
        healthcheck=image_health(cfg.get("Healthcheck")),
        stop_signal=str(cfg.get("StopSignal") or ""),
        volumes=tuple(sorted(cfg.get("Volumes") or {})),
    )


def record_for(
    image_id: str,
    doc: dict[str, Any],
    size: int,
    repo_tags: tuple[str, ...] = (),
    repo_digests: tuple[str, ...] = (),
) -> ImageRecord:
    return ImageRecord(
        id=image_id,
        repo_tags=repo_tags,
        repo_digests=repo_digests,
        created=str(doc.get("created") or ""),
        architecture=str(doc.get("architecture") or ""),
        os=str(doc.get("os") or ""),
        size=size,
        diff_ids=diff_ids_of(doc),
    )


def timestamp(rfc3339: str) -> float:
    """Seconds since the epoch for a config's ``created``; 0 when absent or unparsable."""
    if not rfc3339:
        return 0.0
    text = rfc3339.replace("Z", "+00:00")
    # Go prints nanoseconds; fromisoformat takes at most microseconds.
    if "." in text:
        head, _, frac = text.partition(".")
        digits = "".join(c for c in frac if c.isdigit())
        text = f"{head}.{digits[:6]}{frac[len(digits) :]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0

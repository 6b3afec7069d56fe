"""``docker image ls / inspect / history`` shapes, computed from records and configs (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from swarmpy.engine.images.records import ImageRecord, timestamp
from swarmpy.engine.images.reference import familiar_name

NONE = "<none>"
MISSING = "<missing>"


@dataclass(frozen=True)
class ImageRow:
    """One line of ``image ls``: one per tag, or one ``<none>`` row for an untagged image."""

    repository: str
    tag: str
    image_id: str  # 12 hex chars of the config digest
    created: float  # seconds since the epoch
    size: int  # bytes


def list_rows(records: Iterable[ImageRecord]) -> list[ImageRow]:
    rows = []
    for record in records:
        created = timestamp(record.created)
        names = [familiar_name(t).rsplit(":", 1) for t in record.repo_tags] or [[NONE, NONE]]
        for repository, tag in names:
            rows.append(ImageRow(repository, tag, record.short_id, created, record.size))
    rows.sort(key=lambda r: (-r.created, r.repository, r.tag))
    return rows


def inspect_view(record: ImageRecord, config: dict[str, Any]) -> dict[str, Any]:
    cfg = config.get("config") or {}
    return {
        "Id": record.id,
        "RepoTags": [familiar_name(t) for t in record.repo_tags],
        "RepoDigests": [familiar_name(d) for d in record.repo_digests],
        "Created": record.created,
        "Author": config.get("author", ""),
        "Architecture": record.architecture,
        "Os": record.os,
        "Size": record.size,
        "Config": _container_config(cfg),
        "ContainerConfig": _container_config(config.get("container_config") or {}),
        "Parent": record.parent,
        "DockerVersion": str(config.get("docker_version", "")),
        "RootFS": {"Type": "layers", "Layers": list(record.diff_ids)},
    }


def _container_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """An image's (run) config as Docker's inspect shows it: every key of its container
    Config, those the image does not set at their zero values."""
    return {
        "Hostname": cfg.get("Hostname", ""),
        "Domainname": cfg.get("Domainname", ""),
        "User": cfg.get("User", ""),
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        **({"ExposedPorts": cfg["ExposedPorts"]} if cfg.get("ExposedPorts") else {}),
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": cfg.get("Env"),
        "Cmd": cfg.get("Cmd"),
        **({"Healthcheck": cfg["Healthcheck"]} if cfg.get("Healthcheck") else {}),
        **({"ArgsEscaped": True} if cfg.get("ArgsEscaped") else {}),
        "Image": cfg.get("Image", ""),
        "Volumes": cfg.get("Volumes"),
        "WorkingDir": cfg.get("WorkingDir", ""),
        "Entrypoint": cfg.get("Entrypoint"),
        "OnBuild": cfg.get("OnBuild"),
        "Labels": cfg.get("Labels"),
        **({"StopSignal": cfg["StopSignal"]} if cfg.get("StopSignal") else {}),
        **({"Shell": cfg["Shell"]} if cfg.get("Shell") else {}),
    }


def history_rows(
    record: ImageRecord, config: dict[str, Any], layer_size: Callable[[str], int]
) -> list[dict[str, Any]]:
    """Newest first, like the Engine API's /images/{name}/history.

    A history entry without ``empty_layer`` consumed the next diff_id; only the newest row
    carries the image id, older ones are ``<missing>`` as on a pulled image.
    """
    entries = config.get("history")
    if not isinstance(entries, list) or not entries:
        entries = [{"created": record.created} for _ in record.diff_ids]
    layers = iter(record.diff_ids)
    rows = []
    for entry in entries:
        size = 0
        if not entry.get("empty_layer"):
            diff_id = next(layers, None)
            size = layer_size(diff_id) if diff_id else 0
        rows.append(
            {
                "Id": MISSING,
                "Created": int(timestamp(str(entry.get("created", "")))),
                "CreatedBy": str(entry.get("created_by", "")),
                "Tags": None,
                "Size": size,
                "Comment": str(entry.get("comment", "")),
            }
        )
    rows.reverse()
    rows[0]["Id"] = record.id
    rows[0]["Tags"] = [familiar_name(t) for t in record.repo_tags] or None
    return rows

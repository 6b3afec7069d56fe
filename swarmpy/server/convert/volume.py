"""Volumes as Docker's Engine API shows them (api/types/volume.Volume) and the list and
prune filters as Docker's volume service applies them (daemon/volume/service/convert.go).
Pure."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from swarmpy.engine.volumes import DRIVER, SCOPE, Volume
from swarmpy.errors import InvalidArgument
from swarmpy.server.convert.disk import match_labels
from swarmpy.server.filters import Filters

LIST_FILTERS = ("dangling", "driver", "label", "name")
PRUNE_FILTERS = ("label", "label!", "all")


def rfc3339(ts: float) -> str:
    """Go's time.RFC3339 in the daemon's local time: "Z" for UTC, else the offset."""
    text = dt.datetime.fromtimestamp(int(ts)).astimezone().isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def volume_json(volume: Volume, usage: tuple[int, int] | None = None) -> dict[str, Any]:
    """Docker's Volume; ``usage`` (size, reference count) adds UsageData, as /system/df."""
    doc: dict[str, Any] = {
        "CreatedAt": rfc3339(volume.created_at),
        "Driver": DRIVER,
        "Labels": dict(volume.labels) if volume.labels_given else None,
        "Mountpoint": str(volume.mountpoint),
        "Name": volume.name,
        "Options": dict(volume.options) if volume.options_given else None,
        "Scope": SCOPE,
    }
    if usage is not None:
        doc["UsageData"] = {"Size": usage[0], "RefCount": usage[1]}
    return doc


def _match_name(pattern: str, name: str) -> bool:
    """Docker's filters.Match: the value as a regular expression searched in the name."""
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return pattern in name


def volume_matches(filters: Filters, volume: Volume, users: Sequence[str]) -> bool:
    """Docker's list filters: name (a pattern), driver, label, dangling (no container)."""
    dangling = filters.bool_value("dangling")
    return (
        filters.any("name", (_match_name(p, volume.name) for p in filters.get("name")))
        and filters.any("driver", (d == DRIVER for d in filters.get("driver")))
        and filters.labels("label", dict(volume.labels))
        and (dangling is None or dangling == (not users))
    )


def prunable(
    filters: Filters, volume: Volume, users: Sequence[str], api_version: tuple[int, ...]
) -> bool:
    """What ``volume prune`` removes, as Docker's: unused local volumes without driver
    options (likely remote mounts), labels matching; before API 1.42 every such volume,
    from 1.42 only anonymous ones unless ``all=true``."""
    if users or volume.options:
        return False
    if not match_labels(filters, volume.labels):
        return False
    values = filters.get("all")
    if len(values) > 1:
        raise InvalidArgument(
            f"invalid filter 'all={','.join(values)}': only one value is expected"
        )
    everything = api_version < (1, 42)
    if values:
        everything = filters.bool_value("all") is True
    return everything or volume.anonymous


def create_request(
    body: Any,
) -> tuple[str, str, Mapping[str, str] | None, Mapping[str, str] | None]:
    """Docker's CreateOptions: (Name, Driver, Labels, DriverOpts); a map left out or null
    stays None (inspect then shows null, as Docker's)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: expected an object")

    def text(key: str) -> str:
        value = body.get(key) or ""
        if not isinstance(value, str):
            raise InvalidArgument(f"invalid JSON: {key} must be a string")
        return value

    def string_map(key: str) -> Mapping[str, str] | None:
        value = body.get(key)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise InvalidArgument(f"invalid JSON: {key} must be a map of strings")
        return dict(value)

    allowed = {"Name", "Driver", "DriverOpts", "Labels", "ClusterVolumeSpec"}
    for key in body:
        if key not in allowed:
            raise InvalidArgument(f"invalid JSON: unknown field {key!r}")
    if body.get("ClusterVolumeSpec"):
        raise InvalidArgument("cluster volumes are not supported by swarmpy")
    return text("Name"), text("Driver"), string_map("Labels"), string_map("DriverOpts")

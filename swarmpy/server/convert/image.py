"""Images as Docker's JSON: /images/json rows, the inspect document, the ``docker images``
filters, and a pull's progress lines as Docker's JSON message stream (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from swarmpy.engine.images import ImageRecord, familiar_name
from swarmpy.engine.images.records import timestamp
from swarmpy.server.filters import Filters

IMAGE_FILTERS = ("before", "dangling", "label", "reference", "since")
# The progress lines the store says that are no layer's: the whole line is the status.
WHOLE_LINE_STATUSES = ("Digest", "Status")


def summary(record: ImageRecord, labels: dict[str, str] | None) -> dict[str, Any]:
    """One row of /images/json (Docker's ImageSummary)."""
    return {
        "Id": record.id,
        "ParentId": "",
        "RepoTags": [familiar_name(t) for t in record.repo_tags],
        "RepoDigests": [familiar_name(d) for d in record.repo_digests],
        "Created": int(timestamp(record.created)),
        "Size": record.size,
        "SharedSize": -1,
        "VirtualSize": record.size,
        "Labels": labels or {},
        "Containers": -1,
    }


def inspect_json(doc: dict[str, Any]) -> dict[str, Any]:
    """The store's inspect view with the rest of Docker's ImageInspect keys."""
    return {
        "Parent": "",
        "Comment": "",
        "Container": "",
        "ContainerConfig": {},
        "DockerVersion": "",
        "Variant": "",
        "OsVersion": "",
        "VirtualSize": doc.get("Size", 0),
        "GraphDriver": {"Name": "overlay", "Data": None},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        **doc,
    }


def go_path_pattern(pattern: str) -> re.Pattern[str]:
    """Go's path.Match as a regexp: ``*`` and ``?`` stop at ``/``; ``[...]`` classes."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def reference_matches(patterns: Sequence[str], record: ImageRecord) -> bool:
    """Docker's reference filter (FamiliarMatch): a pattern matches a familiar reference
    (``busybox:latest``) or its name alone (``busybox``)."""
    names = [familiar_name(r) for r in record.repo_tags + record.repo_digests]
    candidates = names + [_name(n) for n in names]
    return any(go_path_pattern(p).match(c) for p in patterns for c in candidates)


def _name(reference: str) -> str:
    """``host:5000/app:v1`` -> ``host:5000/app``; ``app@sha256:..`` -> ``app``."""
    without_digest = reference.split("@", 1)[0]
    slash = without_digest.rfind("/")
    colon = without_digest.rfind(":")
    return without_digest[:colon] if colon > slash else without_digest


@dataclass(frozen=True)
class ImageQuery:
    filters: Filters
    all: bool
    before: float | None = None  # created-at of the ``before`` image
    since: float | None = None


def matches(query: ImageQuery, record: ImageRecord, labels: dict[str, str]) -> bool:
    f = query.filters
    created = timestamp(record.created)
    dangling = f.bool_value("dangling")
    return (
        (dangling is None or dangling == (not record.repo_tags))
        and f.any("reference", [reference_matches(f.get("reference"), record)])
        and f.labels("label", labels)
        and (query.before is None or created < query.before)
        and (query.since is None or created > query.since)
    )


def progress_json(line: str) -> dict[str, Any]:
    """A progress line of the store (``<id>: <status>``, ``Digest: ...``) as Docker's
    JSONMessage, which its CLI draws per id."""
    head, sep, rest = line.partition(": ")
    if sep and head not in WHOLE_LINE_STATUSES and " " not in head:
        return {"status": rest, "progressDetail": {}, "id": head}
    return {"status": line}


def error_json(message: str) -> dict[str, Any]:
    return {"errorDetail": {"message": message}, "error": message}


def load_json(record: ImageRecord) -> list[dict[str, str]]:
    """What /images/load says of one loaded image, as ``docker load`` prints it."""
    if not record.repo_tags:
        return [{"stream": f"Loaded image ID: {record.id}\n"}]
    return [{"stream": f"Loaded image: {familiar_name(t)}\n"} for t in record.repo_tags]

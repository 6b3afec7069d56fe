"""`swarmpy volume ls`: the node's volumes, by name, as docker's volume formatter shows
them."""

from __future__ import annotations

from typing import Any

import typer

from swarmpy.cli import engine, opts, output
from swarmpy.cli.task import natural_key

COLUMNS = [("DRIVER", "Driver"), ("VOLUME NAME", "Name")]
HEADERS = {
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
}


def row(volume: dict[str, Any]) -> dict[str, Any]:
    labels = dict(volume.get("Labels") or {})
    usage = volume.get("UsageData")
    return {
        "Driver": volume.get("Driver", ""),
        "Name": volume.get("Name", ""),
        "Scope": volume.get("Scope", ""),
        "Mountpoint": volume.get("Mountpoint", ""),
        "Labels": output.labels_text(labels),
        "Links": str(usage["RefCount"]) if usage else "N/A",
        "Size": output.human_size(usage["Size"]) if usage else "N/A",
        "_labels": labels,
    }


def ls(
    filters: list[str] = opts.filter_option("Provide filter values (e.g. 'dangling=true')"),
    fmt: str = output.format_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display volume names"),
) -> None:
    """List volumes."""
    api = engine.connect()
    found = api.get("/volumes", filters=engine.filters_json(opts.parse_filter_flags(filters)))
    volumes = list(found.get("Volumes") or [])
    volumes.sort(key=lambda v: natural_key(str(v.get("Name", ""))))
    output.emit(COLUMNS, [row(v) for v in volumes], fmt, quiet, "Name", headers=HEADERS)

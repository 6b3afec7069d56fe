"""`swarmpy service ls`: each service with its running and wanted replicas."""

from __future__ import annotations

from typing import Any

import typer

from swarmpy.cli import engine, output

COLUMNS = [
    ("ID", "ID"),
    ("NAME", "Name"),
    ("MODE", "Mode"),
    ("REPLICAS", "Replicas"),
    ("IMAGE", "Image"),
    ("PORTS", "Ports"),
]


def row(service: dict[str, Any]) -> dict[str, Any]:
    """A Service document (``/services?status=true``) as docker's service formatter shows it."""
    spec = service.get("Spec", {})
    status = service.get("ServiceStatus", {})
    return {
        "ID": service["ID"][:12],
        "Name": spec.get("Name", ""),
        "Mode": "global" if "Global" in spec.get("Mode", {}) else "replicated",
        "Replicas": f"{status.get('RunningTasks', 0)}/{status.get('DesiredTasks', 0)}",
        "Image": spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", ""),
        "Ports": "",
    }


def ls(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display IDs"),
    fmt: str = output.format_option(),
) -> None:
    """List services."""
    services = engine.connect().get("/services", status=True)
    output.emit(COLUMNS, [row(s) for s in services], fmt, quiet)

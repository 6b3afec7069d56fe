"""`swarmpy service ls`: each service with its running and wanted replicas."""

from __future__ import annotations

from typing import Any

import typer

from swarmpy.cli import engine, opts, output
from swarmpy.cli.service.publish import ports_column

COLUMNS = [
    ("ID", "ID"),
    ("NAME", "Name"),
    ("MODE", "Mode"),
    ("REPLICAS", "Replicas"),
    ("IMAGE", "Image"),
    ("PORTS", "Ports"),
]


# Docker's service formatter names the modes so (a job's key is spelled with a space).
_MODES = (
    ("Global", "global"),
    ("Replicated", "replicated"),
    ("ReplicatedJob", "replicated job"),
    ("GlobalJob", "global job"),
)


def mode_name(mode: dict[str, Any]) -> str:
    return next((name for key, name in _MODES if mode.get(key) is not None), "")


def replicas(mode: dict[str, Any], status: dict[str, Any]) -> str:
    """Docker's REPLICAS column: running/desired, and a job's progress as a whole."""
    running, desired = status.get("RunningTasks", 0), status.get("DesiredTasks", 0)
    completed = status.get("CompletedTasks", 0)
    if mode.get("ReplicatedJob") is not None:
        total = mode["ReplicatedJob"].get("TotalCompletions", 0)
        return f"{running}/{desired} ({completed}/{total} completed)"
    if mode.get("GlobalJob") is not None:
        # What is still to complete plus what has: the run's total, as Docker counts it.
        return f"{running}/{desired} ({completed}/{desired + completed} completed)"
    return f"{running}/{desired}"


def row(service: dict[str, Any]) -> dict[str, Any]:
    """A Service document (``/services?status=true``) as docker's service formatter shows it."""
    spec = service.get("Spec", {})
    status = service.get("ServiceStatus", {})
    mode = spec.get("Mode", {})
    return {
        "ID": service["ID"][:12],
        "Name": spec.get("Name", ""),
        "Mode": mode_name(mode),
        "Replicas": replicas(mode, status),
        "Image": spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", ""),
        "Ports": ports_column((service.get("Endpoint") or {}).get("Ports") or []),
    }


def ls(
    filters: list[str] = opts.filter_option(),
    fmt: str = output.format_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display IDs"),
) -> None:
    """List services."""
    wanted = engine.filters_json(opts.parse_filter_flags(filters))
    services = engine.connect().get("/services", status=True, filters=wanted)
    output.emit(COLUMNS, [row(s) for s in services], fmt, quiet)

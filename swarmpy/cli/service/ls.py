"""`swarmpy service ls`: each service with its running and wanted replicas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import typer

from swarmpy.cli import engine, opts, output

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


def replicas(mode: dict[str, Any], status: dict[str, Any], max_per_node: int = 0) -> str:
    """Docker's REPLICAS column: running/desired, and a job's progress as a whole, or a
    replicated service's placement limit ("1/2 (max 1 per node)")."""
    running, desired = status.get("RunningTasks", 0), status.get("DesiredTasks", 0)
    completed = status.get("CompletedTasks", 0)
    if mode.get("ReplicatedJob") is not None:
        total = mode["ReplicatedJob"].get("TotalCompletions", 0)
        return f"{running}/{desired} ({completed}/{total} completed)"
    if mode.get("GlobalJob") is not None:
        # What is still to complete plus what has: the run's total, as Docker counts it.
        return f"{running}/{desired} ({completed}/{desired + completed} completed)"
    if max_per_node and mode.get("Replicated") is not None:
        return f"{running}/{desired} (max {max_per_node} per node)"
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
        "Replicas": replicas(
            mode,
            status,
            (spec.get("TaskTemplate", {}).get("Placement") or {}).get("MaxReplicas", 0),
        ),
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


def ports_column(ports: Sequence[Mapping[str, Any]]) -> str:
    """The PORTS of `service ls`: the ingress-mode ports of Endpoint.Ports, consecutive ones
    grouped into ranges, as docker/cli's service formatter."""
    ordered = sorted(
        ports, key=lambda p: (str(p.get("Protocol", "")), int(p.get("PublishedPort", 0)))
    )
    out: list[str] = []
    run: list[int] = []  # pStart, pEnd, tStart, tEnd
    proto = ""

    def flush() -> None:
        if run and run[0] > 0:
            pub = f"{run[0]}-{run[1]}" if run[1] > run[0] else str(run[0])
            tgt = f"{run[2]}-{run[3]}" if run[3] > run[2] else str(run[2])
            out.append(f"*:{pub}->{tgt}/{proto}")

    for p in ordered:
        if p.get("PublishMode", "ingress") != "ingress":
            continue
        published, target = int(p.get("PublishedPort", 0)), int(p.get("TargetPort", 0))
        protocol = str(p.get("Protocol", ""))
        if run:
            is_range = run[3] != run[2]
            overlaps = target <= run[3]
            # Go's unsigned differences: going backwards is a gap too.
            new = (
                protocol != proto
                or not 0 <= published - run[1] <= 1
                or not 0 <= target - run[3] <= 1
                or (is_range and overlaps)
            )
        else:
            new = True
        if new:
            flush()
            run = [published, published, target, target]
            proto = protocol
            continue
        run[1], run[3] = published, target
    flush()
    return ", ".join(out)

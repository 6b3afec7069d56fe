"""`swarmpy service scale`: new replica counts for replicated services (and a replicated
job's completions)."""

from __future__ import annotations

import dataclasses
from typing import Any

import typer

from swarmpy.cli import engine, specflags
from swarmpy.cli.progress import wait_for_convergence
from swarmpy.cli.service import flags as F
from swarmpy.cli.service.common import inspect_service, update_service
from swarmpy.dockerjson.service import service_spec
from swarmpy.errors import InvalidArgument
from swarmpy.model import ServiceMode


def scale(
    pairs: list[str] = typer.Argument(..., metavar="SERVICE=REPLICAS..."),
    detach: bool = F.DETACH,
) -> None:
    """Scale one or multiple replicated services."""
    parsed = specflags.scale_pairs(pairs)
    api = engine.connect()
    scaled: list[tuple[str, dict[str, Any]]] = []
    for name, replicas in parsed:
        doc = inspect_service(api, name)
        spec = service_spec(doc["Spec"])
        # As docker/cli's: a replicated job's scale is its TotalCompletions.
        if spec.mode not in (ServiceMode.REPLICATED, ServiceMode.REPLICATED_JOB):
            raise InvalidArgument(
                f"{name}: scale can only be used with replicated or replicated-job mode"
            )
        update_service(api, doc, dataclasses.replace(spec, replicas=replicas))
        scaled.append((name, doc))
        typer.echo(f"{name} scaled to {replicas}")
    if not detach:
        for _, doc in scaled:
            wait_for_convergence(api, doc["ID"], baseline=doc.get("UpdateStatus"))

"""`swarmpy service scale`: new replica counts for replicated services."""

from __future__ import annotations

import dataclasses

import typer

from swarmpy.cli import specflags
from swarmpy.cli.client import Client, run
from swarmpy.cli.progress import wait_for_convergence
from swarmpy.cli.service.common import get_service, update_service
from swarmpy.errors import InvalidArgument
from swarmpy.model import ServiceMode, UpdateStatus


def scale(
    pairs: list[str] = typer.Argument(..., metavar="SERVICE=REPLICAS..."),
    detach: bool = typer.Option(
        False, "--detach", "-d", help="Exit immediately instead of waiting"
    ),
) -> None:
    """Scale one or multiple replicated services."""
    parsed = specflags.scale_pairs(pairs)

    async def call(c: Client) -> None:
        baselines: dict[str, UpdateStatus | None] = {}
        for name, replicas in parsed:
            service = await get_service(c, name)
            if service.spec.mode != ServiceMode.REPLICATED:
                raise InvalidArgument(f"{name}: scale can only be used with replicated mode")
            scaled = await update_service(
                c, service.id, dataclasses.replace(service.spec, replicas=replicas)
            )
            baselines[name] = scaled.update_status
            typer.echo(f"{name} scaled to {replicas}")
        if not detach:
            for name, _ in parsed:
                await wait_for_convergence(c, name, baseline=baselines[name])

    run(call)

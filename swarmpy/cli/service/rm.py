"""`swarmpy service rm`: removes services."""

from __future__ import annotations

import typer

from swarmpy.api import control_pb2
from swarmpy.cli.client import Client, run


def rm(refs: list[str] = typer.Argument(..., metavar="SERVICE...")) -> None:
    """Remove one or more services."""

    async def call(c: Client) -> None:
        for ref in refs:
            await c.control.RemoveService(control_pb2.RemoveRequest(ref=ref))
            typer.echo(ref)

    run(call)

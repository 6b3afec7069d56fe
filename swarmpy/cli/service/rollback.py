"""`swarmpy service rollback`: back to the previous spec."""

from __future__ import annotations

import typer

from swarmpy.cli.client import Client, run
from swarmpy.cli.progress import wait_for_convergence
from swarmpy.cli.service.common import update_service


def rollback(
    ref: str = typer.Argument(..., metavar="SERVICE"),
    detach: bool = typer.Option(
        False, "--detach", "-d", help="Exit immediately instead of waiting"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Suppress progress output"),
) -> None:
    """Revert changes to a service's configuration."""

    async def call(c: Client) -> None:
        service = await update_service(c, ref, None, rollback=True)
        typer.echo(ref)
        if not detach:
            await wait_for_convergence(
                c, service.id, quiet=quiet, baseline=service.update_status, rollback_requested=True
            )

    run(call)

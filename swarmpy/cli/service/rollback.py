"""`swarmpy service rollback`: back to the previous spec (``rollback=previous``)."""

from __future__ import annotations

import typer

from swarmpy.cli import engine
from swarmpy.cli.progress import wait_for_convergence
from swarmpy.cli.service import flags as F
from swarmpy.cli.service.common import inspect_service, update_service


def rollback(
    ref: str = typer.Argument(..., metavar="SERVICE"),
    detach: bool = F.DETACH,
    quiet: bool = F.QUIET,
) -> None:
    """Revert changes to a service's configuration."""
    api = engine.connect()
    doc = inspect_service(api, ref)
    update_service(api, doc, None, rollback=True)
    typer.echo(ref)
    if not detach:
        wait_for_convergence(
            api,
            doc["ID"],
            quiet=quiet,
            baseline=doc.get("UpdateStatus"),
            rollback_requested=True,
        )

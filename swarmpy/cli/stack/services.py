"""`swarmpy stack services STACK`: the stack's services, as `service ls` shows them."""

from __future__ import annotations

import typer

from swarmpy.cli import engine, opts, output
from swarmpy.cli.service.ls import COLUMNS, row
from swarmpy.cli.stack.common import check_name, stack_filter
from swarmpy.cli.task import natural_key


def services(
    stack: str = typer.Argument(..., metavar="STACK"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display IDs"),
    fmt: str = output.format_option(),
    filters: list[str] = opts.filter_option("Filter output based on conditions provided"),
) -> None:
    """List the services in the stack."""
    namespace = check_name(stack)
    wanted = stack_filter(namespace, opts.parse_filter_flags(filters))
    found = engine.connect().get("/services", status=not quiet, filters=wanted)
    if not found:
        # docker/cli: not an error.
        typer.echo(f"Nothing found in stack: {namespace}", err=True)
        return
    found.sort(key=lambda s: natural_key(s["Spec"]["Name"]))
    output.emit(COLUMNS, [row(s) for s in found], fmt, quiet)

"""`swarmpy stack ps STACK`: the tasks of the stack's services, as `service ps` shows them."""

from __future__ import annotations

import typer

from swarmpy.cli import engine, opts, output, task
from swarmpy.cli.stack.common import check_name, stack_filter
from swarmpy.errors import SwarmpyError


def ps(
    stack: str = typer.Argument(..., metavar="STACK"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Do not truncate output"),
    no_resolve: bool = typer.Option(False, "--no-resolve", help="Do not map IDs to Names"),
    filters: list[str] = opts.filter_option("Filter output based on conditions provided"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display task IDs"),
    fmt: str = output.format_option(),
) -> None:
    """List the tasks in the stack."""
    namespace = check_name(stack)
    api = engine.connect()
    wanted = opts.parse_filter_flags(filters)
    if "node" in wanted:
        wanted["node"] = [task.node_reference(api, ref) for ref in wanted["node"]]
    tasks = api.get("/tasks", filters=stack_filter(namespace, wanted))
    if not tasks:
        raise SwarmpyError(f"nothing found in stack: {namespace}")
    task.emit(api, tasks, fmt, quiet, trunc=not (no_trunc or quiet), no_resolve=no_resolve)

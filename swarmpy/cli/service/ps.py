"""`swarmpy service ps`: the tasks of services, newest of each slot first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer

from swarmpy.cli import output
from swarmpy.cli.client import Client, run
from swarmpy.cli.service.common import list_tasks
from swarmpy.errors import InvalidArgument
from swarmpy.model import Node, Task


def _state_text(task: Task) -> str:
    return f"{task.status.state.label} {output.ago(task.status.timestamp or task.created_at)}"


def ps_rows(tasks: Sequence[Task], nodes: dict[str, Node], no_trunc: bool) -> list[dict[str, Any]]:
    """Docker's service ps: newest task of a slot first, older ones marked with \\_."""
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], list[Task]] = {}
    for t in tasks:
        key = (t.service_name, str(t.slot) if t.slot else t.node_id)
        groups.setdefault(key, []).append(t)
    for (service_name, slot), members in sorted(groups.items()):
        members.sort(key=lambda t: t.created_at, reverse=True)
        for i, t in enumerate(members):
            name = f"{service_name}.{slot if t.slot else t.node_id}"
            node = nodes.get(t.node_id)
            err = t.status.err
            rows.append(
                {
                    "ID": t.id if no_trunc else t.id[:12],
                    "Name": name if i == 0 else f" \\_ {name}",
                    "Image": t.spec.container.image,
                    "Node": node.hostname if node else "",
                    "DesiredState": t.desired_state.label,
                    "CurrentState": _state_text(t),
                    "Error": err if no_trunc or len(err) <= 40 else f'"{err[:37]}…"',
                    "Ports": "",
                }
            )
    return rows


PS_COLUMNS = [
    ("ID", "ID"),
    ("NAME", "Name"),
    ("IMAGE", "Image"),
    ("NODE", "Node"),
    ("DESIRED STATE", "DesiredState"),
    ("CURRENT STATE", "CurrentState"),
    ("ERROR", "Error"),
    ("PORTS", "Ports"),
]


def _filter_tasks(tasks: list[Task], filters: Sequence[str]) -> list[Task]:
    for f in filters:
        key, _, value = f.partition("=")
        if key == "desired-state":
            tasks = [t for t in tasks if t.desired_state.name.lower() == value.lower()]
        elif key == "node":
            tasks = [t for t in tasks if t.node_id.startswith(value)]
        elif key == "id":
            tasks = [t for t in tasks if t.id.startswith(value)]
        elif key == "name":
            tasks = [t for t in tasks if t.name.startswith(value)]
        else:
            raise InvalidArgument(f"invalid filter {key!r}")
    return tasks


def ps(
    services: list[str] = typer.Argument(..., metavar="SERVICE..."),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Do not truncate output"),
    filters: list[str] = typer.Option(
        [], "--filter", "-f", help="Filter output based on conditions provided"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display task IDs"),
    fmt: str = output.format_option(),
) -> None:
    """List the tasks of one or more services."""

    async def call(c: Client) -> tuple[list[Task], dict[str, Node]]:
        return await list_tasks(c, services)

    tasks, nodes = run(call)
    tasks = _filter_tasks(tasks, filters)
    output.emit(PS_COLUMNS, ps_rows(tasks, nodes, no_trunc or quiet), fmt, quiet)

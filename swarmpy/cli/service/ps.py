"""`swarmpy service ps`: the tasks of services, newest of each slot first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import typer

from swarmpy.cli import engine, output

ERROR_WIDTH = 40


def _pretty(word: str) -> str:
    """docker's command.PrettyPrint: the first letter upper-cased."""
    return word[:1].upper() + word[1:]


def _state_text(task: Mapping[str, Any]) -> str:
    status = task.get("Status", {})
    at = output.parse_iso(status.get("Timestamp", "")) or output.parse_iso(
        task.get("CreatedAt", "")
    )
    return f"{_pretty(status.get('State', ''))} {output.ago(at)}"


def ps_rows(
    tasks: Sequence[Mapping[str, Any]],
    service_names: Mapping[str, str],
    hostnames: Mapping[str, str],
    no_trunc: bool,
) -> list[dict[str, Any]]:
    """Docker's service ps over Task documents: newest task of a slot first, older ones
    marked with \\_ (a global service's slot is its node)."""
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for t in tasks:
        service = service_names.get(t.get("ServiceID", ""), t.get("ServiceID", ""))
        key = (service, str(t["Slot"]) if t.get("Slot") else t.get("NodeID", ""))
        groups.setdefault(key, []).append(t)
    for (service, slot), members in sorted(groups.items()):
        members.sort(key=lambda t: output.parse_iso(t.get("CreatedAt", "")), reverse=True)
        for i, t in enumerate(members):
            name = f"{service}.{slot}"
            err = str(t.get("Status", {}).get("Err", ""))
            image = t.get("Spec", {}).get("ContainerSpec", {}).get("Image", "")
            rows.append(
                {
                    "ID": t["ID"] if no_trunc else t["ID"][:12],
                    "Name": name if i == 0 else f" \\_ {name}",
                    "Image": image,
                    "Node": hostnames.get(t.get("NodeID", ""), ""),
                    "DesiredState": _pretty(t.get("DesiredState", "")),
                    "CurrentState": _state_text(t),
                    "Error": err if no_trunc or len(err) <= ERROR_WIDTH else f'"{err[:37]}…"',
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


def parse_filters(items: Sequence[str]) -> dict[str, list[str]]:
    """``--filter key=value`` flags in Docker's filters form (the daemon checks the keys)."""
    filters: dict[str, list[str]] = {}
    for item in items:
        key, _, value = item.partition("=")
        filters.setdefault(key, []).append(value)
    return filters


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
    api = engine.connect()
    wanted = parse_filters(filters) | {"service": list(services)}
    tasks = api.get("/tasks", filters=engine.filters_json(wanted))
    names = {s["ID"]: s.get("Spec", {}).get("Name", "") for s in api.get("/services")}
    hostnames = {n["ID"]: n.get("Description", {}).get("Hostname", "") for n in api.get("/nodes")}
    rows = ps_rows(tasks, names, hostnames, no_trunc or quiet)
    output.emit(PS_COLUMNS, rows, fmt, quiet)

"""`swarmpy service ps`: the tasks of services, newest of each slot first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import typer

from swarmpy.cli import engine, opts, task
from swarmpy.errors import InvalidArgument

PS_COLUMNS = task.COLUMNS


def ps_rows(
    tasks: Sequence[Mapping[str, Any]],
    service_names: Mapping[str, str],
    hostnames: Mapping[str, str],
    no_trunc: bool,
) -> list[dict[str, Any]]:
    """docker's service ps table over Task documents (see swarmpy.cli.task)."""
    return task.rows(tasks, service_names, hostnames, trunc=not no_trunc)


def resolve_services(
    listed: Sequence[Mapping[str, Any]], refs: Sequence[str]
) -> tuple[list[str], list[str]]:
    """docker's createFilter: each ref as a full ID, a full name, then an ID prefix (an
    ambiguous prefix is an error); the IDs found and a "no such service" per ref not found.
    None found at all is an error."""
    ids: list[str] = []
    notfound: list[str] = []
    for ref in refs:
        by_id = [str(s["ID"]) for s in listed if s["ID"] == ref]
        by_name = [str(s["ID"]) for s in listed if s.get("Spec", {}).get("Name") == ref]
        by_prefix = [str(s["ID"]) for s in listed if str(s["ID"]).startswith(ref)]
        if by_id or by_name:
            ids.append((by_id or by_name)[0])
        elif len(by_prefix) > 1:
            raise InvalidArgument(f"multiple services found with provided prefix: {ref}")
        elif by_prefix:
            ids.append(by_prefix[0])
        else:
            notfound.append(f"no such service: {ref}")
    if not ids:
        engine.fail(notfound)
    return ids, notfound


def ps(
    services: list[str] = typer.Argument(..., metavar="SERVICE..."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only display task IDs"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Do not truncate output"),
    no_resolve: bool = typer.Option(False, "--no-resolve", help="Do not map IDs to Names"),
    fmt: str = typer.Option("", "--format", help="Pretty-print tasks using a Go template"),
    filters: list[str] = opts.filter_option(),
) -> None:
    """List the tasks of one or more services."""
    api = engine.connect()
    wanted = opts.parse_filter_flags(filters)
    ids, notfound = resolve_services(api.get("/services"), services)
    wanted["service"] = [*wanted.get("service", []), *ids]
    if "node" in wanted:
        wanted["node"] = [task.node_reference(api, ref) for ref in wanted["node"]]
    tasks = api.get("/tasks", filters=engine.filters_json(wanted))
    # As docker's: -q prints whole IDs.
    task.emit(api, tasks, fmt, quiet, trunc=not (no_trunc or quiet), no_resolve=no_resolve)
    if notfound:
        engine.fail(notfound)

"""`swarmpy service logs`: a service's or task's logs, relayed by the managers through the
Engine API (``/services/{id}/logs``, ``/tasks/{id}/logs``) with Docker's details on each line,
from which the ``<service>.<slot>.<task>@<node> |`` prefix is made, as docker's CLI does."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote_plus

import typer

from swarmpy.cli import engine
from swarmpy.cli.container import parse_tail
from swarmpy.cli.engine import EngineClient, path_of
from swarmpy.errors import NotFound

DETAIL_PREFIX = "com.docker.swarm."
SYSTEM_ERR = 3  # the stream of the daemon's own words in a multiplexed stream


def _slot(task: Mapping[str, Any]) -> str:
    """A replicated task's slot, a global one's node."""
    return str(task["Slot"]) if task.get("Slot") else str(task.get("NodeID", ""))


def log_context(
    task: Mapping[str, Any], service: str, node_name: str, no_task_ids: bool, slot_width: int
) -> str:
    """Docker's line prefix, ``<service>.<slot>.<task id>@<node>``, padded so that lines of
    slots of different widths (9 and 10) stay aligned."""
    slot = _slot(task)
    name = f"{service}.{slot}"
    if not no_task_ids:
        name += "." + str(task["ID"])[:12]
    return f"{name}@{node_name}" + " " * max(0, slot_width - len(slot))


def format_log_line(context: str, data: bytes, raw: bool) -> bytes:
    """One output line (``data`` with its newline)."""
    return data if raw else context.encode() + b"    | " + data


def slot_width(tasks: Sequence[Mapping[str, Any]]) -> int:
    return max((len(_slot(t)) for t in tasks), default=0)


def split_details(line: bytes) -> tuple[dict[str, str], bytes]:
    """A line sent with ``details=1``: its ``key=value,...`` details (Docker's, query-escaped)
    and the line itself."""
    head, sep, rest = line.partition(b" ")
    if not sep or not head.startswith(DETAIL_PREFIX.encode()):
        return {}, line
    details = {}
    for pair in head.decode(errors="replace").split(","):
        key, _, value = pair.partition("=")
        details[unquote_plus(key).removeprefix(DETAIL_PREFIX)] = unquote_plus(value)
    return details, rest


def _log_path(api: EngineClient, ref: str) -> str:
    """A service by id, name or prefix, else a task by id or prefix (as docker accepts)."""
    try:
        service = api.get(path_of("services", ref))
        return path_of("services", service["ID"], "logs")
    except NotFound:
        tasks = api.get("/tasks")
        matches = [t for t in tasks if t["ID"] == ref] or [
            t for t in tasks if t["ID"].startswith(ref)
        ]
        if len(matches) != 1:
            raise
        return path_of("tasks", matches[0]["ID"], "logs")


class Contexts:
    """The prefixes of the lines, from the tasks and nodes as they were last read (again when
    a task appears that was not there then, as with --follow)."""

    def __init__(self, api: EngineClient, no_task_ids: bool) -> None:
        self.api, self.no_task_ids = api, no_task_ids
        self.tasks: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}
        self.hostnames: dict[str, str] = {}

    def _read(self) -> None:
        self.tasks = {t["ID"]: t for t in self.api.get("/tasks")}
        self.names = {s["ID"]: s["Spec"].get("Name", "") for s in self.api.get("/services")}
        self.hostnames = {
            n["ID"]: n.get("Description", {}).get("Hostname", "") for n in self.api.get("/nodes")
        }

    def of(self, details: Mapping[str, str]) -> str:
        task_id = details.get("task.id", "")
        if task_id not in self.tasks:
            self._read()
        task = self.tasks.get(task_id)
        if task is None:
            return ""
        service_id = task.get("ServiceID", "")
        width = slot_width([t for t in self.tasks.values() if t.get("ServiceID") == service_id])
        node_id = details.get("node.id", "")
        return log_context(
            task,
            self.names.get(service_id, service_id),
            self.hostnames.get(node_id) or node_id,
            self.no_task_ids,
            width,
        )


def logs(
    ref: str = typer.Argument(..., metavar="SERVICE|TASK"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Follow log output"),
    tail: str = typer.Option(
        "all", "--tail", "-n", help="Number of lines to show from the end of the logs"
    ),
    no_task_ids: bool = typer.Option(False, "--no-task-ids", help="Do not include task IDs"),
    raw: bool = typer.Option(False, "--raw", help="Do not neatly format logs"),
) -> None:
    """Fetch the logs of a service or task."""
    count = parse_tail(tail)
    api = engine.connect()
    path = _log_path(api, ref)
    query = {
        "stdout": True,
        "stderr": True,
        "follow": follow,
        "tail": "all" if count < 0 else count,
        "details": True,
    }
    contexts = Contexts(api, no_task_ids)
    out = sys.stdout.buffer
    # Ctrl-C is how -f ends, as with docker: no traceback.
    with contextlib.suppress(KeyboardInterrupt), api.open("GET", path, query, stream=True) as r:
        for stream, payload in engine.demux(r.read1):
            if stream == SYSTEM_ERR:  # nodes that did not answer, said by the managers
                typer.echo(payload.decode(errors="replace").rstrip("\n"), err=True)
                continue
            details, line = split_details(payload)
            out.write(format_log_line(contexts.of(details), line, raw))
            out.flush()

"""`swarmpy service logs`: a service's or task's logs, relayed by the managers through the
Engine API (``/services/{id}/logs``, ``/tasks/{id}/logs``) with Docker's details on each line,
from which the ``<service>.<slot>.<task>@<node>    |`` prefix is made, as docker's CLI does
(cli/command/service/logs.go): stdout to stdout, stderr to stderr."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import unquote_plus

import typer

from swarmpy.cli import containerflags, engine
from swarmpy.cli.container import log_query, parse_tail
from swarmpy.cli.engine import EngineClient, path_of
from swarmpy.errors import InvalidArgument, NotFound

DETAIL_PREFIX = "com.docker.swarm."
CONTEXT_KEYS = ("node.id", "service.id", "task.id")
SYSTEM_ERR = 3  # the stream of the daemon's own words in a multiplexed stream
STDERR = 2
SHORT_ID = 12


@dataclass(frozen=True)
class Prefix:
    """How lines are shown: docker's service logs flags."""

    no_task_ids: bool = False
    no_trunc: bool = False
    no_resolve: bool = False
    timestamps: bool = False
    details: bool = False


def log_context(
    service: str, slot: int, task_id: str, node: str, prefix: Prefix, padding: int
) -> str:
    """Docker's ``<service>.<slot>.<task id>@<node>``, padded to ``padding`` digits of slot so
    that the lines of slots 9 and 10 line up."""
    name = f"{service}.{slot}"
    if not prefix.no_task_ids:
        name += "." + (task_id if prefix.no_trunc else task_id[:SHORT_ID])
    return f"{name}@{node}" + " " * max(0, padding - len(str(slot)))


def padding_of(target: Mapping[str, Any], is_task: bool) -> int:
    """Docker's padding: the digits of a task's slot, or of a replicated service's replicas."""
    if is_task:
        return len(str(target.get("Slot") or 0))
    replicated = target.get("Spec", {}).get("Mode", {}).get("Replicated")
    if replicated and replicated.get("Replicas") is not None:
        return len(str(replicated["Replicas"]))
    return 1


def split_details(line: bytes) -> tuple[dict[str, str], bytes]:
    """A line sent with ``details=1``: its ``key=value,...`` details (query-escaped) and the
    line itself; keys keep their full names."""
    head, sep, rest = line.partition(b" ")
    if not sep:
        raise InvalidArgument(f"invalid context in log message: {line.decode(errors='replace')}")
    details = {}
    for pair in head.decode(errors="replace").split(","):
        if pair:
            key, _, value = pair.partition("=")
            details[unquote_plus(key)] = unquote_plus(value)
    return details, rest


def format_line(
    payload: bytes, prefix: Prefix, context_of: Callable[[Mapping[str, str]], str]
) -> bytes:
    """One line as docker's CLI prints it: ``[time ]<context>    | [details ]line``."""
    stamp = b""
    if prefix.timestamps:
        stamp, sep, payload = payload.partition(b" ")
        if not sep:
            raise InvalidArgument(
                f"invalid context in log message: {stamp.decode(errors='replace')}"
            )
        stamp += b" "
    details, line = split_details(payload)
    context = {}
    for key in CONTEXT_KEYS:
        if DETAIL_PREFIX + key not in details:
            raise InvalidArgument(f"missing {key.replace('.', ' ')} in details: {details}")
        context[key] = details.pop(DETAIL_PREFIX + key)
    out = stamp + context_of(context).encode() + b"    | "
    if prefix.details:
        out += ",".join(sorted(f"{k}={v}" for k, v in details.items())).encode() + b" "
    return out + line


def _target(api: EngineClient, ref: str) -> tuple[dict[str, Any], bool]:
    """The service (by id, name or prefix), else the task (by id or prefix), as docker looks
    them up; whether it is a task."""
    try:
        return api.get(path_of("services", ref)), False
    except NotFound:
        pass
    tasks = api.get("/tasks")
    matches = [t for t in tasks if t["ID"] == ref] or [t for t in tasks if t["ID"].startswith(ref)]
    if len(matches) != 1:
        raise NotFound(f"no such task or service: {ref}")
    return matches[0], True


class Contexts:
    """The prefixes of the lines, from the tasks, services and nodes as they were last read
    (again when a task appears that was not there then, as with --follow)."""

    def __init__(self, api: EngineClient, prefix: Prefix, padding: int) -> None:
        self.api, self.prefix, self.padding = api, prefix, padding
        self.tasks: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}
        self.hostnames: dict[str, str] = {}

    def _read(self) -> None:
        self.tasks = {t["ID"]: t for t in self.api.get("/tasks")}
        if not self.prefix.no_resolve:
            self.names = {s["ID"]: s["Spec"].get("Name", "") for s in self.api.get("/services")}
            self.hostnames = {
                n["ID"]: n.get("Description", {}).get("Hostname", "")
                for n in self.api.get("/nodes")
            }

    def __call__(self, context: Mapping[str, str]) -> str:
        task_id = context["task.id"]
        if task_id not in self.tasks:
            self._read()
        task = self.tasks.get(task_id, {})
        service_id, node_id = context["service.id"], context["node.id"]
        return log_context(
            self.names.get(service_id) or service_id,
            int(task.get("Slot") or 0),
            task_id,
            self.hostnames.get(node_id) or node_id,
            self.prefix,
            self.padding,
        )


def copy_lines(
    frames: Any, prefix: Prefix, contexts: Contexts | None, out: IO[bytes], err: IO[bytes]
) -> None:
    """The frames of the logs stream to our stdout and stderr, prefixed unless ``--raw``."""
    for stream, payload in frames:
        if stream == SYSTEM_ERR:  # nodes that did not answer, said by the managers
            typer.echo(payload.decode(errors="replace").rstrip("\n"), err=True)
            continue
        target = err if stream == STDERR else out
        target.write(payload if contexts is None else format_line(payload, prefix, contexts))
        target.flush()


def logs(
    ref: str = typer.Argument(..., metavar="SERVICE|TASK"),
    details: bool = containerflags.DETAILS,
    follow: bool = containerflags.FOLLOW,
    no_resolve: bool = typer.Option(
        False, "--no-resolve", help="Do not map IDs to Names in output"
    ),
    no_task_ids: bool = typer.Option(
        False, "--no-task-ids", help="Do not include task IDs in output"
    ),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="Do not truncate output"),
    raw: bool = typer.Option(False, "--raw", help="Do not neatly format logs"),
    since: str = containerflags.SINCE,
    tail: str = containerflags.TAIL,
    timestamps: bool = containerflags.TIMESTAMPS,
) -> None:
    """Fetch the logs of a service or task."""
    count = parse_tail(tail)
    query = log_query(since) | {
        "follow": follow,
        "timestamps": timestamps,
        "tail": "all" if count < 0 else count,
        # The details make the prefix, unless --raw.
        "details": details or not raw,
    }
    api = engine.connect()
    target, is_task = _target(api, ref)
    spec = target.get("Spec", {})
    container_spec = (spec if is_task else spec.get("TaskTemplate", {})).get("ContainerSpec", {})
    tty = bool(container_spec.get("TTY"))
    if tty and not raw:
        raise InvalidArgument("tty service logs only supported with --raw")
    prefix = Prefix(no_task_ids, no_trunc, no_resolve, timestamps, details)
    contexts = None if raw else Contexts(api, prefix, padding_of(target, is_task))
    path = path_of("tasks" if is_task else "services", target["ID"], "logs")
    out, err = sys.stdout.buffer, sys.stderr.buffer
    # Ctrl-C is how -f ends, as with docker: no traceback.
    with contextlib.suppress(KeyboardInterrupt), api.open("GET", path, query, stream=True) as r:
        if tty:
            engine.copy_output(r.read1, tty=True)
        else:
            copy_lines(engine.demux(r.read1), prefix, contexts, out, err)

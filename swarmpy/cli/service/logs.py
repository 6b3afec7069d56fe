"""`swarmpy service logs`: a service's or task's logs, relayed by the managers."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

import grpc
import typer

from swarmpy.api import dispatcher_pb2
from swarmpy.cli.client import Client, run
from swarmpy.cli.container import parse_tail
from swarmpy.cli.service.common import get_service, list_tasks
from swarmpy.model import Node, Task


def log_context(task: Task, node_name: str, no_task_ids: bool, slot_width: int) -> str:
    """Docker's line prefix, ``<service>.<slot>.<task id>@<node>``, padded so that lines of
    slots of different widths (9 and 10) stay aligned."""
    slot = str(task.slot) if task.slot else task.node_id
    name = f"{task.service_name}.{slot}"
    if not no_task_ids:
        name += "." + task.id[:12]
    return f"{name}@{node_name}" + " " * max(0, slot_width - len(slot))


def format_log_line(context: str, data: bytes, raw: bool) -> bytes:
    """One output line; the agents send lines without their newline."""
    return data + b"\n" if raw else context.encode() + b"    | " + data + b"\n"


def slot_width(tasks: Sequence[Task]) -> int:
    return max((len(str(t.slot) if t.slot else t.node_id) for t in tasks), default=0)


async def _log_target(c: Client, ref: str) -> dispatcher_pb2.SubscribeLogsRequest:
    """A service by id, name or prefix, else a task by id or prefix (as docker accepts)."""
    try:
        service = await get_service(c, ref)
        return dispatcher_pb2.SubscribeLogsRequest(service_ids=[service.id])
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        tasks, _nodes = await list_tasks(c)
        matches = [t for t in tasks if t.id == ref] or [t for t in tasks if t.id.startswith(ref)]
        if len(matches) != 1:
            raise
        return dispatcher_pb2.SubscribeLogsRequest(task_ids=[matches[0].id])


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
    lines_wanted = parse_tail(tail)

    async def call(c: Client) -> None:
        request = await _log_target(c, ref)
        request.follow = follow
        request.tail = lines_wanted
        known: dict[str, Task] = {}
        nodes: dict[str, Node] = {}
        width = 0
        out = sys.stdout.buffer
        async for message in c.control.ServiceLogs(request):
            if not message.task_id:
                typer.echo(f"warning: {message.data.decode(errors='replace')}", err=True)
                continue
            if message.task_id not in known:
                # A task that started since (with --follow): look again.
                tasks, nodes = await list_tasks(c)
                known = {t.id: t for t in tasks}
                width = slot_width([t for t in tasks if t.service_id == message.service_id])
            task = known.get(message.task_id)
            context = ""
            if task is not None:
                node = nodes.get(message.node_id)
                context = log_context(
                    task, node.hostname if node else message.node_id, no_task_ids, width
                )
            out.write(format_log_line(context, message.data, raw))
            out.flush()

    # Ctrl-C is how -f ends, as with docker: no traceback.
    with contextlib.suppress(KeyboardInterrupt):
        run(call)

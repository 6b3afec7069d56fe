"""/tasks: list with filters, inspect, logs."""

from __future__ import annotations

from aiohttp import web

from swarmpy.api import dispatcher_pb2
from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi.common import resolve
from swarmpy.manager.state.store import NETWORKS, SERVICES, TASKS, Snapshot
from swarmpy.model import Task, TaskState, outdated
from swarmpy.server.app import NODE, Routes, json_list_response, json_response
from swarmpy.server.backend import log_relay, reader, writer
from swarmpy.server.convert.task import task_json
from swarmpy.server.filters import Filters, parse_filters, prefix
from swarmpy.server.logstream import log_options, stream_logs

# "_up-to-date" is Docker's own, for its CLI's progress view: tasks of the current spec.
TASK_FILTERS = ("desired-state", "id", "label", "name", "node", "runtime", "service", "_up-to-date")


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/tasks", list_tasks)
    routes.add("GET", "/tasks/{id}", inspect)
    routes.add("GET", "/tasks/{id}/logs", logs)


def desired_states(filters: Filters) -> set[TaskState]:
    states = set()
    for name in filters.get("desired-state"):
        try:
            states.add(TaskState[name.upper()])
        except KeyError:
            raise InvalidArgument(f"Invalid desired-state filter: '{name}'") from None
    return states


def task_matches(filters: Filters, task: Task, snapshot: Snapshot) -> bool:
    if "_up-to-date" in filters:
        service = snapshot.get(SERVICES, task.service_id)
        if service is None or outdated(task, service):
            return False
    states = desired_states(filters)
    return (
        filters.any("id", [prefix(filters.get("id"), task.id)])
        and filters.any("name", [prefix(filters.get("name"), task.name)])
        and filters.any("runtime", (r == "container" for r in filters.get("runtime")))
        and (not states or task.desired_state in states)
        # SwarmKit matches a task's labels filter against its service's labels (those of
        # the spec it was made from): how `docker stack ps` finds a stack's tasks.
        and filters.labels("label", dict(task.spec.labels))
    )


async def list_tasks(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), TASK_FILTERS)
    desired_states(filters)  # refuse a bad state before anything else
    api = reader(request.app[NODE])
    snapshot = api.store.view()
    tasks = api.tasks.list(filters.get("service"), filters.get("node"))
    networks = {n.id: n for n in snapshot.all(NETWORKS)}
    # The snapshot is immutable: the loop may run other work between slices of the list.
    return await json_list_response(
        task_json(t, snapshot.version(TASKS, t.id), networks)
        for t in tasks
        if task_matches(filters, t, snapshot)
    )


def _find_task(snapshot: Snapshot, ref: str) -> Task:
    """A task by id or unambiguous id prefix (tasks have no name of their own)."""
    task: Task = resolve(snapshot, TASKS, ref, lambda t: t.id)
    return task


async def inspect(request: web.Request) -> web.Response:
    api = reader(request.app[NODE])
    snapshot = api.store.view()
    task = _find_task(snapshot, request.match_info["id"])
    networks = {n.id: n for n in snapshot.all(NETWORKS)}
    return json_response(task_json(task, snapshot.version(TASKS, task.id), networks))


async def logs(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE]
    options = log_options(request)
    api = writer(node)
    relay = log_relay(node)
    task = _find_task(api.store.view(), request.match_info["id"])
    subscription = dispatcher_pb2.SubscribeLogsRequest(task_ids=[task.id])
    return await stream_logs(request, relay, subscription, options, task.spec.container.tty)

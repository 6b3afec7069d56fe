"""/services: list with filters, create, inspect, update (and roll back), remove, logs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from aiohttp import web

from swarmpy.api import dispatcher_pb2
from swarmpy.dockerjson.service import service_json, service_spec
from swarmpy.engine.images.registry import credentials_of_header, decode_auth
from swarmpy.errors import InvalidArgument
from swarmpy.manager.state.store import NODES, SERVICES, TASKS, Snapshot
from swarmpy.model import NodeState, Service, ServiceMode, ServiceSpec, TaskState
from swarmpy.server.app import NODE, Routes, json_body, json_response, query_flag, query_version
from swarmpy.server.backend import log_relay, reader, writer
from swarmpy.server.filters import Filters, parse_filters, prefix
from swarmpy.server.logstream import log_options, stream_logs
from swarmpy.standalone import names

SERVICE_FILTERS = ("id", "label", "mode", "name", "runtime")


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/services", list_services)
    routes.add("POST", "/services/create", create)
    routes.add("GET", "/services/{id}", inspect)
    routes.add("DELETE", "/services/{id}", remove)
    routes.add("POST", "/services/{id}/update", update)
    routes.add("GET", "/services/{id}/logs", logs)


def service_matches(filters: Filters, service: Service) -> bool:
    spec = service.spec
    return (
        filters.any("id", [prefix(filters.get("id"), service.id)])
        and filters.any("name", [prefix(filters.get("name"), spec.name)])
        and filters.any("mode", (spec.mode == m for m in filters.get("mode")))
        and filters.any("runtime", (r == "container" for r in filters.get("runtime")))
        and filters.labels("label", dict(spec.labels))
    )


def service_status(
    snapshot: Snapshot, services: Iterable[Service]
) -> dict[str, tuple[int, int, int]]:
    """Docker's ServiceStatus per service id, as SwarmKit's ListServiceStatuses: running
    tasks (on nodes not down); desired tasks (replicas, a replicated job's MaxConcurrent, the
    tasks a global service means to run, or a global job's not yet complete); and a job's
    completed tasks. A job counts only the tasks of its current iteration."""
    down = {n.id for n in snapshot.all(NODES) if n.state == NodeState.DOWN}
    wanted = {s.id: s for s in services}
    running: dict[str, int] = {}
    desired: dict[str, int] = {}
    completed: dict[str, int] = {}

    def count(tally: dict[str, int], service_id: str) -> None:
        tally[service_id] = tally.get(service_id, 0) + 1

    for task in snapshot.all(TASKS):
        service = wanted.get(task.service_id)
        if service is None:
            continue
        job = service.job_status
        if job is not None and task.job_iteration != job.iteration:
            continue
        if task.status.state == TaskState.COMPLETE and job is not None:
            count(completed, service.id)
        live = task.desired_state == (TaskState.COMPLETE if job else TaskState.RUNNING)
        if not live or task.node_id in down:
            continue
        if task.status.state == TaskState.RUNNING:
            count(running, service.id)
        # A global job's failed task is not wanted any more (a new one is, once made).
        if job is None or not task.status.state.terminal:
            count(desired, service.id)
    out: dict[str, tuple[int, int, int]] = {}
    for s in wanted.values():
        if s.spec.mode == ServiceMode.REPLICATED:
            want = s.spec.replicas
        elif s.spec.mode == ServiceMode.REPLICATED_JOB:
            want = s.spec.max_concurrent
        else:
            want = desired.get(s.id, 0)
        out[s.id] = (running.get(s.id, 0), want, completed.get(s.id, 0))
    return out


async def list_services(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), SERVICE_FILTERS)
    for mode in filters.get("mode"):
        if mode not in tuple(ServiceMode):
            raise InvalidArgument(f"Invalid filter: 'mode'='{mode}'")
    with_status = query_flag(request, "status")
    api = reader(request.app[NODE])
    snapshot = api.store.view()
    services = [s for s in api.services.list() if service_matches(filters, s)]
    status = service_status(snapshot, services) if with_status else {}
    return json_response(
        [service_json(s, snapshot.version(SERVICES, s.id), status.get(s.id)) for s in services]
    )


def with_registry_auth(spec: ServiceSpec, request: web.Request, kept: str) -> ServiceSpec:
    """The spec with the request's X-Registry-Auth (checked to decode), else ``kept``."""
    header = request.headers.get("X-Registry-Auth", "")
    if header:
        decode_auth(header)
    auth = header if credentials_of_header(header) is not None else kept
    return dataclasses.replace(
        spec, container=dataclasses.replace(spec.container, registry_auth=auth)
    )


async def create(request: web.Request) -> web.Response:
    api = writer(request.app[NODE])
    spec = with_registry_auth(service_spec(await json_body(request)), request, "")
    if not spec.name:
        # As dockerd (convert.ServiceSpecToGRPC): an unnamed service gets a random name, so
        # `docker service create busybox top` works without --name.
        taken = {s.spec.name for s in api.services.list()}
        spec = dataclasses.replace(spec, name=names.generate(taken))
    service = await api.services.create(spec)
    # No warnings: swarmpy does not pin images to digests, the source of Docker's.
    return json_response({"ID": service.id, "Warnings": []}, status=201)


async def inspect(request: web.Request) -> web.Response:
    # insertDefaults changes nothing: swarmpy's specs always carry every default.
    query_flag(request, "insertDefaults")
    api = reader(request.app[NODE])
    service = api.services.get(request.match_info["id"])
    return json_response(service_json(service, api.store.view().version(SERVICES, service.id)))


async def remove(request: web.Request) -> web.Response:
    api = writer(request.app[NODE])
    await api.services.remove(request.match_info["id"])
    return web.Response()


async def update(request: web.Request) -> web.Response:
    api = writer(request.app[NODE])
    version = query_version(request, "service")
    rollback = request.query.get("rollback", "")
    if rollback not in ("", "previous"):
        raise InvalidArgument(f"unrecognized rollback option {rollback}")
    body = await json_body(request)
    service = api.services.get(request.match_info["id"])
    if rollback:
        await api.services.update(service.id, None, rollback=True, version=version)
    else:
        # No X-Registry-Auth keeps the credentials the service has, as dockerd does.
        spec = service_spec(body)
        spec = with_registry_auth(spec, request, service.spec.container.registry_auth)
        await api.services.update(service.id, spec, rollback=False, version=version)
    return json_response({})


async def logs(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE]
    options = log_options(request)
    api = writer(node)
    relay = log_relay(node)
    service = api.services.get(request.match_info["id"])
    subscription = dispatcher_pb2.SubscribeLogsRequest(service_ids=[service.id])
    return await stream_logs(request, relay, subscription, options, service.spec.container.tty)

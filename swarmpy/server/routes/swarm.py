"""/swarm: inspect, init, join, leave, update, unlockkey, unlock
(api/server/router/swarm/cluster_routes.go in Docker)."""

from __future__ import annotations

from aiohttp import web

from swarmpy.ca import keywrap
from swarmpy.dockerjson.fields import Fields
from swarmpy.errors import NotInSwarm, Unavailable
from swarmpy.manager.state.store import CLUSTERS
from swarmpy.server.app import (
    NODE,
    ApiError,
    Routes,
    json_body,
    json_response,
    query_flag,
    query_version,
)
from swarmpy.server.backend import EngineNode, reader, writer
from swarmpy.server.convert.swarm import init_request, join_request, swarm_json, swarm_update


class NotLocked(ApiError):
    http_status = 409


class WrongUnlockKey(ApiError):
    http_status = 401


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/swarm", inspect)
    routes.add("POST", "/swarm/init", init)
    routes.add("POST", "/swarm/join", join)
    routes.add("POST", "/swarm/leave", leave)
    routes.add("POST", "/swarm/update", update)
    routes.add("GET", "/swarm/unlockkey", unlock_key)
    routes.add("POST", "/swarm/unlock", unlock)


def _require_not_in_swarm(node: EngineNode) -> None:
    if node.state is not None:
        raise Unavailable(
            'This node is already part of a swarm. Use "docker swarm leave" to leave this '
            "swarm and join another one."
        )


async def inspect(request: web.Request) -> web.Response:
    api = reader(request.app[NODE])
    snapshot = api.store.view()
    cluster = api.cluster.get()
    return json_response(swarm_json(cluster, snapshot.version(CLUSTERS, cluster.id)))


async def init(request: web.Request) -> web.Response:
    node = request.app[NODE]
    wanted = init_request(await json_body(request))
    if not wanted.force_new_cluster:
        _require_not_in_swarm(node)
    node_id, _token, _addr = await node.membership.swarm_init(
        wanted.advertise_addr,
        wanted.listen_addr,
        wanted.force_new_cluster,
        wanted.heartbeat_period_s,
        wanted.task_history_limit,
        wanted.node_cert_expiry_s,
        wanted.autolock,
        wanted.availability,
    )
    return json_response(node_id)


async def join(request: web.Request) -> web.Response:
    node = request.app[NODE]
    wanted = join_request(await json_body(request))
    _require_not_in_swarm(node)
    await node.membership.swarm_join(
        wanted.token, wanted.remote_addr, wanted.advertise_addr, wanted.listen_addr
    )
    return web.Response()


async def leave(request: web.Request) -> web.Response:
    node = request.app[NODE]
    if node.state is None:
        raise NotInSwarm("This node is not part of a swarm")
    force = query_flag(request, "force")
    if node.control_api() is not None and not force:
        # Docker's words (membership says "swarmpy swarm leave"), and Docker's 503.
        raise Unavailable(
            "You are attempting to leave the swarm on a node that is participating as a "
            "manager. Removing the last manager erases all current state of the swarm. Use "
            "`--force` to ignore this message."
        )
    await node.membership.swarm_leave(force)
    return web.Response()


async def update(request: web.Request) -> web.Response:
    api = writer(request.app[NODE])
    version = query_version(request, "swarm")
    rotate_worker = query_flag(request, "rotateWorkerToken")
    rotate_manager = query_flag(request, "rotateManagerToken")
    rotate_unlock_key = query_flag(request, "rotateManagerUnlockKey")
    cluster = api.cluster.get()
    # Checked whole before anything changes: a refused setting rotates no token either.
    update = swarm_update(await json_body(request), cluster, rotate_unlock_key)
    await api.cluster.update(update, version)
    if rotate_worker:
        await api.cluster.rotate_join_token("worker")
    if rotate_manager:
        await api.cluster.rotate_join_token("manager")
    return web.Response()


async def unlock_key(request: web.Request) -> web.Response:
    # With autolock off Docker answers an empty key (its CLI then says "no unlock key is set").
    api = writer(request.app[NODE])
    return json_response({"UnlockKey": api.cluster.unlock_key()})


async def unlock(request: web.Request) -> web.Response:
    node = request.app[NODE]
    f = Fields(await json_body(request))
    key = f.text("UnlockKey")
    f.done()
    if node.state is None:
        raise NotInSwarm("This node is not part of a swarm")
    if not node.locked:
        raise NotLocked("swarm is not locked")
    try:
        await node.unlock(key)
    except keywrap.InvalidUnlockKey as exc:
        raise WrongUnlockKey(str(exc)) from None
    return web.Response()

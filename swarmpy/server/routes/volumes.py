"""/volumes: the node's local volumes (Docker's local driver, swarmpy.engine.volumes):
list with filters, create, inspect, remove (refused while a container uses it). The prune
is with the other prunes in routes/disk.py."""

from __future__ import annotations

import asyncio

from aiohttp import web

from swarmpy.server.app import Routes, json_body, json_response, query_flag
from swarmpy.server.convert.volume import (
    LIST_FILTERS,
    create_request,
    volume_json,
    volume_matches,
)
from swarmpy.server.filters import parse_filters
from swarmpy.server.local import local_engine, local_handler


def add_routes(routes: Routes) -> None:
    for method, path, handler in (
        ("GET", "/volumes", list_volumes),
        ("POST", "/volumes/create", create),
        ("GET", "/volumes/{name}", inspect),
        ("DELETE", "/volumes/{name}", remove),
    ):
        routes.add(method, path, local_handler(handler))


async def list_volumes(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), LIST_FILTERS)
    engine = local_engine(request)
    found = await asyncio.to_thread(engine.volumes.list)
    users = await asyncio.to_thread(engine.volume_users) if "dangling" in filters else {}
    docs = [volume_json(v) for v in found if volume_matches(filters, v, users.get(v.name, []))]
    return json_response({"Volumes": docs, "Warnings": None})


async def create(request: web.Request) -> web.Response:
    name, driver, labels, options = create_request(await json_body(request))
    engine = local_engine(request)
    volume = await asyncio.to_thread(engine.volumes.create, name, driver, labels, options)
    return json_response(volume_json(volume), status=201)


async def inspect(request: web.Request) -> web.Response:
    engine = local_engine(request)
    volume = await asyncio.to_thread(engine.volumes.get, request.match_info["name"])
    return json_response(volume_json(volume))


async def remove(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    engine = local_engine(request)
    users = await asyncio.to_thread(engine.volume_users)
    force = query_flag(request, "force")
    await asyncio.to_thread(engine.volumes.remove, name, users.get(name, []), force)
    return web.Response(status=204)

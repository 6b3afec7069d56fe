"""/networks: list with filters, inspect, create, remove, prune (the swarm's networks; the
node-local bridge is not an object clients manage)."""

from __future__ import annotations

import contextlib

from aiohttp import web

from swarmpy.errors import Conflict, InvalidArgument, NotFound
from swarmpy.manager.state.store import SERVICES, Snapshot
from swarmpy.model import Network
from swarmpy.server.app import NODE, Routes, json_body, json_response, parse_time
from swarmpy.server.backend import reader, writer
from swarmpy.server.convert.network import network_create, network_json
from swarmpy.server.filters import Filters, parse_filters, prefix

NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
PRUNE_FILTERS = ("label", "label!", "until")


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/networks", list_networks)
    routes.add("GET", "/networks/{id}", inspect)
    routes.add("POST", "/networks/create", create)
    routes.add("DELETE", "/networks/{id}", remove)
    routes.add("POST", "/networks/prune", prune)


def network_matches(filters: Filters, network: Network, in_use: set[str]) -> bool:
    dangling = filters.bool_value("dangling")
    for kind in filters.get("type"):
        if kind not in ("custom", "builtin"):
            raise InvalidArgument(f"invalid filter: 'type'='{kind}'")
    return (
        filters.any("id", [prefix(filters.get("id"), network.id)])
        # Docker matches network names as a pattern anywhere in the name.
        and filters.any("name", (n in network.name for n in filters.get("name")))
        and filters.any("driver", (d == network.driver for d in filters.get("driver")))
        and filters.any("scope", (s == "swarm" for s in filters.get("scope")))
        # Every swarm network is one a user made: none is built in.
        and filters.any("type", (t == "custom" for t in filters.get("type")))
        and (dangling is None or dangling == (network.id not in in_use))
        and filters.labels("label", dict(network.labels))
    )


def networks_in_use(snapshot: Snapshot) -> set[str]:
    return {n for service in snapshot.all(SERVICES) for n in service.spec.networks}


async def list_networks(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), NETWORK_FILTERS)
    node = request.app[NODE]
    if node.control_api() is None:
        # A worker knows no swarm networks of its own; Docker lists its local ones then.
        return json_response([])
    api = reader(node)
    in_use = networks_in_use(api.store.view())
    return json_response(
        [network_json(n) for n in api.networks.list() if network_matches(filters, n, in_use)]
    )


async def inspect(request: web.Request) -> web.Response:
    scope = request.query.get("scope", "")
    if scope not in ("", "swarm"):
        ref = request.match_info["id"]
        raise NotFound(f"network {ref} not found")
    api = reader(request.app[NODE])
    return json_response(network_json(api.networks.get(request.match_info["id"])))


async def create(request: web.Request) -> web.Response:
    api = writer(request.app[NODE])
    wanted = network_create(await json_body(request))
    network = await api.networks.create(
        name=wanted.name,
        driver=wanted.driver,
        subnet=wanted.subnet,
        gateway=wanted.gateway,
        attachable=wanted.attachable,
        labels=wanted.labels,
        options=wanted.options,
    )
    return json_response({"Id": network.id, "Warning": ""}, status=201)


async def remove(request: web.Request) -> web.Response:
    api = writer(request.app[NODE])
    await api.networks.remove(request.match_info["id"])
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), PRUNE_FILTERS)
    until = None
    for value in filters.get("until"):
        until = parse_time(value, "until")
    api = writer(request.app[NODE])
    in_use = networks_in_use(api.store.view())
    deleted = []
    for network in api.networks.list():
        labels = dict(network.labels)
        if (
            network.id in in_use
            or (until is not None and network.created_at > until)
            or not filters.labels("label", labels)
            or any(Filters({"l": (item,)}).labels("l", labels) for item in filters.get("label!"))
        ):
            continue
        # A service that took it meanwhile keeps it: prune removes only what is unused.
        with contextlib.suppress(Conflict, NotFound):
            await api.networks.remove(network.id)
            deleted.append(network.name)
    return json_response({"NetworksDeleted": deleted})

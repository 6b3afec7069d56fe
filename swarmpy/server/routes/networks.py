"""/networks: list with filters, inspect, create, remove, prune (the swarm's networks; the
node-local bridge is not an object clients manage).

As dockerd's, a node answers list and inspect from what it has too: a worker lists and shows
the networks its tasks are on (the node's local view, Docker's local networks), and inspect
shows the node's containers on a network it has."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiohttp import web

from swarmpy.errors import Conflict, InvalidArgument, NotFound
from swarmpy.manager.state.store import SERVICES, Snapshot
from swarmpy.model import Network
from swarmpy.server.app import NODE, Routes, json_body, json_response, parse_time
from swarmpy.server.backend import EngineNode, reader, writer
from swarmpy.server.convert.network import local_network_json, network_create, network_json
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


@dataclass(frozen=True)
class LocalNetwork:
    """A swarm network this node has, with the node's containers on it."""

    network: Network
    endpoints: list[dict[str, str]]


def local_networks(node: EngineNode) -> dict[str, LocalNetwork]:
    """The networks this node has: those of the tasks it runs, as the managers' view names
    them, and any the network provider still holds (its endpoints not yet released)."""
    engine = node.runtime
    if engine is None:
        return {}
    known = engine.networks
    present = set(engine.network.local_networks()) | set(known)
    return {
        net_id: LocalNetwork(
            known.get(net_id) or Network(id=net_id, name=net_id),
            engine.network.local_containers(net_id),
        )
        for net_id in sorted(present)
    }


def find_local(found: dict[str, LocalNetwork], ref: str) -> LocalNetwork | None:
    """Docker's lookup of a local network: the full id, the full name, a unique id prefix."""
    if ref in found:
        return found[ref]
    for local in found.values():
        if local.network.name == ref:
            return local
    matches = [local for net_id, local in found.items() if net_id.startswith(ref)]
    if len(matches) > 1:
        raise InvalidArgument(f"network {ref} is ambiguous ({len(matches)} matches found)")
    return matches[0] if matches else None


async def list_networks(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), NETWORK_FILTERS)
    node = request.app[NODE]
    if node.control_api() is None:
        # No swarm store here: Docker lists the node's local networks, a worker's being the
        # swarm networks its tasks are on; in use is what has a container on it.
        found = local_networks(node).values()
        in_use = {n.network.id for n in found if n.endpoints}
        return json_response(
            [network_json(n.network) for n in found if network_matches(filters, n.network, in_use)]
        )
    api = reader(node)
    in_use = networks_in_use(api.store.view())
    return json_response(
        [network_json(n) for n in api.networks.list() if network_matches(filters, n, in_use)]
    )


async def inspect(request: web.Request) -> web.Response:
    ref = request.match_info["id"]
    scope = request.query.get("scope", "")
    if scope not in ("", "swarm"):
        raise NotFound(f"network {ref} not found")
    node = request.app[NODE]
    found = local_networks(node)
    if node.control_api() is None:
        local = find_local(found, ref)
        if local is None:
            raise NotFound(f"network {ref} not found")
        return json_response(local_network_json(local.network, local.endpoints))
    network = reader(node).networks.get(ref)
    local = found.get(network.id)
    endpoints = local.endpoints if local is not None else []
    return json_response(local_network_json(network, endpoints))


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
        ingress=wanted.ingress,
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
            # As Docker's: the routing mesh's network goes only when removed by name.
            or network.ingress
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

"""/networks: list with filters, inspect, create, remove, prune, connect, disconnect.

Two kinds, as dockerd's: the node's local networks (bridge, host, none and user bridges,
swarmpy.overlay.bridges, through the node's runtime; ``-d bridge`` is the default driver) and
the swarm's overlays (through the control API). As dockerd's, a node answers list and inspect
from what it has too: a worker lists and shows the networks its tasks are on, and inspect
shows the node's containers on a network it has."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from swarmpy.dockerjson.fields import Fields
from swarmpy.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NoLeader,
    NotFound,
    Unavailable,
)
from swarmpy.manager.state.store import NODES, SERVICES, TASKS, Snapshot
from swarmpy.model import Network
from swarmpy.overlay.bridges import BUILTIN, BridgeNetwork, BridgeNetworks
from swarmpy.server.app import NODE, ApiError, Routes, json_body, json_response, parse_time
from swarmpy.server.backend import EngineNode, LocalEngine, reader, writer
from swarmpy.server.convert.netverbose import verbose_json
from swarmpy.server.convert.network import (
    NetworkCreate,
    bridge_network_json,
    default_bridge_options,
    local_network_json,
    network_create,
    network_json,
)
from swarmpy.server.filters import Filters, parse_filters, prefix


class Forbidden(ApiError):
    """Docker's 403 for what a network does not allow (a pre-defined one, active
    endpoints)."""

    http_status = 403


NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
# The names dockerd keeps for its own networks, whatever the driver (network.IsPredefined):
# the built-in ones and "default" (what --network default means).
PREDEFINED_NAMES = (*BUILTIN, "default")
PRUNE_FILTERS = ("label", "label!", "until")


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/networks", list_networks)
    routes.add("GET", "/networks/{id}", inspect)
    routes.add("POST", "/networks/create", create)
    routes.add("DELETE", "/networks/{id}", remove)
    routes.add("POST", "/networks/prune", prune)
    routes.add("POST", "/networks/{id}/connect", connect)
    routes.add("POST", "/networks/{id}/disconnect", disconnect)


def _matches(
    filters: Filters,
    net_id: str,
    name: str,
    driver: str,
    scope: str,
    builtin: bool,
    labels: dict[str, str],
    used: bool,
) -> bool:
    dangling = filters.bool_value("dangling")
    for kind in filters.get("type"):
        if kind not in ("custom", "builtin"):
            raise InvalidArgument(f"invalid filter: 'type'='{kind}'")
    return (
        filters.any("id", [prefix(filters.get("id"), net_id)])
        # Docker matches network names as a pattern anywhere in the name.
        and filters.any("name", (n in name for n in filters.get("name")))
        and filters.any("driver", (d == driver for d in filters.get("driver")))
        and filters.any("scope", (s == scope for s in filters.get("scope")))
        and filters.any(
            "type", (t == ("builtin" if builtin else "custom") for t in filters.get("type"))
        )
        # The built-in networks are never dangling, as Docker's.
        and (dangling is None or dangling == (not used and not builtin))
        and filters.labels("label", labels)
    )


def network_matches(filters: Filters, network: Network, in_use: set[str]) -> bool:
    # Every swarm network is one a user made: none is built in.
    return _matches(
        filters,
        network.id,
        network.name,
        network.driver,
        "swarm",
        False,
        dict(network.labels),
        network.id in in_use,
    )


def _local_runtime(node: EngineNode) -> LocalEngine | None:
    """The node's engine for its local networks: the swarm node's, or one made now outside a
    swarm."""
    if node.runtime is not None:
        return node.runtime
    if node.state is None:
        return node.require_runtime()
    return None


def _bridges(node: EngineNode) -> BridgeNetworks | None:
    runtime = _local_runtime(node)
    return None if runtime is None else runtime.bridges


def _local_containers(runtime: LocalEngine, net: BridgeNetwork) -> dict[str, dict[str, str]]:
    """The containers on a local network, keyed by id, as network inspect lists them."""
    if net.name == "bridge":
        return {
            e.get("ContainerID", ""): e
            for e in runtime.network.local_containers("")
            if e.get("ContainerID")
        }
    return {e.container_id: e.inspect() for e in runtime.bridges.endpoints(net.id)}


def _local_json(runtime: LocalEngine, net: BridgeNetwork) -> dict[str, Any]:
    options: dict[str, str] = {}
    if net.name == "bridge":
        options = default_bridge_options(runtime.bridges.default_bridge_name)
    elif not net.builtin:
        options = dict(net.options)
    return bridge_network_json(net, _local_containers(runtime, net), options)


def _local_docs(node: EngineNode, filters: Filters) -> list[dict[str, Any]]:
    runtime = _local_runtime(node)
    if runtime is None:
        return []
    docs = []
    for net in runtime.bridges.networks():
        containers = _local_containers(runtime, net)
        if _matches(
            filters,
            net.id,
            net.name,
            net.driver,
            "local",
            net.builtin,
            dict(net.labels),
            bool(containers),
        ):
            docs.append(_local_json(runtime, net))
    return docs


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
    local = _local_docs(node, filters)
    api = node.control_api()
    if api is not None:
        try:
            api.check_leader()
        except NoLeader:
            # dockerd ignores the cluster's error here: a manager cut off from the leader
            # still lists its local networks and the swarm's it has, as a worker does.
            api = None
    if api is None:
        # No swarm store here: Docker lists the node's local networks, a worker's being the
        # swarm networks its tasks are on; in use is what has a container on it.
        found = local_networks(node).values()
        in_use = {n.network.id for n in found if n.endpoints}
        return json_response(
            local
            + [
                network_json(n.network)
                for n in found
                if network_matches(filters, n.network, in_use)
            ]
        )
    in_use = networks_in_use(api.store.view())
    return json_response(
        local
        + [network_json(n) for n in api.networks.list() if network_matches(filters, n, in_use)]
    )


async def inspect(request: web.Request) -> web.Response:
    ref = request.match_info["id"]
    scope = request.query.get("scope", "")
    if scope not in ("", "swarm", "local"):
        raise NotFound(f"network {ref} not found")
    node = request.app[NODE]
    runtime = _local_runtime(node)
    if runtime is not None and scope != "swarm":
        net = runtime.bridges.find(ref)
        if net is not None:
            return json_response(_local_json(runtime, net))
    if scope == "local":
        raise NotFound(f"network {ref} not found")
    found = local_networks(node)
    if node.control_api() is None:
        local = find_local(found, ref)
        if local is None:
            raise NotFound(f"network {ref} not found")
        return json_response(local_network_json(local.network, local.endpoints))
    api = reader(node)
    network = api.networks.get(ref)
    local = found.get(network.id)
    endpoints = local.endpoints if local is not None else []
    doc = local_network_json(network, endpoints)
    if request.query.get("verbose", "") in ("1", "true", "True"):
        snapshot = api.store.view()
        nodes = {n.id: n for n in snapshot.all(NODES)}
        doc |= verbose_json(network, snapshot.all(SERVICES), snapshot.all(TASKS), nodes)
    return json_response(doc)


async def create(request: web.Request) -> web.Response:
    node = request.app[NODE]
    wanted = network_create(await json_body(request))
    if wanted.name in PREDEFINED_NAMES:
        # dockerd's words, its trailing space too (daemon.PredefinedNetworkError).
        raise Forbidden(f"operation is not permitted on predefined {wanted.name} network ")
    if wanted.driver in ("host", "null"):
        raise Forbidden(f'only one instance of "{wanted.driver}" network is allowed')
    if wanted.driver == "bridge":
        return await _create_bridge(node, wanted)
    if wanted.driver != "overlay":
        raise NotFound(f'plugin "{wanted.driver}" not found')
    bridges = _bridges(node)
    if bridges is not None and any(n.name == wanted.name for n in bridges.networks()):
        raise AlreadyExists(f"network with name {wanted.name} already exists")
    api = writer(node)
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


async def _create_bridge(node: EngineNode, wanted: NetworkCreate) -> web.Response:
    if wanted.ingress:
        raise InvalidArgument("only overlay networks can be ingress networks")
    bridges = _bridges(node)
    if bridges is None:
        raise Unavailable("this node has no local engine")
    taken, names = [], []
    api = node.control_api()
    if api is not None:
        # A manager: the swarm's overlays count too (their names, and the subnets its
        # tasks' addresses come from).
        for overlay in reader(node).networks.list():
            names.append(overlay.name)
            if overlay.subnet:
                taken.append(overlay.subnet)
    network = await bridges.create(
        wanted.name,
        subnet=wanted.subnet,
        gateway=wanted.gateway,
        internal=wanted.internal,
        attachable=wanted.attachable,
        labels=wanted.labels,
        options=wanted.options,
        taken=taken,
        taken_names=names,
    )
    return json_response({"Id": network.id, "Warning": ""}, status=201)


async def remove(request: web.Request) -> web.Response:
    node = request.app[NODE]
    bridges = _bridges(node)
    ref = request.match_info["id"]
    if bridges is not None and bridges.find(ref) is not None:
        try:
            await bridges.remove(ref)
        except Conflict as e:
            raise Forbidden(e.message) from None
        return web.Response(status=204)
    api = writer(node)
    await api.networks.remove(ref)
    return web.Response(status=204)


async def connect(request: web.Request) -> web.Response:
    node = request.app[NODE]
    runtime = _local_runtime(node)
    body = await json_body(request)
    f = Fields(body if body is not None else {})
    ref = f.text("Container")
    aliases: tuple[str, ...] = ()
    ip = ""
    config = f.obj("EndpointConfig")
    if config is not None:
        aliases = config.strings("Aliases")
        ipam = config.obj("IPAMConfig")
        if ipam is not None:
            ip = ipam.text("IPv4Address")
            ipam.unsupported(("IPv6Address", "LinkLocalIPs"))
            ipam.done()
        config.unsupported(("Links", "DriverOpts", "MacAddress", "NetworkID", "EndpointID"))
        config.unsupported(("Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway"))
        config.unsupported(("GlobalIPv6Address", "GlobalIPv6PrefixLen"))
        config.done()
    f.done()
    net = _local_network(runtime, request.match_info["id"], node)
    if net.builtin:
        raise Forbidden(f"swarmpy connects containers to user bridges only, not to {net.name}")
    try:
        # A standalone container keeps the connection across its stops and starts.
        await node.standalone.connect(ref, net.id, aliases, ip)
    except Conflict as e:
        raise Forbidden(e.message) from None
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    node = request.app[NODE]
    runtime = _local_runtime(node)
    body = await json_body(request)
    f = Fields(body if body is not None else {})
    ref = f.text("Container")
    f.flag("Force")  # a missing container is refused either way
    f.done()
    net = _local_network(runtime, request.match_info["id"], node)
    try:
        await node.standalone.disconnect(ref, net.id)
    except Conflict as e:
        raise Forbidden(e.message) from None
    return web.Response(status=200)


def _local_network(
    runtime: LocalEngine | None, ref: str, node: EngineNode | None = None
) -> BridgeNetwork:
    """The user bridge ``ref`` names. For connect and disconnect (``node`` given), a swarm
    network is refused as what it is, not as a network that does not exist."""
    net = runtime.bridges.find(ref) if runtime is not None else None
    if net is None:
        if node is not None and _names_swarm_network(node, ref):
            raise Forbidden(
                f"swarmpy puts a container on swarm network {ref} only as the network it runs "
                f"with (docker run --network {ref}); network connect and disconnect take "
                "user bridges"
            )
        raise NotFound(f"network {ref} not found")
    return net


def _names_swarm_network(node: EngineNode, ref: str) -> bool:
    if node.control_api() is None:
        return find_local(local_networks(node), ref) is not None
    try:
        reader(node).networks.get(ref)
    except (NotFound, NoLeader):
        return False
    return True


async def prune(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), PRUNE_FILTERS)
    until = None
    for value in filters.get("until"):
        until = parse_time(value, "until")
    node = request.app[NODE]
    deleted = []
    bridges = _bridges(node)
    if bridges is not None:
        for net in bridges.networks():
            if (
                net.builtin
                or bridges.endpoints(net.id)
                or (until is not None and net.created_at > until)
                or not filters.labels("label", dict(net.labels))
                or any(
                    Filters({"l": (item,)}).labels("l", dict(net.labels))
                    for item in filters.get("label!")
                )
            ):
                continue
            with contextlib.suppress(Conflict, NotFound):
                await bridges.remove(net.id)
                deleted.append(net.name)
    if node.control_api() is None:
        return json_response({"NetworksDeleted": deleted})
    api = writer(node)
    in_use = networks_in_use(api.store.view())
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

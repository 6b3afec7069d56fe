"""/nodes: list with filters, inspect, update, remove."""

from __future__ import annotations

from aiohttp import web

from swarmpy.errors import InvalidArgument
from swarmpy.manager.state.store import NODES
from swarmpy.model import Node
from swarmpy.server.app import NODE, Routes, json_body, json_response, query_flag, query_version
from swarmpy.server.backend import reader, writer
from swarmpy.server.convert.node import node_change, node_json
from swarmpy.server.filters import Filters, parse_filters, prefix

NODE_FILTERS = ("id", "label", "membership", "name", "node.label", "role")


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/nodes", list_nodes)
    routes.add("GET", "/nodes/{id}", inspect)
    routes.add("DELETE", "/nodes/{id}", remove)
    routes.add("POST", "/nodes/{id}/update", update)


def node_matches(filters: Filters, node: Node) -> bool:
    # Every node in the store is an accepted member: a removed one is gone from it.
    return (
        filters.any("id", [prefix(filters.get("id"), node.id)])
        and filters.any("name", [prefix(filters.get("name"), node.hostname)])
        and filters.any("role", (node.role == r for r in filters.get("role")))
        and filters.any("membership", (m == "accepted" for m in filters.get("membership")))
        # swarmpy nodes carry one set of labels, the node spec's: both keys read it.
        and filters.labels("label", node.label_dict())
        and filters.labels("node.label", node.label_dict())
    )


async def list_nodes(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), NODE_FILTERS)
    for role in filters.get("role"):
        if role not in ("worker", "manager"):
            raise InvalidArgument(f"Invalid role filter: '{role}'")
    for membership in filters.get("membership"):
        if membership not in ("accepted", "pending"):
            raise InvalidArgument(f"Invalid membership filter: '{membership}'")
    api = reader(request.app[NODE])
    snapshot = api.store.view()
    return json_response(
        [
            node_json(n, snapshot.version(NODES, n.id))
            for n in api.nodes.list()
            if node_matches(filters, n)
        ]
    )


async def inspect(request: web.Request) -> web.Response:
    api = reader(request.app[NODE])
    node = api.nodes.get(request.match_info["id"])
    return json_response(node_json(node, api.store.view().version(NODES, node.id)))


async def remove(request: web.Request) -> web.Response:
    api = writer(request.app[NODE])
    await api.nodes.remove(request.match_info["id"], query_flag(request, "force"))
    return web.Response()


async def update(request: web.Request) -> web.Response:
    api = writer(request.app[NODE])
    version = query_version(request, "node")
    node = api.nodes.get(request.match_info["id"])
    change = node_change(await json_body(request), node)
    role_read_at: int | None = version
    # A change of nothing still checks the version, as Docker's does.
    if change.availability or change.label_add or change.label_rm or not change.role:
        await api.nodes.update(
            node.id,
            availability=change.availability,
            label_add=change.label_add,
            label_rm=change.label_rm,
            version=version,
        )
        # The role's write follows this one, which the client's version is older than.
        role_read_at = None
    # Last, as `node promote` does it alone: a demoted manager no longer writes the store.
    if change.role:
        await api.nodes.set_role(node.id, change.role, role_read_at)
    return web.Response()

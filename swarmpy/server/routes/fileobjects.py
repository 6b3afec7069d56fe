"""The endpoints secrets and configs share: /{kind}s (list, with dockerd's filters),
/{kind}s/create, /{kind}s/{id} (inspect, remove), /{kind}s/{id}/update (labels only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from aiohttp import web

from swarmpy.dockerjson.fileobjects import file_object_spec
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.controlapi.fileobjects import FileObject, FileObjectAPI
from swarmpy.server.app import NODE, Routes, json_body, json_response, query_version
from swarmpy.server.backend import reader, writer
from swarmpy.server.filters import Filters, parse_filters, prefix

# dockerd's newListSecretsFilters and newListConfigsFilters.
FILTERS = ("id", "label", "name", "names")

Obj = TypeVar("Obj", bound=FileObject)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def matches(filters: Filters, obj: FileObject) -> bool:
    """SwarmKit's list filters: ids and names by prefix, ``names`` exactly, labels."""
    return (
        filters.any("id", [prefix(filters.get("id"), obj.id)])
        and filters.any("name", (obj.name.startswith(n) for n in filters.get("name")))
        and filters.any("names", (obj.name == n for n in filters.get("names")))
        and filters.labels("label", dict(obj.labels))
    )


class FileRoutes(Generic[Obj]):
    def __init__(
        self,
        kind: str,
        api_of: Callable[[ControlAPI], FileObjectAPI[Obj]],
        to_json: Callable[[Obj, int | None], dict[str, Any]],
    ) -> None:
        self.kind = kind
        self.api_of = api_of
        self.to_json = to_json

    def add(self, routes: Routes) -> None:
        base = f"/{self.kind}s"
        routes.add("GET", base, self.list)
        routes.add("POST", f"{base}/create", self.create)
        routes.add("GET", base + "/{id}", self.inspect)
        routes.add("DELETE", base + "/{id}", self.remove)
        routes.add("POST", base + "/{id}/update", self.update)

    async def list(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters", ""), FILTERS)
        api = self.api_of(reader(request.app[NODE]))
        return json_response(
            [self.to_json(o, api.version(o.id)) for o in api.list() if matches(filters, o)]
        )

    async def create(self, request: web.Request) -> web.Response:
        api = self.api_of(writer(request.app[NODE]))
        spec = file_object_spec(await json_body(request), self.kind)
        obj = await api.create(spec.name, spec.data, spec.labels)
        return json_response({"ID": obj.id}, status=201)

    async def inspect(self, request: web.Request) -> web.Response:
        api = self.api_of(reader(request.app[NODE]))
        obj = api.get(request.match_info["id"])
        return json_response(self.to_json(obj, api.version(obj.id)))

    async def remove(self, request: web.Request) -> web.Response:
        api = self.api_of(writer(request.app[NODE]))
        await api.remove(request.match_info["id"])
        return web.Response(status=204)

    async def update(self, request: web.Request) -> web.Response:
        api = self.api_of(writer(request.app[NODE]))
        version = query_version(request, self.kind)
        spec = file_object_spec(await json_body(request), self.kind)
        await api.update_labels(
            request.match_info["id"], version, spec.name, spec.data, spec.labels
        )
        return web.Response(status=200)

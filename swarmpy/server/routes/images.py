"""/images: the node's image store (swarmpy.engine.images): list, pull with Docker's progress
stream, inspect, history, delete, and load a ``docker save`` tarball."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from swarmpy.engine.images import ImageRecord
from swarmpy.engine.images.progress_stream import pull_lines
from swarmpy.engine.images.records import timestamp
from swarmpy.engine.images.registry import ManifestNotFound, RepositoryNotFound
from swarmpy.engine.images.store import ImageStore
from swarmpy.errors import InvalidArgument, NotFound, SwarmpyError
from swarmpy.server.app import Routes, json_response, query_flag, server_headers
from swarmpy.server.convert.image import (
    IMAGE_FILTERS,
    ImageQuery,
    error_json,
    inspect_json,
    load_json,
    matches,
    progress_json,
    summary,
)
from swarmpy.server.filters import parse_filters
from swarmpy.server.local import local_engine, local_handler
from swarmpy.server.routes.build import registry_auth

LOAD_CHUNK = 1 << 20


def add_routes(routes: Routes) -> None:
    for method, path, handler in (
        ("GET", "/images/json", list_images),
        ("POST", "/images/create", create),
        ("POST", "/images/load", load),
        ("GET", "/images/{name:.+}/json", inspect),
        ("GET", "/images/{name:.+}/history", history),
        ("DELETE", "/images/{name:.+}", remove),
    ):
        routes.add(method, path, local_handler(handler))


def _labels(store: ImageStore, record: ImageRecord) -> dict[str, str]:
    labels = store.inspect(record.id)["Config"].get("Labels")
    return dict(labels) if isinstance(labels, dict) else {}


def _created(store: ImageStore, refs: tuple[str, ...]) -> float | None:
    for ref in refs:
        return timestamp(store.get(ref).created)
    return None


async def list_images(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), IMAGE_FILTERS)
    filters.bool_value("dangling")  # a bad value is refused before anything is listed
    store = local_engine(request).images
    query = ImageQuery(
        filters,
        all=query_flag(request, "all"),
        before=_created(store, filters.get("before")),
        since=_created(store, filters.get("since")),
    )
    rows = []
    for record in sorted(store.records(), key=lambda r: timestamp(r.created), reverse=True):
        if not query.all and store.intermediate(record):
            continue  # a build step's image: shown with --all only, as Docker does
        labels = _labels(store, record)
        if matches(query, record, labels):
            rows.append(summary(record, labels))
    return json_response(rows)


async def inspect(request: web.Request) -> web.Response:
    store = local_engine(request).images
    return json_response(inspect_json(store.inspect(request.match_info["name"])))


async def history(request: web.Request) -> web.Response:
    return json_response(local_engine(request).images.history(request.match_info["name"]))


async def remove(request: web.Request) -> web.Response:
    engine = local_engine(request)
    ref = request.match_info["name"]
    force = query_flag(request, "force")
    prune = not query_flag(request, "noprune")
    engine.images.get(ref)  # 404 before the containers are looked at
    users = await engine.containers.image_users()
    report = await asyncio.to_thread(
        engine.images.remove, ref, lambda i: users.get(i, ()), force, prune
    )
    return json_response(report)


def pull_reference(from_image: str, tag: str) -> str:
    """``fromImage`` and ``tag`` as one reference (the CLI sends them apart; a digest comes
    as the tag)."""
    if not from_image:
        raise InvalidArgument("importing an image (fromSrc) is not supported: give fromImage")
    if not tag:
        return from_image
    if tag.startswith("sha256:"):
        return f"{from_image}@{tag}"
    return f"{from_image}:{tag}"


async def create(request: web.Request) -> web.StreamResponse:
    if request.query.get("fromSrc"):
        raise InvalidArgument("importing an image (fromSrc) is not supported: give fromImage")
    ref = pull_reference(request.query.get("fromImage", ""), request.query.get("tag", ""))
    store = local_engine(request).images
    lines = pull_lines(store, ref, registry_auth(request))
    response: web.StreamResponse | None = None
    try:
        async for line in lines:
            if response is None:
                # Docker answers with a status only once the pull says something: an error
                # before that (no such image) is an ordinary error response.
                response = web.StreamResponse(headers=server_headers())
                response.content_type = "application/json"
                await response.prepare(request)
            message = progress_json(line) if isinstance(line, str) else line
            await response.write((json.dumps(message) + "\n").encode())
    except (RepositoryNotFound, ManifestNotFound) as e:
        if response is None:
            raise NotFound(e.message) from None  # dockerd's 404 for an image it cannot find
        await response.write((json.dumps(error_json(e.message)) + "\n").encode())
    except SwarmpyError as e:
        if response is None:
            raise
        await response.write((json.dumps(error_json(e.message)) + "\n").encode())
    except ConnectionResetError:
        # The client went away: the pull finishes on its own, nobody to tell.
        await lines.aclose()
        assert response is not None
        return response
    if response is None:  # a pull that said nothing, which the store does not do
        return json_response([])
    await response.write_eof()
    return response


async def load(request: web.Request) -> web.Response:
    # quiet: Docker's hides the progress of reading the archive, which swarmpy does not show.
    query_flag(request, "quiet")
    store = local_engine(request).images
    fd, name = tempfile.mkstemp(prefix=".load-", suffix=".tar", dir=store.root)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.content.iter_chunked(LOAD_CHUNK):
                await asyncio.to_thread(out.write, chunk)
        if not await asyncio.to_thread(os.path.getsize, path):
            raise InvalidArgument("no image to load: the request body is empty")
        records = await asyncio.to_thread(store.load, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)
    messages: list[dict[str, Any]] = [m for r in records for m in load_json(r)]
    body = "".join(json.dumps(m) + "\n" for m in messages).encode()
    return web.Response(body=body, status=200, content_type="application/json")

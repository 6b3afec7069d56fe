"""The node's disk: /system/df and the prunes of stopped containers, unused images and
unused volumes (``system df``, ``system prune``, ``container prune``, ``image prune``), as
Docker's daemon answers them. The decisions are swarmpy.server.convert.disk's."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from swarmpy.engine.images.records import timestamp
from swarmpy.engine.volumes import dir_size
from swarmpy.errors import NotFound, SwarmpyError
from swarmpy.server.app import (
    NODE,
    Routes,
    json_response,
    parse_time,
    parse_version,
    request_version,
)
from swarmpy.server.backend import LocalEngine
from swarmpy.server.convert.container import summary as container_summary
from swarmpy.server.convert.disk import (
    CONTAINER_PRUNE_FILTERS,
    IMAGE_PRUNE_FILTERS,
    ImageFacts,
    container_prunable,
    image_prunable,
    layers_size,
    shared_sizes,
)
from swarmpy.server.convert.image import summary as image_summary
from swarmpy.server.convert.volume import PRUNE_FILTERS as VOLUME_PRUNE_FILTERS
from swarmpy.server.convert.volume import prunable, volume_json
from swarmpy.server.filters import Filters, parse_filters
from swarmpy.server.local import local_engine, local_handler
from swarmpy.server.routes.containers import _sizes, inspect_docs

# Docker's build cache prune filters (what system prune passes on: until, label).
BUILD_PRUNE_FILTERS = (
    "description",
    "id",
    "inuse",
    "label",
    "label!",
    "parent",
    "private",
    "shared",
    "type",
    "until",
    "unused-for",
)


def add_routes(routes: Routes) -> None:
    for method, path, handler in (
        ("GET", "/system/df", disk_usage),
        ("POST", "/containers/prune", prune_containers),
        ("POST", "/images/prune", prune_images),
        ("POST", "/volumes/prune", prune_volumes),
        ("POST", "/build/prune", prune_build_cache),
    ):
        routes.add(method, path, local_handler(handler))


def _image_facts(engine: LocalEngine) -> list[ImageFacts]:
    store = engine.images
    facts = []
    for record in store.records():
        labels = store.inspect(record.id)["Config"].get("Labels")
        facts.append(
            ImageFacts(
                id=record.id,
                tags=record.repo_tags,
                created=timestamp(record.created),
                labels=dict(labels) if isinstance(labels, dict) else {},
                diff_ids=record.diff_ids,
                size=record.size,
            )
        )
    return facts


async def disk_usage(request: web.Request) -> web.Response:
    engine = local_engine(request)
    rows = await inspect_docs(engine, all=True)
    docs = [doc for _, doc in rows]
    facts = await asyncio.to_thread(_image_facts, engine)
    sizes = await asyncio.to_thread(engine.images.layer_sizes)
    shared = shared_sizes(facts, sizes)
    users: dict[str, int] = {}
    for doc in docs:
        if doc.get("Image"):
            users[doc["Image"]] = users.get(doc["Image"], 0) + 1
    images = []
    for record, fact in zip(engine.images.records(), facts, strict=True):
        if engine.images.intermediate(record):
            continue  # a build step's image: not listed, as Docker lists images without --all
        row = image_summary(record, dict(fact.labels))
        row.update(Containers=users.get(record.id, 0), SharedSize=shared.get(record.id, 0))
        images.append(row)
    containers = []
    for info, doc in rows:
        row = container_summary(info, doc)
        row.update(await _sizes(engine, doc))
        containers.append(row)
    mounted_by = await asyncio.to_thread(engine.volume_users)
    volumes = []
    for volume in await asyncio.to_thread(engine.volumes.list):
        size = await asyncio.to_thread(dir_size, volume.mountpoint)
        volumes.append(volume_json(volume, (size, len(mounted_by.get(volume.name, [])))))
    return json_response(
        {
            "LayersSize": layers_size(facts, sizes),
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            # The classic builder's cache is its images, counted above; this is BuildKit's.
            "BuildCache": [],
        }
    )


def _until(filters: Filters) -> float | None:
    values = filters.get("until")
    return parse_time(values[0], "until") if values else None


async def prune_containers(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), CONTAINER_PRUNE_FILTERS)
    until = _until(filters)
    engine = local_engine(request)
    standalone = request.app[NODE].standalone
    deleted: list[str] = []
    reclaimed = 0
    for info, doc in await inspect_docs(engine, all=True):
        labels = (doc.get("Config") or {}).get("Labels") or {}
        if not container_prunable(info.state, info.created, labels, filters, until):
            continue
        if standalone.restarting(info.id) is not None:
            continue  # about to run again: not a stopped container
        size = (await _sizes(engine, doc))["SizeRw"]
        try:
            # Through the standalone containers: one `run` made leaves its network too.
            await standalone.remove(info.id, force=False)
        except SwarmpyError:
            continue  # gone meanwhile, or started again: Docker skips it as well
        deleted.append(info.id)
        reclaimed += size
    return json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})


def _remove_image(engine: LocalEngine, image: ImageFacts) -> list[Any]:
    """Docker's prune of one image: each of its names removed in turn (the last deletes it;
    a digest that went with its tag is skipped), an unnamed one by id. Only unused images
    are pruned, so no container is told as their user."""
    store = engine.images
    record = store.get(image.id)
    refs = record.repo_tags + record.repo_digests
    report: list[Any] = []
    for ref in refs:
        try:
            report += store.remove(ref)
        except NotFound:
            continue
    if not refs:
        report += store.remove(image.id)
    return report


async def prune_images(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), IMAGE_PRUNE_FILTERS)
    dangling = filters.bool_value("dangling")
    until = _until(filters)
    engine = local_engine(request)
    in_use = await engine.containers.images_in_use(running_only=False)
    facts = await asyncio.to_thread(_image_facts, engine)
    before = layers_size(facts, await asyncio.to_thread(engine.images.layer_sizes))
    report: list[Any] = []
    # A build step's image goes with the image made from it (rmi deletes untagged parents).
    steps = {r.id for r in engine.images.records() if engine.images.intermediate(r)}
    for image in facts:
        if image.id in steps:
            continue
        if not image_prunable(image, in_use, dangling is not False, filters, until):
            continue
        try:
            report += await asyncio.to_thread(_remove_image, engine, image)
        except SwarmpyError:
            continue  # used or changed meanwhile: Docker skips an image it cannot delete
    after_facts = await asyncio.to_thread(_image_facts, engine)
    after = layers_size(after_facts, await asyncio.to_thread(engine.images.layer_sizes))
    return json_response(
        {"ImagesDeleted": report or None, "SpaceReclaimed": max(0, before - after)}
    )


async def prune_volumes(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), VOLUME_PRUNE_FILTERS)
    version = parse_version(request_version(request))
    engine = local_engine(request)
    users = await asyncio.to_thread(engine.volume_users)
    deleted: list[str] = []
    reclaimed = 0
    for volume in await asyncio.to_thread(engine.volumes.list):
        if not prunable(filters, volume, users.get(volume.name, []), version):
            continue
        size = await asyncio.to_thread(dir_size, volume.mountpoint)
        try:
            await asyncio.to_thread(engine.volumes.remove, volume.name)
        except SwarmpyError:
            continue  # gone or taken meanwhile: Docker skips a volume it cannot remove
        deleted.append(volume.name)
        reclaimed += size
    return json_response({"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed})


async def prune_build_cache(request: web.Request) -> web.Response:
    """swarmpy builds no images, so it has no build cache: nothing to remove, as Docker
    answers with an empty cache. Docker's CLI calls it in every system prune."""
    parse_filters(request.query.get("filters", ""), BUILD_PRUNE_FILTERS)
    return json_response({"CachesDeleted": None, "SpaceReclaimed": 0})

"""POST /build (the classic builder's), POST /images/{name}/tag, POST /images/{name}/push,
GET /images/get (``docker save``) and POST /auth, over swarmpy.engine.build and the image store.

Build output is Docker's JSON stream: ``{"stream": ...}`` lines, ``{"aux": {"ID": ...}}`` for
the image, and ``{"errorDetail": ..., "error": ...}`` for a failure once output has begun (a
failure before, such as a Dockerfile that does not parse, is an ordinary error response).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from swarmpy.engine import seccomp
from swarmpy.engine.build.builder import Builder, BuildFailed, BuildOptions, StepNetwork
from swarmpy.engine.build.context import unpack_context
from swarmpy.engine.images.export import save_images
from swarmpy.engine.images.push import push_image
from swarmpy.engine.images.registry import (
    Credentials,
    credentials_from,
    credentials_of_header,
    decode_auth,
)
from swarmpy.errors import InvalidArgument, SwarmpyError
from swarmpy.server.app import NODE, Routes, json_response, query_flag, server_headers
from swarmpy.server.backend import LocalEngine
from swarmpy.server.local import local_engine, local_handler

CHUNK = 1 << 20
# Query parameters of POST /build the CLI always sends, and the value that means "not used":
# anything else asks for what swarmpy's builder does not do, and is refused.
_UNUSED_DEFAULTS: dict[str, tuple[str, ...]] = {
    "cpusetcpus": ("",),
    "cpusetmems": ("",),
    "cpushares": ("", "0"),
    "cpuquota": ("", "0"),
    "cpuperiod": ("", "0"),
    "memory": ("", "0"),
    "memswap": ("", "0"),
    "shmsize": ("", "0"),
    "cgroupparent": ("",),
    "isolation": ("", "default"),
    "extrahosts": ("",),
    "remote": ("",),
    "platform": ("",),
    "squash": ("", "0", "false"),
    "cachefrom": ("", "[]", "null"),
    "ulimits": ("", "null", "[]"),
    "securityopt": ("", "null", "[]"),
    "session": ("",),
    "outputs": ("",),
}


def add_routes(routes: Routes) -> None:
    for method, path, handler in (
        ("POST", "/build", build),
        ("POST", "/images/{name:.+}/tag", tag),
        ("POST", "/images/{name:.+}/push", push),
        ("GET", "/images/get", save),
        ("GET", "/images/{name:.+}/get", save_one),
        ("POST", "/auth", auth),
    ):
        routes.add(method, path, local_handler(handler))


def _builder(engine: LocalEngine, network: StepNetwork | None = None) -> Builder:
    images = engine.images
    return Builder(
        images,
        engine.containers.runc,
        images.root.parent / "build",
        seccomp.load_profile(),
        network,
    )


def _json_map(request: web.Request, key: str) -> dict[str, Any]:
    text = request.query.get(key, "")
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidArgument(f"invalid {key} value: not JSON") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {key} value: not a JSON object")
    return value


def registry_auth(request: web.Request) -> Credentials | None:
    return credentials_of_header(request.headers.get("X-Registry-Auth", ""))


def build_options(request: web.Request) -> BuildOptions:
    for key, allowed in _UNUSED_DEFAULTS.items():
        value = request.query.get(key, "")
        if value not in allowed:
            raise InvalidArgument(f"build option {key}={value} is not supported by swarmpy")
    args = _json_map(request, "buildargs")
    labels = _json_map(request, "labels")
    config = decode_auth(request.headers.get("X-Registry-Config", ""))
    auths: list[tuple[str, Credentials]] = []
    for registry, doc in config.items():
        creds = credentials_from(doc) if isinstance(doc, dict) else None
        if creds is not None:
            auths.append((registry, creds))
    if labels:
        raise InvalidArgument("build --label is not supported by swarmpy; use LABEL")
    # default, bridge, host, none, or a user bridge's name or id (RUN's network, moby's
    # NetworkMode of a step's container; one not found fails the step in Docker's words).
    network = request.query.get("networkmode", "") or "default"
    return BuildOptions(
        dockerfile=request.query.get("dockerfile") or "Dockerfile",
        tags=tuple(request.query.getall("t", [])),
        build_args=tuple((str(k), None if v is None else str(v)) for k, v in args.items()),
        no_cache=query_flag(request, "nocache"),
        target=request.query.get("target", ""),
        pull=query_flag(request, "pull"),
        registry_auth=tuple(auths),
        network=network,
    )


async def build(request: web.Request) -> web.StreamResponse:
    engine = local_engine(request)
    options = build_options(request)
    quiet = query_flag(request, "q")
    query_flag(request, "rm")  # intermediate containers always go (they are never kept)
    query_flag(request, "forcerm")
    builder = _builder(engine, request.app[NODE].standalone)
    context_dir = builder.work_root / ("context-" + secrets.token_hex(8))
    context_dir.mkdir(parents=True)
    try:
        await _receive_context(request, context_dir)
        return await _stream(
            request,
            lambda say, built, tell: builder.build(context_dir, options, say, built, tell),
            quiet,
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, context_dir, True)


async def _receive_context(request: web.Request, dest: Path) -> None:
    """Unpack the request body (a tar) into ``dest`` as it arrives."""
    reader, writer = await asyncio.to_thread(_pipe)
    unpacking = asyncio.ensure_future(asyncio.to_thread(_unpack_from, reader, dest))
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            try:
                await asyncio.to_thread(writer.write, chunk)
            except BrokenPipeError:
                break  # the unpacker stopped (a bad tar): its error is the one to report
    finally:
        with contextlib.suppress(BrokenPipeError):
            await asyncio.to_thread(writer.close)
        await unpacking


def _pipe() -> tuple[Any, Any]:
    import os

    r, w = os.pipe()
    return os.fdopen(r, "rb"), os.fdopen(w, "wb")


def _unpack_from(reader: Any, dest: Path) -> None:
    with reader:
        head = reader.peek(1) if hasattr(reader, "peek") else b"x"
        if not head:
            raise InvalidArgument("no build context: the request body is empty")
        unpack_context(reader, dest)
        while reader.read(CHUNK):  # what follows the tar's end, so the writer never blocks
            pass


async def _stream(
    request: web.Request,
    work: Callable[
        [Callable[[str], None], Callable[[str], None], Callable[[dict[str, Any]], None]],
        Awaitable[str],
    ],
    quiet: bool,
) -> web.StreamResponse:
    """Run ``work`` (a build), streaming what it says (and its progress) as Docker's JSON
    messages."""
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def say(text: str) -> None:
        if text and not quiet:
            queue.put_nowait({"stream": text})

    def tell(message: dict[str, Any]) -> None:
        if not quiet:
            queue.put_nowait(message)

    def built(image_id: str) -> None:
        queue.put_nowait({"aux": {"ID": image_id}})

    async def run() -> str:
        try:
            image_id = await work(say, built, tell)
            if quiet:
                queue.put_nowait({"stream": image_id + "\n"})
            return image_id
        finally:
            queue.put_nowait(None)

    return await _drain(request, run, queue)


async def tag(request: web.Request) -> web.Response:
    repo = request.query.get("repo", "")
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    target = repo + (f":{request.query['tag']}" if request.query.get("tag") else "")
    store = local_engine(request).images
    await asyncio.to_thread(store.tag, request.match_info["name"], target)
    return web.Response(status=201, headers=server_headers())


async def push(request: web.Request) -> web.StreamResponse:
    store = local_engine(request).images
    name = request.match_info["name"]
    tag_value = request.query.get("tag", "")
    ref = f"{name}:{tag_value}" if tag_value else name
    creds = registry_auth(request)
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def tell(message: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, message)

    async def run() -> None:
        try:
            await asyncio.to_thread(push_image, store, ref, creds, tell)
        finally:
            queue.put_nowait(None)

    return await _drain(request, run, queue)


async def _drain(
    request: web.Request,
    run: Callable[[], Awaitable[object]],
    queue: asyncio.Queue[dict[str, Any] | None],
) -> web.StreamResponse:
    """Run ``run`` (which ends by putting None on ``queue``), streaming each message it queues
    as a JSON line; an error after the first message ends the stream as Docker's errorDetail
    (with a failed RUN step's exit code), one before it is the handler's error."""
    task = asyncio.ensure_future(run())
    response: web.StreamResponse | None = None
    try:
        while (message := await queue.get()) is not None:
            if response is None:
                response = web.StreamResponse(headers=server_headers())
                response.content_type = "application/json"
                await response.prepare(request)
            await response.write((json.dumps(message) + "\n").encode())
        await task
    except SwarmpyError as e:
        if response is None:
            raise
        detail: dict[str, Any] = {"message": e.message}
        if isinstance(e, BuildFailed):
            detail["code"] = e.code
        await response.write(
            (json.dumps({"errorDetail": detail, "error": e.message}) + "\n").encode()
        )
    except ConnectionResetError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, SwarmpyError):
            await task
        assert response is not None
        return response
    if response is None:
        return json_response([])
    await response.write_eof()
    return response


async def save(request: web.Request) -> web.StreamResponse:
    return await _save(request, request.query.getall("names", []))


async def save_one(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    if not names:
        raise InvalidArgument("no image names given")
    store = local_engine(request).images
    for name in names:
        store.get(name)  # a 404 before the archive starts
    response = web.StreamResponse(headers=server_headers())
    response.content_type = "application/x-tar"
    await response.prepare(request)
    loop = asyncio.get_running_loop()

    class _Out:
        def write(self, data: bytes) -> int:
            asyncio.run_coroutine_threadsafe(response.write(bytes(data)), loop).result()
            return len(data)

        def flush(self) -> None:
            pass

    await asyncio.to_thread(save_images, store, names, _Out())
    await response.write_eof()
    return response


async def auth(request: web.Request) -> web.Response:
    try:
        doc = await request.json()
    except ValueError:
        raise InvalidArgument("invalid auth request: not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid auth request: not a JSON object")
    creds = credentials_from(doc)
    server = str(doc.get("serveraddress") or "")
    store = local_engine(request).images
    await asyncio.to_thread(store.check_login, server, creds)
    return json_response({"Status": "Login Succeeded", "IdentityToken": ""})

"""Standalone containers' life: create, start, restart, wait, attach, rename, the archive
endpoints of ``docker cp``, and ``/commit``, over swarmpy.standalone (Docker's words and
status codes)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import gzip
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from swarmpy.dockerjson import detachkeys
from swarmpy.engine import archive
from swarmpy.engine.build.builder import apply_changes
from swarmpy.engine.images.layertar import write_layer
from swarmpy.engine.images.reference import parse_reference
from swarmpy.engine.images.untar import extract_layer
from swarmpy.engine.jsonlog import STDERR as LOG_STDERR
from swarmpy.engine.jsonlog import LogWindow
from swarmpy.errors import InvalidArgument, NotFound
from swarmpy.server.app import (
    NODE,
    Routes,
    json_body,
    json_response,
    query_flag,
    server_headers,
)
from swarmpy.server.backend import LocalEngine
from swarmpy.server.hijack import Hijacked, hijack
from swarmpy.server.local import local_engine, local_handler, not_modified, stream_type
from swarmpy.server.routes.containers import inspect_one
from swarmpy.server.stream import STDERR, STDOUT, frame
from swarmpy.server.streaming import until_client_gone
from swarmpy.standalone.manager import StandaloneContainers

STAT_HEADER = "X-Docker-Container-Path-Stat"
START_POLL_S = 0.05
CHUNK = 1 << 16


def add_routes(routes: Routes) -> None:
    for method, path, handler in (
        ("POST", "/containers/create", create),
        ("POST", "/containers/{id}/start", start),
        ("POST", "/containers/{id}/restart", restart_container),
        ("POST", "/containers/{id}/wait", wait),
        ("POST", "/containers/{id}/attach", attach),
        ("POST", "/containers/{id}/rename", rename),
        ("POST", "/containers/{id}/resize", resize),
        ("GET", "/containers/{id}/archive", get_archive),
        ("HEAD", "/containers/{id}/archive", head_archive),
        ("PUT", "/containers/{id}/archive", put_archive),
        ("POST", "/commit", commit),
    ):
        routes.add(method, path, local_handler(handler))


def standalone(request: web.Request) -> StandaloneContainers:
    local_engine(request)  # its events are recorded from here on
    return request.app[NODE].standalone


def _grace(request: web.Request) -> float | None:
    text = request.query.get("t", "")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidArgument(f"invalid value for t: {text}") from None


async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    if body is None:
        raise InvalidArgument("config cannot be empty in order to create a container")
    cid = await standalone(request).create(body, request.query.get("name", ""))
    return json_response({"Id": cid, "Warnings": []}, status=201)


async def start(request: web.Request) -> web.Response:
    body = await json_body(request)
    if body:
        raise InvalidArgument(
            "starting container with non-empty request body was deprecated since API v1.22 "
            "and removed in v1.24"
        )
    if request.query.get("checkpoint"):
        raise InvalidArgument("swarmpy does not implement checkpoints")
    if not await standalone(request).start(request.match_info["id"]):
        return not_modified()
    return web.Response(status=204)


async def restart_container(request: web.Request) -> web.Response:
    await standalone(request).restart(request.match_info["id"], _grace(request))
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    name = request.query.get("name", "")
    if not name:
        raise InvalidArgument("Neither old nor new names may be empty")
    await standalone(request).rename(request.match_info["id"], name)
    return web.Response(status=204)


async def resize(request: web.Request) -> web.Response:
    """The size of the container's terminal (``h`` rows, ``w`` columns)."""
    sizes = []
    for key in ("h", "w"):
        text = request.query.get(key, "0")
        if not text.isdigit() or int(text) > 0xFFFF:
            raise InvalidArgument(f"invalid value for {key}: {text}")
        sizes.append(int(text))
    sa = standalone(request)
    cid = str((await local_engine(request).containers.resolve(request.match_info["id"]))["id"])
    sa.resize(cid, sizes[0], sizes[1])
    return web.Response(status=200)


# ---------------------------------------------------------------- wait


async def wait(request: web.Request) -> web.StreamResponse:
    """The status once the condition holds. The answer's headers go out once the waiter is
    registered: `docker run` starts the container only after it got them."""
    sa = standalone(request)
    fut = await sa.wait(request.match_info["id"], request.query.get("condition", ""))
    response = web.StreamResponse(headers=server_headers())
    response.content_type = "application/json"
    await response.prepare(request)

    async def send() -> None:
        code = await fut
        await response.write(json.dumps({"Error": None, "StatusCode": code}).encode() + b"\n")
        await response.write_eof()

    task = asyncio.ensure_future(send())
    await until_client_gone(request, task)
    return response


# ---------------------------------------------------------------- attach


async def _started_since(
    sa: StandaloneContainers, engine: LocalEngine, cid: str, since: float
) -> bool:
    """Wait until the container runs (True), or return False when it ended before
    ``since`` and is not coming back."""
    cdir = engine.containers.container_root / cid
    while True:
        status = await sa.settled_status(cid)
        if status in ("running", "paused"):
            return True
        record = _record(cdir)
        started = float(record.get("started_at", 0.0))
        if status == "stopped" and started >= since:
            return True  # it ran (and already ended) after we attached: its output is kept
        if status == "stopped" and sa.restarting(cid) is None:
            return False
        if not cdir.exists():
            return False
        await asyncio.sleep(START_POLL_S)


def _record(cdir: Path) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads((cdir / "record.json").read_text())
    except (OSError, ValueError):
        return {}
    return found


async def attach(request: web.Request) -> web.StreamResponse:
    """Docker's attach: the container's output from now (and what it wrote before, with
    logs=1) until it ends, our stdin to its (with stdin=1 and -i)."""
    sa = standalone(request)
    engine = local_engine(request)
    doc = await engine.containers.inspect(request.match_info["id"])
    cid = str(doc["Id"])
    tty = bool(doc["Config"].get("Tty"))
    if query_flag(request, "stdin") and not sa.accepts_stdin(cid):
        # Without -i the container's stdin is /dev/null: nothing would reach it.
        stdin = False
    else:
        stdin = query_flag(request, "stdin")
    want = {STDOUT: query_flag(request, "stdout"), STDERR: query_flag(request, "stderr")}
    logs, follow = query_flag(request, "logs"), query_flag(request, "stream")
    given = request.query.get("detachKeys", "")
    try:
        keys = detachkeys.parse(given)
    except InvalidArgument:
        raise InvalidArgument(f"Invalid detach keys ({given}) provided") from None
    # dockerd watches for them behind a TTY only (its default when none are given).
    keys = (keys or detachkeys.DEFAULT) if tty else b""
    since = time.time()
    # Counted as attached before the upgrade is answered: `run --rm` starts the container as
    # soon as it has the answer, and a container that ends before this handler runs again
    # must not be removed, its output with it, ahead of the stream that would read it.
    async with sa.attached(cid):
        response, conn = await hijack(request, stream_type(request, tty))
        await _attach_streams(sa, engine, cid, conn, since, want, (logs, follow, stdin, tty), keys)
    return response


async def _attach_streams(
    sa: StandaloneContainers,
    engine: LocalEngine,
    cid: str,
    conn: Hijacked,
    since: float,
    want: dict[int, bool],
    flags: tuple[bool, bool, bool, bool],
    keys: bytes,
) -> None:
    """``keys`` typed into stdin end the stream, the container running on (Docker's detach)."""
    logs, follow, stdin, tty = flags
    feeding: asyncio.Future[bool] | None = None
    copying: asyncio.Future[None] | None = None
    try:
        if logs:
            await _copy_log(engine, cid, LogWindow(), conn, want, tty)
        engine.containers.log_event(cid, "attach")  # dockerd's, after the logs
        if follow and await _started_since(sa, engine, cid, since):
            window = LogWindow(since_ns=int(since * 1e9), follow=True)
            copying = asyncio.ensure_future(_copy_log(engine, cid, window, conn, want, tty))
            if stdin:
                feeding = asyncio.ensure_future(_feed(sa, cid, conn, keys))
                await asyncio.wait({copying, feeding}, return_when=asyncio.FIRST_COMPLETED)
                if not copying.done() and _typed(feeding):
                    engine.containers.log_event(cid, "detach")
                    return  # detached: the container runs on
            await copying
            if feeding is not None and not feeding.done():
                # Its output ended with the client's stdin still open: dockerd's attach lasts
                # until the container's Cleanup cancels it (CancelAttachContext), which it
                # reports as a detach, after the die. A client hanging up first is no detach.
                exited = await sa.wait(cid, "not-running")
                ends: set[asyncio.Future[Any]] = {exited, feeding}
                await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
                if exited.done():
                    engine.containers.log_event(cid, "detach")
                else:
                    exited.cancel()
    finally:
        for task in (feeding, copying):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        conn.close()


async def _copy_log(
    engine: LocalEngine,
    cid: str,
    window: LogWindow,
    conn: Hijacked,
    want: dict[int, bool],
    tty: bool,
) -> None:
    # Closed at once when a detach cancels the copy, not when the collector finds it.
    async with contextlib.aclosing(engine.containers.logs(cid, window)) as records:
        async for record in records:
            stream = STDERR if record.stream == LOG_STDERR else STDOUT
            if not want[stream]:
                continue
            if not await conn.write(record.line if tty else frame(stream, record.line)):
                return


def _typed(feeding: asyncio.Future[bool]) -> bool:
    """Whether the client's input ended with the detach keys."""
    return (
        feeding.done()
        and not feeding.cancelled()
        and feeding.exception() is None
        and (feeding.result())
    )


async def _feed(sa: StandaloneContainers, cid: str, conn: Hijacked, keys: bytes) -> bool:
    """The client's stdin to the container's; True when it typed the detach ``keys`` (its
    input stays open then, as dockerd leaves it)."""
    escape = detachkeys.EscapeProxy(keys)
    while data := await conn.read():
        passed, detach = escape.feed(data)
        if passed and not await sa.write_stdin(cid, passed):
            return False
        if detach:
            return True
    sa.end_stdin(cid)
    return False


# ---------------------------------------------------------------- archive (docker cp)


def _bind_mounts(cdir: Path) -> list[tuple[str, Path]]:
    """The container's bind mounts (its /etc files, binds, volumes) as cp sees them."""
    try:
        config = json.loads((cdir / "config.json").read_text())
    except (OSError, ValueError):
        return []
    return [
        (str(m["destination"]), Path(m["source"]))
        for m in config.get("mounts") or []
        if m.get("type") == "bind" and str(m.get("source", "")).startswith("/")
    ]


async def _rootfs(request: web.Request) -> tuple[str, Path, str, list[tuple[str, Path]]]:
    engine = local_engine(request)
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path is required")
    cid = str((await engine.containers.resolve(request.match_info["id"]))["id"])
    root = engine.containers.container_root / cid / "merged"
    if not root.is_dir():
        raise NotFound(f"No such container: {cid}: its filesystem is not mounted")
    if not path.startswith("/"):
        path = "/" + path  # relative to the container's / (Docker: its working dir is /)
    return cid, root, path, _bind_mounts(root.parent)


async def head_archive(request: web.Request) -> web.Response:
    _, root, path, mounts = await _rootfs(request)
    name = request.match_info["id"]
    doc = await asyncio.to_thread(archive.path_stat, root, path, mounts, name)
    return web.Response(status=200, headers={STAT_HEADER: archive.stat_header(doc)})


async def get_archive(request: web.Request) -> web.StreamResponse:
    _, root, path, mounts = await _rootfs(request)
    name = request.match_info["id"]
    doc = await asyncio.to_thread(archive.path_stat, root, path, mounts, name)
    with tempfile.TemporaryFile() as spool:
        await asyncio.to_thread(archive.write_archive, root, path, spool, mounts, name)
        spool.seek(0)
        response = web.StreamResponse(
            headers={**server_headers(), STAT_HEADER: archive.stat_header(doc)}
        )
        response.content_type = "application/x-tar"
        await response.prepare(request)
        # A client that stops reading (`cp c:/x - | head`) ends the copy, not the daemon.
        with contextlib.suppress(ConnectionResetError):
            while chunk := await asyncio.to_thread(spool.read, CHUNK):
                await response.write(chunk)
            await response.write_eof()
        return response


async def put_archive(request: web.Request) -> web.Response:
    _, root, path, mounts = await _rootfs(request)
    no_overwrite = query_flag(request, "noOverwriteDirNonDir")
    if query_flag(request, "copyUIDGID"):
        raise InvalidArgument("swarmpy does not implement copyUIDGID")
    with tempfile.TemporaryFile() as spool:
        while chunk := await request.content.read(CHUNK):
            await asyncio.to_thread(spool.write, chunk)
        spool.seek(0)
        await asyncio.to_thread(
            archive.extract_archive,
            root,
            path,
            spool,
            no_overwrite,
            mounts,
            request.match_info["id"],
        )
    return web.Response(status=200)


# ---------------------------------------------------------------- commit


async def commit(request: web.Request) -> web.Response:
    """``docker commit``: the container's changes (its overlay upper dir, whiteouts as OCI's)
    as a new layer over its image, with its config (and the body's Config over it)."""
    engine = local_engine(request)
    ref = request.query.get("container", "")
    if not ref:
        raise InvalidArgument("a container is required")
    changes = [c for c in request.query.getall("changes", []) if c]
    # Docker's Config as the container was made (ExposedPorts, Entrypoint...), not the
    # engine's process alone.
    doc = await inspect_one(engine, ref, request.app[NODE].standalone)
    cid = str(doc["Id"])
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    target = ""
    if repo:
        target = f"{repo}:{tag or 'latest'}"
        parse_reference(target)
    body = await json_body(request)
    if body is not None and not isinstance(body, dict):
        raise InvalidArgument("invalid commit config: expected an object")
    pause = request.query.get("pause", "1").lower() not in ("0", "false", "f")
    paused = False
    if pause and doc["State"]["Status"] == "running":
        with contextlib.suppress(Exception):  # a commit goes on unpaused, as Docker's
            await engine.containers.pause(cid)
            paused = True
    try:
        image_id = await _commit(engine, cid, doc, body or {}, changes, request)
    finally:
        if paused:
            await engine.containers.unpause(cid)
    if target:
        await asyncio.to_thread(engine.images.tag, image_id, target)
    engine.containers.log_event(
        cid,
        "commit",
        comment=request.query.get("comment", ""),
        imageID=image_id,
        imageRef=parse_reference(target).familiar if target else "",
    )
    return json_response({"Id": image_id}, status=201)


async def _commit(
    engine: LocalEngine,
    cid: str,
    doc: dict[str, Any],
    body: dict[str, Any],
    changes: list[str],
    request: web.Request,
) -> str:
    parent = str(doc["Image"])
    base = copy.deepcopy(engine.images.config_doc(parent))
    config = dict(base.get("config") or {})
    container_config = doc.get("Config") or {}
    # What the container was run with is the new image's config, as Docker's commit.
    for key in ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Labels"):
        value = container_config.get(key)
        if value not in (None, "", [], {}):
            config[key] = value
    for key, value in body.items():
        config[key] = value
    # ``--change``'s Dockerfile instructions, over what the container and the body give.
    config = await apply_changes(config, changes)
    upper = engine.containers.container_root / cid / "upper"
    with tempfile.TemporaryDirectory(prefix="swarmpy-commit-") as tmp:
        layer, tree = Path(tmp) / "layer.tar.gz", Path(tmp) / "tree"
        diff_id = await asyncio.to_thread(_pack, upper, layer, tree)
        now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        entry: dict[str, Any] = {
            "created": now,
            "created_by": " ".join(container_config.get("Cmd") or []),
        }
        comment = request.query.get("comment", "")
        author = request.query.get("author", "")
        if comment:
            entry["comment"] = comment
        if author:
            entry["author"] = author
        new = {
            **base,
            "config": config,
            "container": cid,
            "container_config": container_config,
            "created": now,
            "docker_version": "swarmpy",
            "history": [*(base.get("history") or []), entry],
            "rootfs": {
                "type": "layers",
                "diff_ids": [*((base.get("rootfs") or {}).get("diff_ids") or []), diff_id],
            },
        }
        if author:
            new["author"] = author
        raw = json.dumps(new, separators=(",", ":")).encode()
        record = await asyncio.to_thread(
            engine.images.register_built, raw, parent, (tree, layer, diff_id)
        )
    return str(record.id)


def _pack(upper: Path, dest: Path, tree: Path) -> str:
    """The upper dir as a gzipped layer tar at ``dest`` (whiteouts as OCI's), and unpacked
    again at ``tree`` as the store keeps layers (the container's own upper dir stays its);
    the layer's diff_id."""
    with dest.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        write_layer(upper, gz)  # type: ignore[arg-type]
    tree.mkdir()
    with dest.open("rb") as stream:
        diff_id, _ = extract_layer(stream, tree)
    return diff_id

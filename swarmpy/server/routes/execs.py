"""/containers/{id}/exec and /exec/{id}: docker exec through the daemon.

The daemon runs the process (swarmpy.engine.execs); start hijacks the connection (see
swarmpy.server.hijack): the client's stdin in, the output out in Docker's 8-byte frames, or
raw behind a TTY. The client reads the exit code from /exec/{id}/json once the stream ends, so
it is kept before the connection closes. Behind a TTY with stdin, the detach keys (DetachKeys,
ctrl-p ctrl-q by default; swarmpy.dockerjson.detachkeys) end the stream and leave the exec running.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from swarmpy.dockerjson import detachkeys
from swarmpy.engine.execs import Exec, ExecConfig, ExecProcess, Execs
from swarmpy.errors import InvalidArgument
from swarmpy.server.app import Routes, json_body, json_response, server_headers
from swarmpy.server.hijack import Hijacked, hijack, wants_upgrade
from swarmpy.server.local import EXECS, local_engine, local_handler, stream_type
from swarmpy.server.stream import frame


def add_routes(routes: Routes) -> None:
    routes.app[EXECS] = Execs()

    async def stop_execs(app: web.Application) -> None:
        await app[EXECS].close()

    # On shutdown, before the server waits for its handlers: an exec's stream ends with it.
    routes.app.on_shutdown.append(stop_execs)
    routes.add("POST", "/containers/{id}/exec", local_handler(create))
    routes.add("POST", "/exec/{id}/start", local_handler(start))
    routes.add("POST", "/exec/{id}/resize", local_handler(resize))
    routes.add("GET", "/exec/{id}/json", local_handler(inspect))


def _strings(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid {key}: expected a list of strings")
    return tuple(value)


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid {key}: expected a string")
    return value


def exec_config(body: Any) -> ExecConfig:
    """Docker's ExecConfig (the body of exec create)."""
    if not isinstance(body, dict):
        raise InvalidArgument("exec create needs a JSON object")
    if body.get("Privileged"):
        raise InvalidArgument("privileged exec is not supported")
    return ExecConfig(
        cmd=_strings(body, "Cmd"),
        env=_strings(body, "Env"),
        user=_string(body, "User"),
        workdir=_string(body, "WorkingDir"),
        tty=bool(body.get("Tty")),
        stdin=bool(body.get("AttachStdin")),
        stdout=bool(body.get("AttachStdout")),
        stderr=bool(body.get("AttachStderr")),
        detach_keys=detachkeys.parse(_string(body, "DetachKeys")),
    )


def exec_json(made: Exec) -> dict[str, Any]:
    """Docker's ExecInspect."""
    config = made.config
    return {
        "ID": made.id,
        "Running": made.running,
        "ExitCode": made.exit_code if made.exit_code is not None else 0,
        "ProcessConfig": {
            "tty": config.tty,
            "entrypoint": config.cmd[0] if config.cmd else "",
            "arguments": list(config.cmd[1:]),
            "privileged": False,
            "user": config.user,
        },
        "OpenStdin": config.stdin,
        "OpenStderr": config.stderr,
        "OpenStdout": config.stdout,
        "CanRemove": False,
        "ContainerID": made.container_id,
        # dockerd's is the parsed bytes, which Go's JSON writes in base64.
        "DetachKeys": base64.b64encode(config.detach_keys).decode(),
        "Pid": made.pid,
    }


def console_size(body: dict[str, Any]) -> tuple[int, int] | None:
    """``ConsoleSize`` ([height, width], API 1.42's; older clients resize after the start)."""
    size = body.get("ConsoleSize")
    if size is None:
        return None
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and 0 <= v < 1 << 16 for v in size)
    ):
        raise InvalidArgument("invalid ConsoleSize: expected [height, width]")
    return (size[0], size[1]) if size[0] and size[1] else None


async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    config = exec_config(body)
    engine = local_engine(request)
    made = await request.app[EXECS].create(engine.containers, request.match_info["id"], config)
    if config.tty:
        made.size = console_size(body)
    return json_response({"Id": made.id}, status=201)


async def inspect(request: web.Request) -> web.Response:
    return json_response(exec_json(request.app[EXECS].get(request.match_info["id"])))


async def resize(request: web.Request) -> web.Response:
    try:
        height = int(request.query.get("h", ""))
        width = int(request.query.get("w", ""))
    except ValueError:
        raise InvalidArgument("resize needs integer h and w") from None
    if not (0 <= height < 1 << 16 and 0 <= width < 1 << 16):
        raise InvalidArgument("resize: h and w must be between 0 and 65535")
    request.app[EXECS].resize(request.match_info["id"], height, width)
    return web.Response(status=200)


async def _feed_stdin(
    conn: Hijacked, process: ExecProcess, attached: bool, keys: bytes, detached: asyncio.Event
) -> None:
    """The client's bytes to the process; its half-close ends the process's input. Without
    AttachStdin they are read and dropped, as Docker does. ``keys`` typed: ``detached`` is
    set, and the process keeps its input open, as dockerd leaves it."""
    escape = detachkeys.EscapeProxy(keys)
    while data := await conn.read():
        if not attached:
            continue
        passed, detach = escape.feed(data)
        if passed:
            await process.write(passed)
        if detach:
            detached.set()
            return
    if attached:
        await process.close_stdin()


async def _pump(
    conn: Hijacked,
    process: ExecProcess,
    tty: bool,
    detached: asyncio.Event,
    finish: Coroutine[Any, Any, int],
) -> None:
    """The process's output to the client until it ends (dropped once the client detached),
    then ``finish``: the exit code kept for inspect."""
    connected = True
    async for stream, data in process.output():
        if connected and not detached.is_set():
            connected = await conn.write(data if tty else frame(stream, data))
    await finish


async def start(request: web.Request) -> web.StreamResponse:
    body = await json_body(request) or {}
    if not isinstance(body, dict):
        raise InvalidArgument("exec start needs a JSON object")
    execs = request.app[EXECS]
    exec_id = request.match_info["id"]
    made = execs.get(exec_id)
    detach = bool(body.get("Detach"))
    process = await execs.start(local_engine(request).containers, exec_id, detach)
    if detach:
        return web.Response(status=200)
    tty = made.config.tty
    content_type = stream_type(request, tty)
    if not wants_upgrade(request):
        # A client that does not hijack gets the output as an ordinary response body.
        await process.close_stdin()
        response = web.StreamResponse(headers=server_headers())
        response.content_type = content_type
        await response.prepare(request)
        async for stream, data in process.output():
            await response.write(data if tty else frame(stream, data))
        await execs.finish(exec_id, process)
        await response.write_eof()
        return response
    upgraded, conn = await hijack(request, content_type)
    # dockerd watches for the detach keys behind a TTY only: without one, stdin is data.
    keys = (made.config.detach_keys or detachkeys.DEFAULT) if tty else b""
    detached = asyncio.Event()
    feeder = asyncio.create_task(_feed_stdin(conn, process, made.config.stdin, keys, detached))
    # The exit code is kept before the connection closes: the client asks for it at once.
    pump = asyncio.create_task(_pump(conn, process, tty, detached, execs.finish(exec_id, process)))
    typed: asyncio.Task[Any] = asyncio.create_task(detached.wait())
    try:
        await asyncio.wait([pump, typed], return_when=asyncio.FIRST_COMPLETED)
        if pump.done():
            await pump
        else:  # detached: the stream ends, the exec runs on
            execs.adopt(pump)
    finally:
        for task in (feeder, typed):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return upgraded

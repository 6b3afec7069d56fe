"""What the node-local endpoints (containers, exec, images) share: the node's engine and
Docker's 409 for a conflict with a local object's state.

The swarm's endpoints answer a Conflict 400 (Docker's gRPC FailedPrecondition); the engine's
own endpoints answer 409 ("container is not running", "image is being used"), as dockerd's
errdefs.Conflict does.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable
from dataclasses import dataclass, field

from aiohttp import web

from swarmpy.engine.execs import Execs
from swarmpy.errors import Conflict, NotAManager, NotInSwarm
from swarmpy.server.app import EVENTS, NODE, ApiError, Handler, parse_version, request_version
from swarmpy.server.backend import LocalEngine
from swarmpy.server.streaming import until_client_gone


@dataclass(frozen=True)
class Streams:
    """The container streams being written (logs -f, stats): ended when the daemon stops,
    which would otherwise wait for each up to the server's shutdown timeout."""

    tasks: set[asyncio.Future[None]] = field(default_factory=set)


# The daemon's execs: made with the exec routes, read by container inspect too.
EXECS = web.AppKey("execs", Execs)
STREAMS = web.AppKey("container_streams", Streams)
RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


class LocalConflict(ApiError):
    http_status = 409


def local_engine(request: web.Request) -> LocalEngine:
    engine = request.app[NODE].require_runtime()
    # An engine made just now: its events are recorded from this, its first action, on.
    request.app[EVENTS].follow_engine()
    return engine


def local_handler(handler: Handler) -> Handler:
    """The engine's Conflicts as 409."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (NotAManager, NotInSwarm):
            raise
        except Conflict as e:
            raise LocalConflict(e.message) from None

    return wrapped


def stream_type(request: web.Request, tty: bool) -> str:
    """The Content-Type of a container's output stream (logs, exec): Docker names the
    multiplexed framing from API 1.42; before, and behind a TTY, it is "raw"."""
    if not tty and parse_version(request_version(request)) >= (1, 42):
        return MULTIPLEXED_STREAM
    return RAW_STREAM


async def while_connected(request: web.Request, stream: Awaitable[None]) -> None:
    """Write ``stream`` to the client until it ends or the client goes away (see
    server/streaming.py), or the daemon stops: a container stream (logs -f of a running
    container, stats) may have no end of its own."""
    task = asyncio.ensure_future(stream)
    streams = request.app.get(STREAMS)
    if streams is not None:
        streams.tasks.add(task)
        task.add_done_callback(streams.tasks.discard)
    await until_client_gone(request, task)


def end_streams_on_shutdown(app: web.Application) -> None:
    """Keep the container streams in ``app`` and end them when it shuts down."""
    app[STREAMS] = Streams()

    async def end_streams(app: web.Application) -> None:
        for task in list(app[STREAMS].tasks):
            task.cancel()

    app.on_shutdown.append(end_streams)


def not_modified() -> web.Response:
    """Docker's 304, with no body: stop of a stopped container."""
    return web.Response(status=304)

"""The Engine API application: routes under ``/v1.NN/...`` and unversioned, version
negotiation, and errors as Docker's ``{"message": ...}`` with Docker's status codes.

A request flows: aiohttp routes it (``Routes.add`` registers every path twice, bare and with
the version prefix) -> ``version_middleware`` refuses an API version out of range and stamps
Docker's headers -> ``error_middleware`` turns a swarmpy error into its status ->
``leader_wait_middleware`` asks a read again once an election ends -> the handler
of the object's module (``swarmpy/server/routes/``), which converts JSON with the pure
functions of ``swarmpy/server/convert/`` and calls the control API or membership through the
node (``swarmpy/server/backend.py``). A new group of endpoints is a module with an
``add_routes(routes)`` listed in ``ROUTE_MODULES``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import platform
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from swarmpy.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NoLeader,
    NotAManager,
    NotFound,
    NotInSwarm,
    PermissionDenied,
    SwarmpyError,
    Unavailable,
)
from swarmpy.model import ENGINE_VERSION
from swarmpy.server.backend import EngineNode
from swarmpy.server.events import EventLog

log = logging.getLogger(__name__)

API_VERSION = "1.41"
MIN_API_VERSION = "1.12"
SERVER_HEADER = f"swarmpy/{ENGINE_VERSION} ({platform.system().lower()})"

NODE = web.AppKey("node", EngineNode)
EVENTS = web.AppKey("events", EventLog)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


class ApiError(SwarmpyError):
    """An error only the Engine API has, with the status Docker gives it."""

    http_status = 500


def status_for(error: SwarmpyError) -> int:
    """Docker's status for an error (api/server/httpstatus: gRPC codes -> HTTP)."""
    if isinstance(error, ApiError):
        return error.http_status
    # Checked first: they are Conflicts, but Docker answers them "unavailable".
    if isinstance(error, NotAManager | NotInSwarm | Unavailable):
        return 503
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, AlreadyExists):
        return 409
    if isinstance(error, InvalidArgument | Conflict):
        return 400
    if isinstance(error, PermissionDenied):
        return 403
    return 500


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON as Docker sends it: its clients take an error body for JSON only when the
    Content-Type is exactly application/json, without a charset."""
    body = json.dumps(data).encode() + b"\n"
    return web.Response(body=body, status=status, content_type="application/json")


# Items of a long list built and encoded between two turns of the event loop.
LIST_SLICE = 500


async def json_list_response(items: Iterable[Any]) -> web.Response:
    """``json_response`` of a list that may be long (``items`` made lazily), built and
    encoded a slice at a time with the event loop's other work (heartbeats, status reports)
    let in between, and no one C call encoding the whole: that holds the GIL throughout, so
    the Raft thread waits. Listing a 100,000-task service blocked a leader 6.3 s, its Raft
    thread 1.3 s, and cost an election."""
    parts: list[str] = []
    for item in items:
        parts.append(json.dumps(item))
        if len(parts) % LIST_SLICE == 0:
            await asyncio.sleep(0)
    body = ("[" + ", ".join(parts) + "]\n").encode()
    return web.Response(body=body, content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status=status)


def request_version(request: web.Request) -> str:
    """The API version a request asked for (its path prefix), or the server's own."""
    return request.match_info.get("version", "") or API_VERSION


@web.middleware
async def version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Docker's VersionMiddleware: refuse versions out of range, stamp the server headers."""
    asked = request.match_info.get("version", "")
    response: web.StreamResponse
    if asked and parse_version(asked) > parse_version(API_VERSION):
        response = error_response(
            400,
            f"client version {asked} is too new. Maximum supported API version is {API_VERSION}",
        )
    elif asked and parse_version(asked) < parse_version(MIN_API_VERSION):
        response = error_response(
            400,
            f"client version {asked} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version",
        )
    else:
        response = await handler(request)
    if not response.prepared:
        response.headers.update(server_headers())
    return response


def server_headers() -> dict[str, str]:
    return {"Server": SERVER_HEADER, "Api-Version": API_VERSION, "Ostype": "linux"}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except SwarmpyError as e:
        status = status_for(e)
        if status >= 500 and status != 503:
            log.error("%s %s: %s", request.method, request.path, e)
        return error_response(status, e.message)
    except web.HTTPException as e:
        if e.status == 404:
            return error_response(404, "page not found")
        if e.status == 405:
            return error_response(405, f"{request.method} is not allowed on {request.path}")
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise  # the client went away: nobody to answer
    # A bug: the client gets Docker's 500 body, the log the traceback.
    except Exception as e:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"internal error: {e}")


# A read refused for want of a leader waits this long for the next one: an election after
# a leader died takes 1-2 s (docs/raft.md), and swarmkit's managers wait for it too (its raft
# proxy's LeaderConn), so `service ps` or a `service update` watching its progress on a
# follower goes on instead of failing. A swarm without a leader for longer than
# LOST_QUORUM_S (swarmkit's lostQuorumTimeout, 10 ticks of 1 s) is refused at once.
ELECTION_WAIT_S = 3.0
LOST_QUORUM_S = 10.0
LEADER_POLL_S = 0.1


@dataclass
class Leaderless:
    """Since when (loop time) this node's reads have found no leader; None while one is."""

    since: float | None = None


LEADERLESS = web.AppKey("leaderless", Leaderless)


def leader_wait(since: float | None, now: float) -> float:
    """How long a read refused for want of a leader at ``now`` waits for one, when reads
    have found none since ``since``."""
    if since is None:
        return ELECTION_WAIT_S
    return max(0.0, min(ELECTION_WAIT_S, since + LOST_QUORUM_S - now))


def _has_leader(node: EngineNode) -> bool:
    api = node.control_api()
    if api is None:
        return False
    try:
        api.check_leader()
    except NoLeader:
        return False
    return True


@web.middleware
async def leader_wait_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A read (GET/HEAD) refused with "The swarm does not have a leader" is asked again once
    a leader is elected, if one is within ``leader_wait``; writes are never repeated."""
    if request.method not in ("GET", "HEAD"):
        return await handler(request)
    state, node = request.app[LEADERLESS], request.app[NODE]
    try:
        response = await handler(request)
    except NoLeader:
        loop = asyncio.get_running_loop()
        if state.since is None:
            state.since = loop.time()
        deadline = loop.time() + leader_wait(state.since, loop.time())
        while not _has_leader(node):
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(LEADER_POLL_S)
        state.since = None
        return await handler(request)
    if state.since is not None and _has_leader(node):
        state.since = None
    return response


class Routes:
    """Registers each endpoint bare and under ``/v{version}``, as Docker's router does."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def add(self, method: str, path: str, handler: Handler) -> None:
        self.app.router.add_route(method, path, handler)
        self.app.router.add_route(method, r"/v{version:\d+\.\d+}" + path, handler)


async def json_body(request: web.Request) -> Any:
    """The request's JSON (None when empty); a body that is not JSON is a 400, as Docker's."""
    text = await request.text()
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidArgument(f"invalid JSON in the request body: {e}") from None


def query_flag(request: web.Request, key: str) -> bool:
    """A boolean query parameter as Go's strconv.ParseBool reads it (plus "" = false)."""
    value = request.query.get(key, "")
    if value.lower() in ("", "0", "f", "false"):
        return False
    if value.lower() in ("1", "t", "true"):
        return True
    raise InvalidArgument(f"invalid value for {key}: {value}")


_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_time(text: str, key: str, now: float | None = None) -> float | None:
    """A ``since``/``until`` value as Docker's daemon reads it (api/types/time): Unix seconds
    with an optional fraction (what Docker's CLI sends for events), a Go duration before now
    (``24h``, ``1h30m``: what ``prune --filter until=`` passes through) or an RFC 3339 time."""
    if not text:
        return None
    with contextlib.suppress(ValueError):
        return float(text)
    parts = _GO_DURATION.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        ago = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
        return (time.time() if now is None else now) - ago
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidArgument(
            f"invalid value for {key}: {text!r} is not a Unix time, duration or RFC 3339 time"
        ) from None


def query_version(request: web.Request, kind: str) -> int:
    """``?version=`` of an update: the ObjectVersion the client read."""
    raw = request.query.get("version", "")
    try:
        return int(raw)
    except ValueError:
        raise InvalidArgument(f"invalid {kind} version '{raw}': expected an integer") from None


def make_app(node: EngineNode, events: EventLog | None = None) -> web.Application:
    """The Engine API over ``node``; ``events`` records the swarm's events for /events."""
    # Here, not at the top: the route modules import this one for its helpers.
    from swarmpy.server.routes import ROUTE_MODULES

    app = web.Application(
        middlewares=[version_middleware, error_middleware, leader_wait_middleware]
    )
    app[NODE] = node
    app[LEADERLESS] = Leaderless()
    app[EVENTS] = events or EventLog(node)
    routes = Routes(app)
    for module in ROUTE_MODULES:
        module.add_routes(routes)

    async def start_events(app: web.Application) -> None:
        app[EVENTS].start()

    async def stop_events(app: web.Application) -> None:
        await app[EVENTS].stop()

    app.on_startup.append(start_events)
    app.on_cleanup.append(stop_events)
    return app

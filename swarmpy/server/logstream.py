"""Service and task logs as Docker writes them (api/server/httputils/write_log_stream.go):
multiplexed frames, each line optionally prefixed with its timestamp and with its details
(``com.docker.swarm.node.id=...,...``, which Docker's CLI always asks for and parses to print
``web.1.<task>@<node> | ...``)."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from dataclasses import dataclass

from aiohttp import web

from swarmpy.api import dispatcher_pb2
from swarmpy.errors import InvalidArgument
from swarmpy.server.app import query_flag, server_headers
from swarmpy.server.backend import LogRelay
from swarmpy.server.stream import STDOUT, SYSTEMERR, frame
from swarmpy.server.streaming import until_client_gone

CONTENT_TYPE = "application/vnd.docker.multiplexed-stream"
CONTEXT_PREFIX = "com.docker.swarm"


@dataclass(frozen=True)
class LogOptions:
    follow: bool
    tail: int  # -1: everything
    timestamps: bool
    details: bool
    stdout: bool


def parse_tail(text: str) -> int:
    if text in ("", "all"):
        return -1
    try:
        tail = int(text)
    except ValueError:
        raise InvalidArgument('tail value must be a positive integer or "all"') from None
    if tail < 0:
        raise InvalidArgument("negative tail values not supported")
    return tail


def log_options(request: web.Request) -> LogOptions:
    stdout, stderr = query_flag(request, "stdout"), query_flag(request, "stderr")
    if not (stdout or stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    since = request.query.get("since", "")
    try:
        since_s = float(since or 0)
    except ValueError:
        raise InvalidArgument(f"could not parse since timestamp {since!r}") from None
    if since_s:
        # The agents keep no time with each line, so there is nothing to compare it with.
        raise InvalidArgument("since is not supported: swarmpy keeps no time with a log line")
    return LogOptions(
        follow=query_flag(request, "follow"),
        tail=parse_tail(request.query.get("tail", "")),
        timestamps=query_flag(request, "timestamps"),
        details=query_flag(request, "details"),
        # The agents keep one stream per container, stdout and stderr together, which
        # Docker's clients show as stdout.
        stdout=stdout,
    )


def details(node_id: str, service_id: str, task_id: str) -> bytes:
    """Docker's details of a service log line: sorted ``key=value`` pairs, query-escaped."""
    pairs = sorted(
        {
            f"{CONTEXT_PREFIX}.node.id": node_id,
            f"{CONTEXT_PREFIX}.service.id": service_id,
            f"{CONTEXT_PREFIX}.task.id": task_id,
        }.items()
    )
    return ",".join(
        f"{urllib.parse.quote_plus(k)}={urllib.parse.quote_plus(v)}" for k, v in pairs
    ).encode()


def rfc3339_nano_fixed(at: dt.datetime) -> str:
    """Go's RFC3339NanoFixed: always nine digits of fraction."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond * 1000:09d}Z"


def log_line(message: dispatcher_pb2.LogMessage, options: LogOptions, at: dt.datetime) -> bytes:
    line: bytes = message.data + b"\n"
    if options.details:
        line = details(message.node_id, message.service_id, message.task_id) + b" " + line
    if options.timestamps:
        # When the managers relayed it: the agents send no time with a line.
        line = rfc3339_nano_fixed(at).encode() + b" " + line
    return line


async def stream_logs(
    request: web.Request,
    relay: LogRelay,
    subscription: dispatcher_pb2.SubscribeLogsRequest,
    options: LogOptions,
) -> web.StreamResponse:
    subscription.follow = options.follow
    subscription.tail = options.tail
    response = web.StreamResponse(headers=server_headers())
    response.content_type = CONTENT_TYPE
    await response.prepare(request)

    async def relay_lines() -> None:
        async for message in relay.subscribe_logs(subscription):
            if not message.task_id:
                # The broker's word on nodes that did not answer: Docker sends the log
                # broker's "incomplete log stream" the same way, as a system error frame.
                text = message.data.decode(errors="replace")
                await response.write(frame(SYSTEMERR, f"Error grabbing logs: {text}\n".encode()))
                continue
            if options.stdout:
                line = log_line(message, options, dt.datetime.now(dt.UTC))
                await response.write(frame(STDOUT, line))

    # With --follow the relay waits for lines: a client that left ends the subscription.
    if await until_client_gone(request, relay_lines()):
        await response.write_eof()
    return response

"""Logs as Docker writes them (api/server/httputils/write_log_stream.go), for containers,
services and tasks: each line with its stream (multiplexed frames 1 and 2, unless the
container has a TTY), optionally prefixed with its timestamp (RFC3339NanoFixed) and its
details (for a service line ``com.docker.swarm.node.id=...,...``, which Docker's CLI always
asks for and parses to print ``web.1.<task>@<node> | ...``; for a container none, so just a
space)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from aiohttp import web

from swarmpy.api import dispatcher_pb2
from swarmpy.dockerjson.logtime import MAX_INT64, query_time_ns, rfc3339_nano_fixed
from swarmpy.errors import InvalidArgument, SwarmpyError
from swarmpy.server.app import query_flag, server_headers
from swarmpy.server.backend import LogRelay
from swarmpy.server.stream import STDERR, STDOUT, SYSTEMERR, frame
from swarmpy.server.streaming import until_client_gone

CONTENT_TYPE = "application/vnd.docker.multiplexed-stream"
RAW_CONTENT_TYPE = "application/vnd.docker.raw-stream"
CONTEXT_PREFIX = "com.docker.swarm"


@dataclass(frozen=True)
class LogOptions:
    follow: bool
    tail: int  # -1: everything
    timestamps: bool
    details: bool
    stdout: bool
    stderr: bool
    since_ns: int = 0  # 0: from the start
    until_ns: int = 0  # 0: no end

    def wants(self, stream: int) -> bool:
        return self.stdout if stream == STDOUT else self.stderr


def parse_tail(text: str) -> int:
    """A service's ``tail``, as Docker's cluster backend reads it (strictly)."""
    if text in ("", "all"):
        return -1
    try:
        tail = int(text)
    except ValueError:
        raise InvalidArgument('tail value must be a positive integer or "all"') from None
    if tail < 0:
        raise InvalidArgument("negative tail values not supported")
    if tail > MAX_INT64:  # Go's Atoi fails on it too
        raise InvalidArgument('tail value must be a positive integer or "all"')
    return tail


def container_tail(text: str) -> int:
    """A container's ``tail``, as Docker's daemon reads it: a count, anything else is all."""
    try:
        tail = int(text)
    except ValueError:
        return -1
    return tail if 0 <= tail <= MAX_INT64 else -1


def log_options(request: web.Request, *, container: bool = False) -> LogOptions:
    stdout, stderr = query_flag(request, "stdout"), query_flag(request, "stderr")
    if not (stdout or stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tail = request.query.get("tail", "")
    until = request.query.get("until", "")
    return LogOptions(
        follow=query_flag(request, "follow"),
        tail=container_tail(tail) if container else parse_tail(tail),
        timestamps=query_flag(request, "timestamps"),
        details=query_flag(request, "details"),
        stdout=stdout,
        stderr=stderr,
        since_ns=query_time_ns(request.query.get("since", ""), "since"),
        # Docker reads until=0 as no end.
        until_ns=0 if until == "0" else query_time_ns(until, "until"),
    )


def log_line(line: bytes, time_ns: int, details: bytes | None, options: LogOptions) -> bytes:
    """One line as written to the client: ``[time ][details ]line``."""
    if options.details:
        line = (details or b"") + b" " + line
    if options.timestamps:
        line = rfc3339_nano_fixed(time_ns).encode() + b" " + line
    return line


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


def stream_of(message: dispatcher_pb2.LogMessage) -> int:
    return STDERR if message.stream == dispatcher_pb2.LOG_STREAM_STDERR else STDOUT


async def stream_logs(
    request: web.Request,
    relay: LogRelay,
    subscription: dispatcher_pb2.SubscribeLogsRequest,
    options: LogOptions,
    tty: bool = False,
) -> web.StreamResponse:
    """The lines of a subscription; raw, not framed, for a service whose tasks have a TTY
    (Docker's, which its CLI copies as they are)."""
    subscription.follow = options.follow
    subscription.tail = options.tail
    subscription.since_unix_nano = options.since_ns
    subscription.until_unix_nano = options.until_ns
    response = web.StreamResponse(headers=server_headers())
    response.content_type = RAW_CONTENT_TYPE if tty else CONTENT_TYPE
    await response.prepare(request)

    def framed(stream: int, data: bytes) -> bytes:
        return data if tty else frame(stream, data)

    async def grabbing_failed(text: str) -> None:
        await response.write(framed(SYSTEMERR, f"Error grabbing logs: {text}\n".encode()))

    async def relay_lines() -> None:
        try:
            async for message in relay.subscribe_logs(subscription):
                if not message.task_id:
                    # The broker's word on nodes that did not answer: Docker sends the log
                    # broker's "incomplete log stream" the same way, as a system error frame.
                    await grabbing_failed(message.data.decode(errors="replace"))
                    continue
                stream = stream_of(message)
                if options.wants(stream):
                    context = details(message.node_id, message.service_id, message.task_id)
                    line = log_line(message.data, message.time_unix_nano, context, options)
                    await response.write(framed(stream, line))
        except SwarmpyError as e:
            # The subscription broke off after the stream began (the leader relaying it
            # died): a second HTTP response written into this one is what the client would
            # get from error_middleware. dockerd ends the stream with the error instead.
            await grabbing_failed(e.message)

    # With --follow the relay waits for lines: a client that left ends the subscription.
    if await until_client_gone(request, relay_lines()):
        await response.write_eof()
    return response

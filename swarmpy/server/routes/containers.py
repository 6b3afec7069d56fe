"""/containers: the node's own containers (list, inspect, logs, top, stats, stop, kill, pause,
unpause, delete), over the engine the agent runs them with (swarmpy.engine.containers)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from swarmpy.dockerjson.logdriver import NOT_READABLE
from swarmpy.engine import jsonlog
from swarmpy.engine.containers import ContainerInfo, host_memory, parse_runc_time
from swarmpy.engine.jsonlog import LogWindow
from swarmpy.errors import Conflict, InvalidArgument, NotFound
from swarmpy.server.app import (
    NODE,
    ApiError,
    Routes,
    json_response,
    query_flag,
    server_headers,
)
from swarmpy.server.backend import LocalEngine
from swarmpy.server.convert import standalone as standalone_json
from swarmpy.server.convert.container import (
    CONTAINER_FILTERS,
    Attachment,
    ListQuery,
    Sample,
    attachments,
    check_filters,
    inspect_json,
    matches,
    parse_net_dev,
    parse_proc_stat,
    stats_json,
    summary,
    with_networks,
)
from swarmpy.server.filters import parse_filters
from swarmpy.server.local import (
    EXECS,
    end_streams_on_shutdown,
    local_engine,
    local_handler,
    not_modified,
    stream_type,
    while_connected,
)
from swarmpy.server.logstream import log_line, log_options
from swarmpy.server.stream import STDERR, STDOUT, frame
from swarmpy.standalone.manager import StandaloneContainers

STATS_INTERVAL_S = 1.0  # Docker's collector samples once a second
DEFAULT_STOP_S = 10.0


def add_routes(routes: Routes) -> None:
    end_streams_on_shutdown(routes.app)
    for method, path, handler in (
        ("GET", "/containers/json", list_containers),
        ("GET", "/containers/{id}/json", inspect),
        ("GET", "/containers/{id}/logs", logs),
        ("GET", "/containers/{id}/top", top),
        ("GET", "/containers/{id}/stats", stats),
        ("POST", "/containers/{id}/stop", stop),
        ("POST", "/containers/{id}/kill", kill),
        ("POST", "/containers/{id}/pause", pause),
        ("POST", "/containers/{id}/unpause", unpause),
        ("DELETE", "/containers/{id}", remove),
    ):
        routes.add(method, path, local_handler(handler))


def node_attachments(engine: LocalEngine) -> list[Attachment]:
    network = engine.network
    names = {net_id: net.name for net_id, net in engine.networks.items()}
    found = attachments(network.local_networks(), network.local_containers, names)
    # The containers' legs on user bridges (swarmpy.overlay.bridges).
    bridges = {net.id: net for net in engine.bridges.networks()}
    return found + [
        Attachment(
            ep.network_id,
            bridges[ep.network_id].name if ep.network_id in bridges else ep.network_id,
            ep.container_name,
            ep.endpoint_id,
            ep.mac,
            ep.cidr,
            bridges[ep.network_id].gateway if ep.network_id in bridges else "",
        )
        for ep in engine.bridges.endpoints()
    ]


async def inspect_docs(
    engine: LocalEngine, all: bool, sa: StandaloneContainers | None = None
) -> list[tuple[ContainerInfo, dict[str, Any]]]:
    """Every container's list row and inspect document, with the networks it is on."""
    found = node_attachments(engine)
    rows = await engine.containers.inspect_all(all)
    return [(info, _standalone(sa, with_networks(doc, found))) for info, doc in rows]


async def inspect_one(
    engine: LocalEngine, ref: str, sa: StandaloneContainers | None = None
) -> dict[str, Any]:
    doc = with_networks(await engine.containers.inspect(ref), node_attachments(engine))
    return _standalone(sa, doc)


def _standalone(sa: StandaloneContainers | None, doc: dict[str, Any]) -> dict[str, Any]:
    """A standalone container's document with what its record adds."""
    rec = sa.record(doc["Id"]) if sa is not None else None
    if sa is None or rec is None:
        return doc
    return standalone_json.inspect_doc(
        doc, rec, sa.published(doc["Id"]), sa.restarting(doc["Id"]), sa.user_networks(rec)
    )


def _standalone_row(
    sa: StandaloneContainers, row: dict[str, Any], doc: dict[str, Any]
) -> dict[str, Any]:
    rec = sa.record(row["Id"])
    if rec is None:
        return row
    finished = doc.get("State", {}).get("FinishedAt", "")
    return standalone_json.summary_row(
        row,
        rec,
        sa.published(row["Id"]),
        sa.restarting(row["Id"]),
        parse_runc_time(finished) if finished else 0.0,
        time.time(),
    )


def _node_standalone(request: web.Request) -> StandaloneContainers:
    return request.app[NODE].standalone


async def list_containers(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters", ""), CONTAINER_FILTERS)
    check_filters(filters)
    limit_text = request.query.get("limit", "") or "-1"
    try:
        limit = int(limit_text)
    except ValueError:
        raise InvalidArgument(f"invalid limit {limit_text!r}: expected an integer") from None
    engine = local_engine(request)
    sa = _node_standalone(request)
    rows = await inspect_docs(engine, all=True, sa=sa)
    query = ListQuery(
        filters,
        all=query_flag(request, "all"),
        limit=max(limit, 0),
        before=_created_of(rows, filters.get("before")),
        since=_created_of(rows, filters.get("since")),
        image_ids=_ancestors(engine, filters.get("ancestor")) if "ancestor" in filters else None,
    )
    listed = [(info, doc) for info, doc in rows if matches(query, info, doc)]
    if query.limit:
        listed = listed[: query.limit]
    size = query_flag(request, "size")
    out = []
    for info, doc in listed:
        row = _standalone_row(sa, summary(info, doc), doc)
        if size:
            row.update(await _sizes(engine, doc))
        out.append(row)
    return json_response(out)


def _created_of(
    rows: list[tuple[ContainerInfo, dict[str, Any]]], refs: tuple[str, ...]
) -> float | None:
    """The creation time of the container ``before=``/``since=`` names (id, prefix or name)."""
    for ref in refs:
        for info, _ in rows:
            if ref in (info.id, info.name, "/" + info.name) or info.id.startswith(ref):
                return float(info.created)
        raise NotFound(f"No such container: {ref}")
    return None


def _ancestors(engine: LocalEngine, refs: tuple[str, ...]) -> frozenset[str]:
    ids = set()
    for ref in refs:
        try:
            ids.add(engine.images.get(ref).id)
        except NotFound:
            continue  # Docker lists nothing for an unknown image, and says nothing
    return frozenset(ids)


async def _sizes(engine: LocalEngine, doc: dict[str, Any]) -> dict[str, int]:
    """Docker's SizeRw (what the container changed: its overlay upper dir, beside its log)
    and SizeRootFs (that and its image)."""
    rw = await asyncio.to_thread(_dir_size, Path(doc["LogPath"]).parent / "upper")
    try:
        image = engine.images.get(doc["Image"]).size if doc.get("Image") else 0
    except NotFound:
        image = 0
    return {"SizeRw": rw, "SizeRootFs": rw + image}


def _dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


async def inspect(request: web.Request) -> web.Response:
    found = await inspect_one(
        local_engine(request), request.match_info["id"], _node_standalone(request)
    )
    execs = request.app.get(EXECS)
    doc = inspect_json(found, execs.running_in(found["Id"]) if execs is not None else [])
    if query_flag(request, "size"):
        doc.update(await _sizes(local_engine(request), doc))
    return json_response(doc)


# ---------------------------------------------------------------- logs


class LogsNotSupported(ApiError):
    """Docker's logger.ErrReadLogsNotSupported: a NotImplemented error (501)."""

    http_status = 501


async def logs(request: web.Request) -> web.StreamResponse:
    options = log_options(request, container=True)
    engine = local_engine(request)
    doc = await engine.containers.inspect(request.match_info["id"])
    if not await engine.containers.logs_readable(doc["Id"]):
        raise LogsNotSupported(NOT_READABLE)  # before any byte, as Docker's daemon
    tty = bool(doc["Config"].get("Tty"))
    response = web.StreamResponse(headers=server_headers())
    response.content_type = stream_type(request, tty)
    await response.prepare(request)
    window = LogWindow(
        tail=options.tail,
        since_ns=options.since_ns,
        until_ns=options.until_ns,
        follow=options.follow,
    )

    async def send() -> None:
        async for record in engine.containers.logs(doc["Id"], window):
            stream = STDERR if record.stream == jsonlog.STDERR else STDOUT
            if options.wants(stream):
                line = log_line(record.line, record.time_ns, None, options)
                await response.write(line if tty else frame(stream, line))
        await response.write_eof()

    await while_connected(request, send())
    return response


# ---------------------------------------------------------------- top and stats


async def top(request: web.Request) -> web.Response:
    engine = local_engine(request)
    titles, rows = await engine.containers.top(
        request.match_info["id"], request.query.get("ps_args", "")
    )
    return json_response({"Titles": titles, "Processes": rows})


def _system_cpu_ns() -> int:
    return parse_proc_stat(Path("/proc/stat").read_text(), os.sysconf("SC_CLK_TCK"))


async def _sample(engine: LocalEngine, ref: str) -> tuple[str, str, Sample]:
    cid, name, raw, net_dev = await engine.containers.raw_stats(ref)
    cpus = os.cpu_count() or 1
    return cid, name, Sample(time.time(), raw, _system_cpu_ns(), cpus, parse_net_dev(net_dev))


async def stats(request: web.Request) -> web.StreamResponse:
    stream = request.query.get("stream", "1").lower() not in ("0", "false", "f")
    one_shot = query_flag(request, "one-shot")
    if one_shot and stream:
        raise InvalidArgument("cannot have stream=true and one-shot=true")
    engine = local_engine(request)
    ref = request.match_info["id"]
    memory = host_memory()
    try:
        cid, name, sample = await _sample(engine, ref)
    except Conflict:
        # Not running: Docker answers one empty reading.
        doc = await engine.containers.inspect(ref)
        empty = Sample(0.0, {}, 0, 0)
        return json_response(stats_json(doc["Id"], doc["Name"].lstrip("/"), empty, None, 0))
    if not stream:
        previous = None
        if not one_shot:
            # Docker's non-streaming answer carries two readings, so a CPU share can be
            # computed from it (docker stats --no-stream).
            previous = sample
            await asyncio.sleep(STATS_INTERVAL_S)
            _, _, sample = await _sample(engine, ref)
        return json_response(stats_json(cid, name, sample, previous, memory))
    response = web.StreamResponse(headers=server_headers())
    response.content_type = "application/json"
    await response.prepare(request)

    async def send(sample: Sample) -> None:
        previous = None
        while True:
            line = json.dumps(stats_json(cid, name, sample, previous, memory)) + "\n"
            await response.write(line.encode())
            await asyncio.sleep(STATS_INTERVAL_S)
            previous = sample
            try:
                _, _, sample = await _sample(engine, cid)
            except (Conflict, NotFound):
                break  # it stopped or went away: the stream ends, as Docker's
        await response.write_eof()

    await while_connected(request, send(sample))
    return response


# ---------------------------------------------------------------- state changes


async def stop(request: web.Request) -> web.Response:
    local_engine(request)
    text = request.query.get("t", "")
    try:
        grace = float(text) if text else DEFAULT_STOP_S
    except ValueError:
        raise InvalidArgument(f"invalid value for t: {text}") from None
    # Docker's -1: wait as long as it takes, never SIGKILL.
    stopped = await _node_standalone(request).stop(
        request.match_info["id"], (math.inf if grace < 0 else grace) if text else None
    )
    if not stopped:
        return not_modified()
    return web.Response(status=204)


def signal_name(text: str) -> str:
    """A signal as Docker's ``signal=`` takes it (KILL, SIGKILL, 9), as runc takes it."""
    if text.isdigit():
        try:
            return signal.Signals(int(text)).name.removeprefix("SIG")
        except ValueError:
            raise InvalidArgument(f"Invalid signal: {text}") from None
    name = "SIG" + text.upper().removeprefix("SIG")
    if name not in signal.Signals.__members__:
        raise InvalidArgument(f"Invalid signal: {text}")
    return name.removeprefix("SIG")


async def kill(request: web.Request) -> web.Response:
    sig = signal_name(request.query.get("signal", "") or "KILL")
    local_engine(request)
    await _node_standalone(request).kill(request.match_info["id"], sig)
    return web.Response(status=204)


async def pause(request: web.Request) -> web.Response:
    await local_engine(request).containers.pause(request.match_info["id"])
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.Response:
    await local_engine(request).containers.unpause(request.match_info["id"])
    return web.Response(status=204)


async def remove(request: web.Request) -> web.Response:
    if query_flag(request, "link"):
        raise InvalidArgument("swarmpy has no container links to remove")
    local_engine(request)
    # v: its anonymous volumes go with the container (named ones outlive it).
    await _node_standalone(request).remove(
        request.match_info["id"], query_flag(request, "force"), query_flag(request, "v")
    )
    return web.Response(status=204)

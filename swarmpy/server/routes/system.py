"""/_ping, /version, /info and /events (api/server/router/system in Docker)."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from typing import Any

from aiohttp import web

from swarmpy import genericresource
from swarmpy.agent.runtime import host_resources
from swarmpy.errors import InvalidArgument, NoLeader
from swarmpy.manager.state.store import CLUSTERS, NODES
from swarmpy.model import ENGINE_VERSION, NodeRole
from swarmpy.server.app import (
    API_VERSION,
    EVENTS,
    MIN_API_VERSION,
    NODE,
    Routes,
    json_response,
    parse_time,
    server_headers,
)
from swarmpy.server.backend import SWARM_LOCKED, EngineNode
from swarmpy.server.convert.events import EVENT_FILTERS, event_matches
from swarmpy.server.convert.node import ENGINE_PLUGINS
from swarmpy.server.convert.swarm import cluster_info_json
from swarmpy.server.filters import parse_filters
from swarmpy.server.streaming import until_client_gone


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/_ping", ping)
    routes.add("HEAD", "/_ping", ping)
    routes.add("GET", "/version", version)
    routes.add("GET", "/info", info)
    routes.add("GET", "/events", events)


def swarm_header(node: EngineNode) -> str:
    """Docker's ``Swarm`` header of /_ping: inactive, active/manager or active/worker."""
    state = node.state
    if state is None:
        return "inactive"
    return "active/manager" if node.control_api() is not None else "active/worker"


async def ping(request: web.Request) -> web.Response:
    headers = {
        **server_headers(),
        "Docker-Experimental": "false",
        # No BuildKit: clients fall back to the classic builder's protocol.
        "Builder-Version": "1",
        "Swarm": swarm_header(request.app[NODE]),
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
    }
    if request.method == "HEAD":
        return web.Response(headers=headers, content_type="text/plain", body=b"")
    return web.Response(text="OK", headers=headers, content_type="text/plain")


def _kernel() -> str:
    return platform.release()


async def version(request: web.Request) -> web.Response:
    details = {
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": _arch(),
        "KernelVersion": _kernel(),
        "BuildTime": "",
    }
    return json_response(
        {
            "Platform": {"Name": "swarmpy"},
            "Components": [{"Name": "Engine", "Version": ENGINE_VERSION, "Details": details}],
            "Version": ENGINE_VERSION,
            **details,
        }
    )


def _arch() -> str:
    """Go's name for the machine (GOARCH), as Docker reports it."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def swarm_info(node: EngineNode) -> dict[str, Any]:
    """Docker's Info.Swarm."""
    state = node.state
    if state is None or node.locked:
        return {
            "NodeID": "",
            "NodeAddr": state.advertise_addr if state is not None else "",
            "LocalNodeState": "locked" if state is not None else "inactive",
            "ControlAvailable": False,
            "Error": SWARM_LOCKED if state is not None else "",
            "RemoteManagers": None,
        }
    out: dict[str, Any] = {
        "NodeID": state.node_id,
        "NodeAddr": state.advertise_addr,
        "LocalNodeState": "active",
        "ControlAvailable": False,
        "Error": "",
        "RemoteManagers": [{"NodeID": "", "Addr": addr} for addr in state.managers],
    }
    api = node.control_api()
    if api is None:
        return out
    out["ControlAvailable"] = True
    try:
        api.check_leader()
    except NoLeader as e:
        # As dockerd: its queries of the cluster fail, so the error is all there is to say
        # (`info` prints it and no cluster details; Nodes and Managers stay 0).
        out.update(Error=e.message, Nodes=0, Managers=0)
        return out
    snapshot = api.store.view()
    nodes = snapshot.all(NODES)
    cluster = snapshot.cluster()
    managers = [n for n in nodes if n.role == NodeRole.MANAGER and n.manager is not None]
    out.update(
        Nodes=len(nodes),
        Managers=len(managers),
        RemoteManagers=[
            {"NodeID": n.id, "Addr": n.manager.api_addr} for n in managers if n.manager
        ],
    )
    if cluster is not None:
        out["Cluster"] = cluster_info_json(cluster, snapshot.version(CLUSTERS, cluster.id))
    return out


async def info(request: web.Request) -> web.Response:
    node = request.app[NODE]
    config = node.config
    host = host_resources(config.node_generic_resources)
    state = node.state
    return json_response(
        {
            "ID": state.node_id if state else "",
            "Name": config.hostname,
            **await _engine_counts(node),
            "Driver": "overlay",
            "DriverStatus": [],
            "Plugins": {kind: list(names) for kind, names in ENGINE_PLUGINS.items()},
            "MemoryLimit": True,
            "SwapLimit": False,
            "KernelMemory": False,
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "IPv4Forwarding": True,
            **_kernel_features(),
            "Debug": False,
            "NFd": len(os.listdir("/proc/self/fd")),
            "NGoroutines": len(asyncio.all_tasks()),
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "KernelVersion": _kernel(),
            "OperatingSystem": _os_name(),
            "OSType": "linux",
            "Architecture": platform.machine(),
            "NCPU": host.nano_cpus // 1_000_000_000,
            # Docker's Info lists the node's advertised resources (null when none).
            "GenericResources": genericresource.to_json(host.generic) or None,
            "MemTotal": host.memory_bytes,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "InsecureRegistryCIDRs": [],
                "IndexConfigs": {},
                "Mirrors": list(config.registry_mirrors),
            },
            "DockerRootDir": str(config.data_root),
            "Labels": [],
            "ExperimentalBuild": False,
            "ServerVersion": ENGINE_VERSION,
            "Runtimes": {"runc": {"path": "runc"}},
            "DefaultRuntime": "runc",
            "Swarm": swarm_info(node),
            "LiveRestoreEnabled": True,
            "Isolation": "",
            "InitBinary": "",
            "SecurityOptions": [],
            "Warnings": [],
        }
    )


async def _engine_counts(node: EngineNode) -> dict[str, int]:
    """Docker's container and image counts, of the node's engine if it has one yet."""
    engine = node.runtime
    if engine is None:
        containers, images = [], 0
    else:
        containers = [c.state for c in await engine.containers.list(all=True)]
        images = len(engine.images.records())
    running = sum(1 for state in containers if state == "running")
    paused = sum(1 for state in containers if state == "paused")
    return {
        "Containers": len(containers),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": len(containers) - running - paused,
        "Images": images,
    }


def _sysctl_on(path: str) -> bool:
    try:
        with open(path) as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _kernel_features() -> dict[str, Any]:
    """What Docker's Info says of the host's cgroups and bridge netfilter."""
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    return {
        "CgroupVersion": "2" if v2 else "1",
        # cgroup v2 has no OOM-kill switch (Docker warns only on v1).
        "OomKillDisable": not v2,
        "BridgeNfIptables": _sysctl_on("/proc/sys/net/bridge/bridge-nf-call-iptables"),
        "BridgeNfIp6tables": _sysctl_on("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
    }


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _event_nanos(event: dict[str, Any]) -> int:
    nanos: int = event["timeNano"]
    return nanos


async def events(request: web.Request) -> web.StreamResponse:
    since = parse_time(request.query.get("since", ""), "since")
    until = parse_time(request.query.get("until", ""), "until")
    if since is not None and until is not None and until < since:
        raise InvalidArgument(
            f"`since` time ({request.query['since']}) cannot be after "
            f"`until` time ({request.query['until']})"
        )
    filters = parse_filters(request.query.get("filters", ""), EVENT_FILTERS)
    log = request.app[EVENTS]
    log.follow_engine()  # an engine made since the recorder last looked
    backlog, listener = log.subscribe()
    try:
        response = web.StreamResponse(headers=server_headers())
        response.content_type = "application/json"
        await response.prepare(request)

        def wanted(event: dict[str, Any]) -> bool:
            at = _event_nanos(event) / 1e9
            return (
                (since is None or at >= since)
                and (until is None or at <= until)
                and event_matches(filters, event)
            )

        async def send(event: dict[str, Any]) -> None:
            await response.write(json.dumps(event).encode() + b"\n")

        async def send_events() -> None:
            # Kept events only when asked for a time window, as Docker does.
            if since is not None or until is not None:
                for event in backlog:
                    if wanted(event):
                        await send(event)
            while until is None or time.time() <= until:
                timeout = None if until is None else max(0.0, until - time.time())
                try:
                    event = await asyncio.wait_for(listener.get(), timeout)
                except TimeoutError:
                    break
                if wanted(event):
                    await send(event)

        if not await until_client_gone(request, send_events()):
            return response
        await response.write_eof()
        return response
    finally:
        log.unsubscribe(listener)

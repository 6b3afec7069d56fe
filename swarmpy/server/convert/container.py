"""Containers as Docker's JSON: the list rows of /containers/json, the networks inspect shows,
the ``docker ps`` filters (daemon/list.go) and the statistics of /containers/{id}/stats.

Pure: the engine's inspect documents (already in Docker's keys) and runc's statistics in,
Docker's shapes out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from swarmpy.dockerjson.common import timestamp
from swarmpy.engine.containers import ContainerInfo
from swarmpy.errors import InvalidArgument
from swarmpy.server.filters import Filters

CONTAINER_FILTERS = (
    "ancestor",
    "before",
    "exited",
    "expose",
    "health",
    "id",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
)
STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTH_STATES = ("starting", "healthy", "unhealthy", "none")
TASK_LABEL = "com.docker.swarm.task.id"


@dataclass(frozen=True)
class Attachment:
    """A container's endpoint on one network, as the node's network provider reports it."""

    network_id: str
    network_name: str
    container_name: str
    endpoint_id: str
    mac: str
    cidr: str
    gateway: str = ""  # a user bridge's (an overlay endpoint has none, as Docker's)


def attachments(
    networks: Sequence[str],
    endpoints: Callable[[str], list[dict[str, str]]],
    names: Mapping[str, str],
) -> list[Attachment]:
    """Every endpoint of the node's ``networks`` (``endpoints(id)`` lists one network's, as
    network inspect shows them; ``names`` the networks' names)."""
    return [
        Attachment(
            net_id,
            names.get(net_id, net_id),
            e.get("Name", ""),
            e.get("EndpointID", ""),
            e.get("MacAddress", ""),
            e.get("IPv4Address", ""),
        )
        for net_id in networks
        for e in endpoints(net_id)
    ]


def network_settings(name: str, found: Sequence[Attachment]) -> dict[str, dict[str, Any]]:
    """NetworkSettings.Networks of the container called ``name``."""
    networks: dict[str, dict[str, Any]] = {}
    for a in found:
        if a.container_name != name:
            continue
        address, _, prefix = a.cidr.partition("/")
        networks[a.network_name] = {
            "IPAMConfig": None,
            "Links": None,
            "Aliases": None,
            "NetworkID": a.network_id,
            "EndpointID": a.endpoint_id,
            "Gateway": a.gateway,
            "IPAddress": address,
            "IPPrefixLen": int(prefix) if prefix.isdigit() else 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "MacAddress": a.mac,
            "DriverOpts": None,
        }
    return networks


def with_networks(doc: dict[str, Any], found: Sequence[Attachment]) -> dict[str, Any]:
    """The engine's inspect document with the networks the container is attached to."""
    settings = dict(doc.get("NetworkSettings") or {})
    settings["Networks"] = network_settings(doc["Name"].lstrip("/"), found)
    return {**doc, "NetworkSettings": settings}


def inspect_json(doc: dict[str, Any], exec_ids: Sequence[str]) -> dict[str, Any]:
    """The engine's inspect document with the rest of Docker's keys (what swarmpy has no
    such thing for takes Docker's value for "none"), so templates over them work, and the
    execs running in the container."""
    cdir = doc["LogPath"].rsplit("/", 1)[0] if doc.get("LogPath") else ""

    def beside(name: str) -> str:
        return f"{cdir}/{name}" if cdir else ""

    out = {
        "ResolvConfPath": beside("resolv.conf"),
        "HostnamePath": beside("hostname"),
        "HostsPath": beside("hosts"),
        "RestartCount": 0,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": list(exec_ids) or None,
        "GraphDriver": {"Name": "overlay", "Data": None},
        **doc,
    }
    out["State"] = {
        "OOMKilled": False,
        "Dead": False,
        "Restarting": False,
        "Error": "",
        **(doc.get("State") or {}),
    }
    out["Config"] = {
        "Domainname": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Entrypoint": None,
        **(doc.get("Config") or {}),
    }
    out["HostConfig"] = {
        "NetworkMode": "default",
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "Privileged": False,
        "ReadonlyRootfs": False,
        **(doc.get("HostConfig") or {}),
    }
    out["NetworkSettings"] = {
        "Bridge": "",
        "SandboxID": "",
        "Ports": {},
        **(doc.get("NetworkSettings") or {}),
    }
    return out


def command_line(args: Sequence[str]) -> str:
    return " ".join(args)


def summary(info: ContainerInfo, doc: dict[str, Any]) -> dict[str, Any]:
    """One row of /containers/json (Docker's ContainerSummary)."""
    config = doc.get("Config") or {}
    networks = (doc.get("NetworkSettings") or {}).get("Networks") or {}
    return {
        "Id": info.id,
        "Names": [doc["Name"]],
        "Image": info.image,
        "ImageID": doc.get("Image", ""),
        "Command": command_line(config.get("Cmd") or []),
        "Created": int(info.created),
        "Ports": [],
        "Labels": config.get("Labels") or {},
        "State": info.state,
        "Status": info.status,
        "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"Networks": networks},
        "Mounts": [
            {
                "Type": m["Type"],
                "Name": m.get("Name", ""),
                "Source": m.get("Source", ""),
                "Destination": m["Destination"],
                "Driver": "local" if m["Type"] == "volume" else "",
                "Mode": "",
                "RW": m.get("RW", True),
                "Propagation": "",
            }
            for m in doc.get("Mounts") or []
        ],
    }


# ---------------------------------------------------------------- filters


def go_match(patterns: Sequence[str], text: str) -> bool:
    """Docker's filters.Match: any value as a Go regexp found anywhere in ``text``."""
    for pattern in patterns:
        try:
            if re.search(pattern, text):
                return True
        except re.error:
            continue
    return False


def _health(doc: dict[str, Any]) -> str:
    """The container's health as Docker's health filter names it ("none": no check)."""
    health = (doc.get("State") or {}).get("Health") or {}
    return str(health.get("Status") or "none")


def check_filters(filters: Filters) -> None:
    """Refuse bad values before anything is listed, with Docker's words."""
    for value in filters.get("status"):
        if value not in STATES:
            raise InvalidArgument(
                f"invalid filter 'status={value}': invalid container state: {value}"
            )
    for value in filters.get("health"):
        if value not in HEALTH_STATES:
            raise InvalidArgument(
                f"invalid filter 'health={value}': invalid value for health ({value}): must be "
                f"one of {', '.join(HEALTH_STATES)}"
            )
    for value in filters.get("exited"):
        if not value.lstrip("-").isdigit():
            raise InvalidArgument(f"invalid filter 'exited={value}'")
    filters.bool_value("is-task")
    for key in ("publish", "expose"):
        port_filter(key, filters.get(key))


def port_filter(key: str, values: Sequence[str]) -> frozenset[str]:
    """The ports a ``publish`` or ``expose`` filter names, as "80/tcp" (dockerd's portOp:
    a port or a range, the protocol tcp unless given)."""
    ports: set[str] = set()
    for value in values:
        if ":" in value:
            raise InvalidArgument(f"filter for '{key}' should not contain ':': {value}")
        spec, _, proto = value.partition("/")
        start, _, end = spec.partition("-")
        try:
            low = int(start)
            high = int(end) if end else low
        except ValueError:
            raise InvalidArgument(
                f"error while looking up for {key} {value}: invalid port range: {spec}"
            ) from None
        if not 0 <= low <= high <= 65535:
            raise InvalidArgument(
                f"error while looking up for {key} {value}: invalid port range: {spec}"
            )
        ports.update(f"{port}/{proto or 'tcp'}" for port in range(low, high + 1))
    return frozenset(ports)


def _port_matches(f: Filters, doc: dict[str, Any]) -> bool:
    """dockerd keeps a container if one of its ports is published on a ``publish`` port or
    exposes an ``expose`` one."""
    publish, expose = (
        port_filter("publish", f.get("publish")),
        port_filter("expose", f.get("expose")),
    )
    if not publish and not expose:
        return True
    ports = (doc.get("NetworkSettings") or {}).get("Ports") or {}
    for private, bindings in ports.items():
        proto = private.partition("/")[2] or "tcp"
        if private in expose:
            return True
        if any(f"{b.get('HostPort', '')}/{proto}" in publish for b in bindings or ()):
            return True
    return False


@dataclass(frozen=True)
class ListQuery:
    """What /containers/json was asked: filters, ``all``, ``limit``, and what the ``before``,
    ``since`` and ``ancestor`` values resolved to."""

    filters: Filters
    all: bool
    limit: int  # 0: no limit
    before: float | None = None  # created-at of the ``before`` container
    since: float | None = None
    image_ids: frozenset[str] | None = None  # images the ``ancestor`` values name

    @property
    def shows_stopped(self) -> bool:
        # A status filter or a limit lists stopped containers too, as Docker's.
        return self.all or self.limit > 0 or "status" in self.filters


def matches(query: ListQuery, info: ContainerInfo, doc: dict[str, Any]) -> bool:
    f = query.filters
    labels = (doc.get("Config") or {}).get("Labels") or {}
    running = info.state in ("running", "paused")
    started = not str((doc.get("State") or {}).get("StartedAt", "0001")).startswith("0001")
    exit_code = (doc.get("State") or {}).get("ExitCode", 0)
    networks = (doc.get("NetworkSettings") or {}).get("Networks") or {}
    mounts = doc.get("Mounts") or []
    checks = (
        running or query.shows_stopped,
        f.any("name", [go_match(f.get("name"), doc["Name"]), go_match(f.get("name"), info.name)]),
        f.any("id", [go_match(f.get("id"), info.id)]),
        f.bool_value("is-task") in (None, TASK_LABEL in labels),
        f.labels("label", labels),
        f.any("exited", (int(c) == exit_code and not running and started for c in f.get("exited"))),
        f.any("status", [info.state in f.get("status")]),
        f.any("health", [_health(doc) in f.get("health")]),
        f.any(
            "volume",
            (
                v == m.get("Destination") or v == (m.get("Name") or m.get("Source"))
                for v in f.get("volume")
                for m in mounts
            ),
        ),
        query.image_ids is None or doc.get("Image", "") in query.image_ids,
        f.any(
            "network",
            (
                v in networks or any(n["NetworkID"].startswith(v) for n in networks.values())
                for v in f.get("network")
            ),
        ),
        _port_matches(f, doc),
        query.before is None or info.created < query.before,
        query.since is None or info.created > query.since,
    )
    return all(checks)


# ---------------------------------------------------------------- stats


@dataclass(frozen=True)
class Sample:
    """One reading of a container's statistics and the host's CPU time."""

    at: float
    runc: Mapping[str, Any]
    system_cpu_ns: int
    online_cpus: int
    # The container's interfaces' counters (parse_net_dev), what docker stats' NET I/O sums.
    networks: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


# /proc/net/dev's receive and transmit columns Docker's NetworkStats carries, by position.
_NET_DEV_RECEIVE = {"rx_bytes": 0, "rx_packets": 1, "rx_errors": 2, "rx_dropped": 3}
_NET_DEV_TRANSMIT = {"tx_bytes": 8, "tx_packets": 9, "tx_errors": 10, "tx_dropped": 11}


def parse_net_dev(text: str) -> dict[str, dict[str, int]]:
    """Each interface's counters from a network namespace's /proc/net/dev, as Docker's stats
    ``networks`` (loopback left out, as libnetwork's sandbox statistics leave it)."""
    networks: dict[str, dict[str, int]] = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        fields = rest.split()
        name = name.strip()
        if not sep or name == "lo" or len(fields) < 16:
            continue
        columns = {**_NET_DEV_RECEIVE, **_NET_DEV_TRANSMIT}
        networks[name] = {key: int(fields[i]) for key, i in columns.items()}
    return networks


def cpu_stats(sample: Sample | None) -> dict[str, Any]:
    if sample is None:
        sample = Sample(0.0, {}, 0, 0)
    cpu = sample.runc.get("cpu") or {}
    usage = cpu.get("usage") or {}
    throttling = cpu.get("throttling") or {}
    return {
        "cpu_usage": {
            "total_usage": int(usage.get("total", 0)),
            "percpu_usage": list(usage.get("percpu") or []) or None,
            "usage_in_kernelmode": int(usage.get("kernel", 0)),
            "usage_in_usermode": int(usage.get("user", 0)),
        },
        "system_cpu_usage": sample.system_cpu_ns,
        "online_cpus": sample.online_cpus,
        "throttling_data": {
            "periods": int(throttling.get("periods", 0)),
            "throttled_periods": int(throttling.get("throttledPeriods", 0)),
            "throttled_time": int(throttling.get("throttledTime", 0)),
        },
    }


def memory_stats(runc: Mapping[str, Any], host_memory: int) -> dict[str, Any]:
    memory = runc.get("memory") or {}
    usage = memory.get("usage") or {}
    limit = int(usage.get("limit", 0))
    if not limit or (host_memory and limit > host_memory):
        limit = host_memory  # unlimited: runc reports the largest number, Docker the host's
    raw = {str(k): int(v) for k, v in (memory.get("raw") or {}).items()}
    return {
        "usage": int(usage.get("usage", 0)),
        "max_usage": int(usage.get("max", 0)),
        "stats": raw,
        "failcnt": int(usage.get("failcnt", 0)),
        "limit": limit,
    }


def blkio_stats(runc: Mapping[str, Any]) -> dict[str, Any]:
    blkio = runc.get("blkio") or {}
    return {
        key: [
            {
                "major": int(e.get("major", 0)),
                "minor": int(e.get("minor", 0)),
                "op": str(e.get("op", "")),
                "value": int(e.get("value", 0)),
            }
            for e in blkio.get(source) or []
        ]
        or None
        for key, source in (
            ("io_service_bytes_recursive", "ioServiceBytesRecursive"),
            ("io_serviced_recursive", "ioServicedRecursive"),
        )
    }


def stats_json(
    cid: str, name: str, sample: Sample, previous: Sample | None, host_memory: int
) -> dict[str, Any]:
    """Docker's StatsJSON: this sample as ``cpu_stats``, the one before as ``precpu_stats``
    (zero without one, as Docker's first)."""
    pids = sample.runc.get("pids") or {}
    out = {
        "read": timestamp(sample.at),
        "preread": timestamp(previous.at) if previous else timestamp(0),
        "pids_stats": {"current": int(pids.get("current", 0)), "limit": int(pids.get("limit", 0))},
        "blkio_stats": blkio_stats(sample.runc),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_stats(sample),
        "precpu_stats": cpu_stats(previous),
        "memory_stats": memory_stats(sample.runc, host_memory),
        "name": "/" + name,
        "id": cid,
    }
    if sample.networks:  # Docker's omitempty: no key for a container without interfaces
        out["networks"] = {k: dict(v) for k, v in sample.networks.items()}
    return out


def parse_proc_stat(text: str, clock_ticks: int) -> int:
    """The host's CPU time in nanoseconds from /proc/stat, as Docker's getSystemCPUUsage:
    the first seven fields of the ``cpu`` line (user .. softirq), in clock ticks."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = sum(int(v) for v in fields[1:8])
            return ticks * 1_000_000_000 // clock_ticks
    raise InvalidArgument("no cpu line in /proc/stat")

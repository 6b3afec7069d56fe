"""Published ports of standalone containers (pure): Docker's PortBindings and
PublishAllPorts turned into host ports, free ones picked for ``-P`` and ``-p CONTAINER``.

Docker's port allocator hands out ports from the kernel's ephemeral range; so do we, from a
random point of it (several daemons on one machine, in tests, allocate independently), and
only ports no socket on the host holds and no other container published.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from swarmpy.errors import Conflict, InvalidArgument

EPHEMERAL = (32768, 60999)
PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True, order=True)
class PortRequest:
    """One container port to publish: ``host_port`` 0 asks for a free one."""

    protocol: str
    container_port: int
    host_ip: str = ""
    host_port: int = 0


@dataclass(frozen=True, order=True)
class PortMapping:
    protocol: str
    container_port: int
    host_ip: str  # "" for every address of the host
    host_port: int

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "container_port": self.container_port,
            "host_ip": self.host_ip,
            "host_port": self.host_port,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PortMapping:
        return cls(
            str(raw["protocol"]),
            int(raw["container_port"]),
            str(raw.get("host_ip", "")),
            int(raw["host_port"]),
        )


def parse_port_key(key: str) -> tuple[int, str]:
    """``"80/tcp"`` (or ``"80"``) as (80, "tcp")."""
    port_text, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidArgument(f"invalid containerPort: {port_text}")
    return int(port_text), proto


def parse_host_port(text: str) -> int:
    if not text:
        return 0
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidArgument(f"invalid hostPort: {text}")
    return int(text)


def requests_of(
    bindings: Mapping[str, Any], exposed: Iterable[str], publish_all: bool
) -> tuple[PortRequest, ...]:
    """HostConfig.PortBindings, then (with PublishAllPorts) every exposed port that has no
    binding, on a free port."""
    found: list[PortRequest] = []
    for key, entries in sorted(bindings.items()):
        port, proto = parse_port_key(key)
        for entry in entries or [{}]:
            if not isinstance(entry, dict):
                raise InvalidArgument(f"invalid HostConfig.PortBindings[{key!r}]: expected objects")
            found.append(
                PortRequest(
                    proto,
                    port,
                    str(entry.get("HostIp") or ""),
                    parse_host_port(str(entry.get("HostPort") or "")),
                )
            )
    if publish_all:
        bound = {(r.container_port, r.protocol) for r in found}
        for key in sorted(set(exposed)):
            port, proto = parse_port_key(key)
            if (port, proto) not in bound:
                found.append(PortRequest(proto, port))
    return tuple(found)


def allocate(
    requests: Iterable[PortRequest],
    taken: Iterable[tuple[str, int]],
    is_free: Callable[[str, int], bool],
    rng: random.Random | None = None,
    span: tuple[int, int] = EPHEMERAL,
) -> tuple[PortMapping, ...]:
    """Host ports for ``requests``; ``taken``: (protocol, port) other containers hold.

    A fixed port another container holds is refused in Docker's words; ``is_free`` tells
    whether the host has the port free (no socket bound there).
    """
    used = set(taken)
    out: list[PortMapping] = []
    pick = rng or random.Random()
    for r in requests:
        port = r.host_port
        if port:
            if (r.protocol, port) in used:
                addr = r.host_ip or "0.0.0.0"
                raise Conflict(f"Bind for {addr}:{port} failed: port is already allocated")
        else:
            port = _free_port(r.protocol, used, is_free, pick, span)
        used.add((r.protocol, port))
        out.append(PortMapping(r.protocol, r.container_port, r.host_ip, port))
    return tuple(out)


def _free_port(
    protocol: str,
    used: set[tuple[str, int]],
    is_free: Callable[[str, int], bool],
    rng: random.Random,
    span: tuple[int, int],
) -> int:
    low, high = span
    size = high - low + 1
    start = rng.randrange(size)
    for step in range(size):
        port = low + (start + step) % size
        if (protocol, port) not in used and is_free(protocol, port):
            return port
    raise Conflict("all ports are allocated")


def port_bindings_json(mappings: Iterable[PortMapping]) -> dict[str, list[dict[str, str]]]:
    """NetworkSettings.Ports' bound entries: ``{"80/tcp": [{"HostIp", "HostPort"}]}``."""
    out: dict[str, list[dict[str, str]]] = {}
    for m in sorted(mappings):
        out.setdefault(f"{m.container_port}/{m.protocol}", []).append(
            {"HostIp": m.host_ip or "0.0.0.0", "HostPort": str(m.host_port)}
        )
    return out


def summary_ports(mappings: Iterable[PortMapping], exposed: Iterable[str]) -> list[dict[str, Any]]:
    """ContainerSummary.Ports: the published ports, and the exposed ones not published."""
    out: list[dict[str, Any]] = []
    published = set()
    for m in sorted(mappings):
        published.add((m.container_port, m.protocol))
        out.append(
            {
                "IP": m.host_ip or "0.0.0.0",
                "PrivatePort": m.container_port,
                "PublicPort": m.host_port,
                "Type": m.protocol,
            }
        )
    for port, proto in sorted({parse_port_key(key) for key in exposed}):
        if (port, proto) not in published:
            out.append({"PrivatePort": port, "Type": proto})
    return out

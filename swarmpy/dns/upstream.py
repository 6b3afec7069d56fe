"""Forwarding names we do not own to the node's upstream resolvers.

Queries leave from the daemon's own network namespace (the node's view of the world, the
same one its resolv.conf describes), not from the container's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Sequence
from pathlib import Path

from swarmpy.errors import InvalidArgument

log = logging.getLogger(__name__)

DNS_PORT = 53
_MAX_MESSAGE = 65535


def upstreams_from_resolv_conf(path: Path) -> list[str]:
    """The nameservers of a resolv.conf, minus loopback ones: inside a container's namespace
    127.x is the container itself (Docker skips them for the same reason)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    servers = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        try:
            addr = ipaddress.ip_address(fields[1].split("%")[0])
        except ValueError:
            continue
        if not addr.is_loopback:
            servers.append(str(addr))
    return servers


def parse_upstream(spec: str) -> tuple[str, int]:
    """'10.0.0.1', '10.0.0.1:5353', 'fd00::1' or '[fd00::1]:5353' -> (address, port)."""
    host, port = spec, DNS_PORT
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise InvalidArgument(f"DNS upstream {spec!r} is not an IP address[:port]") from None
    return host, port


class Forwarder:
    def __init__(self, upstreams: Sequence[str], timeout_s: float = 4.0) -> None:
        self._upstreams = [parse_upstream(u) for u in upstreams]
        self._timeout_s = timeout_s

    @property
    def configured(self) -> bool:
        return bool(self._upstreams)

    async def forward(self, query: bytes, tcp: bool = False) -> bytes | None:
        """The first answer any upstream gives, trying them in order, each for at most the
        timeout; None if all failed."""
        qid = query[:2]
        for host, port in self._upstreams:
            ask = _ask_tcp if tcp else _ask_udp
            try:
                async with asyncio.timeout(self._timeout_s):
                    return await ask(host, port, query, qid)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                log.debug("DNS upstream %s:%d failed: %r", host, port, exc)
        return None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


async def _ask_udp(host: str, port: int, query: bytes, qid: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    with socket.socket(_family(host), socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        # Connected, so the kernel drops datagrams from anyone else and reports ICMP
        # unreachable as an error at once instead of after the timeout.
        sock.connect((host, port))
        await loop.sock_sendall(sock, query)
        while True:
            reply = await loop.sock_recv(sock, _MAX_MESSAGE)
            if reply[:2] == qid:
                return reply


async def _ask_tcp(host: str, port: int, query: bytes, qid: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack("!H", len(query)) + query)
        await writer.drain()
        while True:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            reply = await reader.readexactly(length)
            if reply[:2] == qid:
                return reply
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

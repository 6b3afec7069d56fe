"""The embedded DNS server: 127.0.0.11:53 (UDP and TCP) inside every container namespace,
all served from the daemon's event loop. Each container has its own socket pair, so the
server knows who asks and answers only from the networks that container is on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Collection, Sequence
from pathlib import Path

from swarmpy.dns.nsock import open_dns_sockets
from swarmpy.dns.records import RecordIndex
from swarmpy.dns.responder import Responder
from swarmpy.dns.upstream import Forwarder, upstreams_from_resolv_conf
from swarmpy.model import NetworkView

log = logging.getLogger(__name__)

# A client that opened a TCP connection and went quiet must not hold it forever.
_TCP_IDLE_S = 10.0
_LENGTH = struct.Struct("!H")


class DnsServer:
    def __init__(
        self,
        upstreams: Sequence[str] | None = None,
        resolv_conf: Path | None = Path("/etc/resolv.conf"),
        timeout_s: float = 4.0,
    ) -> None:
        if upstreams is None:
            upstreams = upstreams_from_resolv_conf(resolv_conf) if resolv_conf else []
        self._responder = Responder(Forwarder(upstreams, timeout_s))
        self._containers: dict[str, _ContainerListener] = {}

    def update(self, view: NetworkView) -> None:
        """Serve the records of ``view`` from the next query on."""
        self._responder.index = RecordIndex.from_view(view)

    async def add_container(
        self, container_id: str, netns_path: str, network_ids: Collection[str]
    ) -> None:
        """Start answering at 127.0.0.11:53 inside the container's namespace. Adding a
        container again replaces its sockets (e.g. after a restart into a new namespace)."""
        if container_id in self._containers:
            await self.remove_container(container_id)
        udp, tcp = await open_dns_sockets(netns_path)
        listener = _ContainerListener(self._responder, tuple(network_ids))
        try:
            await listener.start(udp, tcp)
        except BaseException:
            await listener.close()
            udp.close()
            tcp.close()
            raise
        self._containers[container_id] = listener
        log.debug("serving DNS for container %s in %s", container_id, netns_path)

    async def remove_container(self, container_id: str) -> None:
        """Stop answering and close the container's sockets, which would otherwise keep its
        namespace alive. Unknown ids are ignored."""
        listener = self._containers.pop(container_id, None)
        if listener is not None:
            await listener.close()

    async def close(self) -> None:
        for container_id in list(self._containers):
            await self.remove_container(container_id)


class _ContainerListener:
    def __init__(self, responder: Responder, networks: tuple[str, ...]) -> None:
        self._responder = responder
        self._networks = networks
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_closed: asyncio.Future[None] | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self, udp: socket.socket, tcp: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._udp_closed = loop.create_future()
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=udp)
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp)

    async def close(self) -> None:
        for task in self._pending:
            task.cancel()
        if self._tcp is not None:
            self._tcp.close()
        writers = list(self._connections)
        for writer in writers:
            writer.close()
        if self._udp is not None:
            self._udp.close()
            assert self._udp_closed is not None
            await self._udp_closed  # the socket is really closed only once this fires
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._tcp is not None:
            await self._tcp.wait_closed()

    # ------------------------------------------------------------ UDP

    def datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self._responder.answer_fast(data, self._networks)
        if reply is not None:
            self._send(reply, addr)
            return
        task = asyncio.create_task(self._answer_slow(data, addr))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _answer_slow(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self._responder.respond(data, self._networks)
        if reply is not None:
            self._send(reply, addr)

    def _send(self, reply: bytes, addr: tuple[str, int]) -> None:
        if self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(reply, addr)

    def udp_lost(self) -> None:
        if self._udp_closed is not None and not self._udp_closed.done():
            self._udp_closed.set_result(None)

    # ------------------------------------------------------------ TCP

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                async with asyncio.timeout(_TCP_IDLE_S):
                    (length,) = _LENGTH.unpack(await reader.readexactly(2))
                    query = await reader.readexactly(length)
                reply = await self._responder.respond(query, self._networks, tcp=True)
                if reply is None:
                    break
                writer.write(_LENGTH.pack(len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, listener: _ContainerListener) -> None:
        self._listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._listener.datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error from a client that went away; nothing to do for a stateless server.
        log.debug("DNS UDP error: %r", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.udp_lost()

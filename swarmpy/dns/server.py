"""The embedded DNS server: 127.0.0.11:53 (UDP and TCP) inside every container namespace.
Each container has its own socket pair, so the server knows who asks and answers only from
the networks that container is on.

UDP queries are read by the resolver loop (fastloop.py, its own process by default), which
answers our names there and leaves the rest to the daemon's event loop: forwarding upstream,
unusual queries, and all of TCP, which are rare and may wait when the daemon is busy."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import struct
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from swarmpy.dns.fastloop import FastPath, Mode
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
        mode: Mode = Mode.PROCESS,
    ) -> None:
        if upstreams is None:
            upstreams = upstreams_from_resolv_conf(resolv_conf) if resolv_conf else []
        self._responder = Responder(Forwarder(upstreams, timeout_s))
        self._timeout_s = timeout_s
        self._fast = FastPath(self._answer_slow, mode)
        self._containers: dict[str, _ContainerListener] = {}
        self._by_key: dict[int, _ContainerListener] = {}
        self._keys = itertools.count(1)
        self._view = NetworkView()
        self._local: Mapping[str, Mapping[str, Sequence[str]]] = {}

    def update(self, view: NetworkView) -> None:
        """Serve the records of ``view`` from the next query on."""
        self._view = view
        self._publish()

    def update_local(self, names: Mapping[str, Mapping[str, Sequence[str]]]) -> None:
        """Serve the node-local networks' names (user bridges: network id -> name ->
        addresses) beside the view's, from the next query on."""
        self._local = names
        self._publish()

    def _publish(self) -> None:
        index = RecordIndex.from_view(self._view, self._local)
        self._responder.index = index
        self._fast.publish(index)

    async def add_container(
        self,
        container_id: str,
        netns_path: str,
        network_ids: Collection[str],
        upstreams: Sequence[str] = (),
    ) -> None:
        """Start answering at 127.0.0.11:53 inside the container's namespace. Adding a
        container again replaces its sockets (e.g. after a restart into a new namespace).
        ``upstreams`` are the container's own DNS servers (Docker's --dns): names not ours
        go there instead of to the node's resolvers."""
        if container_id in self._containers:
            await self.remove_container(container_id)
        await self._fast.start()
        forwarder = Forwarder(upstreams, self._timeout_s) if upstreams else None
        udp, tcp = await open_dns_sockets(netns_path)
        listener = _ContainerListener(
            next(self._keys), udp, self._responder, tuple(network_ids), forwarder
        )
        try:
            await listener.start(tcp)
            self._fast.add(listener.key, udp, listener.networks)
        except BaseException:
            await listener.close()
            tcp.close()
            raise
        self._containers[container_id] = listener
        self._by_key[listener.key] = listener
        log.debug("serving DNS for container %s in %s", container_id, netns_path)

    async def remove_container(self, container_id: str) -> None:
        """Stop answering and close the container's sockets, which would otherwise keep its
        namespace alive. Unknown ids are ignored."""
        listener = self._containers.pop(container_id, None)
        if listener is not None:
            del self._by_key[listener.key]
            await self._fast.remove(listener.key)
            await listener.close()

    async def close(self) -> None:
        for container_id in list(self._containers):
            await self.remove_container(container_id)
        await self._fast.close()

    def _answer_slow(self, key: int, data: bytes, addr: Any) -> None:
        listener = self._by_key.get(key)
        if listener is not None:  # else removed meanwhile: the query dies with it
            listener.answer_later(data, addr)


class _ContainerListener:
    """One container's 127.0.0.11:53: the daemon's copy of its UDP socket (answers to the
    queries the resolver loop leaves over go out from it) and its TCP side."""

    def __init__(
        self,
        key: int,
        udp: socket.socket,
        responder: Responder,
        networks: tuple[str, ...],
        forwarder: Forwarder | None = None,
    ) -> None:
        self.key = key
        self.networks = networks
        self._udp = udp
        self._responder = responder
        self._forwarder = forwarder
        self._tcp = _TcpServer(responder, networks, forwarder)
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self, tcp: socket.socket) -> None:
        await self._tcp.start(tcp)

    def answer_later(self, data: bytes, addr: Any) -> None:
        task = asyncio.create_task(self._answer(data, addr))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _answer(self, data: bytes, addr: Any) -> None:
        reply = await self._responder.respond(data, self.networks, forwarder=self._forwarder)
        if reply is None:
            return
        try:
            self._udp.sendto(reply, addr)
        except OSError as exc:
            # A full send buffer or a vanished client: UDP clients retry on their own.
            log.debug("DNS UDP send to %s: %r", addr, exc)

    async def close(self) -> None:
        for task in self._pending:
            task.cancel()
        self._udp.close()
        await self._tcp.close()


class _TcpServer:
    def __init__(
        self, responder: Responder, networks: tuple[str, ...], forwarder: Forwarder | None
    ) -> None:
        self._responder = responder
        self._networks = networks
        self._forwarder = forwarder
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(self._serve, sock=sock)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Accepted connections live in the container's namespace too and would pin it.
        writers = list(self._connections)
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                async with asyncio.timeout(_TCP_IDLE_S):
                    (length,) = _LENGTH.unpack(await reader.readexactly(2))
                    query = await reader.readexactly(length)
                reply = await self._responder.respond(
                    query, self._networks, tcp=True, forwarder=self._forwarder
                )
                if reply is None:
                    break
                writer.write(_LENGTH.pack(len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

"""Docker's hijacked connection (api/server/httputils: the attach and exec start streams).

The client asks with ``Connection: Upgrade`` / ``Upgrade: tcp``; the server answers
``101 UPGRADED`` and from then on the connection is a raw byte stream both ways: the client's
stdin in, the process's output out (multiplexed, or raw behind a TTY). The client half-closes
its side when its stdin ends and reads until the server closes.

aiohttp hands the connection over by keeping the upgraded bytes for a parser (as websockets
do); here the transport itself is taken over by a protocol of ours, which also keeps the
write side open when the client half-closes (aiohttp would close the whole connection). What
aiohttp needs to know of the connection's end is passed back to it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from swarmpy.server.app import server_headers

# Client bytes buffered before reading from the socket pauses.
MAX_BUFFERED = 64


def wants_upgrade(request: web.Request) -> bool:
    connection = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    return "upgrade" in connection and request.headers.get("Upgrade", "").lower() == "tcp"


class _RawProtocol(asyncio.Protocol):
    def __init__(self, previous: asyncio.BaseProtocol, transport: asyncio.Transport) -> None:
        self._previous = previous
        self._transport = transport
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = False

    def data_received(self, data: bytes) -> None:
        self.incoming.put_nowait(data)
        if self.incoming.qsize() >= MAX_BUFFERED:
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        self.incoming.put_nowait(b"")
        # The client's stdin ended; our output still goes out. Not over TLS: asyncio's TLS
        # ends the whole connection on the client's close_notify whatever we answer (and
        # warns when told otherwise), so what the process writes after its stdin ended is
        # lost there.
        return self._transport.get_extra_info("sslcontext") is None

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.incoming.put_nowait(b"")
        self.writable.set()
        self._previous.connection_lost(exc)


@dataclass
class Hijacked:
    """The raw connection after the upgrade."""

    transport: asyncio.Transport
    protocol: _RawProtocol
    _eof: bool = field(default=False)

    async def read(self) -> bytes:
        """The client's next bytes; b"" once its side ended."""
        if self._eof:
            return b""
        data = await self.protocol.incoming.get()
        if self.protocol.incoming.qsize() < MAX_BUFFERED and not self.protocol.lost:
            self.transport.resume_reading()
        if not data:
            self._eof = True
        return data

    async def write(self, data: bytes) -> bool:
        """Send ``data``; False when the client has gone."""
        if self.protocol.lost or self.transport.is_closing():
            return False
        self.transport.write(data)
        await self.protocol.writable.wait()
        return not self.protocol.lost

    def close(self) -> None:
        self.transport.close()


async def hijack(request: web.Request, content_type: str) -> tuple[web.StreamResponse, Hijacked]:
    """Answer 101 and take the connection over; the handler returns the response when done
    with the stream (aiohttp then closes the connection)."""
    transport = request.transport
    assert isinstance(transport, asyncio.Transport)
    previous = transport.get_protocol()
    raw = _RawProtocol(previous, transport)
    # Before the 101 goes out: every byte the client sends after it is ours.
    transport.set_protocol(raw)
    response = web.StreamResponse(status=101, reason="UPGRADED")
    response.headers.update(server_headers())
    response.headers.update(
        {"Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"}
    )
    response.force_close()
    await response.prepare(request)
    return response, Hijacked(transport, raw)

"""Streams that end when their client goes away.

aiohttp does not cancel a handler whose client disconnected (handler cancellation is off, so
a change a client asked for is never cut in half), so a streaming handler that waits for its
next item (``/events``, ``logs --follow``) would wait, and hold its subscription, until an item
came to fail on. ``until_client_gone`` runs the stream beside a watch of the connection and
cancels it when the connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

from aiohttp import web

# How often the connection is looked at: the cost of a closed stream lingering.
CLIENT_POLL_S = 0.5


async def client_gone(request: web.Request) -> None:
    """Returns once the request's connection has closed."""
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(CLIENT_POLL_S)


async def until_client_gone(request: web.Request, stream: Awaitable[None]) -> bool:
    """Run ``stream`` until it ends (True) or the client goes away first (False: ``stream``
    was cancelled)."""
    pump = asyncio.ensure_future(stream)
    watch = asyncio.ensure_future(client_gone(request))
    try:
        await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, watch):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if pump.cancelled():
        return False
    if isinstance(pump.exception(), ConnectionResetError):
        return False  # the client went away while a write was under way: gone all the same
    pump.result()  # its error, if it failed
    return True

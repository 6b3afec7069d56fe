"""A pull's progress lines as an async stream: the store pulls in a thread (its registry
client and unpacking block), the lines come to the event loop as they are said."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from swarmpy.engine.images.registry import Credentials
from swarmpy.engine.images.store import ImageStore


async def pull_lines(
    store: ImageStore, ref: str, credentials: Credentials | None = None
) -> AsyncGenerator[str | dict[str, Any], None]:
    """Each progress line of pulling ``ref``, and its downloads' progress as Docker's JSON
    messages, in the order told; the pull's error is raised after what was said before it."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | dict[str, Any] | None] = asyncio.Queue()

    def progress(line: str | dict[str, Any]) -> None:
        loop.call_soon_threadsafe(lines.put_nowait, line)

    pull = asyncio.ensure_future(
        asyncio.to_thread(store.pull, ref, progress, credentials, progress)
    )
    # Queued after every line the thread said: call_soon_threadsafe keeps their order.
    pull.add_done_callback(lambda _f: loop.call_soon(lines.put_nowait, None))
    try:
        while (line := await lines.get()) is not None:
            yield line
    finally:
        if not pull.done():
            # The reader left (its client went away): the pull goes on in its thread, and
            # its outcome is taken here so that nothing reports it as never retrieved.
            pull.add_done_callback(_retrieve)
    await pull  # its error, if it failed; its Digest and Status lines came through progress


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()

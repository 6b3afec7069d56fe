"""A long list (100,000 tasks) is answered without holding the daemon's event loop, or the
GIL in one call, for the whole of it: the leader's heartbeats and Raft thread run between."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

from swarmpy.server.app import LIST_SLICE, json_list_response, json_response


def test_a_long_list_lets_the_loop_run_while_it_is_built_and_reads_as_one_list() -> None:
    items = [{"ID": f"t{i}", "Slot": i, "Spec": {"Labels": {"a": "b"}}} for i in range(3000)]

    async def main() -> tuple[bytes, list[int], bytes | None]:
        ticks = 0
        seen_at: list[int] = []

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        def made() -> Iterator[dict[str, Any]]:
            for item in items:
                seen_at.append(ticks)  # how many other turns the loop had so far
                yield item

        other = asyncio.create_task(heartbeat())
        await asyncio.sleep(0)
        try:
            response = await json_list_response(made())
        finally:
            other.cancel()
        return response.body, seen_at, json_response(items).body  # type: ignore[return-value]

    body, seen_at, whole = asyncio.run(main())
    assert json.loads(body) == items
    assert body == whole  # byte for byte what one json.dumps of the list gives
    # The other coroutine ran between slices: as many more times as there were slices.
    assert seen_at[-1] - seen_at[0] >= len(items) // LIST_SLICE - 1

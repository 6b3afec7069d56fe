"""`run --rm busybox echo hi`: the attach must read the output of a container that ran and
ended before its start had returned (and recorded that it started)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from swarmpy.server.backend import LocalEngine
from swarmpy.server.routes.lifecycle import _started_since
from swarmpy.standalone.manager import StandaloneContainers

CID = "c0ffee"


class FakeRunc:
    """runc as the daemon sees it: a container it knows, in the state the test sets."""

    def __init__(self) -> None:
        self.status = "created"

    def knows(self, cid: str) -> bool:
        return self.status != "created"

    async def state(self, cid: str) -> dict[str, Any]:
        return {"status": self.status}


def test_a_container_ended_before_its_start_returned_still_counts_as_started(
    tmp_path: Path,
) -> None:
    runc = FakeRunc()
    runtime = SimpleNamespace(engine=SimpleNamespace(runc=runc))
    containers = StandaloneContainers(
        lambda: runtime,
        tmp_path,
        "host",
        tmp_path / "resolv.conf",
    )
    cdir = tmp_path / "containers" / CID
    cdir.mkdir(parents=True)
    engine = cast(
        LocalEngine, SimpleNamespace(containers=SimpleNamespace(container_root=cdir.parent))
    )

    async def main() -> bool:
        since = time.time()

        async def start() -> None:
            # As StandaloneContainers.start: under the container's lock, runc runs it (and
            # `echo hi` is over at once), then the start is recorded.
            async with containers._lock(CID):
                runc.status = "stopped"
                await asyncio.sleep(0.3)  # the daemon busy elsewhere before it records
                (cdir / "record.json").write_text(json.dumps({"started_at": time.time()}))

        starting = asyncio.create_task(start())
        await asyncio.sleep(0.05)  # the start has begun when the attach looks
        try:
            return await _started_since(containers, engine, CID, since)
        finally:
            await starting

    assert asyncio.run(main())

"""A container adopted after a daemon restart is not the daemon's child: its exit status
cannot be waited for. Stopped by the daemon, it still reports what Docker's shim would."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

from swarmpy.engine import seccomp
from swarmpy.engine.lifecycle import Engine
from swarmpy.engine.runc import Runc

CID = "c0ffee"


class ShellIgnoringTerm:
    """runc running one container whose `sh` (pid 1) ignores SIGTERM, as a busybox task's
    shell does: only SIGKILL ends it."""

    def __init__(self) -> None:
        self.status = "running"
        self.signals: list[str] = []

    def knows(self, cid: str) -> bool:
        return True

    async def state(self, cid: str) -> dict[str, Any]:
        return {"status": self.status, "pid": 4242}

    async def kill(self, cid: str, sig: str = "TERM", all_procs: bool = False) -> None:
        self.signals.append(sig)
        if sig == "KILL":
            self.status = "stopped"


def test_an_adopted_container_killed_after_its_grace_period_exited_137(tmp_path: Path) -> None:
    # It showed `Exited (255)` in `ps -a` (the status of a container whose end nobody saw)
    # where dockerd shows 137.
    runc = ShellIgnoringTerm()
    engine = Engine(
        cast(Runc, runc),
        tmp_path / "containers",
        tmp_path / "volumes",
        "test",
        seccomp_profile=cast(seccomp.Profile, {}),
    )
    cdir = engine.container_dir(CID)
    cdir.path.mkdir(parents=True)
    cdir.record_file.write_text(json.dumps({"pid": 4242, "started_at": 1.0}))

    async def main() -> tuple[int, int]:
        # The task's controller waits for the container while the daemon stops it.
        waiting = asyncio.create_task(engine.wait(CID))
        await engine.stop(CID, grace_s=0.1)
        return await waiting, await engine.wait(CID)

    assert asyncio.run(main()) == (137, 137)
    assert runc.signals == ["TERM", "KILL"]
    assert cdir.record()["exit_code"] == 137

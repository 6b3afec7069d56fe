"""The reaper gives each process its own exit code, also when the kernel reuses a pid."""

from __future__ import annotations

import asyncio
import os
import sys

from swarmpy.engine.reaper import Reaper


def spawn(code: int) -> int:
    """A child of this process that exits with ``code``; its pid."""
    argv = [sys.executable, "-c", f"import sys; sys.exit({code})"]
    return os.posix_spawn(sys.executable, argv, os.environ)


async def _exit_code_of_a_reused_pid() -> tuple[int, int]:
    reaper = Reaper()
    reaper.start()
    try:
        pid = spawn(3)
        # The record an earlier container with the same pid left behind: it ended with 99
        # and was removed while stopped, so nothing forgot its pid.
        stale: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        stale.set_result(99)
        reaper._futures[pid] = stale
        seen: list[int] = []
        reaper.watch(pid, seen.append)
        code = await asyncio.wait_for(reaper.wait(pid), 10)
        return code, seen[0]
    finally:
        await reaper.stop()


def test_a_new_process_does_not_inherit_an_old_exit_code() -> None:
    assert asyncio.run(_exit_code_of_a_reused_pid()) == (3, 3)


async def _wait_after_the_exit() -> tuple[int, int]:
    reaper = Reaper()
    reaper.start()
    try:
        pid = spawn(5)
        reaper.watch(pid)
        first = await asyncio.wait_for(reaper.wait(pid), 10)
        # A second wait (the controller asks again after a restart of its loop) reads the
        # same record instead of a new, never-ending one.
        return first, await asyncio.wait_for(reaper.wait(pid), 1)
    finally:
        await reaper.stop()


def test_wait_after_the_exit_reads_the_kept_code() -> None:
    assert asyncio.run(_wait_after_the_exit()) == (5, 5)

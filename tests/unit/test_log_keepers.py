"""A container's log keeper, looked at lazily when the next one starts, never takes another
child's exit status: the daemon's reaper may have reaped the keeper as a stray zombie, and its
pid then names another process (the kernel recycles pids; pid_max is often 32768)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from swarmpy.engine import jsonlog


def exited(pid: int) -> None:
    """Until ``pid`` has exited, leaving it unreaped."""
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def start_keeper(root: Path, name: str) -> tuple[subprocess.Popen[bytes], tuple[int, int]]:
    container = root / name
    container.mkdir()
    before = set(jsonlog._keepers.values())
    pipes = jsonlog.start_keeper(container, container / "log.json")
    (keeper,) = set(jsonlog._keepers.values()) - before
    return keeper, pipes


def test_a_keeper_reaped_by_the_reaper_leaves_a_recycled_pid_alone(tmp_path: Path) -> None:
    first, pipes = start_keeper(tmp_path, "first")
    for fd in pipes:
        os.close(fd)  # the container ended: the keeper reads the end and exits
    exited(first.pid)
    os.waitpid(first.pid, 0)  # the daemon's reaper took its zombie as a stray's
    # Another child of ours, exited, whose status its own waiter has yet to take.
    other = subprocess.Popen(["sh", "-c", "exit 5"])
    exited(other.pid)
    first.pid = other.pid  # what the kernel does when it recycles the number
    second, pipes = start_keeper(tmp_path, "second")  # the lazy look at the first one
    try:
        assert other.wait(10) == 5  # not taken (then it would be 0: not our child any more)
    finally:
        for fd in pipes:
            os.close(fd)
        exited(second.pid)
        jsonlog._forget_ended_keepers()
    assert second.returncode == 0
    assert first not in jsonlog._keepers.values()

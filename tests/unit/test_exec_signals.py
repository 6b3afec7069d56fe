"""An exec's signals (a resize's SIGWINCH, a stop's SIGTERM) never take its exit code: one sent
as the process ends must not reap it before asyncio's child watcher does, which would then
report exit code 255 ("Unknown child process pid")."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import pytest

from swarmpy.engine.execs import ExecConfig, ExecProcess, _start_process

WAIT_S = 10.0


def hold_blocking_waits(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """asyncio's child watcher (a thread in ``waitpid(pid, 0)``) held back until the event is
    set: the moment a loaded machine gives, where the child has exited and nobody reaped it."""
    release = threading.Event()
    real: Callable[[int, int], tuple[int, int]] = os.waitpid

    def waitpid(pid: int, options: int) -> tuple[int, int]:
        if options == 0:
            release.wait(WAIT_S)
        return real(pid, options)

    monkeypatch.setattr(os, "waitpid", waitpid)
    return release


def wait_exited(pid: int) -> None:
    """Until ``pid`` has exited, leaving it unreaped."""
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


async def _signalled_as_it_exits(
    signal_it: Callable[[ExecProcess], None], release: threading.Event
) -> int:
    # On a terminal, as `docker exec -it` runs: a resize signals it too.
    config = ExecConfig(cmd=("sh", "-c", "exit 7"), tty=True)
    process = await _start_process(["sh", "-c", "exit 7"], config, False, None)
    try:
        await asyncio.to_thread(wait_exited, process.pid)
        signal_it(process)
    finally:
        release.set()
    return await asyncio.wait_for(process.wait(), WAIT_S)


@pytest.mark.parametrize(
    "signal_it",
    [lambda p: p.terminate(), lambda p: p.resize(30, 90)],
    ids=["terminate", "resize"],
)
def test_a_signal_as_the_exec_exits_keeps_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, signal_it: Callable[[ExecProcess], None]
) -> None:
    release = hold_blocking_waits(monkeypatch)
    try:
        assert asyncio.run(_signalled_as_it_exits(signal_it, release)) == 7
    finally:
        release.set()

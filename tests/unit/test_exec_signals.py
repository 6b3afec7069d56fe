"""Signals to our children never take their exit code: an exec's (a resize's SIGWINCH, a
stop's SIGTERM) and a cancelled build step's kill of its runc. One sent as the process ends
must not reap it before asyncio's child watcher does, which would then report exit code 255
("Unknown child process pid")."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from swarmpy.engine.build.builder import _Run
from swarmpy.engine.execs import ExecConfig, ExecProcess, _start_process
from swarmpy.engine.images.records import ImageConfig
from swarmpy.engine.runc import Runc
from tests.support.poll import wait_for_async

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


# runc run: says its pid, then exits 7 once told to (a file appears).
FAKE_RUNC = f"""#!{sys.executable}
import os, sys, time
go = os.path.join(sys.argv[2], "go")
print("pid", os.getpid(), flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
sys.exit(7)
"""


async def _cancelled_as_runc_exits(tmp_path: Path, release: threading.Event) -> None:
    (tmp_path / "runc").write_text(FAKE_RUNC)
    (tmp_path / "runc").chmod(0o755)
    said: list[str] = []
    step: Any = object.__new__(_Run)  # only what a RUN step's container needs
    step.b = SimpleNamespace(runc=Runc(tmp_path, str(tmp_path / "runc")), seccomp=None)
    step.say = said.append
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "cdir").mkdir()
    image = ImageConfig(image_id="", cmd=("true",))
    task = asyncio.create_task(
        step._run_in(tmp_path / "rootfs", tmp_path / "cdir", "c" * 64, image, ("", "", "", ""))
    )
    try:
        words = await wait_for_async("runc's pid", lambda: "".join(said).split())
        (tmp_path / "go").touch()
        await asyncio.to_thread(wait_exited, int(words[1]))
        task.cancel()
        # One turn of the loop: the step's cleanup has signalled runc and waits for it.
        await asyncio.sleep(0)
    finally:
        release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_S)


def test_a_cancelled_build_step_kills_runc_without_reaping_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[asyncio.subprocess.Process] = []
    real = asyncio.create_subprocess_exec

    async def create(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        started.append(await real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(asyncio, "create_subprocess_exec", create)
    release = hold_blocking_waits(monkeypatch)
    try:
        asyncio.run(_cancelled_as_runc_exits(tmp_path, release))
    finally:
        release.set()
    assert [p.returncode for p in started] == [7]

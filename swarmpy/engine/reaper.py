"""Reap container init processes, which runc leaves to us as orphans.

``runc run --detach`` exits once the container's init is set up, so the init is reparented to the
nearest child subreaper: we make the daemon one, which is what lets us learn exit codes.
The daemon also has ordinary subprocess children (runc itself, nft...) whose statuses belong to
asyncio/subprocess: a blanket ``waitpid(-1)`` would steal them. So we wait only for pids we
know are container inits, and reap any other zombie (an orphaned grandchild) only once it has
stayed unreaped for a whole sweep interval, which no live waiter of our own would allow.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from swarmpy.errors import RuntimeFailure

log = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36
SWEEP_INTERVAL_S = 1.0
# A library that forks (pyroute2's helpers) reaps its own child a moment later; an orphan's
# zombie costs nothing for this long.
STRAY_GRACE_S = 2.0


def set_child_subreaper(on: bool = True) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise RuntimeFailure(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def exit_code(status: int) -> int:
    """A waitpid status as a shell would report it (128+N for a signal)."""
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def has_zombie_child() -> bool:
    """Whether any child of ours is waiting to be reaped, without reaping it."""
    try:
        return os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return False


def zombie_children() -> set[int]:
    me = str(os.getpid()).encode()
    found: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                text = f.read()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, ...
        fields = text[text.rfind(b")") + 2 :].split(b" ", 2)
        if len(fields) > 1 and fields[0] == b"Z" and fields[1] == me:
            found.add(int(name))
    return found


class Reaper:
    """One per daemon. ``watch(pid)`` after ``runc run --detach``; ``await wait(pid)`` for
    its exit."""

    def __init__(self) -> None:
        self._futures: dict[int, asyncio.Future[int]] = {}
        self._strays: dict[int, float] = {}  # zombie pid -> when first seen
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        set_child_subreaper(True)
        self._loop = asyncio.get_running_loop()
        self._loop.add_signal_handler(signal.SIGCHLD, self.sweep)
        self._ticker = self._loop.create_task(self._tick())

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGCHLD)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        set_child_subreaper(False)

    def is_child(self, pid: int) -> bool:
        """Whether ``pid`` is (still) our child, so its exit status will reach us."""
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return pid in self._futures and self._futures[pid].done()
        return int(text[text.rfind(")") + 2 :].split()[1]) == os.getpid()

    def watch(self, pid: int, on_exit: Callable[[int], None] | None = None) -> None:
        """Expect ``pid``, a process just started, to become our zombie; ``on_exit(code)`` runs
        when it is reaped.

        A finished record under the same number belongs to an earlier process: the kernel
        reuses pids, and a container removed after it stopped has no pid left to forget its
        record by. Keeping it would hand the new process the old one's exit code.
        """
        old = self._futures.get(pid)
        if old is not None and old.done():
            del self._futures[pid]
        self._expect(pid)
        if on_exit is not None:
            self._futures[pid].add_done_callback(
                lambda f: on_exit(f.result()) if not f.exception() else None
            )
        self.sweep()

    async def wait(self, pid: int) -> int:
        """The exit code of ``pid``, also when it was reaped before the call."""
        self._expect(pid)
        self.sweep()
        return await asyncio.shield(self._futures[pid])

    def _expect(self, pid: int) -> None:
        if pid not in self._futures:
            self._futures[pid] = asyncio.get_running_loop().create_future()

    def forget(self, pid: int) -> None:
        self._futures.pop(pid, None)

    def sweep(self) -> None:
        for pid, fut in self._futures.items():
            if fut.done():
                continue
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                # Not (or no longer) our child: whoever reaped it has its status.
                fut.set_exception(RuntimeFailure(f"process {pid} is not a child of this daemon"))
                continue
            if got == pid:
                fut.set_result(exit_code(status))

    def _reap_strays(self) -> None:
        now = time.monotonic()
        # Reading every process's stat is the expensive part: skip it when no child at all
        # is a zombie, which is nearly always.
        zombies = (zombie_children() if has_zombie_child() else set()) - self._futures.keys()
        self._strays = {pid: self._strays.get(pid, now) for pid in zombies}
        for pid, since in list(self._strays.items()):
            if now - since >= STRAY_GRACE_S:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                    log.debug("reaped stray zombie %d", pid)
                del self._strays[pid]

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            self.sweep()
            # Finding strays reads /proc/*/stat for every process on the machine: once a
            # tick, not on every SIGCHLD (a burst of container starts raises hundreds).
            self._reap_strays()

"""Signals to a child process of ours through a pidfd, never through its pid.

asyncio's ``Process.send_signal``, ``terminate`` and ``kill`` poll the pid first
(``Popen.send_signal``, CPython gh-87744/bpo-38630): that ``waitpid`` reaps a child which just
exited before asyncio's child watcher does, and the watcher then reports exit code 255
("Unknown child process pid"). A pidfd opened as the child starts names that process until it
is closed, so a signal never polls, never reaps and never reaches a recycled pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal


class ChildSignals:
    """Signals to ``proc`` (just started, so its pid still names it) while it lives."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        try:
            self._pidfd = os.pidfd_open(proc.pid)
        except ProcessLookupError:  # reaped already: nothing is left to signal
            self._pidfd = -1

    def send(self, sig: int) -> None:
        """``sig`` to the process unless it exited; a no-op after ``close``."""
        if self._pidfd < 0 or self._proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):  # it exited: a zombie, or reaped
            signal.pidfd_send_signal(self._pidfd, sig)

    def close(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1

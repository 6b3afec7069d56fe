"""A child process driven over JSON lines: one request per line on stdin, one answer per line
on stdout. Raft tests and benchmarks run each manager this way, so one can be SIGKILLed."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import IO, Any


class JsonLinesProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        stderr: IO[str] | None = None,
    ) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=dict(env),
        )
        self._seq = 0

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited ({self.proc.poll()})")
        msg: dict[str, Any] = json.loads(line)
        return msg

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Send ``op`` and wait for its answer; a failed operation raises RuntimeError."""
        assert self.proc.stdin is not None
        self._seq += 1
        self.proc.stdin.write(json.dumps({"op": op, "seq": self._seq, **args}) + "\n")
        self.proc.stdin.flush()
        msg = self.read()
        assert msg["seq"] == self._seq, f"{self.name}: answer out of order"
        if not msg["ok"]:
            raise RuntimeError(msg["error"])
        return msg

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Close stdin (the child's cue to stop), SIGKILL if it lingers."""
        if self.alive:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

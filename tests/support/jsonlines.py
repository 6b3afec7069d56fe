"""A child process driven over JSON lines: one request per line on stdin, one answer per line
on stdout. Raft tests and benchmarks run each manager this way, so one can be SIGKILLed."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
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


Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def serve(
    handle: Handler,
    answered: tuple[type[BaseException], ...] = (Exception,),
    ready: Mapping[str, Any] | None = None,
) -> None:
    """The child's side: answer each request line with ``handle``, until stdin closes.

    Requests run concurrently (a slow one does not hold the next); an exception of the
    ``answered`` kinds becomes an error answer, any other ends the child.
    """
    loop = asyncio.get_running_loop()
    out_lock = threading.Lock()
    stop = asyncio.Event()

    def reply(msg: Mapping[str, Any]) -> None:
        with out_lock:
            sys.stdout.write(json.dumps(msg) + "\n")
            sys.stdout.flush()

    async def run(cmd: dict[str, Any]) -> None:
        try:
            reply({"seq": cmd["seq"], "ok": True, **await handle(cmd)})
        except answered as exc:
            reply({"seq": cmd["seq"], "ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def read() -> None:
        for line in sys.stdin:
            asyncio.run_coroutine_threadsafe(run(json.loads(line)), loop)
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=read, daemon=True).start()
    reply({"seq": 0, "ok": True, **(ready or {})})
    await stop.wait()

"""Processes run in a running container (``docker exec``), owned by the daemon.

An exec is made (``Execs.create``: the command and how to run it), then started once: the
daemon runs ``runc exec`` itself, with pipes for stdin/stdout/stderr, or with a pseudo-terminal
the daemon owns when it asks for a TTY (runc copies between that terminal and the container's,
and resizes the container's when told with SIGWINCH). Whoever started it reads the output as
``(stream, bytes)`` pairs, feeds stdin, and learns the exit code; ``Exec`` keeps what Docker's
exec inspect shows (running, exit code, pid) after the process ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import secrets
import signal
import struct
import termios
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmpy.engine import bundle
from swarmpy.engine.childsignal import ChildSignals
from swarmpy.engine.containers import Containers
from swarmpy.engine.runc import RUNC_UMASK, ContainerDir, Runc, last_error
from swarmpy.errors import Conflict, InvalidArgument, NotFound, RuntimeFailure, SwarmpyError

STDOUT, STDERR = 1, 2
# Finished execs kept for inspect (Docker keeps them while their container lives).
KEEP_FINISHED = 256
# After the process exits, how long output still held open by a child it left in the
# background is read before the stream ends.
DRAIN_S = 1.0
READ_SIZE = 65536
# End of input on a terminal: what closing stdin means to a process behind a TTY.
EOT = b"\x04"
STOP_WAIT_S = 5.0
SIZE_WAIT_S = 5.0
POLL_S = 0.02


@dataclass(frozen=True)
class ExecConfig:
    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    tty: bool = False
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    # Typed into the TTY's stdin, these leave the exec running and end the client's stream
    # (Docker's DetachKeys, parsed; b"": the default, swarmpy.server.detachkeys.DEFAULT).
    detach_keys: bytes = b""


def exec_flags(config: ExecConfig, user_ids: str = "") -> list[str]:
    """runc exec's options for ``config``, run as ``user_ids`` (``uid:gid``, what
    ``config.user`` names in the container); runc takes the container's own process (env,
    user, cwd) as the base and these override it."""
    if not config.cmd:
        raise InvalidArgument("No exec command specified")
    flags: list[str] = ["--tty"] if config.tty else []
    for item in config.env:
        if "=" not in item or item.startswith("="):
            raise InvalidArgument(f"invalid environment variable {item!r}: use KEY=VALUE")
        flags += ["--env", item]
    if config.workdir:
        if not config.workdir.startswith("/"):
            raise InvalidArgument(f"the working directory {config.workdir!r} is not absolute")
        flags += ["--cwd", config.workdir]
    if user_ids:
        flags += ["--user", user_ids]
    return flags


def exec_user(containers: Containers, cid: str, user: str) -> str:
    """Docker's ``-u``: a name or uid, with an optional group, as ``uid:gid`` from the
    container's own /etc/passwd and /etc/group ("" keeps the container's user)."""
    if not user:
        return ""
    cdir = ContainerDir(containers.container_root / cid)
    root = Path(cdir.config().get("root", {}).get("path", "rootfs"))
    uid, gid = bundle.resolve_user(user, *bundle.read_passwd(cdir.path / root))
    return f"{uid}:{gid}"


def set_winsize(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


# What dockerd's setExitCodeFromError reads as a command that is not there (127).
_INVALID_COMMAND = (
    "executable file not found",
    "no such file or directory",
    "system cannot find the file specified",
    "failed to run runc create/exec call",
)
_WRONG_MOUNT = (
    ": Are you trying to mount a directory onto a file (or vice-versa)? Check if the "
    "specified host path exists and is the expected type"
)


@dataclass(frozen=True)
class StartFailure:
    """An exec runc could not start, as dockerd tells it: its words (what ``docker exec``
    prints) and the exit code exec inspect shows."""

    message: str
    exit_code: int

    def error(self) -> SwarmpyError:
        """What a detached start answers: a bad command is the client's (400)."""
        if self.exit_code in (126, 127):
            return InvalidArgument(self.message)
        return RuntimeFailure(self.message)


def start_failure(runc_error: str) -> StartFailure:
    """runc's error as containerd's shim wraps it and dockerd's setExitCodeFromError codes
    it: 126 cannot be run, 127 not found (or a mount of the wrong kind), else 128."""
    message = f"OCI runtime exec failed: {runc_error}: unknown"
    low = message.lower()
    if "permission denied" in low:
        return StartFailure(message, 126)
    if "is a directory" in low:  # Go's words for executing a directory, read as EACCES
        return StartFailure(f"{message}: permission denied", 126)
    if "not a directory" in low:
        return StartFailure(message + _WRONG_MOUNT, 127)
    if any(words in low for words in _INVALID_COMMAND):
        return StartFailure(message, 127)
    return StartFailure(message, 128)


@dataclass
class Exec:
    """One exec: what it runs and, once started, its state (mutable: a live session)."""

    id: str
    container_id: str
    config: ExecConfig
    pid_file: Path
    user_ids: str = ""  # config.user as uid:gid in the container
    started: bool = False
    running: bool = False
    exit_code: int | None = None
    size: tuple[int, int] | None = None  # (height, width) last asked for
    known_pid: int = 0
    process: ExecProcess | None = field(default=None, repr=False)

    @property
    def runc_log(self) -> Path:
        """runc's own messages about starting this exec (next to the pid file)."""
        return self.pid_file.with_suffix(".log")

    @property
    def pid(self) -> int:
        """The process's pid on the host (runc writes it once the process runs)."""
        if not self.known_pid and self.running:
            with contextlib.suppress(OSError, ValueError):
                self.known_pid = int(self.pid_file.read_text().strip())
        return self.known_pid


class ExecProcess:
    """A started ``runc exec``: its stdin, its output as (stream, data), its exit code.

    Its stdio are file descriptors of ours (pipes, or the terminal's master side), read and
    written on the loop: asyncio's own pipes would make waiting for the exit wait for every
    holder of the output to close it, a child left in the background included.
    """

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        outputs: list[tuple[int, int]],
        stdin: int | None,
        terminal: bool,
        started: tuple[Path, Path] | None = None,
    ) -> None:
        self._proc = proc
        # (pid file, runc's log): runc writes the pid once the process runs; exiting without
        # it, runc failed to start it and said why in its log (and on our output: dropped).
        self._started = started
        self._failure: StartFailure | None = None
        self._checked = started is None
        # Not asyncio's send_signal (see childsignal): a client resizing a TTY exec as it
        # ended had its exit code turned into 255.
        self._signals = ChildSignals(proc)
        self._stdin = stdin
        self._terminal = terminal  # stdin is the terminal's master, which output reads too
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._outputs: dict[int, int] = {}
        loop = asyncio.get_running_loop()
        for stream, fd in outputs:
            os.set_blocking(fd, False)
            self._outputs[fd] = stream
            loop.add_reader(fd, self._read, fd)
        if stdin is not None:
            os.set_blocking(stdin, False)
        if not self._outputs:
            self._queue.put_nowait(None)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:  # EIO: every end of the terminal's other side is closed
            data = b""
        if data:
            self._queue.put_nowait((self._outputs[fd], data))
            return
        self._close_output(fd)
        if not self._outputs:
            self._queue.put_nowait(None)

    def _close_output(self, fd: int) -> None:
        asyncio.get_running_loop().remove_reader(fd)
        del self._outputs[fd]
        if fd != self._stdin:
            os.close(fd)

    async def start_failure(self) -> StartFailure | None:
        """Once the process runs: None; if runc could not start it, why (in Docker's words)."""
        if self._checked:
            return self._failure
        assert self._started is not None
        pid_file, runc_log = self._started
        exited = asyncio.ensure_future(self._proc.wait())
        try:
            while not pid_file.exists() and not exited.done():
                await asyncio.wait({exited}, timeout=POLL_S)
        finally:
            if not exited.done():
                exited.cancel()
        if not pid_file.exists():
            error = await asyncio.to_thread(last_error, runc_log)
            if error:
                self._failure = start_failure(error)
        self._checked = True
        return self._failure

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """The output until the process ended and its streams closed (or went quiet for
        DRAIN_S after the exit: a background child may hold them open forever). An exec
        runc could not start has Docker's words for it on stdout, as dockerd writes them,
        instead of runc's own."""
        failure = await self.start_failure()
        if failure is not None:
            yield STDOUT, f"{failure.message}\r\n".encode()
            return
        exited = asyncio.create_task(self._proc.wait())
        get: asyncio.Future[tuple[int, bytes] | None] | None = None
        try:
            while True:
                get = asyncio.ensure_future(self._queue.get())
                done, _ = await asyncio.wait({get, exited}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    try:
                        item = await asyncio.wait_for(get, DRAIN_S)
                    except TimeoutError:
                        return
                else:
                    item = get.result()
                if item is None:
                    return
                yield item
        finally:
            # Also when the reader stopped early: nothing is left waiting.
            for pending in (get, exited):
                if pending is not None and not pending.done():
                    pending.cancel()

    async def write(self, data: bytes) -> None:
        if self._stdin is not None:
            with contextlib.suppress(OSError):  # the process is gone or closed its stdin
                await _write_fd(self._stdin, data)

    async def close_stdin(self) -> None:
        if self._stdin is None:
            return
        if self._terminal:
            with contextlib.suppress(OSError):
                await _write_fd(self._stdin, EOT)
            return
        os.close(self._stdin)
        self._stdin = None

    def resize(self, height: int, width: int) -> None:
        if not self._terminal or self._stdin is None:
            return
        set_winsize(self._stdin, height, width)
        # Not runc's controlling terminal, so the kernel does not tell it: runc reads the new
        # size from its stdin and applies it to the container's terminal on SIGWINCH.
        self._signal(signal.SIGWINCH)

    def _signal(self, sig: int) -> None:
        self._signals.send(sig)

    async def wait(self) -> int:
        """The exit code, once the process exited; its streams are closed then."""
        failure = await self.start_failure()
        code = await self._proc.wait()
        self._signals.close()
        for fd in list(self._outputs):
            self._close_output(fd)
        if self._stdin is not None:
            os.close(self._stdin)
            self._stdin = None
        if failure is not None:
            return failure.exit_code
        # runc exits 128+N when the process died of signal N; runc itself killed: the same.
        return code if code >= 0 else 128 - code

    def terminate(self) -> None:
        # runc forwards it to the process in the container.
        self._signal(signal.SIGTERM)


async def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            await asyncio.sleep(0.01)
            continue
        view = view[written:]


class Execs:
    """The execs of one daemon, by id."""

    def __init__(self) -> None:
        self._execs: OrderedDict[str, Exec] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def create(self, containers: Containers, ref: str, config: ExecConfig) -> Exec:
        exec_flags(config)  # refuse a bad config before looking for the container
        cid = await containers.exec_target(ref)
        user_ids = await asyncio.to_thread(exec_user, containers, cid, config.user)
        exec_id = secrets.token_hex(32)
        pid_file = containers.container_root / cid / f"exec-{exec_id[:16]}.pid"
        made = Exec(exec_id, cid, config, pid_file, user_ids)
        self._execs[exec_id] = made
        self._forget_old()
        return made

    def get(self, exec_id: str) -> Exec:
        found = self._execs.get(exec_id)
        if found is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return found

    async def start(self, containers: Containers, exec_id: str, detach: bool) -> ExecProcess:
        """Run the exec; ``detach``: nobody reads or writes its streams, and its exit is
        waited for here (else the caller calls ``finish``)."""
        made = self.get(exec_id)
        if made.started:
            raise Conflict(f"Error: Exec command {exec_id} has already run")
        await containers.exec_target(made.container_id)
        made.started = True
        config = made.config
        flags = [*exec_flags(config, made.user_ids), "--pid-file", str(made.pid_file)]
        # runc's own errors to a log of their own, told apart from the process's output.
        log = ["--log", str(made.runc_log), "--log-format", "json"]
        argv = containers.runc.argv(*log, "exec", *flags, made.container_id, *config.cmd)
        started = (made.pid_file, made.runc_log)
        process = await _start_process(argv, config, detach, made.size, started)
        made.running = True
        made.process = process
        if detach:
            # As dockerd: a detached start answers whether the process started.
            failure = await process.start_failure()
            if failure is not None:
                await self.finish(exec_id, process)
                raise failure.error()
            self._background(self.finish(exec_id, process))
        elif config.tty:
            self._background(self._size_once_started(made))
        return process

    def adopt(self, task: asyncio.Task[Any]) -> None:
        """Keep ``task`` until it ends: the stream of an exec its client detached from, which
        reads the exec's output on and keeps its exit code."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _background(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _size_once_started(self, made: Exec) -> None:
        """The client resizes as soon as it has the stream, maybe before runc listens for
        SIGWINCH or after it read its terminal's size: once the process runs (runc listens
        by then), the last size asked for is applied again."""
        deadline = asyncio.get_running_loop().time() + SIZE_WAIT_S
        while made.running and not made.pid:
            if asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(POLL_S)
        if made.process is not None and made.size is not None:
            made.process.resize(*made.size)

    async def finish(self, exec_id: str, process: ExecProcess) -> int:
        """Wait for the exit and keep its code for inspect."""
        made = self.get(exec_id)
        try:
            code = await process.wait()
        finally:
            made.known_pid = made.pid  # read it while the file is there
            made.pid_file.unlink(missing_ok=True)
            made.runc_log.unlink(missing_ok=True)
            made.running = False
            made.process = None
        made.exit_code = code
        return code

    def running_in(self, container_id: str) -> list[str]:
        """The ids of the execs running in a container (Docker's ExecIDs)."""
        return [e.id for e in self._execs.values() if e.running and e.container_id == container_id]

    def resize(self, exec_id: str, height: int, width: int) -> None:
        made = self.get(exec_id)
        if not made.config.tty:
            # Docker answers a resize of an exec without a TTY with success and does nothing.
            return
        made.size = (height, width)
        if made.process is not None:
            made.process.resize(height, width)

    async def close(self) -> None:
        """The daemon stops: end the execs it still runs (their runc would lose its stdio)."""
        live = [(e.id, e.process) for e in self._execs.values() if e.process is not None]
        for _, process in live:
            process.terminate()
        for exec_id, process in live:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.finish(exec_id, process), STOP_WAIT_S)

    def _forget_old(self) -> None:
        finished = [e.id for e in self._execs.values() if e.started and not e.running]
        for exec_id in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._execs[exec_id]


async def _start_process(
    argv: list[str],
    config: ExecConfig,
    detach: bool,
    size: tuple[int, int] | None,
    started: tuple[Path, Path] | None = None,
) -> ExecProcess:
    """Run ``argv`` with the stdio ``config`` asks for: our ends of pipes, or the master side
    of a terminal (of ``size``, when known) that its three stdio share; /dev/null for what
    nobody attaches."""
    ours: list[int] = []  # closed if the start fails
    theirs: dict[int, int] = {}  # child's fd -> the fd it gets
    outputs: list[tuple[int, int]] = []
    stdin: int | None = None
    try:
        if config.tty and not detach:
            master, slave = pty.openpty()
            ours.append(master)
            if size is not None:
                set_winsize(slave, *size)
            theirs = {0: slave, 1: slave, 2: slave}
            outputs, stdin = [(STDOUT, master)], master
        else:
            attached = (
                (0, config.stdin and not detach),
                (STDOUT, config.stdout and not detach),
                (STDERR, config.stderr and not detach),
            )
            for fd, attach in attached:
                if not attach:
                    continue
                read_end, write_end = os.pipe()
                mine, child = (write_end, read_end) if fd == 0 else (read_end, write_end)
                ours.append(mine)
                theirs[fd] = child
                if fd == 0:
                    stdin = mine
                else:
                    outputs.append((fd, mine))
        devnull = asyncio.subprocess.DEVNULL
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=theirs.get(0, devnull),
                stdout=theirs.get(1, devnull),
                stderr=theirs.get(2, devnull),
                # A session of its own: a terminal signal meant for the daemon never
                # reaches it.
                start_new_session=True,
                umask=RUNC_UMASK,
            )
        finally:
            for fd in set(theirs.values()):
                os.close(fd)
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    return ExecProcess(proc, outputs, stdin, terminal=config.tty and not detach, started=started)


async def run_captured(
    runc: Runc, cdir: ContainerDir, cmd: tuple[str, ...], timeout_s: float, limit: int
) -> tuple[int, bytes] | None:
    """Run ``cmd`` in a running container as its own process runs (user, env, cwd), with
    stdout and stderr collected together, at most ``limit`` bytes and one more to tell that
    there was more: the exit code and the output, or None when it did not end within
    ``timeout_s`` (it is killed then). What a healthcheck's probe is."""
    pid_file = cdir.path / f"exec-{secrets.token_hex(8)}.pid"
    argv = runc.argv("exec", "--pid-file", str(pid_file), cdir.id, *cmd)
    process = await _start_process(argv, ExecConfig(cmd=cmd), detach=False, size=None)
    out = bytearray()

    async def collect() -> int:
        async for _, data in process.output():
            if len(out) <= limit:
                out.extend(data[: limit + 1 - len(out)])
        return await process.wait()

    try:
        try:
            code = await asyncio.wait_for(collect(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
            process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), STOP_WAIT_S)
            return None
    finally:
        pid_file.unlink(missing_ok=True)
    return code, bytes(out)

"""A container's json-file log: starting its keeper (``logshim``) and reading it back.

Reading is Docker's (daemon/logger/loggerutils/logfile.go): the last ``tail`` records of the
log's files, then those in the ``since``/``until`` window; with ``follow``, the records written
afterwards until the keeper ends (the container has gone) or a record comes after ``until``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from swarmpy.dockerjson.logdriver import (
    DEFAULT_MAX_FILE,
    DEFAULT_MAX_SIZE,
    NOT_READABLE,
    LogSettings,
)
from swarmpy.dockerjson.logtime import parse_rfc3339_ns
from swarmpy.engine import logshim
from swarmpy.engine.logshim import STDERR, STDOUT, rotated_paths
from swarmpy.errors import SwarmpyError

# Docker's json-file keeps one unbounded file by default; swarmpy bounds every container's
# log as Docker's `local` driver does by default: five files of 20 MB (a service's
# --log-opt max-size/max-file set others: swarmpy.dockerjson.logdriver).
MAX_SIZE = DEFAULT_MAX_SIZE
MAX_FILE = DEFAULT_MAX_FILE
POLL_S = 0.2
# What a container started by an older daemon still writes to: both streams as they came,
# no times (runc's stdio is the file itself).
LEGACY_LOG = "container.log"

__all__ = ["STDERR", "STDOUT", "LogRecord", "LogWindow"]

# The keepers this process started and has not seen end, by a pidfd of each: each is reaped
# when a later one starts, or by the daemon's reaper as a stray zombie (swarmpy.engine.reaper).
# Looked at through the pidfd, never by pid: once the reaper took a keeper, its pid may name
# another child of ours, whose exit status a waitpid by number would steal (a runc asyncio
# waits for would end with 255, a container's init would lose its exit code).
_keepers: dict[int, subprocess.Popen[bytes]] = {}


class LogsNotReadable(SwarmpyError):
    """Docker's ErrReadLogsNotSupported: the container's driver (none) kept nothing."""

    grpc_status = "UNIMPLEMENTED"

    def __init__(self) -> None:
        super().__init__(NOT_READABLE)


def settings_of(record: Mapping[str, Any]) -> LogSettings:
    """A container's log settings, from its engine record (swarmpy's default for a container
    made before they were recorded)."""
    saved = record.get("log")
    if not isinstance(saved, dict):
        return LogSettings()
    return LogSettings(
        str(saved.get("driver", "json-file")),
        int(saved.get("max_size", MAX_SIZE)),
        int(saved.get("max_file", MAX_FILE)),
    )


@dataclass(frozen=True)
class LogRecord:
    stream: str  # "stdout" | "stderr"
    time_ns: int
    line: bytes  # with its newline, but for a piece of a long line or the stream's last


@dataclass(frozen=True)
class LogWindow:
    """Which records a reader wants: Docker's ReadConfig."""

    tail: int = -1  # the last N records (before since/until); -1: all
    since_ns: int = 0  # 0: from the start
    until_ns: int = 0  # 0: no end
    follow: bool = False


# ---------------------------------------------------------------- pure


def decode(raw: bytes) -> LogRecord | None:
    """One line of the file; None for one that is no record (a torn or foreign line)."""
    try:
        doc = json.loads(raw)
        return LogRecord(
            str(doc.get("stream", STDOUT)),
            parse_rfc3339_ns(str(doc["time"])),
            str(doc.get("log", "")).encode(),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def last_lines(contents_newest_first: Iterable[bytes], n: int) -> list[bytes]:
    """The last ``n`` lines of a log whose files' contents come newest first."""
    found: list[bytes] = []
    for data in contents_newest_first:
        if len(found) >= n:
            break
        found = data.splitlines()[-(n - len(found)) :] + found
    return found


def in_window(record: LogRecord, window: LogWindow) -> bool | None:
    """True to send ``record``, False to skip it, None once past ``until`` (stop reading)."""
    if window.until_ns and record.time_ns > window.until_ns:
        return None
    return not (window.since_ns and record.time_ns < window.since_ns)


def select(records: Iterable[LogRecord], window: LogWindow) -> Iterator[LogRecord]:
    for record in records:
        wanted = in_window(record, window)
        if wanted is None:
            return
        if wanted:
            yield record


# ---------------------------------------------------------------- the keeper


def start_keeper(
    container_dir: Path, log_file: Path, settings: LogSettings = LogSettings()
) -> tuple[int, int]:
    """Start the log keeper of a container about to run; returns the write ends of its stdout
    and stderr pipes, which the caller hands to runc and then closes."""
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    try:
        _spawn(container_dir, log_file, out_r, err_r, settings)
    except OSError:
        for fd in (out_w, err_w):
            os.close(fd)
        raise
    return out_w, err_w


def start_terminal_keeper(
    container_dir: Path, log_file: Path, master: int, settings: LogSettings = LogSettings()
) -> None:
    """Start the log keeper of a container with a terminal, reading its master side (the
    caller closes its own copy): a terminal has one stream, kept as stdout, as Docker."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    os.close(err_w)  # no stderr: the keeper sees its end at once
    _spawn(container_dir, log_file, os.dup(master), err_r, settings)


def _spawn(
    container_dir: Path, log_file: Path, out_r: int, err_r: int, settings: LogSettings
) -> None:
    """The keeper process over ``out_r`` and ``err_r`` (closed here, handed to it)."""
    try:
        lock = os.open(container_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        os.close(out_r)
        os.close(err_r)
        raise
    try:
        # Taken here, not by the keeper: a reader that comes before the keeper has started
        # must already see a log that is still being written.
        fcntl.flock(lock, fcntl.LOCK_EX)
        fds = (lock, out_r, err_r)
        _forget_ended_keepers()
        keeper = subprocess.Popen(
            [
                *(sys.executable, "-I", "-S", logshim.__file__),
                str(log_file) if settings.readable else logshim.NO_LOG,
                *(str(settings.max_size), str(settings.max_file), *map(str, fds)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=fds,
            cwd="/",
            start_new_session=True,
        )
        # Just started and reaped by nobody yet (the reaper waits STRAY_GRACE_S): its pid
        # still names it.
        _keepers[os.pidfd_open(keeper.pid)] = keeper
    finally:
        for fd in (lock, out_r, err_r):
            os.close(fd)


def _forget_ended_keepers() -> None:
    for pidfd, keeper in list(_keepers.items()):
        try:
            ended = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
            if ended is None:
                continue  # still running
            code = ended.si_status
        except ChildProcessError:  # reaped already, by the daemon's reaper
            code = 0
        # Told, so that Popen never polls the pid itself (when collected, say).
        keeper.returncode = code
        os.close(pidfd)
        del _keepers[pidfd]


def keeper_running(container_dir: Path) -> bool:
    """Whether a log keeper still writes the container's log."""
    try:
        fd = os.open(container_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# ---------------------------------------------------------------- reading


def _history(
    log_file: Path, tail: int, max_file: int = MAX_FILE
) -> tuple[list[bytes], IO[bytes] | None]:
    """The record lines wanted from what is written now, and the current file, open at the
    end of what was read (None when there is no log yet)."""
    paths = rotated_paths(str(log_file), max_file)
    current: IO[bytes] | None = None
    with contextlib.ExitStack() as stack:
        opened = []
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                f = open(path, "rb")  # noqa: SIM115 - the current one outlives this function
                opened.append(f)
                if path != str(log_file):
                    stack.enter_context(f)
                else:
                    current = f
        contents = [f.read() for f in opened]
    if current is not None and contents and not contents[-1].endswith(b"\n"):
        # A record being written: read it whole while following.
        torn = contents[-1].rsplit(b"\n", 1)[-1]
        contents[-1] = contents[-1][: len(contents[-1]) - len(torn)]
        current.seek(-len(torn), os.SEEK_CUR)
    if tail < 0:
        return b"".join(contents).splitlines(), current
    return last_lines(reversed(contents), tail), current


def legacy_records(path: Path, tail: int) -> list[LogRecord]:
    """The lines of an older daemon's log as stdout records, at the file's last change (no
    line was written later)."""
    try:
        data, at = path.read_bytes(), path.stat().st_mtime_ns
    except FileNotFoundError:
        return []
    lines = data.splitlines(keepends=True)
    if tail >= 0:
        lines = lines[len(lines) - tail :] if tail else []
    return [LogRecord(STDOUT, at, line) for line in lines]


def _legacy(container_dir: Path, log_file: Path, tail: int) -> list[LogRecord] | None:
    """The records of an older daemon's log, if that is the log the container has."""
    legacy = container_dir / LEGACY_LOG
    if log_file.exists() or not legacy.exists():
        return None
    return legacy_records(legacy, tail)


async def read_log(
    container_dir: Path, log_file: Path, window: LogWindow, settings: LogSettings = LogSettings()
) -> AsyncIterator[LogRecord]:
    if not settings.readable:
        raise LogsNotReadable()
    legacy = await asyncio.to_thread(_legacy, container_dir, log_file, window.tail)
    if legacy is not None:
        # Read once, not followed: no keeper says when it is complete.
        for old in select(legacy, window):
            yield old
        return
    lines, current = await asyncio.to_thread(_history, log_file, window.tail, settings.max_file)
    try:
        for line in lines:
            record = decode(line)
            if record is None:
                continue
            wanted = in_window(record, window)
            if wanted is None:
                return
            if wanted:
                yield record
        if not window.follow:
            return
        async for record in _follow(container_dir, log_file, current):
            wanted = in_window(record, window)
            if wanted is None:
                return
            if wanted:
                yield record
            if window.until_ns and time.time_ns() > window.until_ns:
                return
    finally:
        if current is not None:
            current.close()


async def _follow(
    container_dir: Path, log_file: Path, current: IO[bytes] | None
) -> AsyncIterator[LogRecord]:
    """The records written from ``current``'s position on, through rotations, until the
    keeper ends."""
    follower = _Follower(log_file, current)
    try:
        while True:
            done = not keeper_running(container_dir)  # looked at before the last read
            records = follower.read()
            for record in records:
                yield record
            if records or follower.moved:
                continue
            if done:
                return
            await asyncio.sleep(POLL_S)
    finally:
        follower.close()


class _Follower:
    """Reads what is appended to the log, from one file to the next as it is rotated."""

    def __init__(self, log_file: Path, current: IO[bytes] | None) -> None:
        self.log_file, self.current = log_file, current
        self.pending = b""
        self.moved = False  # the last read found the file rotated or started again

    def read(self) -> list[LogRecord]:
        self.moved = False
        if self.current is None:
            with contextlib.suppress(FileNotFoundError):
                self.current = open(self.log_file, "rb")  # noqa: SIM115 - kept open
        if self.current is None:
            return []
        data = self.current.read()
        if data:
            *lines, self.pending = (self.pending + data).split(b"\n")
            return [r for r in map(decode, lines) if r is not None]
        if self.current.tell() > os.fstat(self.current.fileno()).st_size:
            self.current.seek(0)  # one file, started again (max-file 1)
            self.pending, self.moved = b"", True
        elif _rotated(self.current, self.log_file):
            self.close()
            self.pending, self.moved = b"", True
        return []

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


def _rotated(current: IO[bytes], log_file: Path) -> bool:
    try:
        return os.stat(log_file).st_ino != os.fstat(current.fileno()).st_ino
    except FileNotFoundError:
        return False

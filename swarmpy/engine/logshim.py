"""A container's log keeper: Docker's json-file log driver, as a process of its own.

The container's stdout and stderr are two pipes; this process holds their read ends and writes
what comes through them to ``<id>-json.log``, one JSON record a line, as Docker's json-file
driver does: ``{"log":"hello\\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}``.
Lines are split and stamped the way Docker's log copier does it: a line gets the time its
newline was read; a line longer than ``BUF_SIZE`` goes out in pieces without their newline
("partial" records), all with the time of the first piece; what is left at the end of a stream
goes out as it is. The file is rotated at ``max_size`` bytes, keeping ``max_file`` files
(``<log>.1`` is the newest rotated one).

It outlives the daemon as the container does (a new session, so the daemon's signals never
reach it; the unit's KillMode=process leaves it alone) and ends when both pipes are closed,
that is when every process of the container has gone. While it runs it holds an exclusive
``flock`` on the container's directory (taken by the daemon before the container starts and
handed over), so a reader following the log knows when nothing more will come.

A service with ``--log-driver none`` keeps nothing: LOG is then ``-`` and the keeper only drains
the pipes (the container must not block on a full one) and holds the lock as ever.

Run as ``python -I -S logshim.py LOG MAX_SIZE MAX_FILE LOCK_FD STDOUT_FD STDERR_FD``: this module
uses the standard library only, so it starts without the daemon's packages (one small process
per container, as Docker has a shim per container). The daemon's readers import its format.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import selectors
import signal
import sys
import time

STDOUT = "stdout"
STDERR = "stderr"
# Docker's copier: a line longer than this goes out in pieces.
BUF_SIZE = 16 * 1024
READ_SIZE = 64 * 1024
FILE_MODE = 0o600

# Go's encoding of a string in JSON as Docker's json-file writes it (ffjson): the quote, the
# backslash, <, > and & and every control character escaped; \n and \r short.
_ESCAPES = {c: f"\\u{c:04x}" for c in range(0x20)} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def rfc3339_nano(time_ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: nanoseconds without their trailing zeros."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{base}{fraction}Z"


def encode(stream: str, time_ns: int, line: bytes) -> bytes:
    """One record of the log file, with its newline (bytes that are not UTF-8 become U+FFFD,
    as in Docker's)."""
    text = line.decode("utf-8", errors="replace").translate(_ESCAPES)
    head = f'{{"log":"{text}",' if line else "{"
    return f'{head}"stream":"{stream}","time":"{rfc3339_nano(time_ns)}"}}\n'.encode()


class LineSplitter:
    """Docker's log copier for one stream: bytes in, ``(time, line)`` records out."""

    def __init__(self, buf_size: int = BUF_SIZE) -> None:
        self.buf_size = buf_size
        self.pending = b""
        self.partial_ns: int | None = None  # the time of the first piece of a long line

    def feed(self, data: bytes, now_ns: int) -> list[tuple[int, bytes]]:
        self.pending += data
        out: list[tuple[int, bytes]] = []
        start = 0
        while (end := self.pending.find(b"\n", start)) >= 0:
            out.append((self._stamp(now_ns, last=True), self.pending[start : end + 1]))
            start = end + 1
        rest = self.pending[start:]
        while len(rest) >= self.buf_size:
            out.append((self._stamp(now_ns, last=False), rest[: self.buf_size]))
            rest = rest[self.buf_size :]
        self.pending = rest
        return out

    def flush(self, now_ns: int) -> list[tuple[int, bytes]]:
        """What is left when the stream ends: a last line without its newline."""
        if not self.pending:
            return []
        out = [(self._stamp(now_ns, last=True), self.pending)]
        self.pending = b""
        return out

    def _stamp(self, now_ns: int, last: bool) -> int:
        at = self.partial_ns if self.partial_ns is not None else now_ns
        self.partial_ns = None if last else at
        return at


class LogFile:
    """The log file, rotated at ``max_size`` bytes (0: never) keeping ``max_file`` files."""

    def __init__(self, path: str, max_size: int, max_file: int) -> None:
        self.path, self.max_size, self.max_file = path, max_size, max(1, max_file)
        self.fd = self._open()
        self.size = os.fstat(self.fd).st_size

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        return fd

    def write(self, record: bytes) -> None:
        if self.max_size and self.size and self.size + len(record) > self.max_size:
            self.rotate()
        os.write(self.fd, record)
        self.size += len(record)

    def rotate(self) -> None:
        if self.max_file == 1:
            os.ftruncate(self.fd, 0)  # as Docker does with one file: start it again
        else:
            for n in range(self.max_file - 1, 1, -1):
                if os.path.exists(f"{self.path}.{n - 1}"):
                    os.replace(f"{self.path}.{n - 1}", f"{self.path}.{n}")
            os.replace(self.path, f"{self.path}.1")
            os.close(self.fd)
            self.fd = self._open()
        self.size = 0


class NoLog:
    """The ``none`` driver's log: what comes is read and dropped."""

    fd = -1

    def write(self, record: bytes) -> None:
        pass


# The LOG argument of a keeper that keeps nothing (``--log-driver none``).
NO_LOG = "-"


def rotated_paths(path: str, max_file: int) -> list[str]:
    """The files of one log, oldest first (those that exist)."""
    names = [f"{path}.{n}" for n in range(max_file - 1, 0, -1)] + [path]
    return [name for name in names if os.path.exists(name)]


def copy(log: LogFile | NoLog, fds: dict[int, str]) -> None:
    """Read the pipes until both end, writing their records to ``log``."""
    splitters = {fd: LineSplitter() for fd in fds}
    with selectors.DefaultSelector() as sel:
        for fd in fds:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            for key, _ in sel.select():
                fd = int(key.fd)
                try:
                    data = os.read(fd, READ_SIZE)
                except OSError as exc:
                    # A terminal's master reads EIO once no process holds its other side:
                    # the end of a container with a TTY, as a pipe's end of file.
                    if exc.errno != errno.EIO:
                        raise
                    data = b""
                now = time.time_ns()
                if data:
                    records = splitters[fd].feed(data, now)
                else:
                    records = splitters[fd].flush(now)
                    sel.unregister(fd)
                    os.close(fd)
                for at, line in records:
                    # A full disk loses lines: the container must never block on it.
                    with contextlib.suppress(OSError):
                        log.write(encode(fds[fd], at, line))


def main(argv: list[str]) -> int:
    path, max_size, max_file, lock_fd, out_fd, err_fd = argv
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    log = NoLog() if path == NO_LOG else LogFile(path, int(max_size), int(max_file))
    copy(log, {int(out_fd): STDOUT, int(err_fd): STDERR})
    if log.fd >= 0:
        os.close(log.fd)
    os.close(int(lock_fd))  # the readers' sign that the log is complete
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The resolver's own loop: UDP queries for our names answered away from the daemon's event loop.

The daemon's asyncio loop is shared with everything else the daemon does (sessions, Raft,
task controllers), and answering from it made the DNS rate fall to a third whenever the
daemon worked. So every container's UDP socket is also served by a loop of its own: a plain
selector over all sandbox sockets that answers the common queries for names we own (A, AAAA,
PTR) from its own immutable ``RecordIndex`` and hands everything else (forwarding, unusual
queries) back to the daemon, which answers from its own copy of the socket.

The loop runs either in a helper process (the default: it keeps its rate when the daemon's
threads hold the GIL) or in a thread of the daemon. Both speak the same protocol over a
SOCK_SEQPACKET socket pair, so both modes run the very same code:

  daemon -> loop  ("generation",) with a memfd as SCM_RIGHTS: see Generation
                  ("add", key, networks) with the UDP socket as SCM_RIGHTS
                  ("remove", key)        the loop closes its copy and acknowledges
                  ("index", part, last, number)  a pickled RecordIndex in parts, swapped
                                         in whole; then ``number`` goes to the memfd
  loop -> daemon  ("slow", key, data, addr)  a query the loop leaves to the daemon
                  ("removed", key)

The helper process has a session of its own and a higher CPU priority (raise_priority).

The pair is private to the daemon and its own helper, so pickle is safe on it.
"""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import enum
import logging
import mmap
import os
import pickle
import selectors
import signal
import socket
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from swarmpy.dns.fastpath import answer_owned
from swarmpy.dns.records import RecordIndex
from swarmpy.errors import RuntimeFailure

log = logging.getLogger(__name__)

# Queries drained from one socket per wakeup, so one busy container cannot starve the others.
_UDP_BATCH = 64
# Plain queries are far below this; an EDNS client may send up to its advertised size.
UDP_MAX_QUERY = 4096
# A control message: a slow query and its pickle overhead, or a part of the index.
_MAX_MESSAGE = 64 * 1024
_INDEX_PART = 32 * 1024
# Slow queries waiting for the daemon beyond this are dropped: the daemon is busy, the
# client retries, and the loop never blocks on its way back to the daemon.
_OUTBOX_LIMIT = 1024
_REMOVE_ACK_S = 5.0
# Answers remembered per socket; the owned names are few, but a client may vary the case.
_CACHE_LIMIT = 1024
_ANCOUNT = struct.Struct("!H")
_GENERATION = struct.Struct("Q")
# The loop's CPU weight above the daemon's (3x at -5): when the daemon converges a big
# service, a query costs the loop a few microseconds and should not wait behind a task
# start. It only ever answers queries, so it cannot take more than their rate's worth.
RESOLVER_NICE = -5


def raise_priority(pid: int) -> None:
    """Give process ``pid`` (0: the caller) the resolver's priority. With autogroups
    (kernel.sched_autogroup_enabled, processes outside any cpu cgroup) a nice value only
    counts inside the process's session, so the process also needs a session of its own
    (the caller's business) and that session's group gets the same nice."""
    with contextlib.suppress(OSError):  # not root: the daemon's priority, still its own loop
        os.setpriority(os.PRIO_PROCESS, pid, RESOLVER_NICE)
    with contextlib.suppress(OSError):  # no autogroups here
        Path(f"/proc/{pid or 'self'}/autogroup").write_text(f"{RESOLVER_NICE}\n")


_NEVER_UPDATED = (0,)  # before the daemon's memfd arrives: no index seen, none awaited


class Mode(enum.Enum):
    PROCESS = "process"
    THREAD = "thread"


def send_message(sock: socket.socket, message: tuple[Any, ...], fds: Sequence[int] = ()) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def receive_message(sock: socket.socket) -> tuple[tuple[Any, ...] | None, list[int]]:
    """One message and the descriptors that came with it; (None, []) at end of stream.
    Never waits: BlockingIOError when nothing is there."""
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(
        _MAX_MESSAGE, socket.CMSG_SPACE(fds.itemsize), socket.MSG_DONTWAIT
    )
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    if not data:
        for fd in fds:  # cannot happen with our sender, but never leak a namespace
            socket.close(fd)
        return None, []
    return pickle.loads(data), list(fds)


def index_messages(index: RecordIndex, generation: int) -> list[tuple[Any, ...]]:
    """The index as control messages small enough for one datagram of the pair each."""
    blob = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)
    parts = [blob[i : i + _INDEX_PART] for i in range(0, len(blob), _INDEX_PART)] or [b""]
    return [("index", part, n == len(parts) - 1, generation) for n, part in enumerate(parts)]


class Generation:
    """The number of the latest index the daemon sent, in memory both sides map (a memfd
    passed over the pair): the loop compares it before every query, without a system
    call, so a query sent after ``DnsServer.update`` returned is answered from that view
    even when it arrives in the middle of a batch."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, _GENERATION.size)
        self.view = memoryview(self._map).cast("Q")

    @classmethod
    def create(cls) -> Generation:
        fd = os.memfd_create("swarmpy-dns-generation")
        os.ftruncate(fd, _GENERATION.size)
        return cls(fd)

    @property
    def value(self) -> int:
        return int(self.view[0])

    @value.setter
    def value(self, number: int) -> None:
        self.view[0] = number  # one aligned 8-byte store: the reader sees old or new

    def close(self) -> None:
        self.view.release()
        self._map.close()
        os.close(self.fd)


class ResolverLoop:
    """The loop's side: runs until the daemon's end of the pair closes or says stop."""

    def __init__(self, control: socket.socket) -> None:
        control.setblocking(False)
        self._control = control
        self._selector = selectors.DefaultSelector()
        self._selector.register(control, selectors.EVENT_READ, None)
        self._index = RecordIndex()
        self._index_parts: list[bytes] = []
        self._generation: Generation | None = None
        self._seen = 0  # the generation of self._index
        self._stopping = False
        self._sockets: dict[int, socket.socket] = {}
        # Per socket (its container's networks): query after the id -> answer after the id.
        self._answers: dict[int, dict[bytes, bytes]] = {}
        self._outbox: collections.deque[bytes] = collections.deque()
        self._writing = False

    def run(self) -> None:
        try:
            while True:
                for key, events in self._selector.select():
                    if key.data is not None:
                        if self._sockets.get(key.data[0]) is key.fileobj:  # not removed
                            self._drain(key.fileobj, *key.data)
                    else:
                        if events & selectors.EVENT_WRITE:
                            self._flush()
                        if events & selectors.EVENT_READ:
                            self._on_control()
                    if self._stopping:
                        return
        finally:
            for sock in self._sockets.values():
                sock.close()
            if self._generation is not None:
                self._generation.close()
            self._selector.close()
            self._control.close()

    def _on_control(self) -> None:
        """Handle what the daemon sent; sets _stopping when the loop must end."""
        while not self._stopping:
            try:
                message, fds = receive_message(self._control)
            except BlockingIOError:
                return
            except ConnectionError:
                message = None
            if message is None or message[0] == "stop":
                self._stopping = True
                return
            kind = message[0]
            if kind == "generation":
                self._generation = Generation(fds[0])
            elif kind == "add":
                _, key, networks = message
                sock = socket.socket(fileno=fds[0])
                sock.setblocking(False)
                self._sockets[key] = sock
                self._selector.register(sock, selectors.EVENT_READ, (key, tuple(networks)))
            elif kind == "remove":
                gone = self._sockets.pop(message[1], None)
                if gone is not None:
                    self._selector.unregister(gone)
                    gone.close()
                self._answers.pop(message[1], None)
                self._queue(("removed", message[1]), force=True)
            elif kind == "index":
                self._index_parts.append(message[1])
                if message[2]:
                    self._index = pickle.loads(b"".join(self._index_parts))
                    self._index_parts = []
                    self._answers = {}
                    self._seen = message[3]

    def _drain(self, sock: socket.socket, key: int, networks: tuple[str, ...]) -> None:
        index = self._index
        cache = self._answers.setdefault(key, {})
        # The shared number itself, not the property: this is read once per query.
        latest = self._generation.view if self._generation is not None else _NEVER_UPDATED
        for _ in range(_UDP_BATCH):
            if latest[0] != self._seen:
                # A newer view is on its way (already queued on the pair): take it first.
                self._on_control()
                if self._stopping or self._sockets.get(key) is not sock:
                    return
                index = self._index
                cache = self._answers.setdefault(key, {})
            try:
                data, addr = sock.recvfrom(UDP_MAX_QUERY)
            except BlockingIOError:
                return
            except OSError:  # e.g. a queued ICMP error about an earlier client
                continue
            # Everything after the id decides the answer after the id (flags and question
            # are echoed), so a repeated query costs a dict lookup.
            tail = cache.get(data[2:])
            if tail is not None:
                reply = data[:2] + tail
            else:
                found = answer_owned(index, data, networks)
                if found is None:
                    self._queue(("slow", key, data, addr))
                    continue
                reply = found
                # Two or more records may be shuffled per query (tasks.<service>, dnsrr).
                if _ANCOUNT.unpack_from(reply, 6)[0] < 2:
                    if len(cache) >= _CACHE_LIMIT:
                        cache.clear()
                    cache[data[2:]] = reply[2:]
            # A full send buffer or a vanished client: UDP clients retry on their own.
            # (Not contextlib.suppress: a context manager per query costs ~5% of the rate.)
            try:  # noqa: SIM105
                sock.sendto(reply, addr)
            except OSError:
                pass

    def _queue(self, message: tuple[Any, ...], force: bool = False) -> None:
        if len(self._outbox) >= _OUTBOX_LIMIT and not force:
            return
        self._outbox.append(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        self._flush()

    def _flush(self) -> None:
        while self._outbox:
            try:
                self._control.send(self._outbox[0])
            except BlockingIOError:
                break
            except OSError:  # the daemon is gone; the read side ends the loop
                self._outbox.clear()
                break
            self._outbox.popleft()
        want = bool(self._outbox)
        if want != self._writing:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
            self._selector.modify(self._control, events, None)
            self._writing = want


SlowHandler = Callable[[int, bytes, Any], None]


class FastPath:
    """The daemon's handle on the resolver loop: starts it, gives it sockets and records,
    and passes the queries it leaves over to ``on_slow``."""

    def __init__(self, on_slow: SlowHandler, mode: Mode = Mode.PROCESS) -> None:
        self._on_slow = on_slow
        self.mode = mode
        self._control: socket.socket | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._thread: threading.Thread | None = None
        self._index = RecordIndex()
        self._removing: dict[int, asyncio.Future[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting = asyncio.Lock()
        # Every socket the loop serves, so a loop started again after a crash gets them all.
        self._added: dict[int, tuple[socket.socket, tuple[str, ...]]] = {}
        self._generation: Generation | None = None

    async def start(self) -> None:
        async with self._starting:  # containers are added concurrently: one loop for all
            if self._control is None:
                await self._start()

    async def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            if self.mode is Mode.PROCESS:
                self._process = await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "swarmpy.dns.fastloop", str(theirs.fileno())),
                    pass_fds=(theirs.fileno(),),
                    stdin=asyncio.subprocess.DEVNULL,
                    start_new_session=True,  # its own autogroup: see raise_priority
                )
                theirs.close()
            else:
                self._thread = threading.Thread(
                    target=ResolverLoop(theirs).run, name="dns-resolver", daemon=True
                )
                self._thread.start()
        except OSError as exc:
            ours.close()
            theirs.close()
            raise RuntimeFailure(f"cannot start the DNS resolver loop: {exc}") from exc
        self._loop = asyncio.get_running_loop()
        self._control = ours
        self._loop.add_reader(ours.fileno(), self._on_message)
        if self._generation is None:
            self._generation = Generation.create()
        self._send(("generation",), (self._generation.fd,))
        self.publish(self._index)
        for key, (sock, networks) in self._added.items():
            self._send(("add", key, networks), (sock.fileno(),))

    def publish(self, index: RecordIndex) -> None:
        """Serve ``index`` from the next query on (it is swapped in whole)."""
        self._index = index
        if self._control is not None and self._generation is not None:
            number = self._generation.value + 1
            for message in index_messages(index, number):
                self._send(message)
            # Only now: the loop must find the whole index queued when it sees the number.
            self._generation.value = number

    def add(self, key: int, sock: socket.socket, networks: Sequence[str]) -> None:
        self._added[key] = (sock, tuple(networks))
        self._send(("add", key, tuple(networks)), (sock.fileno(),))

    async def remove(self, key: int) -> None:
        """Until the loop has closed its copy of the socket (it pins the namespace)."""
        if self._control is None or self._loop is None:
            return
        self._added.pop(key, None)
        done = self._removing[key] = self._loop.create_future()
        try:
            self._send(("remove", key))
            async with asyncio.timeout(_REMOVE_ACK_S):
                await done
        except TimeoutError:
            log.warning("DNS resolver loop did not release socket %d in time", key)
        finally:
            self._removing.pop(key, None)

    async def close(self) -> None:
        control, self._control = self._control, None
        if control is not None:
            if self._loop is not None:
                self._loop.remove_reader(control.fileno())
            with contextlib.suppress(OSError):
                send_message(control, ("stop",))
            control.close()
        process, self._process = self._process, None
        if process is not None:
            await process.wait()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join)
        generation, self._generation = self._generation, None
        if generation is not None:
            generation.close()

    def _send(self, message: tuple[Any, ...], fds: Sequence[int] = ()) -> None:
        if self._control is None:
            return
        # Blocking: the loop reads its end all the time and never blocks on its way back.
        try:
            send_message(self._control, message, fds)
        except OSError:
            self._lost()

    def _on_message(self) -> None:
        for _ in range(_UDP_BATCH):
            if self._control is None:
                return
            try:
                message, _fds = receive_message(self._control)
            except BlockingIOError:
                return
            except OSError:
                message = None
            if message is None:
                self._lost()
                return
            if message[0] == "slow":
                self._on_slow(message[1], message[2], message[3])
            elif message[0] == "removed":
                done = self._removing.get(message[1])
                if done is not None and not done.done():
                    done.set_result(None)

    def _lost(self) -> None:
        control, self._control = self._control, None
        if control is None:
            return
        log.error("the DNS resolver loop ended; restarted when the next container comes")
        if self._loop is not None:
            self._loop.remove_reader(control.fileno())
        control.close()
        for done in self._removing.values():
            if not done.done():
                done.set_result(None)  # a loop that is gone holds no sockets


def main(argv: Sequence[str]) -> None:
    """The helper process: serve the pair inherited as file descriptor ``argv[0]``."""
    # Ctrl-C on a foreground daemon reaches its whole process group: the daemon stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_priority(0)
    ResolverLoop(socket.socket(fileno=int(argv[0]))).run()


if __name__ == "__main__":
    main(sys.argv[1:])

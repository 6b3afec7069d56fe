"""What swarmpy changes in pysyncobj 0.3.17, in one place (docs/raft.md says why).

Importing this module applies the module-level patches (the journal class, the dump's
format, compression and durable replacement); ``PatchedSyncObj`` is the ``SyncObj`` every
swarmpy Raft node (and the benchmark's bare baseline) runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import queue
import select
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pysyncobj.pickle
import pysyncobj.poller
import pysyncobj.serializer
import pysyncobj.syncobj
import pysyncobj.tcp_connection
from pysyncobj import FAIL_REASON, SyncObj
from pysyncobj.journal import MemoryJournal
from pysyncobj.monotonic import monotonic
from pysyncobj.transport import TCPTransport

from swarmpy.manager.state.raft import atrest
from swarmpy.manager.state.raft.dumper import BackgroundSerializer
from swarmpy.manager.state.raft.storage import (
    DUMP_COMPRESSLEVEL,
    REGULAR,
    DumpCodec,
    FileJournal,
    NoSpace,
    durable_replace,
)

log = logging.getLogger(__name__)

# The error code a command fails with when the leader's disk is full; pysyncobj's own codes
# (FAIL_REASON) stop at 7.
FAIL_NO_SPACE = 100

# How long a leader may keep a new commit index to itself, waiting for the next append to
# carry it (PatchedSyncObj._SyncObj__applyLogEntries says why).
COMMIT_NOTICE_DELAY = 0.01

# Committed entries one tick applies at most; the rest wait for the next tick, which comes
# at once. Between two ticks the thread reads its sockets and sends the heartbeats due, so a
# follower catching up on thousands of entries (or a leader on a burst of 64-object writes)
# never keeps the heartbeats and votes it owes waiting behind the whole backlog.
APPLY_ENTRIES_PER_TICK = 16

# A tick starting this long after the previous one is late: a quarter of the shortest
# election timeout (log.py), so a warning comes well before a follower would give up.
LATE_TICK_S = 0.25


class _DumpGzip:
    """Stands in for the gzip module inside pysyncobj.serializer: level 1, not 9 (storage.py),
    and no gzip at all for a dump sealed at rest (atrest.py)."""

    @staticmethod
    def GzipFile(*, fileobj: Any, mode: str = "rb", compresslevel: int = DUMP_COMPRESSLEVEL) -> Any:
        return atrest.dump_stream(fileobj, mode, compresslevel)


def _create_journal(path: str | None) -> FileJournal | MemoryJournal:
    return MemoryJournal() if path is None else FileJournal(path)


# pysyncobj pickles its messages and commands at protocol 2, which encodes bytes as a latin-1
# string rebuilt through codecs.encode: every entry inside an append (a command's bytes) grew
# by a third and cost more to compress, encrypt and decode, on every manager. Any protocol
# reads back with pickle.loads, so journals and peers on protocol 2 stay readable.
setattr(pysyncobj.pickle, "__protocol", pickle.HIGHEST_PROTOCOL)
pysyncobj.serializer.gzip = _DumpGzip
# A dump travels to a follower opened, and is sealed as it arrives (atrest.py).
pysyncobj.serializer.open = atrest.open_for_pysyncobj
pysyncobj.serializer.pickle = DumpCodec
# pysyncobj renames a new dump over the old one without syncing either (os.rename).
pysyncobj.serializer.atomicReplace = durable_replace
pysyncobj.syncobj.createJournal = _create_journal
# Log compaction's dump written by a thread of its own, not the tick thread (dumper.py).
pysyncobj.syncobj.Serializer = BackgroundSerializer

# pysyncobj deflates every message at level 3 before encrypting it: ~20 us for an append
# carrying one task, paid per follower on the leader, and ~10 us to inflate on each follower,
# on the path of every write, to save a kilobyte on a link between managers. Level 0 keeps
# the zlib format (any peer inflates it as before) at a third of the cost and a tenth to read.
MESSAGE_COMPRESSLEVEL = 0


def _send_message(self: Any, message: Any) -> None:
    # pysyncobj's TcpConnection.send, but for the compression level.
    if self.sendRandKey:
        message = (self.sendRandKey, message)
    data = zlib.compress(pysyncobj.pickle.dumps(message), MESSAGE_COMPRESSLEVEL)
    if self.encryptor:
        data = self.encryptor.encrypt_at_time(data, int(monotonic()))
    self._TcpConnection__writeBuffer += struct.pack("i", len(data)) + data
    self._TcpConnection__trySendBuffer()


pysyncobj.tcp_connection.TcpConnection.send = _send_message


class _PollUnlocked:
    """A ``select.poll`` that lets go of its ``SyncObj``'s tick lock while it waits.

    The tick thread holds the lock for all its work but the wait for the network, so a
    thread that takes the lock meanwhile (``PatchedSyncObj._append_now``) has pysyncobj's
    state to itself."""

    def __init__(self, poll: Any, lock: threading.Lock) -> None:
        self._poll = poll
        self._lock = lock

    def register(self, fd: Any, mask: int) -> None:
        self._poll.register(fd, mask)

    def unregister(self, fd: Any) -> None:
        self._poll.unregister(fd)

    def poll(self, timeout_ms: float) -> list[tuple[int, int]]:
        if not timeout_ms:
            return list(self._poll.poll(0))
        self._lock.release()
        try:
            return list(self._poll.poll(timeout_ms))
        finally:
            self._lock.acquire()


class TickPoller(pysyncobj.poller.PollPoller):  # type: ignore[misc]
    """pysyncobj's poller, with the tick lock its wait releases (``_PollUnlocked``)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        # Replaces the select.poll PollPoller made, before anything registered with it.
        self._PollPoller__poll = _PollUnlocked(select.poll(), self.lock)


def _create_poller(poller_type: str) -> TickPoller:
    return TickPoller()


pysyncobj.syncobj.createPoller = _create_poller


def wake_if_alone(obj: Any) -> None:
    """Commit a lone manager's new entries now, not a poll period (50 ms) later.

    pysyncobj appends proposed commands at the end of a tick and commits them at the start
    of the next; with followers their replies end the wait in between, but a manager
    alone has nobody to wake it, so each write (and each step of a service create:
    tasks, addresses, placement) would wait out the poll timeout.
    """
    if obj.otherNodes:
        return
    log_ = getattr(obj, "_SyncObj__raftLog", None)
    notifier = getattr(obj, "_SyncObj__pipeNotifier", None)
    if log_ is not None and notifier is not None and log_[-1][1] > obj.raftCommitIndex:
        notifier.notify()


Entry = tuple[bytes, int, int]  # pysyncobj's (command, index, term)


def skip_entries_held(
    message: dict[str, Any], entry_at: Callable[[int], Entry | None], last_applied: int
) -> dict[str, Any]:
    """An append with the entries this follower already holds taken off its front.

    pysyncobj drops every entry after an append's previous one before adding those sent,
    also when it holds the very same ones: a leader re-sending from an older index (after a
    reset, or a new leader probing) made followers truncate entries they had applied, which
    pysyncobj logs as CRITICAL "state machine may have diverged", and an append shorter
    than the follower's log dropped the rest. Raft drops entries only from the first that
    conflicts (section 5.3). So the previous entry moves past every sent entry held with the
    same term (one leader per term: the same entry), and, when all of them are held, on to
    the last applied one, which every leader holds (it was committed). Whatever pysyncobj
    then drops is neither applied nor known to be the leader's. An append whose previous
    entry does not match is left to pysyncobj to refuse.
    """
    prev = message.get("prevLogIdx")
    if prev is None or message.get("transmission") is not None:
        return message
    held = entry_at(prev)
    if held is None or held[2] != message.get("prevLogTerm"):
        return message
    entries = list(message.get("entries", []))
    matched = 0
    for entry in entries:
        mine = entry_at(entry[1])
        if mine is None or mine[2] != entry[2]:
            break
        matched += 1
    new_prev = entries[matched - 1][1] if matched else prev
    if matched == len(entries) and last_applied > new_prev:
        new_prev = last_applied
    target = entry_at(new_prev)
    if new_prev == prev or target is None:
        return message
    return {
        **message,
        "prevLogIdx": new_prev,
        "prevLogTerm": target[2],
        "entries": entries[matched:],
    }


class _FullDiskWarning:
    """One warning per 10 s while the disk stays full, not one per message or tick."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, exc: NoSpace, consequence: str) -> None:
        now = time.monotonic()
        if now - self._last > 10:
            self._last = now
            log.warning("%s; %s", exc, consequence)


class TickStats:
    """How punctual the tick thread is: ticks, late ones, the longest gap, and for each tick
    how many entries it applied and whether it sent appends (heartbeats), in order, for the
    last ``keep`` ticks (tests read the order; the daemon logs late ticks)."""

    def __init__(self, keep: int = 4096) -> None:
        self.ticks = 0
        self.late = 0
        self.max_gap_s = 0.0
        self.max_applied = 0
        self.recent: deque[tuple[int, bool]] = deque(maxlen=keep)
        self._started: float | None = None
        self._worked: float | None = None
        self._applied = 0
        self._sent = False
        self._warned_at = 0.0
        self._late_since_warning = 0

    def tick_started(self, at: float) -> None:
        if self._started is not None:
            self.recent.append((self._applied, self._sent))
            gap = at - self._started
            self.max_gap_s = max(self.max_gap_s, gap)
            if gap > LATE_TICK_S:
                self.late += 1
                self._late_since_warning += 1
                if at - self._warned_at > 5.0:
                    # Work: the tick's own steps (apply, appends, fsync, dumps) and the GIL
                    # waits between them; the rest is its poll and getting the GIL back.
                    worked = (self._worked or at) - self._started
                    log.warning(
                        "raft: tick thread late: %.0f ms between ticks, %.0f ms of it working"
                        " (%d late ticks since the last warning)",
                        gap * 1000,
                        worked * 1000,
                        self._late_since_warning,
                    )
                    self._warned_at = at
                    self._late_since_warning = 0
        self.ticks += 1
        self._started = at
        self._worked = None
        self._applied = 0
        self._sent = False

    def worked(self, at: float) -> None:
        """The tick's work is done; it polls next."""
        self._worked = at

    def applied(self, entries: int) -> None:
        self._applied += entries
        self.max_applied = max(self.max_applied, self._applied)

    def sent_appends(self) -> None:
        self._sent = True


class DurableTransport(TCPTransport):  # type: ignore[misc]
    """pysyncobj's TCP transport, holding back what this node says until its journal is synced.

    A follower answers an append with the index it now holds, a candidate asks for votes with
    its last index, a leader confirms a forwarded command's index: each claims entries on
    disk. While the journal has unsynced entries such messages wait (in order) until
    ``release()`` syncs it once for all of them: group commit. A leader's own appends go
    out at once, so its followers write in parallel with it.
    """

    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any) -> None:
        super().__init__(syncObj, selfNode, otherNodes)
        self._held: list[tuple[Any, Any]] = []
        self._full_disk = _FullDiskWarning()

    def _journal(self) -> Any:
        return getattr(self._syncObj, "_SyncObj__raftLog", None)

    def send(self, node: Any, message: Any) -> bool:
        journal = self._journal()
        dirty = isinstance(journal, FileJournal) and journal.dirty
        if message.get("type") != "append_entries" and (self._held or dirty):
            self._held.append((node, message))
            return True
        return bool(super().send(node, message))

    def release(self) -> None:
        """Sync the journal, then send what waited for it."""
        journal = self._journal()
        if isinstance(journal, FileJournal):
            journal.sync()
        held, self._held = self._held, []
        for node, message in held:
            super().send(node, message)

    def _onMessageReceived(self, node: Any, message: Any) -> None:
        try:
            super()._onMessageReceived(node, message)
        except NoSpace as exc:
            # A follower that cannot append leaves the leader's message unanswered: the
            # leader sends the entries again later, and the others make the majority.
            self._full_disk(exc, "not accepting new entries")
        journal = self._journal()
        if isinstance(journal, FileJournal):
            # The append is over: the file holds what the log holds.
            appended = message.get("type") == "append_entries"
            journal.settle(message.get("term") if appended else None)


class _OwnCommands:
    """The commands this leader proposed, kept decoded until it applies them.

    pysyncobj applies a command by unpickling its bytes, also on the leader that pickled it a
    moment before: for a write of one task that was the largest cost of the leader's tick
    thread after its fsync and its sockets (~50 us of a ~700 us share). A command proposed
    here is remembered (its very bytes object, which the queue, the journal and the log
    entry share) with a call that applies the objects it was pickled from; those are frozen
    dataclasses, equal to what the followers unpickle. Anything else (entries read back
    from the journal, sent by a leader, forwarded by a follower) is unpickled as before.
    """

    # A command is forgotten once applied, and all are when this node does not lead; the
    # bound only matters for commands that never reach the log (a full disk, a full queue).
    LIMIT = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[int, tuple[bytes, Callable[[], Any]]] = {}
        self._proposing = threading.local()

    @contextlib.contextmanager
    def proposing(self, apply: Callable[[], Any]) -> Iterator[None]:
        """While this runs, the command this thread submits is applied by ``apply``."""
        self._proposing.apply = apply
        try:
            yield
        finally:
            self._proposing.apply = None

    def remember(self, command: bytes) -> bool:
        apply = getattr(self._proposing, "apply", None)
        if apply is None:
            return False
        self._proposing.apply = None
        with self._lock:
            if len(self._by_id) >= self.LIMIT:
                del self._by_id[next(iter(self._by_id))]
            self._by_id[id(command)] = (command, apply)
        return True

    def take(self, command: bytes) -> Callable[[], Any] | None:
        with self._lock:
            hit = self._by_id.pop(id(command), None) if self._by_id else None
        # The id of a bytes object still held here cannot have been reused.
        return hit[1] if hit is not None and hit[0] is command else None

    def clear(self) -> None:
        with self._lock:
            self._by_id.clear()

    def __bool__(self) -> bool:
        return bool(self._by_id)


class PatchedSyncObj(SyncObj):  # type: ignore[misc]
    """pysyncobj's SyncObj, durable, and reading what arrived before it judges its peers silent.

    Durability: the journal is synced (``DurableTransport.release``) after every read of the
    network and after the commands of a tick were appended, so a leader's own entries are on
    disk before the next tick counts them towards a majority, and a follower's before it
    answers. A full disk fails the command that could not be appended (``FAIL_NO_SPACE``).

    Reading first: a pysyncobj tick checks the election deadline (follower) and the
    leader-fallback deadline (leader) first and reads the network last. A tick thread starved
    for longer than those timeouts (a busy machine, the GIL held by gRPC) then called an
    election, or stepped down, with the leader's heartbeats, or the followers' answers, still
    unread in its sockets: under a burst of writes, leadership moved for no reason.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("transportClass", DurableTransport)
        # Set before SyncObj.__init__: pysyncobj snapshots every attribute it did not see
        # there (a command's callback would not even pickle).
        self._last_command: Any = None
        self._full_disk = _FullDiskWarning()
        self._appending = False
        self._append_entries_due = False
        self._commit_notice_due: float | None = None
        self._forwarded: deque[int] = deque()
        self._own = _OwnCommands()
        self._append_due = False
        self._destroyed = False
        self.tick_stats = TickStats()
        super().__init__(*args, **kwargs)
        commands = self._SyncObj__commandsQueue
        take = commands.get_nowait

        def get_nowait() -> Any:
            # Remembered so that a command whose append failed can be answered.
            self._last_command = take()
            if isinstance(self._last_command[1], tuple) and self._isLeader():
                # A follower's command: the index it is about to get, whose commit that
                # follower must hear of at once (it answers its caller when it applies).
                self._forwarded.append(self._SyncObj__getCurrentLogIndex() + 1)
            return self._last_command

        commands.get_nowait = get_nowait
        self.addOnTickCallback(self._release)
        self.addOnTickCallback(lambda: self.tick_stats.worked(time.monotonic()))

    def _release(self) -> None:
        transport = self._SyncObj__transport
        if isinstance(transport, DurableTransport):
            transport.release()

    def proposing(self, apply: Callable[[], Any]) -> contextlib.AbstractContextManager[None]:
        """A context in which the replicated call this thread makes is applied here by
        ``apply`` (the same method on the objects it was called with), not by unpickling."""
        return self._own.proposing(apply)

    def _applyCommand(self, command: bytes, callback: Any, commandType: int | None = None) -> None:
        if commandType == REGULAR[0] and self._isLeader():
            # pysyncobj prepends the type byte itself; the bytes remembered must be the very
            # object its queue, journal and log entry will hold.
            typed = REGULAR + command
            if self._own.remember(typed):
                command, commandType = typed, None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self._SyncObj__conf.appendEntriesUseBatch:
            super()._applyCommand(command, callback, commandType)
            return
        # pysyncobj's _applyCommand, but for waking the tick thread: from an event loop the
        # command is appended and sent by _append_now, once the loop's turn is over.
        if commandType is not None:
            command = bytes([commandType]) + command
        try:
            self._SyncObj__commandsQueue.put_nowait((command, callback))
        except queue.Full:
            self._SyncObj__callErrCallback(FAIL_REASON.QUEUE_FULL, callback)
            return
        if not self._append_due:
            self._append_due = True
            loop.call_soon(self._append_now)

    def _append_now(self) -> None:
        """Append and send the commands the event loop proposed, on the loop's thread.

        pysyncobj appends a command on its tick thread, woken through a pipe: for one writer
        that hand-off (a wake-up, then a wait for the GIL until the loop blocks) came before
        the append reached the followers, on every write's path. The loop does it itself
        when the tick thread is waiting for the network (the tick lock is free); the
        commands of a whole turn of the loop go out in one append, so group commit stays.
        The tick thread is then woken to sync the journal: its next tick does that before
        it counts this node's copy (``_onTick``), and every message claiming the entries
        still waits for the sync (``DurableTransport``). Otherwise the tick thread appends
        them as before."""
        self._append_due = False
        lock: threading.Lock = self._poller.lock
        if lock.acquire(blocking=False):
            try:
                if self._destroyed:
                    return
                if self._SyncObj__transport.ready:
                    self._checkCommandsToApply()
            finally:
                lock.release()
        self._SyncObj__pipeNotifier.notify()

    def _doDestroy(self) -> None:
        with self._poller.lock:
            self._destroyed = True
            super()._doDestroy()

    def _SyncObj__doApplyCommand(self, command: bytes) -> Any:
        apply = self._own.take(command) if self._own else None
        if apply is not None:
            return apply()
        return SyncObj._SyncObj__doApplyCommand(self, command)

    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:
        kind = message.get("type")
        if kind == "append_entries" and "prevLogIdx" in message:
            message = skip_entries_held(message, self._entry_at, self.raftLastApplied)
        # pysyncobj sets a follower's next index to the one its answer names whenever the
        # answer acknowledges more than before, also when it answers an older append while a
        # newer one is on its way: the index went back, and the leader's next append (sent
        # at once when it commits, as to a follower missing entries) carried the newer
        # entries again, to be answered again. With one writer, a follower's answer to the
        # previous write crossed the next write's append for ~15% of the writes. Raft only
        # moves a next index back on a refusal (etcd's Progress: Next = max(Next,
        # acknowledged + 1)); a refusal, or a reset after a follower lost entries, still
        # moves it as before.
        next_index: dict[Any, int] = self._SyncObj__raftNextIndex
        sent = None
        if kind == "next_node_idx" and message.get("success") and not message.get("reset"):
            sent = next_index.get(node)
        SyncObj._SyncObj__onMessageReceived(self, node, message)
        if sent is not None and next_index.get(node, sent) < sent and self._isLeader():
            next_index[node] = sent

    def _entry_at(self, index: int) -> Entry | None:
        entries = self._SyncObj__getEntries(index, 1)
        return tuple(entries[0]) if entries else None

    def _onTick(self, timeToWait: float = 0.0) -> None:
        # Held throughout but while the poll waits: the event loop may append meanwhile.
        with self._poller.lock:
            self._tick(timeToWait)

    def _tick(self, timeToWait: float) -> None:
        self.tick_stats.tick_started(time.monotonic())
        self._poller.poll(0)
        self._release()
        if self._own and not self._isLeader():
            self._own.clear()
        if self._commit_index() > self.raftLastApplied:
            timeToWait = 0.0  # a backlog left by the bounded apply: go on at once
        due = self._commit_notice_due
        if due is not None:
            now = time.monotonic()
            if not self._isLeader():
                self._commit_notice_due = None
                self._forwarded.clear()
            elif now >= due:
                self._SyncObj__newAppendEntriesTime = 0.0  # the tick sends its heartbeat now
            else:
                timeToWait = min(timeToWait, due - now)
        try:
            super()._onTick(timeToWait)
        except NoSpace as exc:
            # A term or a vote that cannot be saved (an election on a full disk) stops the
            # tick before any message says them; pysyncobj would log a traceback per tick.
            self._full_disk(exc, "this manager cannot take part in elections")
            time.sleep(timeToWait)
        self._forget_unreachable_leader()
        self._release()

    def _forget_unreachable_leader(self) -> None:
        """A follower that hears from no other manager forgets its leader once an election
        is due.

        pysyncobj calls an election only when connected to another manager: cut off from
        all of them (the other two of three killed), a follower kept the leader it last heard
        of for good, so reads answered from a store nobody updated, naming a dead leader, and
        writes went to it to time out. Without a leader, the manager says the swarm has none,
        as a swarmkit manager does once its election timeout passes; a leader's next append
        names it again."""
        if self._isLeader() or self._getLeader() is None or not self.otherNodes:
            return
        if self._SyncObj__connectedNodes or self._SyncObj__raftElectionDeadline > monotonic():
            return
        log.info("raft: no other manager reachable: leader %s forgotten", self._getLeader())
        self._SyncObj__raftLeader = None
        self._SyncObj__onLeaderChanged()  # fails the writes forwarded to it (retried)

    def _checkCommandsToApply(self) -> None:
        self._appending = True
        try:
            while True:
                try:
                    super()._checkCommandsToApply()
                    break
                except NoSpace as exc:
                    _, callback = self._last_command
                    self._full_disk(exc, "writes fail until there is room")
                    self._SyncObj__callErrCallback(FAIL_NO_SPACE, callback)
        finally:
            self._appending = False
        if self._append_entries_due:
            self._append_entries_due = False
            # Through the override: the append carries the commit index, so a commit notice
            # waiting for one is off. Called past the override, every write paid a heartbeat
            # round (a message to each follower, each answered) 10 ms after its commit.
            self._SyncObj__sendAppendEntries()

    def _SyncObj__applyLogEntries(self) -> bool:
        # pysyncobj tells the followers of every new commit index at once, in a message of
        # its own that each of them answers: with one writer, that doubled the messages of
        # every write, and on the leader the sending competed with the event loop taking
        # the write's outcome (the largest cost of its tick thread after the fsync). The
        # next append carries the commit index anyway, so the notice waits for it, up to
        # COMMIT_NOTICE_DELAY; it still goes at once when a follower waits for an entry it
        # forwarded, or when a follower misses entries (it is sent those with it).
        applied = self._apply_bounded()
        if not applied or not self._isLeader():
            return applied
        last_applied = self.raftLastApplied
        forwarded = False
        while self._forwarded and self._forwarded[0] <= last_applied:
            self._forwarded.popleft()
            forwarded = True
        next_index = self._SyncObj__raftNextIndex
        last = self._SyncObj__getCurrentLogIndex()
        if forwarded or any(next_index.get(node, 0) <= last for node in self.otherNodes):
            return True
        if self._commit_notice_due is None:
            self._commit_notice_due = time.monotonic() + COMMIT_NOTICE_DELAY
        return False

    def _commit_index(self) -> int:
        index: int = self._SyncObj__raftCommitIndex
        return index

    def _apply_bounded(self) -> bool:
        """pysyncobj's apply, of APPLY_ENTRIES_PER_TICK committed entries at most.

        pysyncobj applies everything up to the commit index in one go, on the thread that
        also reads the network and sends heartbeats: a backlog of thousands of entries was
        one long stall. The commit index is lowered for the call only; nothing in the apply
        reads it but the loop bound."""
        commit = self._commit_index()
        before = self.raftLastApplied
        cap = before + APPLY_ENTRIES_PER_TICK
        if commit > cap:
            self._SyncObj__raftCommitIndex = cap
        try:
            applied = bool(SyncObj._SyncObj__applyLogEntries(self))
        finally:
            if commit > cap:
                self._SyncObj__raftCommitIndex = commit
        self.tick_stats.applied(self.raftLastApplied - before)
        return applied

    def _SyncObj__sendAppendEntries(self) -> None:
        # Group commit on the wire too: with appendEntriesUseBatch off, pysyncobj sends every
        # follower a message per command it appends, and each follower answers each one.
        # The commands a tick appends go out together once it appended them all.
        if self._appending:
            self._append_entries_due = True
            return
        # Every append carries the commit index: a notice waiting for one is sent with it.
        self._commit_notice_due = None
        self.tick_stats.sent_appends()
        SyncObj._SyncObj__sendAppendEntries(self)

"""The replicated log under the store: Raft, on pysyncobj.

``RaftLog`` implements ``swarmpy.manager.state.store.Log``. Every manager holds a full copy of
the ``StoreState``; a write is one pysyncobj command (a batch of ``Op``) that every manager
applies in the same order. The state lives in a ``SyncObjConsumer`` because pysyncobj
snapshots only the consumer's attributes. See docs/raft.md for why pysyncobj and for every
setting below.

Threads: pysyncobj runs a tick thread per ``SyncObj``; it applies commands, calls the store
listener (under the state lock) and calls ``on_leadership``. Coroutines here never block
the event loop on it: they hand pysyncobj a callback that resolves a future through
``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysyncobj import FAIL_REASON, SyncObjConf
from pysyncobj.utility import UtilityException

from swarmpy.errors import Conflict, InvalidArgument, NoLeader, Unavailable
from swarmpy.fsutil import fsync_dir
from swarmpy.manager.state.raft import gcpause
from swarmpy.manager.state.raft.keyring import KeyedSyncObj, KeyRing, run_utility
from swarmpy.manager.state.raft.machine import StateMachine
from swarmpy.manager.state.raft.patches import FAIL_NO_SPACE, wake_if_alone
from swarmpy.manager.state.raft.recovery import recover_state, write_dump
from swarmpy.manager.state.raft.storage import (
    DUMP_FILE,
    JOURNAL_FILE,
    NoSpace,
    verify_dump,
)
from swarmpy.manager.state.store import ApplyResult, Op, StoreState

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0

Outcome = tuple[Any, int]  # a pysyncobj command's (result, error code)

# Log compaction (a full dump of the store, on the tick thread) waits for at least this many
# entries, or as many as the store has objects if that is more (RaftLog._scale_compaction).
COMPACTION_MIN_ENTRIES = 2000


# Outcomes after which the command certainly or possibly did not commit. Retrying is safe:
# every Op carries the version it expects, so a retry of a batch that did commit fails
# with a conflict instead of applying twice, and Store.update re-reads and re-decides.
_RETRYABLE = {
    FAIL_REASON.MISSING_LEADER,
    FAIL_REASON.DISCARDED,
    FAIL_REASON.NOT_LEADER,
    FAIL_REASON.LEADER_CHANGED,
    FAIL_REASON.UNKNOWN_OUTCOME,
}

_FAIL_TEXT = {
    FAIL_REASON.QUEUE_FULL: "too many writes are waiting for the raft log, try again",
    FAIL_REASON.DISCARDED: "the write was discarded by a leader change, try again",
    FAIL_REASON.NOT_LEADER: "the leader changed before the write committed, try again",
    FAIL_REASON.LEADER_CHANGED: "the leader changed before the write committed, try again",
    FAIL_REASON.UNKNOWN_OUTCOME: "the outcome of the write is unknown, check and try again",
}


def settings(data_dir: Path, password: str) -> dict[str, Any]:
    """The SyncObjConf keyword arguments swarmpy runs with (docs/raft.md says why)."""
    return {
        "password": password,
        # Batching waits for a batch to fill: about 10 writes/s for a single writer.
        "appendEntriesUseBatch": False,
        "journalFile": str(data_dir / JOURNAL_FILE),
        "fullDumpFile": str(data_dir / DUMP_FILE),
        "dynamicMembershipChange": True,
        # A leader cut off from the majority steps down after this instead of 30 s; twice
        # the longest election timeout, since a leader that stepped down after 2 s of its
        # own garbage collection and a starved CPU (2,500 nodes, bench/README.md) tore down
        # every agent's session with it.
        "leaderFallbackTimeout": 4.0,
        # Elections wait longer than pysyncobj's 0.4-1.4 s: a manager busy applying a large
        # batch (a 10,000-task service) while serving gRPC can stall past 1.4 s, and the
        # elections that followed kept leadership moving (bench/scale_bench.py). Failover
        # stays under 3 s (bench/failover_bench.py).
        "raftMinTimeout": 1.0,
        "raftMaxTimeout": 2.0,
        # Followers do not talk to each other between elections; with the 3.5 s default
        # their connection is idle-closed and the first vote request after a leader dies
        # is lost, so votes split. Dead peers are still found by TCP keepalive.
        "connectionTimeout": 30.0,
        "tcp_keepalive": (5, 2, 3),
        "connectionRetryTime": 1.0,
        # The floor: RaftLog raises it with the store's size (_scale_compaction).
        "logCompactionMinEntries": COMPACTION_MIN_ENTRIES,
        "logCompactionMinTime": 60,
        # Forking a process that runs gRPC threads is unsafe; our state pickles in ms.
        "useFork": False,
        "maxBindRetries": 3,
        # Without a leader a write fails at once (RaftLog._command retries it until its
        # timeout) instead of waiting in pysyncobj's queue: a queued write outlived the
        # caller told it failed, and was applied once a leader was elected.
        "commandsWaitLeader": False,
    }


@dataclass(frozen=True)
class MemberStatus:
    addr: str
    is_self: bool
    is_leader: bool
    reachable: bool


class RaftLog:
    """The Raft log of one manager.

    ``partners`` are the other managers' raft addresses as last known; with dynamic
    membership the journal and dump hold the real membership and win over this list once
    loaded. A new manager must be added (``add_member`` on the cluster) before it starts.
    ``on_leadership(bool)`` runs on pysyncobj's tick thread and must return quickly; it
    reports a gain only once this node has applied everything committed before its term.
    """

    def __init__(
        self,
        self_addr: str,
        partners: Sequence[str],
        data_dir: Path,
        password: str,
        on_leadership: Callable[[bool], None] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        state: StoreState | None = None,
        bind_addr: str | None = None,
    ) -> None:
        if not password:
            raise InvalidArgument("the raft log needs a password: its transport trusts peers")
        self.self_addr = self_addr
        # pysyncobj binds 0.0.0.0 unless told: several managers on one machine need their own.
        self.bind_addr = bind_addr or self_addr
        self.partners = [p for p in partners if p != self_addr]
        self.data_dir = Path(data_dir)
        self.timeout = timeout
        self._password = password
        # The transport's keys: the password first; swarmpy.manager.raftsecret replaces it.
        self.keys = KeyRing(password)
        self._on_leadership = on_leadership
        self._machine = StateMachine(state or StoreState())
        self.state: StoreState = self._machine.state
        self._obj: Any = None
        self._leading = False
        self._lock = threading.Lock()
        self._outcomes = _Outcomes()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Open the journal, bind the raft port and join the other managers.

        Call from a thread that lives as long as the log (the main thread): pysyncobj's
        tick thread exits when the thread that created it ends. A damaged journal, meta file
        or dump raises ``RaftDataCorrupt`` (the journal and meta file are checked as the
        journal opens; pysyncobj would load a bad dump as an empty store, so it is checked
        here first).
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        gcpause.install()
        dump = self.data_dir / DUMP_FILE
        if dump.exists():
            verify_dump(dump)
        conf = SyncObjConf(**settings(self.data_dir, self._password), bindAddress=self.bind_addr)
        obj = KeyedSyncObj(
            self.self_addr, self.partners, conf, consumers=[self._machine], keys=self.keys
        )
        try:
            obj.waitBinded()
        except Exception as exc:
            obj.destroy()
            raise Unavailable(f"cannot listen on raft address {self.self_addr}") from exc
        obj.addOnTickCallback(self._on_tick)
        self._obj = obj

    def close(self) -> None:
        """Stop replicating; blocks until pysyncobj's thread has closed the journal."""
        obj, self._obj = self._obj, None
        if obj is None:
            return
        obj.removeOnTickCallback(self._on_tick)
        obj.destroy_synchronous()
        self._set_leading(False)

    async def stop(self) -> None:
        await asyncio.to_thread(self.close)

    # ------------------------------------------------------------ the Log protocol

    def set_listener(self, listener: Callable[[ApplyResult], None]) -> None:
        self._machine.listener = listener

    async def propose(self, ops: tuple[Op, ...]) -> ApplyResult:
        """Commit one batch through the leader (forwarded if this node follows)."""
        ops = tuple(ops)
        machine = self._machine

        def submit(callback: Callable[[Any, int], None]) -> None:
            # The leader applies these very ops once committed, instead of unpickling them.
            with self._running().proposing(functools.partial(machine.apply, ops, _doApply=True)):
                machine.apply(ops, callback=callback)

        result: ApplyResult = await self._command(submit, "write")
        return result

    # ------------------------------------------------------------ leadership

    def is_leader(self) -> bool:
        """True while this node leads and has applied everything committed before."""
        return self._leading

    def leader(self) -> str | None:
        """The raft address of the leader as this node last heard, or None."""
        obj = self._obj
        if obj is None:
            return None
        node = obj._getLeader()
        return None if node is None else str(node.address)

    async def transfer_leadership(self, to: str | None = None) -> str:
        """Hand leadership to ``to`` (or the most up-to-date member); returns the new leader."""
        leader = self.leader()
        if leader is None:
            raise NoLeader()
        if leader == self.self_addr:
            await self._command(
                lambda callback: self._running().transferLeadership(to, callback=callback),
                "leadership transfer",
                retry_denied=True,
            )
        else:
            await self._utility(leader, ["transfer", to or ""])
        return await self._wait_leader_other_than(leader)

    def _on_tick(self) -> None:
        obj = self._obj
        if obj is None:
            return
        # A new leader's no-op entry commits after every entry of earlier terms, so once
        # it is applied the store is complete and control loops may act on it.
        noop = getattr(obj, "_SyncObj__noopIDx", None) or 0
        leading = bool(obj._isLeader())
        self._set_leading(leading and obj.raftLastApplied >= noop)
        if leading:
            wake_if_alone(obj)
        self._scale_compaction(obj)

    def _scale_compaction(self, obj: Any) -> None:
        """Compact after as many entries as the store has objects, 2,000 at least.

        A dump costs time in proportion to the store (pickling every object), on the thread
        that also answers Raft messages; after a fixed 2,000 entries, a store of 15,000 tasks
        written one per entry dumped every few seconds on every manager, each dump a stall of
        100-300 ms under load (the bench's p99). Scaled, a dump costs the same per entry at
        any size, and the journal stays about the size of the dump."""
        conf = obj._SyncObj__conf
        objects = sum(len(rows) for rows in self.state.tables.values())
        conf.logCompactionMinEntries = max(COMPACTION_MIN_ENTRIES, objects)

    def _set_leading(self, leading: bool) -> None:
        with self._lock:
            if leading == self._leading:
                return
            self._leading = leading
        log.info("raft: %s leadership", "gained" if leading else "lost")
        if self._on_leadership is not None:
            try:
                self._on_leadership(leading)
            except Exception:
                log.exception("on_leadership(%s) failed", leading)

    # ------------------------------------------------------------ membership

    def members(self) -> list[MemberStatus]:
        obj = self._running()
        leader = self.leader()
        statuses = [MemberStatus(self.self_addr, True, leader == self.self_addr, True)]
        for node in sorted(self._other_nodes(), key=lambda n: str(n.address)):
            addr = str(node.address)
            statuses.append(
                MemberStatus(addr, False, leader == addr, bool(obj.isNodeConnected(node)))
            )
        return statuses

    def has_quorum_without(self, addr: str) -> bool:
        """Whether the managers still reachable keep a majority once ``addr`` is gone."""
        members = self.members()
        remaining = [m for m in members if m.addr != addr]
        reachable = sum(1 for m in remaining if m.reachable)
        return reachable > len(remaining) / 2

    async def add_member(self, addr: str) -> None:
        """Add a manager and wait until the change committed; start it afterwards."""
        if any(m.addr == addr for m in self.members()):
            return
        await self._command(
            lambda callback: self._running().addNodeToCluster(addr, callback=callback),
            f"adding manager {addr}",
            retry_denied=True,
        )

    async def remove_member(self, addr: str) -> None:
        """Remove a manager (this one too) and wait until the change committed."""
        if not any(m.addr == addr for m in self.members()):
            return
        # Raft here cannot remove its own leader: move leadership away first.
        if addr == self.leader():
            await self.transfer_leadership()
        if addr != self.self_addr:
            await self._command(
                lambda callback: self._running().removeNodeFromCluster(addr, callback=callback),
                f"removing manager {addr}",
                retry_denied=True,
            )
            return
        # The leader stops talking to a member the moment it drops it, so this node would
        # never hear its own removal commit: let the leader answer instead.
        leader = self.leader()
        if leader is None:
            raise NoLeader()
        reply = str(await self._utility(leader, ["remove", addr]))
        if not reply.startswith("SUCCESS"):
            raise Conflict(f"the leader refused to remove manager {addr}: {reply}")

    async def wait_removed(self, within: float) -> bool:
        """Wait until another leader no longer counts this manager as a member.

        A demoted manager keeps its Raft log running until then: the `node demote` that
        removes it may be running on this very manager, and needs it to hand leadership
        over and ask the new leader to drop it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            leader = self.leader()
            if leader is not None and leader != self.self_addr:
                with contextlib.suppress(Unavailable):
                    status = await self._utility(leader, ["status"])
                    if isinstance(status, dict) and not any(
                        key.endswith(self.self_addr)
                        for key in status
                        if key.startswith("partner_node_status_server_")
                    ):
                        return True
            await asyncio.sleep(0.2)
        return False

    def _other_nodes(self) -> list[Any]:
        obj = self._running()
        # The tick thread may change the set while it is copied.
        for _ in range(10):
            try:
                return list(obj.otherNodes)
            except RuntimeError:
                continue
        return []

    # ------------------------------------------------------------ plumbing

    def _running(self) -> Any:
        if self._obj is None:
            raise Unavailable("the raft log of this manager is not running")
        return self._obj

    async def _command(
        self,
        submit: Callable[[Callable[[Any, int], None]], None],
        what: str,
        *,
        retry_denied: bool = False,
    ) -> Any:
        """Submit a pysyncobj command until it succeeds, fails for good, or times out."""
        self._running()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            future: asyncio.Future[Outcome] = loop.create_future()
            submit(functools.partial(self._outcomes.report, loop, future))
            # Not asyncio.wait_for: its own waiter future costs the commit one more turn of
            # the loop (and one more epoll call, where the tick thread may take the GIL).
            expiry = loop.call_at(max(deadline, loop.time() + 0.01), _expire, future)
            try:
                result, err = await future
            except TimeoutError:
                raise self._timed_out(what) from None
            finally:
                expiry.cancel()
            if err == FAIL_REASON.SUCCESS:
                return result
            retry = err in _RETRYABLE or (retry_denied and err == FAIL_REASON.REQUEST_DENIED)
            if not retry or loop.time() + 0.05 >= deadline:
                raise self._failure(err, what)
            log.debug("raft: %s failed (reason %s), retrying", what, err)
            await asyncio.sleep(0.05)

    def _timed_out(self, what: str) -> Unavailable:
        leader = self.leader()
        if leader is None:
            return NoLeader()
        return Unavailable(
            f"raft: {what} did not commit within {self.timeout:g}s (leader {leader}); "
            "make sure more than half of the managers are online"
        )

    def _failure(self, err: int, what: str) -> Unavailable | Conflict:
        if err == FAIL_REASON.MISSING_LEADER:
            return NoLeader()
        if err == FAIL_NO_SPACE:
            return NoSpace("on the leader's raft disk")
        if err == FAIL_REASON.REQUEST_DENIED:
            return Conflict(
                f"raft: {what} refused by the leader (another membership change is in "
                "progress or the member is unknown)"
            )
        return Unavailable(f"raft: {what}: {_FAIL_TEXT.get(err, f'failed (reason {err})')}")

    async def _utility(self, addr: str, command: list[str]) -> Any:
        """Send a pysyncobj admin command to another manager and return its reply."""

        def call() -> Any:
            try:
                return run_utility(self.keys, addr, command, self.timeout)
            except UtilityException as exc:
                raise Unavailable(f"raft: manager {addr} did not answer: {exc}") from None

        return await asyncio.to_thread(call)

    async def _wait_leader_other_than(self, old: str) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while loop.time() < deadline:
            leader = self.leader()
            if leader is not None and leader != old:
                return leader
            await asyncio.sleep(0.05)
        raise NoLeader(f"raft: leadership did not move away from {old} within {self.timeout:g}s")

    # ------------------------------------------------------------ force new cluster

    @classmethod
    def force_new_cluster(
        cls,
        self_addr: str,
        data_dir: Path,
        password: str,
        on_leadership: Callable[[bool], None] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> RaftLog:
        """A log of one member, ``self_addr``, that keeps the state found in ``data_dir``.

        Every entry of the old journal is applied, committed or not: the other managers are
        gone, so this log is the best record there is (etcd does the same). The old files
        move to ``data_dir/pre-force-<time>/``. Call ``start()`` on the result.
        """
        data_dir = Path(data_dir)
        state = recover_state(data_dir)
        archive = data_dir / f"pre-force-{int(time.time())}"
        archive.mkdir(parents=True, exist_ok=True)
        for path in data_dir.glob("raft.*"):
            path.rename(archive / path.name)
        fsync_dir(archive)
        fsync_dir(data_dir)
        write_dump(data_dir / DUMP_FILE, state, self_addr)
        log.warning(
            "raft: forced a new cluster of one (%s) at store index %d", self_addr, state.index
        )
        return cls(self_addr, [], data_dir, password, on_leadership, timeout=timeout)


def _expire(future: asyncio.Future[Outcome]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class _Outcomes:
    """The outcomes pysyncobj's thread reports, handed to the waiting event loop in batches.

    pysyncobj calls back once per applied command; waking the loop for each one (a write to
    its self-pipe, then a wait for the GIL) was the largest cost of the leader's tick thread
    after its poll and its fsync under 16 concurrent writers (2,000 wake-ups for 2,000
    writes, ~300 now). The first report wakes the loop; those that follow before it runs
    ride along."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[
            asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], Any, int]]
        ] = {}

    def report(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Outcome],
        result: Any,
        err: int,
    ) -> None:
        with self._lock:
            pending = self._pending.setdefault(loop, [])
            pending.append((future, result, err))
            if len(pending) > 1:
                return
        try:
            loop.call_soon_threadsafe(self._deliver, loop)
        except RuntimeError:  # the loop is closed: nobody waits any more
            with self._lock:
                self._pending.pop(loop, None)

    def _deliver(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            pending = self._pending.pop(loop, [])
        for future, result, err in pending:
            if not future.done():
                future.set_result((result, err))

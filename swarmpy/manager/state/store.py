"""The cluster store: objects, optimistic transactions and change watches.

The state itself (``StoreState``) is a deterministic machine that applies batches of
operations; a replicated log (``Log``) decides the order in which every manager applies
them. ``Store`` is what the rest of the manager sees: ``view()`` for an immutable snapshot,
``update(fn)`` for a transaction (re-run on conflict), ``watch()`` for a snapshot plus the
events after it. The log can be Raft (``swarmpy.manager.state.raft``) or local (``LocalLog``,
used by unit tests and by nothing else), so everything above it runs without Raft.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from swarmpy.errors import Conflict, NotFound
from swarmpy.model import TABLES, Cluster, Network, Node, Service, Task

log = logging.getLogger(__name__)

T = TypeVar("T")

# Ops per transaction when a loop writes many objects: keeps each Raft entry small, since a
# follower applies an entry on the thread that also keeps its election timer; at 256 the
# 10,000-task write stalled followers into elections (bench/README.md, control plane).
WRITE_CHUNK = 64

# ``expect`` values of an operation besides a concrete version.
MUST_NOT_EXIST = -1
ANY_VERSION = None


@dataclass(frozen=True)
class Op:
    """Put (obj is not None) or delete (obj is None) one object, if its version matches."""

    table: str
    id: str
    obj: Any | None
    expect: int | None = ANY_VERSION


@dataclass(frozen=True)
class Event:
    action: Literal["create", "update", "delete"]
    table: str
    obj: Any  # the new object, or the deleted one
    old: Any | None = None


@dataclass(frozen=True)
class ApplyResult:
    index: int
    ok: bool
    events: tuple[Event, ...] = ()
    conflict: str = ""


class Snapshot:
    """An immutable view of every table at one index."""

    def __init__(
        self,
        index: int,
        tables: dict[str, dict[str, Any]],
        versions: dict[str, dict[str, int]],
    ) -> None:
        self.index = index
        self._tables = tables
        self._versions = versions

    def get(self, table: str, obj_id: str) -> Any | None:
        return self._tables[table].get(obj_id)

    def version(self, table: str, obj_id: str) -> int | None:
        return self._versions[table].get(obj_id)

    def all(self, table: str) -> list[Any]:
        return list(self._tables[table].values())

    def ids(self, table: str) -> Iterator[str]:
        return iter(self._tables[table])

    # Typed shortcuts: the control loops read these all the time.
    def nodes(self) -> list[Node]:
        return self.all("nodes")

    def services(self) -> list[Service]:
        return self.all("services")

    def tasks(self) -> list[Task]:
        return self.all("tasks")

    def networks(self) -> list[Network]:
        return self.all("networks")

    def cluster(self) -> Cluster | None:
        clusters = self.all("clusters")
        return clusters[0] if clusters else None

    def node(self, node_id: str) -> Node | None:
        return self.get("nodes", node_id)

    def service(self, service_id: str) -> Service | None:
        return self.get("services", service_id)

    def task(self, task_id: str) -> Task | None:
        return self.get("tasks", task_id)

    def network(self, network_id: str) -> Network | None:
        return self.get("networks", network_id)


class StoreState:
    """Tables of objects and their versions; changed only by ``apply``.

    ``apply`` must stay deterministic and idempotent-safe: under Raft it runs on every
    manager, on pysyncobj's thread, and a command that timed out on the caller's side may
    still commit. Readers on other threads take ``lock``.
    """

    def __init__(self) -> None:
        self.index = 0
        self.tables: dict[str, dict[str, Any]] = {name: {} for name in TABLES}
        self.versions: dict[str, dict[str, int]] = {name: {} for name in TABLES}
        self.lock = threading.RLock()
        self._frozen: dict[str, tuple[dict[str, Any], dict[str, int]]] = {}

    # pysyncobj pickles the state for snapshots: the lock cannot travel.
    def __getstate__(self) -> dict[str, Any]:
        return {"index": self.index, "tables": self.tables, "versions": self.versions}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.index = state["index"]
        self.tables = state["tables"]
        self.versions = state["versions"]
        self.lock = threading.RLock()
        self._frozen = {}

    def snapshot(self) -> Snapshot:
        # A table is copied once after it changes, then shared by every snapshot until it
        # changes again: heartbeats and reads of 10,000 tasks must not copy them each time.
        with self.lock:
            for name in self.tables:
                if name not in self._frozen:
                    self._frozen[name] = (dict(self.tables[name]), dict(self.versions[name]))
            return Snapshot(
                self.index,
                {name: rows for name, (rows, _) in self._frozen.items()},
                {name: versions for name, (_, versions) in self._frozen.items()},
            )

    def replace_all(
        self, tables: dict[str, dict[str, Any]], versions: dict[str, dict[str, int]], index: int
    ) -> None:
        """Take over another state's contents (a Raft snapshot being installed)."""
        with self.lock:
            self.tables, self.versions, self.index = tables, versions, index
            self._frozen.clear()

    def apply(
        self, ops: tuple[Op, ...], listener: Callable[[ApplyResult], None] | None = None
    ) -> ApplyResult:
        """Apply a batch atomically; ``listener`` hears of it before any reader can."""
        with self.lock:
            index = self.index + 1
            for op in ops:
                current = self.versions[op.table].get(op.id)
                if op.expect is ANY_VERSION:
                    continue
                if op.expect == MUST_NOT_EXIST and current is not None:
                    return ApplyResult(self.index, False, conflict=f"{op.table}/{op.id} exists")
                if op.expect != MUST_NOT_EXIST and current != op.expect:
                    return ApplyResult(self.index, False, conflict=f"{op.table}/{op.id} changed")
            events: list[Event] = []
            for op in ops:
                self._frozen.pop(op.table, None)
                rows = self.tables[op.table]
                old = rows.get(op.id)
                if op.obj is None:
                    if old is not None:
                        del rows[op.id]
                        del self.versions[op.table][op.id]
                        events.append(Event("delete", op.table, old))
                    continue
                rows[op.id] = op.obj
                self.versions[op.table][op.id] = index
                events.append(
                    Event("update" if old is not None else "create", op.table, op.obj, old)
                )
            self.index = index
            result = ApplyResult(index, True, tuple(events))
            if listener is not None:
                # Under the lock, so a watch cannot see the batch both in its snapshot
                # and as an event.
                listener(result)
            return result


class Log(Protocol):
    """The ordering service under the store: Raft in production, local in unit tests."""

    state: StoreState

    async def propose(self, ops: tuple[Op, ...]) -> ApplyResult: ...

    def set_listener(self, listener: Callable[[ApplyResult], None]) -> None:
        """``listener`` must be passed to ``StoreState.apply`` for every applied batch."""


class LocalLog:
    """Applies every batch at once, in the caller's thread: a store of one, without Raft."""

    def __init__(self, state: StoreState | None = None) -> None:
        self.state = state or StoreState()
        self._listener: Callable[[ApplyResult], None] = lambda _result: None

    def set_listener(self, listener: Callable[[ApplyResult], None]) -> None:
        self._listener = listener

    async def propose(self, ops: tuple[Op, ...]) -> ApplyResult:
        return self.state.apply(ops, self._listener)


class Tx:
    """A transaction being built over a snapshot; ``Store.update`` commits it."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._ops: dict[tuple[str, str], Op] = {}

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(self._ops.values())

    def get(self, table: str, obj_id: str) -> Any | None:
        key = (table, obj_id)
        if key in self._ops:
            return self._ops[key].obj
        return self.snapshot.get(table, obj_id)

    def _expect(self, table: str, obj_id: str) -> int | None:
        version = self.snapshot.version(table, obj_id)
        return MUST_NOT_EXIST if version is None else version

    def create(self, table: str, obj: Any) -> None:
        self._ops[(table, obj.id)] = Op(table, obj.id, obj, MUST_NOT_EXIST)

    def put(self, table: str, obj: Any) -> None:
        """Write ``obj``; fails the transaction if it changed since the snapshot."""
        self._ops[(table, obj.id)] = Op(table, obj.id, obj, self._expect(table, obj.id))

    def delete(self, table: str, obj_id: str) -> None:
        self._ops[(table, obj_id)] = Op(table, obj_id, None, self._expect(table, obj_id))

    def replace(self, table: str, obj_id: str, **changes: Any) -> Any:
        """Put a copy of the current object with ``changes``; NotFound if it is gone."""
        current = self.get(table, obj_id)
        if current is None:
            raise NotFound(f"{table[:-1]} {obj_id} not found")
        updated = dataclasses.replace(current, **changes)
        self.put(table, updated)
        return updated


class Store:
    """Snapshots, transactions and watches over a replicated log."""

    def __init__(self, replicated_log: Log) -> None:
        self.log = replicated_log
        self._watchers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = set()
        self._watch_lock = threading.Lock()
        replicated_log.set_listener(self._on_applied)

    @property
    def state(self) -> StoreState:
        return self.log.state

    def view(self) -> Snapshot:
        return self.state.snapshot()

    async def update(self, fn: Callable[[Tx], T], attempts: int = 8) -> T:
        """Run ``fn`` over a fresh snapshot and commit what it wrote, retrying on conflict.

        ``fn`` must be free of side effects beyond the transaction: it may run several times.
        """
        for _ in range(attempts):
            tx = Tx(self.view())
            result = fn(tx)
            if not tx.ops:
                return result
            applied = await self.log.propose(tx.ops)
            if applied.ok:
                return result
            log.debug("transaction conflict (%s), retrying", applied.conflict)
            await asyncio.sleep(0.01)
        raise Conflict("update out of sequence: the object changed meanwhile, try again")

    def watch(self) -> tuple[Snapshot, asyncio.Queue[Event], Callable[[], None]]:
        """A snapshot and a queue of every event after it; call the third item to stop."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue()
        entry = (loop, queue)
        # Holding the state lock while subscribing means no batch falls between the
        # snapshot and the first queued event.
        with self.state.lock:
            snapshot = self.view()
            with self._watch_lock:
                self._watchers.add(entry)

        def cancel() -> None:
            with self._watch_lock:
                self._watchers.discard(entry)

        return snapshot, queue, cancel

    def _on_applied(self, result: ApplyResult) -> None:
        if not result.events:
            return
        with self._watch_lock:
            watchers = list(self._watchers)
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Queue[Event]]] = {}
        for loop, queue in watchers:
            by_loop.setdefault(loop, []).append(queue)
        # One wake-up per loop and batch: call_soon_threadsafe writes to the loop's self-pipe,
        # and a write of 64 tasks seen by five loops would otherwise be 320 of them.
        for loop, queues in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, queues, result.events)
            except RuntimeError:  # the watchers' loop is closed
                with self._watch_lock:
                    self._watchers.difference_update((loop, q) for q in queues)


def _deliver(queues: list[asyncio.Queue[Event]], events: tuple[Event, ...]) -> None:
    for queue in queues:
        for event in events:
            queue.put_nowait(event)


async def write_chunked(
    store: Store, items: Sequence[T], write: Callable[[Tx, T], None], chunk: int = WRITE_CHUNK
) -> None:
    """Apply ``write`` to every item, ``chunk`` items per transaction."""
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]

        def fn(tx: Tx, part: Sequence[T] = part) -> None:
            for item in part:
                write(tx, item)

        await store.update(fn)

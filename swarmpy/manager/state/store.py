"""The cluster store: objects, optimistic transactions and change watches.

The state itself (``StoreState``) is a deterministic machine that applies batches of
operations; a replicated log (``Log``) decides the order in which every manager applies
them. ``Store`` is what the rest of the manager sees: ``view()`` for an immutable snapshot,
``update(fn)`` for a transaction (re-run on conflict), ``watch()`` for a snapshot plus the
events after it. Tables are typed constants (``TASKS: Table[Task]``), so ``tx.get(TASKS, id)``
is a ``Task | None``; inside a Raft entry a table is still its name, so logs written before
apply unchanged. The log can be Raft (``swarmpy.manager.state.raft``) or local (``LocalLog``,
used by unit tests and by nothing else), so everything above it runs without Raft.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Literal, Protocol, TypeVar

from swarmpy.errors import Conflict, NotFound
from swarmpy.model import Cluster, Config, Network, Node, Secret, Service, Task

log = logging.getLogger(__name__)

T = TypeVar("T")


class StoreObject(Protocol):
    @property
    def id(self) -> str: ...


Obj = TypeVar("Obj", bound=StoreObject)


# eq=False: there is one Table per kind, so identity is equality, and the loops compare
# every event's table (thousands a second at scale) as cheaply as they compared strings.
@dataclass(frozen=True, eq=False)
class Table(Generic[Obj]):
    """One kind of object in the store; ``Obj`` is the type of its rows."""

    # What Raft entries and snapshots carry: renaming one would orphan every logged write.
    name: str
    kind: str  # one row, in messages: "No such node"


NODES: Table[Node] = Table("nodes", "node")
SERVICES: Table[Service] = Table("services", "service")
TASKS: Table[Task] = Table("tasks", "task")
NETWORKS: Table[Network] = Table("networks", "network")
CLUSTERS: Table[Cluster] = Table("clusters", "cluster")
SECRETS: Table[Secret] = Table("secrets", "secret")
CONFIGS: Table[Config] = Table("configs", "config")
TABLES: tuple[Table[Any], ...] = (NODES, SERVICES, TASKS, NETWORKS, CLUSTERS, SECRETS, CONFIGS)
_BY_NAME: dict[str, Table[Any]] = {t.name: t for t in TABLES}


def table_named(name: str) -> Table[Any]:
    """The table an operation's name stands for."""
    return _BY_NAME[name]


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

    table: str  # a Table's name: entries stay plain data, readable by older and newer code
    id: str
    obj: Any | None
    expect: int | None = ANY_VERSION


Action = Literal["create", "update", "delete"]
ACTIONS: frozenset[Action] = frozenset(("create", "update", "delete"))


@dataclass(frozen=True)
class Event:
    action: Action
    table: Table[Any]
    obj: Any  # the new object, or the deleted one
    old: Any | None = None


@dataclass(frozen=True)
class ApplyResult:
    index: int
    ok: bool
    events: tuple[Event, ...] = ()
    conflict: str = ""


# A row deleted since a table's base copy (``_TableView``).
_GONE: Any = object()

# A change since a table's base copy: the row (or _GONE), its version, and whether it was
# (re)created, which moves it to the end of the table as in the live dict.
_Change = tuple[Any, int | None, bool]


class _TableView:
    """One table as of a snapshot: a copy shared by many snapshots, plus the rows changed
    since it was taken (a copy of their own, small). Copying the whole table for every
    snapshot after a write made each write cost O(rows): 90 us per write at 10,000 tasks."""

    def __init__(
        self,
        rows: dict[str, Any],
        versions: dict[str, int],
        changes: dict[str, _Change],
    ) -> None:
        self._rows = rows
        self._versions = versions
        self._changes = changes
        self._merged: dict[str, Any] | None = None if changes else rows

    def get(self, obj_id: str) -> Any | None:
        change = self._changes.get(obj_id)
        if change is None:
            return self._rows.get(obj_id)
        return None if change[0] is _GONE else change[0]

    def version(self, obj_id: str) -> int | None:
        change = self._changes.get(obj_id)
        if change is None:
            return self._versions.get(obj_id)
        return change[1]

    def merged(self) -> dict[str, Any]:
        """Every row, in the live table's order; built once per view, when first read."""
        if self._merged is None:
            merged = dict(self._rows)
            for obj_id, (obj, _, created) in self._changes.items():
                if obj is _GONE or created:
                    merged.pop(obj_id, None)
                if obj is not _GONE:
                    merged[obj_id] = obj
            self._merged = merged
        return self._merged


class Snapshot:
    """An immutable view of every table at one index."""

    def __init__(self, index: int, tables: dict[str, _TableView]) -> None:
        self.index = index
        self._tables = tables

    def get(self, table: Table[Obj], obj_id: str) -> Obj | None:
        obj: Obj | None = self._tables[table.name].get(obj_id)
        return obj

    def version(self, table: Table[Any], obj_id: str) -> int | None:
        return self._tables[table.name].version(obj_id)

    def all(self, table: Table[Obj]) -> list[Obj]:
        return list(self._tables[table.name].merged().values())

    def ids(self, table: Table[Any]) -> Iterator[str]:
        return iter(self._tables[table.name].merged())

    def cluster(self) -> Cluster | None:
        """The swarm's one cluster object (none before the first manager bootstraps it)."""
        clusters = self.all(CLUSTERS)
        return clusters[0] if clusters else None


def _add_missing_tables(
    tables: dict[str, dict[str, Any]], versions: dict[str, dict[str, int]]
) -> None:
    """A snapshot taken before a table existed has no entry for it: it is empty."""
    for table in TABLES:
        tables.setdefault(table.name, {})
        versions.setdefault(table.name, {})


class StoreState:
    """Tables of objects and their versions; changed only by ``apply``.

    ``apply`` must stay deterministic and idempotent-safe: under Raft it runs on every
    manager, on pysyncobj's thread, and a command that timed out on the caller's side may
    still commit. Readers on other threads take ``lock``.
    """

    def __init__(self) -> None:
        self.index = 0
        self.tables: dict[str, dict[str, Any]] = {t.name: {} for t in TABLES}
        self.versions: dict[str, dict[str, int]] = {t.name: {} for t in TABLES}
        self.lock = threading.RLock()
        self._forget_views()

    def _forget_views(self) -> None:
        # Per table: a copy of its rows and versions that snapshots share, the changes
        # since that copy, and the view of the current state (until the table changes).
        self._base: dict[str, tuple[dict[str, Any], dict[str, int]]] = {}
        self._changes: dict[str, dict[str, _Change]] = {}
        self._views: dict[str, _TableView] = {}

    # pysyncobj pickles the state for snapshots: the lock cannot travel.
    def __getstate__(self) -> dict[str, Any]:
        return {"index": self.index, "tables": self.tables, "versions": self.versions}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.index = state["index"]
        self.tables = state["tables"]
        self.versions = state["versions"]
        _add_missing_tables(self.tables, self.versions)
        self.lock = threading.RLock()
        self._forget_views()

    def snapshot(self) -> Snapshot:
        # A table is copied once, then shared by every snapshot; what changed since is
        # copied per snapshot (and shared until the next change), and once that grows past
        # the square root of the table, the table is copied again: O(sqrt(rows)) a write.
        with self.lock:
            views = self._views
            for name in self.tables:
                if name in views:
                    continue
                base = self._base.get(name)
                if base is None:
                    base = self._base[name] = (dict(self.tables[name]), dict(self.versions[name]))
                    self._changes[name] = {}
                views[name] = _TableView(*base, dict(self._changes[name]))
            return Snapshot(self.index, dict(views))

    def _changed(self, table: str, obj_id: str, change: _Change) -> None:
        """Record a change of a row for the snapshots (under the lock, from ``apply``)."""
        self._views.pop(table, None)
        changes = self._changes.get(table)
        if changes is None:  # no copy of the table yet: the next snapshot takes one
            return
        if len(changes) >= max(64, math.isqrt(len(self.tables[table]))):
            del self._base[table], self._changes[table]
            return
        if change[2]:
            changes.pop(obj_id, None)  # re-created: it moves to the end, as in the live dict
        else:
            previous = changes.get(obj_id)
            if previous is not None and previous[0] is not _GONE:
                change = (change[0], change[1], previous[2])
        changes[obj_id] = change

    def dump_copy(self) -> StoreState:
        """A copy for a dump another thread writes while this state goes on applying: the
        tables' dicts are copied, the objects in them (never changed in place) shared."""
        with self.lock:
            copy = StoreState.__new__(StoreState)
            copy.index = self.index
            copy.tables = {name: dict(rows) for name, rows in self.tables.items()}
            copy.versions = {name: dict(v) for name, v in self.versions.items()}
        return copy

    def replace_all(
        self, tables: dict[str, dict[str, Any]], versions: dict[str, dict[str, int]], index: int
    ) -> None:
        """Take over another state's contents (a Raft snapshot being installed)."""
        with self.lock:
            _add_missing_tables(tables, versions)
            self.tables, self.versions, self.index = tables, versions, index
            self._forget_views()

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
                table = table_named(op.table)
                rows = self.tables[op.table]
                old = rows.get(op.id)
                if op.obj is None:
                    if old is not None:
                        del rows[op.id]
                        del self.versions[op.table][op.id]
                        self._changed(op.table, op.id, (_GONE, None, False))
                        events.append(Event("delete", table, old))
                    continue
                rows[op.id] = op.obj
                self.versions[op.table][op.id] = index
                self._changed(op.table, op.id, (op.obj, index, old is None))
                events.append(Event("update" if old is not None else "create", table, op.obj, old))
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

    def get(self, table: Table[Obj], obj_id: str) -> Obj | None:
        key = (table.name, obj_id)
        if key in self._ops:
            obj: Obj | None = self._ops[key].obj
            return obj
        return self.snapshot.get(table, obj_id)

    def _expect(self, table: Table[Any], obj_id: str) -> int | None:
        version = self.snapshot.version(table, obj_id)
        return MUST_NOT_EXIST if version is None else version

    def create(self, table: Table[Obj], obj: Obj) -> None:
        self._ops[(table.name, obj.id)] = Op(table.name, obj.id, obj, MUST_NOT_EXIST)

    def put(self, table: Table[Obj], obj: Obj) -> None:
        """Write ``obj``; fails the transaction if it changed since the snapshot."""
        expect = self._expect(table, obj.id)
        self._ops[(table.name, obj.id)] = Op(table.name, obj.id, obj, expect)

    def delete(self, table: Table[Any], obj_id: str) -> None:
        expect = self._expect(table, obj_id)
        self._ops[(table.name, obj_id)] = Op(table.name, obj_id, None, expect)

    def replace(self, table: Table[Obj], obj_id: str, **changes: Any) -> Obj:
        """Put a copy of the current object with ``changes``; NotFound if it is gone."""
        current = self.get(table, obj_id)
        if current is None:
            raise NotFound(f"{table.kind} {obj_id} not found")
        updated: Obj = dataclasses.replace(current, **changes)  # type: ignore[type-var]
        self.put(table, updated)
        return updated


class Watch:
    """A snapshot and the events after it that pass the watch's filter.

    Read events with ``await get()``, ``pending()`` or ``async for``; ``close()`` (or leaving
    ``with``) ends the subscription.
    """

    def __init__(
        self,
        store: Store,
        snapshot: Snapshot,
        tables: frozenset[str],
        actions: frozenset[Action],
    ) -> None:
        self.snapshot = snapshot
        self.loop = asyncio.get_running_loop()
        self._store = store
        self._tables = tables
        self._actions = actions
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    def wants(self, event: Event) -> bool:
        return event.table.name in self._tables and event.action in self._actions

    async def get(self) -> Event:
        """The next event, waiting for one if none is queued."""
        return await self._queue.get()

    def pending(self) -> list[Event]:
        """Every event queued now, without waiting."""
        events = []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        return events

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()

    def close(self) -> None:
        self._store._unwatch(self)

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _deliver(self, events: Sequence[Event]) -> None:
        for event in events:
            self._queue.put_nowait(event)


class Store:
    """Snapshots, transactions and watches over a replicated log."""

    def __init__(self, replicated_log: Log) -> None:
        self.log = replicated_log
        self._watches: set[Watch] = set()
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

    def watch(self, *tables: Table[Any], actions: Collection[Action] = ACTIONS) -> Watch:
        """A snapshot and the events after it of ``tables`` (all if none) and ``actions``."""
        names = frozenset(t.name for t in tables or TABLES)
        # Holding the state lock while subscribing means no batch falls between the
        # snapshot and the first queued event.
        with self.state.lock:
            watch = Watch(self, self.view(), names, frozenset(actions))
            with self._watch_lock:
                self._watches.add(watch)
        return watch

    def _unwatch(self, watch: Watch) -> None:
        with self._watch_lock:
            self._watches.discard(watch)

    def _on_applied(self, result: ApplyResult) -> None:
        if not result.events:
            return
        with self._watch_lock:
            watches = list(self._watches)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Watch, list[Event]]]] = {}
        for watch in watches:
            # Filtered here, on the applying thread, so a loop is not woken for nothing.
            wanted = [e for e in result.events if watch.wants(e)]
            if wanted:
                by_loop.setdefault(watch.loop, []).append((watch, wanted))
        # One wake-up per loop and batch: call_soon_threadsafe writes to the loop's self-pipe,
        # and a write of 64 tasks seen by five loops would otherwise be 320 of them.
        for loop, deliveries in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, deliveries)
            except RuntimeError:  # the watches' loop is closed
                with self._watch_lock:
                    self._watches.difference_update(w for w, _ in deliveries)


def _deliver(deliveries: list[tuple[Watch, list[Event]]]) -> None:
    for watch, events in deliveries:
        watch._deliver(events)


async def write_chunked(
    store: Store,
    items: Sequence[T],
    write: Callable[[Tx, T], None],
    chunk: int = WRITE_CHUNK,
    parallel: int = 1,
) -> None:
    """Apply ``write`` to every item, ``chunk`` items per transaction, ``parallel``
    transactions in flight at once (only for items whose writes touch disjoint objects,
    or the transactions conflict and retry)."""
    parts = [items[start : start + chunk] for start in range(0, len(items), chunk)]

    async def one(part: Sequence[T]) -> None:
        def fn(tx: Tx) -> None:
            for item in part:
                write(tx, item)

        await store.update(fn)

    if parallel <= 1 or len(parts) <= 1:
        for part in parts:
            await one(part)
        return
    limit = asyncio.Semaphore(parallel)

    async def limited(part: Sequence[T]) -> None:
        async with limit:
            await one(part)

    results = await asyncio.gather(*(limited(p) for p in parts), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result

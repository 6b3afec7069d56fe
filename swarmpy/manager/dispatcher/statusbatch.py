"""Task status reports and node registrations of many nodes written together, as
SwarmKit's dispatcher does.

Every agent already batches its own reports, but a thousand agents reporting at once would
still be a thousand Raft entries, each applied on every manager and each invalidating the
snapshot every reader shares. Reports arriving within ``STATUS_BATCH_S`` of the first are
written as one batch (in chunks, so no Raft entry grows large), and every caller waits for
the write that carries its reports.

One batch is written at a time: what arrives while a batch commits waits for the next one,
where reports of the same task coalesce (the latest wins). So the leader takes reports at
the rate it commits them, however many agents send, and a slow commit makes the next batch
larger instead of adding writes that compete with it. A batch's chunks go to Raft
``WRITE_PARALLEL`` at a time: they touch disjoint objects, and Raft commits several entries
in flight together (group commit) much faster than one after another.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import time
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from swarmpy.errors import NotFound
from swarmpy.manager.state.store import NODES, TASKS, Store, Tx, write_chunked
from swarmpy.model import Node, Task, TaskStatus, now

STATUS_BATCH_S = 0.05
# Chunks of one batch in flight at once.
WRITE_PARALLEL = 4

Item = TypeVar("Item")

Report = tuple[str, str, TaskStatus]  # node id, task id, status


def received(status: TaskStatus, at: float) -> TaskStatus:
    """An agent's report as the managers keep it: stamped with when it arrived, on the
    manager's clock (whatever ``applied_at`` the agent sent is not its to set)."""
    return dataclasses.replace(status, applied_at=at)


def newer_statuses(tasks: dict[str, Task], reports: Iterable[Report]) -> list[Task]:
    """The tasks to write for ``reports``: a node's own tasks only, forward moves only,
    the latest report of each task winning."""
    changed: dict[str, Task] = {}
    for node_id, task_id, status in reports:
        task = changed.get(task_id) or tasks.get(task_id)
        if task is None or task.node_id != node_id:
            continue
        # A repeated report is no news: it must not move the time the managers saw it.
        same = status == dataclasses.replace(task.status, applied_at=status.applied_at)
        if status.state < task.status.state or same:
            continue
        changed[task_id] = dataclasses.replace(task, status=status, updated_at=now())
    return list(changed.values())


class _OneWriteInFlight(abc.ABC, Generic[Item]):
    """Gathers items from many callers and writes them in batches, one batch at a time;
    each caller waits for the batch that carries its items."""

    def __init__(self, store: Store, window_s: float) -> None:
        self.store = store
        self.window_s = window_s
        self._pending: list[Item] = []
        self._next: asyncio.Future[Any] | None = None
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0

    async def _submit(self, items: Iterable[Item]) -> Any:
        """Queue ``items``; returns what the write of their batch returned."""
        self._pending.extend(items)
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            # Read even if every caller gave up: no "exception never retrieved" noise.
            self._next.add_done_callback(lambda f: f.cancelled() or f.exception())
        flush = self._next
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_batches())
        # Shielded: one caller giving up must not cancel the write the others wait for.
        return await asyncio.shield(flush)

    async def _write_batches(self) -> None:
        while self._next is not None:
            await asyncio.sleep(self.window_s)
            items, self._pending = self._pending, []
            flush, self._next = self._next, None
            self.batches += 1
            try:
                outcome = await self._write(items)
            except Exception as exc:  # noqa: BLE001 - every waiting caller hears why
                flush.set_exception(exc)
            else:
                flush.set_result(outcome)

    @abc.abstractmethod
    async def _write(self, items: list[Item]) -> Any:
        """Write one batch."""


class StatusBatcher(_OneWriteInFlight[Report]):
    def __init__(self, store: Store, window_s: float = STATUS_BATCH_S) -> None:
        super().__init__(store, window_s)

    async def report(self, node_id: str, updates: Iterable[tuple[str, TaskStatus]]) -> None:
        """Queue a node's reports; returns once they are committed (or raises why not)."""
        at = now()
        await self._submit((node_id, task_id, received(status, at)) for task_id, status in updates)

    async def _write(self, reports: list[Report]) -> None:
        by_task: dict[str, list[Report]] = {}  # in the order tasks were first reported
        for report in reports:
            by_task.setdefault(report[1], []).append(report)

        def write(tx: Tx, task_id: str) -> None:
            task = tx.get(TASKS, task_id)
            if task is None:
                return
            for updated in newer_statuses({task_id: task}, by_task[task_id]):
                tx.put(TASKS, updated)

        await write_chunked(self.store, list(by_task), write, parallel=WRITE_PARALLEL)


Registration = tuple[str, dict[str, Any]]  # node id, the fields its agent described


class RegistrationBatcher(_OneWriteInFlight[Registration]):
    """Nodes opening sessions, written together: a node whose description changed gets it
    (and READY); an unchanged one (a reconnection) costs no write at all."""

    def __init__(self, store: Store, window_s: float = STATUS_BATCH_S) -> None:
        super().__init__(store, window_s)
        # Called with (nodes written, seconds the write took) after a batch that wrote any.
        self.on_registered: Any = None

    async def register(self, node_id: str, described: dict[str, Any]) -> None:
        """Write the node's description; NotFound if the swarm has no such node (removed)."""
        missing: set[str] = await self._submit([(node_id, described)])
        if node_id in missing:
            raise NotFound(f"node {node_id} is not part of this swarm (it was removed)")

    async def _write(self, registrations: list[Registration]) -> set[str]:
        started = time.monotonic()
        latest = dict(registrations)  # a node registering twice: its last session wins
        missing: set[str] = set()
        written: set[str] = set()

        def write(tx: Tx, node_id: str) -> None:
            node: Node | None = tx.get(NODES, node_id)
            if node is None:
                missing.add(node_id)
                return
            described = latest[node_id]
            if all(getattr(node, name) == value for name, value in described.items()):
                return  # a reconnection after a leader change: nothing to write
            tx.put(NODES, dataclasses.replace(node, **described, updated_at=now()))
            written.add(node_id)

        try:
            await write_chunked(self.store, list(latest), write, parallel=WRITE_PARALLEL)
        finally:
            # Only what was committed measures the commit rate: a batch of reconnections
            # that changed nothing took no time, and a rate taken from it (thousands a
            # second) would shrink every delay and grace derived from it to nothing.
            if self.on_registered is not None and written:
                self.on_registered(len(written), time.monotonic() - started)
        return missing

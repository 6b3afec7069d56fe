"""Task status reports of many nodes written together, as SwarmKit's dispatcher does.

Every agent already batches its own reports, but a thousand agents reporting at once would
still be a thousand Raft entries, each applied on every manager and each invalidating the
snapshot every reader shares. Reports arriving within ``STATUS_BATCH_S`` of the first are
written as one batch (in chunks, so no Raft entry grows large), and every caller waits for
the write that carries its reports.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable

from swarmpy.manager.state.store import TASKS, Store, Tx, write_chunked
from swarmpy.model import Task, TaskStatus, now

STATUS_BATCH_S = 0.05

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


class StatusBatcher:
    def __init__(self, store: Store, window_s: float = STATUS_BATCH_S) -> None:
        self.store = store
        self.window_s = window_s
        self._pending: list[Report] = []
        self._flush: asyncio.Future[None] | None = None

    async def report(self, node_id: str, updates: Iterable[tuple[str, TaskStatus]]) -> None:
        """Queue a node's reports; returns once they are committed (or raises why not)."""
        at = now()
        self._pending.extend(
            (node_id, task_id, received(status, at)) for task_id, status in updates
        )
        if self._flush is None:
            self._flush = asyncio.ensure_future(self._write_after_window())
        # Shielded: one caller giving up must not cancel the write the others wait for.
        await asyncio.shield(self._flush)

    async def _write_after_window(self) -> None:
        await asyncio.sleep(self.window_s)
        reports, self._pending, self._flush = self._pending, [], None
        by_task: dict[str, list[Report]] = {}  # in the order tasks were first reported
        for report in reports:
            by_task.setdefault(report[1], []).append(report)

        def write(tx: Tx, task_id: str) -> None:
            task = tx.get(TASKS, task_id)
            if task is None:
                return
            for updated in newer_statuses({task_id: task}, by_task[task_id]):
                tx.put(TASKS, updated)

        await write_chunked(self.store, list(by_task), write)

"""The task reaper: deletes tasks nobody needs to see any more.

Keeps each slot's recent history (``docker service ps`` shows it, and the restart policy
counts attempts from it) up to the cluster's ``task_history_limit``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from swarmpy.manager.controlloop import ControlLoop
from swarmpy.manager.state.store import CLUSTERS, SERVICES, TASKS, Event, Tx, write_chunked
from swarmpy.model import ServiceMode, Task, TaskState

log = logging.getLogger(__name__)

DEFAULT_HISTORY_LIMIT = 5
# A tick reads every task: while thousands of tasks start or end, one tick per half second
# (SwarmKit's reaper batches for 250 ms) instead of one per event batch.
REAPER_BATCH_S = 0.5


def _finished(task: Task) -> bool:
    """Ended, or never reached an agent, so no agent will report on it again."""
    return task.status.state.terminal or task.status.state < TaskState.ASSIGNED


def _slot(task: Task) -> tuple[str, int, str]:
    # A global task's slot is its node; a replicated job numbers its slots from 0.
    by_slot = task.slot or task.spec.mode == ServiceMode.REPLICATED_JOB
    return (task.service_id, task.slot, "" if by_slot else task.node_id)


def reap(tasks: Sequence[Task], service_ids: frozenset[str], history_limit: int) -> list[str]:
    """Ids of tasks to delete. A negative limit keeps all history."""
    doomed: list[str] = []
    slots: dict[tuple[str, int, str], list[Task]] = {}
    for task in tasks:
        if task.is_attachment:
            # No service, no history: DetachNetwork deletes it, the reaper only once the
            # orchestrator gave it up (its node was removed).
            if task.desired_state >= TaskState.REMOVE and _finished(task):
                doomed.append(task.id)
            continue
        removed = task.desired_state >= TaskState.REMOVE or task.service_id not in service_ids
        if removed and _finished(task):
            doomed.append(task.id)
        elif not removed:
            slots.setdefault(_slot(task), []).append(task)
    if history_limit < 0:
        return doomed
    for history in slots.values():
        history.sort(key=lambda t: (t.created_at, t.status.seen_at))
        # The newest task stays whatever its state: the restart policy reads it.
        ended = [t for t in history[:-1] if t.status.state.terminal]
        excess = len(ended) - history_limit
        if history[-1].status.state.terminal:
            excess += 1  # the newest one counts against the limit too
        doomed.extend(t.id for t in ended[: max(0, excess)])
    return doomed


class TaskReaper(ControlLoop):
    """Leader-only loop deleting old and removed tasks."""

    name = "taskreaper"
    tables = (CLUSTERS, SERVICES, TASKS)
    batch_window_s = REAPER_BATCH_S

    def wants(self, event: Event) -> bool:
        if event.table in (CLUSTERS,) or (event.table == SERVICES and event.action == "delete"):
            return True
        if event.table != TASKS or event.action == "delete":
            return False
        # A new or pending task makes nothing reapable: only an end, or a removal, does
        # (a removed service's tasks, which may be pending, arrive with desired REMOVE).
        task: Task = event.obj
        return task.status.state.terminal or task.desired_state >= TaskState.REMOVE

    async def tick(self, events: Sequence[Event]) -> float | None:
        snapshot = self.store.view()
        cluster = snapshot.cluster()
        limit = cluster.task_history_limit if cluster else DEFAULT_HISTORY_LIMIT
        services = frozenset(s.id for s in snapshot.all(SERVICES))
        doomed = reap(snapshot.all(TASKS), services, limit)

        def delete(tx: Tx, task_id: str) -> None:
            if tx.get(TASKS, task_id) is not None:
                tx.delete(TASKS, task_id)

        await write_chunked(self.store, doomed, delete)
        if doomed:
            log.debug("reaped %d tasks", len(doomed))
        return None

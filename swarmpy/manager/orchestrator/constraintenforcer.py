"""The constraint enforcer: tasks on a node that no longer fits them are rejected.

A node's description changes under its tasks: a daemon restarted with fewer generic resources
or less memory, a label removed with ``node update --label-rm``. The scheduler checked the node
only when it placed each task, so SwarmKit's constraint enforcer re-checks a node's tasks
whenever the node changes and marks those that no longer fit REJECTED ("assigned node no
longer meets constraints"). Only the observed state is set, as SwarmKit does: the desired
state belongs to the orchestrator, which then replaces the task under the restart policy
(elsewhere, or pending until a node fits) and has the agent stop it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence

from swarmpy import genericresource
from swarmpy.manager import constraint
from swarmpy.manager.constraint import Constraint
from swarmpy.manager.controlloop import ControlLoop
from swarmpy.manager.state.store import NODES, SERVICES, TASKS, Event, Tx, write_chunked
from swarmpy.model import Node, NodeAvailability, Service, Task, TaskState, now

log = logging.getLogger(__name__)

MESSAGE = "task rejected by constraint enforcer"
ERR = "assigned node no longer meets constraints"

# The node fields its tasks' fit depends on; a heartbeat or a state change alone moves none.
_FIT_FIELDS = ("availability", "labels", "resources", "hostname", "role")


@functools.lru_cache(maxsize=256)
def _parsed(exprs: tuple[str, ...]) -> tuple[Constraint, ...]:
    # A service's tasks share its constraints: parsed once, as the scheduler's filter does.
    return constraint.parse_stored(exprs)


def noncompliant(node: Node, tasks: Sequence[Task], services: Mapping[str, Service]) -> list[str]:
    """Ids of the tasks on ``node`` that it no longer fits (SwarmKit's
    rejectNoncompliantTasks). Each kept task's reservations are counted against what the node
    has, oldest first, so when it shrank the newest tasks are the ones rejected (SwarmKit's
    order is the store's, which is arbitrary)."""
    # A drained node loses all its tasks through the orchestrator; a paused one keeps them.
    if node.availability != NodeAvailability.ACTIVE:
        return []
    cpus = node.resources.nano_cpus
    memory = node.resources.memory_bytes
    generic = list(node.resources.generic)
    rejected: list[str] = []
    for task in sorted(tasks, key=lambda t: t.created_at):
        if task.node_id != node.id:
            continue
        if not TaskState.ASSIGNED <= task.desired_state <= TaskState.COMPLETE:
            continue
        # An ended task holds nothing (a finished job's task stays desired COMPLETE).
        if task.status.state.terminal:
            continue
        # The service's current constraints: an update changing only them leaves its tasks
        # running with the old ones in their specs.
        service = services.get(task.service_id)
        exprs = service.spec.constraints if service is not None else task.spec.constraints
        if exprs and not constraint.node_matches(_parsed(tuple(exprs)), node):
            rejected.append(task.id)
            continue
        reserved = task.spec.resources.reservations
        if reserved.memory_bytes > memory or reserved.nano_cpus > cpus:
            rejected.append(task.id)
            continue
        memory -= reserved.memory_bytes
        cpus -= reserved.nano_cpus
        if not all(genericresource.has_unit(generic, u) for u in task.assigned_generic_resources):
            # SwarmKit stops checking the node's other tasks here ("break loop"), leaving
            # them for its next change; each task is checked on its own merits instead.
            rejected.append(task.id)
            continue
        genericresource.consume(generic, task.assigned_generic_resources)
    return rejected


def rejected_running(task: Task) -> bool:
    """A task this loop rejected that its node has not been told to stop: its container runs
    on until the orchestrator says so."""
    return (
        task.status.state == TaskState.REJECTED
        and task.status.err == ERR
        and task.desired_state <= TaskState.COMPLETE
    )


def reject(tx: Tx, task_id: str, stamp: float) -> None:
    task: Task | None = tx.get(TASKS, task_id)
    # Stopped or ended meanwhile: nothing left to reject.
    if task is None or task.desired_state > TaskState.COMPLETE or task.status.state.terminal:
        return
    status = dataclasses.replace(
        task.status,
        state=TaskState.REJECTED,
        timestamp=stamp,
        applied_at=0.0,
        message=MESSAGE,
        err=ERR,
    )
    tx.put(TASKS, dataclasses.replace(task, status=status, updated_at=stamp))


def _fit_changed(event: Event) -> bool:
    old: Node | None = event.old
    return old is None or any(getattr(old, f) != getattr(event.obj, f) for f in _FIT_FIELDS)


class ConstraintEnforcer(ControlLoop):
    """Leader-only loop rejecting the tasks of nodes whose description no longer fits them:
    every node once when it starts leading, then each node that changes."""

    name = "constraintenforcer"
    tables = (NODES,)

    def wants(self, event: Event) -> bool:
        return event.action == "update" and _fit_changed(event)

    async def tick(self, events: Sequence[Event]) -> float | None:
        snapshot = self.store.view()
        node_ids = {e.obj.id for e in events} if events else None
        nodes = [n for n in snapshot.all(NODES) if node_ids is None or n.id in node_ids]
        if not nodes:
            return None
        by_node: dict[str, list[Task]] = {}
        for task in snapshot.all(TASKS):
            if node_ids is None or task.node_id in node_ids:
                by_node.setdefault(task.node_id, []).append(task)
        services = {s.id: s for s in snapshot.all(SERVICES)}
        doomed = [
            task_id for n in nodes for task_id in noncompliant(n, by_node.get(n.id, []), services)
        ]
        stamp = now()
        await write_chunked(self.store, doomed, lambda tx, t: reject(tx, t, stamp))
        if doomed:
            log.info("constraint enforcer: %d tasks rejected", len(doomed))
        return None

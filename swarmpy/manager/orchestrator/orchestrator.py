"""The orchestrator loop: services → tasks, for both service modes."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from swarmpy.manager.controlloop import ControlLoop
from swarmpy.manager.orchestrator.constraintenforcer import rejected_running
from swarmpy.manager.orchestrator.global_service import reconcile_global
from swarmpy.manager.orchestrator.jobs import reconcile_global_job, reconcile_replicated_job
from swarmpy.manager.orchestrator.reconcile import Plan, ServiceChange, Stop, retire_all
from swarmpy.manager.orchestrator.replicated import reconcile_replicated
from swarmpy.manager.orchestrator.update import UPDATES_IN_PROGRESS
from swarmpy.manager.state.store import (
    CLUSTERS,
    NODES,
    SERVICES,
    TASKS,
    Event,
    Snapshot,
    Store,
    Tx,
    write_chunked,
)
from swarmpy.model import (
    Node,
    NodeAvailability,
    NodeState,
    Service,
    ServiceMode,
    Task,
    TaskState,
    TaskStatus,
    now,
)

log = logging.getLogger(__name__)

# Node fields whose change can move tasks; heartbeats touching other fields do not.
_NODE_FIELDS = ("state", "availability", "labels", "role", "hostname")


_RECONCILERS = {
    ServiceMode.REPLICATED: reconcile_replicated,
    ServiceMode.GLOBAL: reconcile_global,
    ServiceMode.REPLICATED_JOB: reconcile_replicated_job,
    ServiceMode.GLOBAL_JOB: reconcile_global_job,
}


def plan_all(snapshot: Snapshot, at: float) -> list[Plan]:
    """Reconcile every service (and the tasks of deleted ones) over one snapshot."""
    nodes = snapshot.all(NODES)
    by_service: dict[str, list[Task]] = {}
    attachments: list[Task] = []
    for task in snapshot.all(TASKS):
        # A network attachment has no service: its node's engine made it and deletes it.
        if task.is_attachment:
            attachments.append(task)
        else:
            by_service.setdefault(task.service_id, []).append(task)
    plans: list[Plan] = []
    for service in snapshot.all(SERVICES):
        tasks = by_service.pop(service.id, [])
        plans.append(_RECONCILERS[service.spec.mode](service, tasks, nodes, at))
    node_ids = frozenset(n.id for n in nodes)
    plans.extend(retire_all(tasks, node_ids) for tasks in by_service.values())
    # ... unless its node is gone (`node rm`): then nobody will, and its address is held.
    orphans = [
        t for t in attachments if t.node_id not in node_ids and t.desired_state < TaskState.REMOVE
    ]
    if orphans:
        plans.append(Plan(stop=tuple(Stop(t.id, TaskState.REMOVE, True) for t in orphans)))
    # The constraint enforcer's rejections are told to stop at once, as SwarmKit's restart
    # supervisor shuts down every task that ended: their containers still run, and a restart
    # policy that gives up (or waits its delay) would leave them running.
    rejected = [t for t in snapshot.all(TASKS) if rejected_running(t)]
    if rejected:
        plans.append(Plan(stop=tuple(Stop(t.id, TaskState.SHUTDOWN) for t in rejected)))
    return plans


def _node_changed(old: Node | None, new: Node) -> bool:
    return old is None or any(getattr(old, f) != getattr(new, f) for f in _NODE_FIELDS)


def _task_changed(old: Task | None, new: Task) -> bool:
    if old is None or old.desired_state != new.desired_state or old.node_id != new.node_id:
        return True
    if old.status.state == new.status.state:
        return False
    # Only the moves that can change a decision: a task starts running (a rolling update
    # waits for it) or ends (restart policy). A reconcile reads every task, and a service of
    # thousands reports ACCEPTED, PREPARING... for each one.
    return new.status.state == TaskState.RUNNING or new.status.state.terminal


def _updating(service: Service) -> bool:
    status = service.update_status
    return status is not None and status.state in UPDATES_IN_PROGRESS


def _fit(node: Node) -> bool:
    return node.state != NodeState.DOWN and node.availability != NodeAvailability.DRAIN


def stop_task(tx: Tx, stop: Stop, stamp: float) -> None:
    task: Task | None = tx.get(TASKS, stop.task_id)
    if task is None or task.desired_state >= stop.desired:
        return
    status = task.status
    if not status.state.terminal:
        # No agent holds an unassigned task, nor one on a node that left: the manager
        # records the end itself, or the task would wait forever.
        if status.state < TaskState.ASSIGNED:
            status = TaskStatus(TaskState.SHUTDOWN, stamp, "shutdown before assignment")
        elif stop.orphaned:
            status = dataclasses.replace(
                status, state=TaskState.ORPHANED, timestamp=stamp, message="node removed"
            )
    tx.put(
        TASKS,
        dataclasses.replace(task, desired_state=stop.desired, status=status, updated_at=stamp),
    )


def start_task(tx: Tx, task_id: str, stamp: float) -> None:
    task: Task | None = tx.get(TASKS, task_id)
    if task is not None and task.desired_state == TaskState.READY:
        tx.put(TASKS, dataclasses.replace(task, desired_state=TaskState.RUNNING, updated_at=stamp))


def change_service(tx: Tx, change: ServiceChange) -> None:
    # A user update in between wins: the next tick re-plans over it.
    if tx.get(SERVICES, change.seen.id) == change.seen:
        tx.put(SERVICES, change.new)


class Orchestrator(ControlLoop):
    """Leader-only loop keeping every service's tasks as its spec says."""

    name = "orchestrator"
    tables = (SERVICES, CLUSTERS, NODES, TASKS)

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        # What ``wants`` needs to tell a task event that can change a decision from one
        # that cannot, without a snapshot per event: set from each tick's snapshot and
        # kept current by the events in between (they arrive in the store's order).
        self._services_updating: set[str] = set()
        self._fit_nodes: set[str] = set()

    def wants(self, event: Event) -> bool:
        if event.table == SERVICES:
            self._services_updating.discard(event.obj.id)
            if event.action != "delete" and _updating(event.obj):
                self._services_updating.add(event.obj.id)
            return True
        if event.table == CLUSTERS:
            return True
        if event.table == NODES:
            self._fit_nodes.discard(event.obj.id)
            if event.action != "delete" and _fit(event.obj):
                self._fit_nodes.add(event.obj.id)
            return event.action == "delete" or _node_changed(event.old, event.obj)
        if event.table == TASKS:
            return event.action == "delete" or self._task_matters(event.old, event.obj)
        return False

    def _task_matters(self, old: Task | None, new: Task) -> bool:
        """Whether a task's change can change a plan. Not the orchestrator's own creations,
        nor the scheduler placing a task on a node fit to run it, nor a task starting to
        run outside a rolling update: at 100,000 tasks each of those woke a reconcile of
        the whole store (0.4 s), and the orchestrator was a fifth of the leader's busy loop
        while a big service converged (py-spy, bench/README.md)."""
        if new.node_id and new.node_id not in self._fit_nodes and not new.is_attachment:
            # Placed (or created) on a node that went down, was drained or removed before
            # the placement committed: the tick that saw the node go missed this task.
            return old is None or _task_changed(old, new)
        if old is None:
            return False
        if old.desired_state != new.desired_state:
            return True
        if old.status.state == new.status.state:
            return False
        if new.status.state == TaskState.RUNNING:
            # A rolling update (start-first or not) waits for its new tasks to run.
            return new.service_id in self._services_updating
        return new.status.state.terminal

    async def tick(self, events: Sequence[Event]) -> float | None:
        stamp = now()
        snapshot = self.store.view()
        self._services_updating = {s.id for s in snapshot.all(SERVICES) if _updating(s)}
        self._fit_nodes = {n.id for n in snapshot.all(NODES) if _fit(n)}
        plans = plan_all(snapshot, stamp)
        creates = [t for p in plans for t in p.create]
        stops = [s for p in plans for s in p.stop]
        starts = [task_id for p in plans for task_id in p.start]
        changes = [p.service for p in plans if p.service is not None]
        # Stops first: a replacement never runs beside the task it replaces for long.
        await write_chunked(self.store, stops, lambda tx, s: stop_task(tx, s, stamp))
        await write_chunked(self.store, starts, lambda tx, t: start_task(tx, t, stamp))
        await write_chunked(self.store, creates, lambda tx, t: tx.create(TASKS, t))
        await write_chunked(self.store, changes, change_service)
        if creates or stops:
            log.debug("orchestrator: %d tasks created, %d stopped", len(creates), len(stops))
        return min((p.wake_at for p in plans if p.wake_at is not None), default=None)

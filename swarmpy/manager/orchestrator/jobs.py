"""Jobs (``--mode replicated-job`` and ``global-job``): tasks run to completion, once.

As SwarmKit's manager/orchestrator/jobs: a job's tasks are created with desired state
COMPLETE; only the tasks of the service's current job iteration count (every update of a
job starts the next one, and the still-running tasks of earlier ones are removed); a task
that completes is never run again, one that fails is restarted under the restart policy
(``any`` acts as ``on-failure``: a completed job task is done).

- A replicated job has slots 0..TotalCompletions-1 (``spec.replicas``; numbered from 0 as
  SwarmKit does, which Docker's CLI relies on when it draws a job's progress, and so names
  the slot-0 task after its node as Docker shows it) and runs at most MaxConcurrent
  (``spec.max_concurrent``) of them at once, counting a failed slot that waits for its
  restart delay, until every slot holds a completed task.
- A global job runs one task on every node that matches the constraints and takes new
  tasks, including nodes that join later; a drained or down node's task is shut down and
  run again should the node come back.

A slot whose restart policy gives up (``none``, or max attempts spent) stays failed and is
not handed to another slot: the job then never reaches its completions, which ``service
ls`` shows (SwarmKit would start a fresh task in the slot at once, ignoring the policy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from swarmpy.manager import constraint
from swarmpy.manager.controlapi.validate import MAX_REPLICAS
from swarmpy.manager.orchestrator.reconcile import Plan, Stop
from swarmpy.manager.orchestrator.restart import new_task, restart_at, runnable
from swarmpy.manager.scheduler.filters import accepts_new_tasks
from swarmpy.model import Node, NodeAvailability, NodeState, Service, Task, TaskState


def iteration(service: Service) -> int:
    return service.job_status.iteration if service.job_status else 0


@dataclass
class _Builder:
    """The plan under construction, shared by both modes."""

    service: Service
    now: float
    nodes: dict[str, Node]
    stops: dict[str, Stop] = field(default_factory=dict)
    creates: list[Task] = field(default_factory=list)
    wakes: list[float] = field(default_factory=list)

    def stop(self, task: Task, desired: TaskState) -> None:
        if task.desired_state < desired:
            gone = bool(task.node_id) and task.node_id not in self.nodes
            self.stops[task.id] = Stop(task.id, desired, gone)

    def create(self, slot: int, node_id: str) -> None:
        self.creates.append(
            new_task(
                self.service,
                slot,
                node_id,
                self.now,
                TaskState.COMPLETE,
                job_iteration=iteration(self.service),
            )
        )

    def plan(self) -> Plan:
        return Plan(
            create=tuple(self.creates),
            stop=tuple(self.stops.values()),
            wake_at=min(self.wakes, default=None),
        )


@dataclass(frozen=True)
class SlotState:
    """Where one slot of the current iteration stands."""

    done: bool = False  # a task of it completed
    active: bool = False  # a task runs, or is to be started (now or after the restart delay)
    restart: bool = False  # start its next task now
    wake_at: float | None = None
    gave_up: bool = False  # the restart policy will not run it again


def slot_state(service: Service, history: Sequence[Task], now: float) -> SlotState:
    """``history``: the slot's tasks of the current iteration, oldest first, as the manager
    will have them once this plan's stops are applied."""
    if any(t.status.state == TaskState.COMPLETE for t in history):
        return SlotState(done=True)
    if not history:
        return SlotState()
    if any(runnable(t) for t in history):
        return SlotState(active=True)
    at = restart_at(service.spec.restart, history, now)
    if at is None:
        return SlotState(gave_up=True)
    if at <= now:
        return SlotState(active=True, restart=True)
    return SlotState(active=True, wake_at=at)


def _split(service: Service, tasks: Sequence[Task], b: _Builder) -> list[Task]:
    """The current iteration's tasks; an earlier iteration's live ones are removed."""
    current = iteration(service)
    mine = []
    for task in sorted(tasks, key=lambda t: t.created_at):
        if task.job_iteration == current:
            mine.append(task)
        elif task.status.state <= TaskState.RUNNING:
            b.stop(task, TaskState.REMOVE)
    return mine


def _as_planned(history: Sequence[Task], b: _Builder) -> list[Task]:
    """Tasks stopped in this very plan count as stopped by the manager."""
    return [
        replace(t, desired_state=b.stops[t.id].desired) if t.id in b.stops else t for t in history
    ]


def _end(history: Sequence[Task], b: _Builder) -> None:
    """The slot's ended tasks stay as history, desired Shutdown as SwarmKit's restart
    supervisor leaves them (whether or not it starts another)."""
    for task in history:
        if task.status.state.terminal:
            b.stop(task, TaskState.SHUTDOWN)


def _restart(history: Sequence[Task], b: _Builder, slot: int, node_id: str) -> None:
    _end(history, b)
    b.create(slot, node_id)


def _evicted(nodes: dict[str, Node]) -> Callable[[Task], bool]:
    def evicted(task: Task) -> bool:
        if not task.node_id:
            return False
        node = nodes.get(task.node_id)
        return (
            node is None
            or node.state == NodeState.DOWN
            or node.availability == NodeAvailability.DRAIN
        )

    return evicted


def reconcile_replicated_job(
    service: Service, tasks: Sequence[Task], nodes: Sequence[Node], now: float
) -> Plan:
    b = _Builder(service, now, {n.id: n for n in nodes})
    evicted = _evicted(b.nodes)
    by_slot: dict[int, list[Task]] = {}
    for task in _split(service, tasks, b):
        if runnable(task) and evicted(task):
            b.stop(task, TaskState.SHUTDOWN)  # moves: restarted elsewhere, no delay
        by_slot.setdefault(task.slot, []).append(task)
    total = min(service.spec.replicas, MAX_REPLICAS)
    active = 0
    free: list[int] = []
    for slot in range(total):
        history = _as_planned(by_slot.get(slot, []), b)
        state = slot_state(service, history, now)
        if state.wake_at is not None:
            b.wakes.append(state.wake_at)
        if state.active:
            active += 1
        elif not state.done and not history:
            free.append(slot)
        if state.restart:
            _restart(history, b, slot, "")
        elif state.gave_up:
            _end(history, b)
    for slot in free[: max(0, service.spec.max_concurrent - active)]:
        b.create(slot, "")
    return b.plan()


def reconcile_global_job(
    service: Service, tasks: Sequence[Task], nodes: Sequence[Node], now: float
) -> Plan:
    b = _Builder(service, now, {n.id: n for n in nodes})
    evicted = _evicted(b.nodes)
    by_node: dict[str, list[Task]] = {}
    for task in _split(service, tasks, b):
        if runnable(task) and evicted(task):
            # A node that left the cluster takes its task's history along.
            b.stop(task, TaskState.SHUTDOWN if task.node_id in b.nodes else TaskState.REMOVE)
        by_node.setdefault(task.node_id, []).append(task)
    constraints = constraint.parse_stored(service.spec.constraints)
    for node in nodes:
        if not accepts_new_tasks(node) or not constraint.node_matches(constraints, node):
            continue
        history = _as_planned(by_node.get(node.id, []), b)
        state = slot_state(service, history, now)
        if state.wake_at is not None:
            b.wakes.append(state.wake_at)
        if state.restart:
            _restart(history, b, 0, node.id)
        elif state.gave_up:
            _end(history, b)
        elif not history:
            b.create(0, node.id)
    return b.plan()

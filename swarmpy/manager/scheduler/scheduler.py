"""The scheduler: PENDING tasks → ASSIGNED to a node (or left PENDING with the reason why)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import NamedTuple

from swarmpy.manager import constraint
from swarmpy.manager.controlloop import ControlLoop
from swarmpy.manager.scheduler.filters import (
    Filter,
    NodeLoad,
    default_filters,
    explain,
    first_failing,
)
from swarmpy.manager.scheduler.spread import SpreadHeap, spread_key
from swarmpy.manager.state.store import NODES, TASKS, Event, Tx, write_chunked
from swarmpy.model import GenericResource, Node, Task, TaskState, TaskStatus, now

log = logging.getLogger(__name__)

ASSIGNED_MESSAGE = "scheduler assigned task to node"


class Schedule(NamedTuple):
    assignments: dict[str, str]  # task id → node id
    unschedulable: dict[str, str]  # task id → reason
    # task id → the generic resources it takes on its node (tasks that take some)
    generic: dict[str, tuple[GenericResource, ...]]


def occupies_node(task: Task) -> bool:
    """Does this task count against its node's load (it was placed and has not ended)?"""
    return bool(task.node_id) and TaskState.ASSIGNED <= task.status.state < TaskState.COMPLETE


def node_loads(nodes: Sequence[Node], all_tasks: Sequence[Task]) -> dict[str, NodeLoad]:
    loads = {node.id: NodeLoad(node) for node in nodes}
    for task in all_tasks:
        load = loads.get(task.node_id)
        if load is not None and occupies_node(task):
            load.add(task)
    return loads


def schedule(
    tasks: Sequence[Task],
    nodes: Sequence[Node],
    all_tasks: Sequence[Task],
    filters: Sequence[Filter] | None = None,
) -> Schedule:
    """Place a batch of pending tasks; pure, so it can be tested and benchmarked alone.

    Tasks of one service and spec version share their constraints and reservations, so the
    filters run over every node once per such group; placing each task is then a heap pop.
    """
    filters = default_filters() if filters is None else filters
    loads = node_loads(nodes, all_tasks)
    result = Schedule({}, {}, {})
    groups: dict[tuple[str, int], list[Task]] = {}
    for task in tasks:
        if task.is_attachment and task.node_id in loads:
            # A standalone container's place on an overlay: its node asked for it and runs
            # the container already (drained or not); it reserves nothing.
            result.assignments[task.id] = task.node_id
        elif task.node_id:
            _place_preassigned(task, loads, filters, result)
        else:
            groups.setdefault((task.service_id, task.spec_version), []).append(task)
    for group in groups.values():
        _place_group(group, loads, filters, result)
    return result


def _place(task: Task, load: NodeLoad, result: Schedule) -> None:
    claimed = load.place(task)
    if claimed:
        result.generic[task.id] = claimed
    result.assignments[task.id] = load.node.id


def _place_preassigned(
    task: Task, loads: dict[str, NodeLoad], filters: Sequence[Filter], result: Schedule
) -> None:
    """A global service's task names its node: only check that node still fits."""
    load = loads.get(task.node_id)
    failed = 0 if load is None else first_failing(filters, load.node, task, load)
    if failed < 0 and load is not None:
        _place(task, load, result)
    else:
        result.unschedulable[task.id] = explain(filters, {failed: 1})


def _place_group(
    group: list[Task], loads: dict[str, NodeLoad], filters: Sequence[Filter], result: Schedule
) -> None:
    first = group[0]
    failures: dict[int, int] = {}
    fitting: list[NodeLoad] = []
    for load in loads.values():
        failed = first_failing(filters, load.node, first, load)
        if failed < 0:
            fitting.append(load)
        else:
            failures[failed] = failures.get(failed, 0) + 1
    if first.spec.placement_prefs:
        _place_preferred(group, fitting, filters, failures, result)
        return
    heap = SpreadHeap(first.service_id, fitting)
    for task in group:
        placed = False
        while heap and not placed:
            load = heap.pop()
            # Only this group's own placements changed the node since the first check
            # (its reservations), so a node that stops fitting is dropped for the group.
            failed = first_failing(filters, load.node, task, load)
            if failed >= 0:
                failures[failed] = failures.get(failed, 0) + 1
                continue
            _place(task, load, result)
            heap.push(load)
            placed = True
        if not placed:
            result.unschedulable[task.id] = explain(filters, failures)


def preferred(loads: Sequence[NodeLoad], prefs: Sequence[str], service_id: str) -> list[NodeLoad]:
    """Docker's placement preferences (``spread=node.labels.zone``): level by level, the
    nodes of the attribute value whose nodes run the fewest of the service's tasks (nodes
    without the attribute are one more value, ""), so tasks divide evenly over the values."""
    candidates = list(loads)
    for pref in prefs:
        groups: dict[str, list[NodeLoad]] = {}
        for load in candidates:
            groups.setdefault(constraint.node_attribute(pref, load.node), []).append(load)
        _, candidates = min(
            groups.items(),
            key=lambda item: (sum(x.tasks_by_service.get(service_id, 0) for x in item[1]), item[0]),
        )
    return candidates


def _place_preferred(
    group: list[Task],
    fitting: list[NodeLoad],
    filters: Sequence[Filter],
    failures: dict[int, int],
    result: Schedule,
) -> None:
    """Place a group with placement preferences: the value to spread to first, then the
    least loaded node there (a scan per task: preferences are for a handful of zones)."""
    first = group[0]
    for task in group:
        live = []
        for load in fitting:
            failed = first_failing(filters, load.node, task, load)
            if failed >= 0:
                failures[failed] = failures.get(failed, 0) + 1
            else:
                live.append(load)
        fitting = live
        if not live:
            result.unschedulable[task.id] = explain(filters, failures)
            continue
        chosen = min(
            preferred(live, first.spec.placement_prefs, first.service_id),
            key=lambda load: spread_key(load, first.service_id),
        )
        _place(task, chosen, result)


def schedulable(task: Task) -> bool:
    return task.status.state == TaskState.PENDING and task.desired_state <= TaskState.COMPLETE


class Scheduler(ControlLoop):
    """Leader-only loop: schedules every pending task whenever placement could change."""

    name = "scheduler"
    tables = (NODES, TASKS)

    def wants(self, event: Event) -> bool:
        if event.table == NODES:
            return True
        if event.table != TASKS:
            return False
        task: Task = event.obj
        if event.action == "delete":
            return True  # its node has room again
        old: Task | None = event.old
        became_pending = schedulable(task) and (old is None or not schedulable(old))
        ended = task.status.state.terminal and (old is None or not old.status.state.terminal)
        return became_pending or ended

    async def tick(self, events: Sequence[Event]) -> float | None:
        snapshot = self.store.view()
        all_tasks = snapshot.all(TASKS)
        pending = [t for t in all_tasks if schedulable(t)]
        if not pending:
            return None
        decided = schedule(pending, snapshot.all(NODES), all_tasks)
        # Only write a reason that changed: an unchanged write would just wake us again.
        errors = [
            (t.id, decided.unschedulable[t.id])
            for t in pending
            if t.id in decided.unschedulable and t.status.err != decided.unschedulable[t.id]
        ]
        stamp = now()

        def assign(tx: Tx, item: tuple[str, str]) -> None:
            task_id, node_id = item
            task: Task | None = tx.get(TASKS, task_id)
            if task is None or not schedulable(task):
                return
            status = TaskStatus(TaskState.ASSIGNED, stamp, ASSIGNED_MESSAGE)
            generic = decided.generic.get(task_id, ())
            tx.put(
                TASKS,
                dataclasses.replace(
                    task, node_id=node_id, status=status, assigned_generic_resources=generic
                ),
            )

        def keep_pending(tx: Tx, item: tuple[str, str]) -> None:
            task_id, reason = item
            task: Task | None = tx.get(TASKS, task_id)
            if task is None or not schedulable(task):
                return
            status = dataclasses.replace(task.status, err=reason, timestamp=stamp)
            tx.put(TASKS, dataclasses.replace(task, status=status))

        await write_chunked(self.store, list(decided.assignments.items()), assign)
        await write_chunked(self.store, errors, keep_pending)
        if decided.unschedulable:
            log.debug("%d tasks left pending", len(decided.unschedulable))
        return None

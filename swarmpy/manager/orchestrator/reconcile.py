"""What replicated and global services share: slots, restarts, evictions, updates.

A *slot* is where one task of a service should run: a replica number for a replicated
service, a node id for a global one. The mode-specific modules say which slots are wanted;
this module turns that into a ``Plan`` of tasks to create and tasks to stop.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from swarmpy.manager.orchestrator.restart import ended_by_itself, new_task, restart_at, runnable
from swarmpy.manager.orchestrator.update import plan_update
from swarmpy.model import Service, Task, TaskState, UpdateOrder

SlotKey = Hashable


@dataclass(frozen=True)
class Stop:
    task_id: str
    desired: TaskState  # SHUTDOWN (stop, keep in history) or REMOVE (stop, then delete)
    orphaned: bool = False  # its node is gone: nobody will ever report it stopped


@dataclass(frozen=True)
class ServiceChange:
    seen: Service  # applied only if the service is still exactly this
    new: Service


@dataclass(frozen=True)
class Plan:
    create: tuple[Task, ...] = ()
    stop: tuple[Stop, ...] = ()
    start: tuple[str, ...] = ()  # tasks parked at desired READY that may run now
    service: ServiceChange | None = None
    wake_at: float | None = None  # reconcile again then (restart delay, update delay)


@dataclass(frozen=True)
class Slots:
    """The mode's answer to "where should this service's tasks be"."""

    key: Callable[[Task], SlotKey]
    keep: frozenset[SlotKey]  # slots whose running task stays
    create_on: Mapping[SlotKey, tuple[int, str]]  # slots that may get a new task: (slot, node)
    retire: Callable[[SlotKey], TaskState]  # desired state for tasks of unwanted slots
    evicted: Callable[[Task], bool]  # a live task that must move elsewhere (node down, drain)
    orphaned: Callable[[Task], bool]  # the task's node no longer exists


def reconcile_slots(service: Service, tasks: Sequence[Task], slots: Slots, now: float) -> Plan:
    by_slot: dict[SlotKey, list[Task]] = {}
    for task in sorted(tasks, key=lambda t: t.created_at):
        by_slot.setdefault(slots.key(task), []).append(task)
    stops: dict[str, Stop] = {}
    creates: list[Task] = []
    starts: list[str] = []
    wakes: list[float] = []

    def stop(task: Task, desired: TaskState) -> None:
        if task.desired_state < desired:
            stops[task.id] = Stop(task.id, desired, slots.orphaned(task))

    for key, history in by_slot.items():
        if key not in slots.keep:
            retire = slots.retire(key)
            for task in history:
                # Ended tasks too, as SwarmKit's shutdownTask: one rejected by the constraint
                # enforcer still runs its container until told to stop. Removal also marks
                # ended tasks, so the reaper deletes the slot's history.
                stop(task, retire)

    live: dict[SlotKey, Task] = {}
    for key in slots.keep:
        history = by_slot.get(key, [])
        if len(history) == 1 and runnable(history[0]) and not slots.evicted(history[0]):
            # Most slots of a big service, most of the time: one task that runs on. What the
            # general path below decides for it, without its lists (a third of a tick at
            # 100,000 tasks).
            live[key] = history[0]
            if history[0].desired_state == TaskState.READY:
                starts.append(history[0].id)
            continue
        for task in history:
            if runnable(task) and slots.evicted(task):
                stop(task, TaskState.SHUTDOWN)
        running = [t for t in history if runnable(t) and t.id not in stops]
        for extra in running[:-1]:  # a slot runs one task: keep the newest
            if not _outlives(extra, running[-1]):
                stop(extra, TaskState.SHUTDOWN)
        if running:
            newest = running[-1]
            live[key] = newest
            if newest.desired_state == TaskState.READY and not any(
                _occupies(t, slots) for t in history if t is not newest
            ):
                starts.append(newest.id)  # stop-first: its predecessor has stopped
            continue
        if key not in slots.create_on:
            continue
        if history and history[-1].id in stops and not ended_by_itself(history[-1]):
            # Its newest task stopped in this very plan (node down, drain): stopped by the
            # manager, so the slot is moving, not failing, as ``restart_at`` says of such a
            # task. Decided here rather than over a copy of the history with that task's
            # new desired state: 60,000 copies were a quarter of the reconcile that moved
            # the tasks of 1,500 nodes gone down at once.
            at: float | None = now
        else:
            at = restart_at(service.spec.restart, history, now)
        if at is not None and at <= now:
            # The ended tasks of the slot stay as history; docker shows them as Shutdown.
            for task in history:
                if task.status.state.terminal and task.id not in stops:
                    stop(task, TaskState.SHUTDOWN)
            creates.append(new_task(service, *slots.create_on[key], now))
        elif at is not None:
            wakes.append(at)

    update = plan_update(service, live, tasks, now)
    start_first = update.order == UpdateOrder.START_FIRST
    for task in update.replace:
        key = slots.key(task)
        if key not in slots.create_on:
            stop(task, TaskState.SHUTDOWN)
        elif start_first:
            # The old task runs on until its replacement does (``_outlives``).
            creates.append(new_task(service, *slots.create_on[key], now))
        else:
            # Docker's default: the replacement is prepared (image pulled) but waits at
            # READY until the old task has stopped, then is started.
            stop(task, TaskState.SHUTDOWN)
            creates.append(new_task(service, *slots.create_on[key], now, TaskState.READY))
    if update.wake_at is not None:
        wakes.append(update.wake_at)
    change = ServiceChange(service, update.service) if update.service is not None else None
    return Plan(
        tuple(creates), tuple(stops.values()), tuple(starts), change, min(wakes, default=None)
    )


def _outlives(older: Task, newest: Task) -> bool:
    """A start-first update: the task being replaced keeps running until its replacement
    (a newer spec) runs."""
    return newest.spec_version > older.spec_version and newest.status.state < TaskState.RUNNING


def _occupies(task: Task, slots: Slots) -> bool:
    """The task may still be running in its slot (a stop-first replacement waits for it).
    One whose node is down or gone will never report that it stopped."""
    return not task.status.state.terminal and not slots.orphaned(task) and not slots.evicted(task)


def retire_all(tasks: Sequence[Task], node_ids: frozenset[str]) -> Plan:
    """The service is gone: every task is to be stopped and deleted."""
    return Plan(
        stop=tuple(
            Stop(t.id, TaskState.REMOVE, bool(t.node_id) and t.node_id not in node_ids)
            for t in tasks
            if t.desired_state < TaskState.REMOVE
        )
    )

"""Which store events wake the orchestrator: each wake is a reconcile of every task, so a
task's change wakes it only when it can change a plan."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from swarmpy.manager.orchestrator.orchestrator import Orchestrator
from swarmpy.manager.state.store import (
    CLUSTERS,
    NODES,
    SERVICES,
    TASKS,
    Event,
    LocalLog,
    Store,
    Tx,
)
from swarmpy.model import (
    Cluster,
    NodeAvailability,
    NodeState,
    Service,
    Task,
    TaskState,
    TaskStatus,
    UpdateState,
    UpdateStatus,
)
from tests.support.builders import node, service, task

UPDATING = UpdateStatus(UpdateState.UPDATING, 1.0, 0.0, "update in progress", 1)


def _orchestrator(*services: Service) -> Orchestrator:
    """An orchestrator that has ticked once over nodes n1 (ready), n2 (down), n3 (drained)
    (ids id-n1...)."""

    async def main() -> Orchestrator:
        store = Store(LocalLog())

        def create(tx: Tx) -> None:
            tx.create(CLUSTERS, Cluster(id="c1"))
            tx.create(NODES, node("n1"))
            tx.create(NODES, node("n2", state=NodeState.DOWN))
            tx.create(NODES, node("n3", availability=NodeAvailability.DRAIN))
            for svc in services:
                tx.create(SERVICES, svc)

        await store.update(create)
        orchestrator = Orchestrator(store)
        await orchestrator.tick(())
        return orchestrator

    return asyncio.run(main())


def _update(old: Task, **changes: Any) -> Event:
    return Event("update", TASKS, dataclasses.replace(old, **changes), old)


def _status(state: TaskState) -> TaskStatus:
    return TaskStatus(state, 2.0, "agent")


def test_a_converging_service_does_not_wake_the_orchestrator() -> None:
    """Created, placed on a fit node, started: none of it changes a plan, and at 100,000
    tasks each of these woke a reconcile of every task."""
    web = service("web", replicas=3)
    orchestrator = _orchestrator(web)
    new = task(web)
    assert not orchestrator.wants(Event("create", TASKS, new))
    placed = dataclasses.replace(new, node_id="id-n1", status=_status(TaskState.ASSIGNED))
    assert not orchestrator.wants(Event("update", TASKS, placed, new))
    assert not orchestrator.wants(_update(placed, status=_status(TaskState.RUNNING)))


def test_what_can_change_a_plan_wakes_it() -> None:
    web = service("web", replicas=3)
    rolling = dataclasses.replace(service("api", replicas=3), update_status=UPDATING)
    orchestrator = _orchestrator(web, rolling)
    running = task(web, node_id="id-n1", state=TaskState.RUNNING)
    # Ended (restart policy), told to stop, deleted.
    assert orchestrator.wants(_update(running, status=_status(TaskState.FAILED)))
    assert orchestrator.wants(_update(running, desired_state=TaskState.SHUTDOWN))
    assert orchestrator.wants(Event("delete", TASKS, running))
    # Started while its service's update waits for it.
    starting = task(rolling, node_id="id-n1", state=TaskState.STARTING)
    assert orchestrator.wants(_update(starting, status=_status(TaskState.RUNNING)))
    # Placed on a node that went down or was drained before the placement committed.
    new = task(web)
    assert orchestrator.wants(_update(new, node_id="id-n2"))
    assert orchestrator.wants(_update(new, node_id="id-n3"))


def test_the_events_in_between_ticks_keep_its_view_current() -> None:
    web = service("web", replicas=3)
    orchestrator = _orchestrator(web)
    n1 = node("n1")
    # n1 goes down: a placement on it after that matters; back up, it does not.
    assert orchestrator.wants(
        Event("update", NODES, dataclasses.replace(n1, state=NodeState.DOWN), n1)
    )
    new = task(web)
    assert orchestrator.wants(_update(new, node_id="id-n1"))
    assert orchestrator.wants(
        Event("update", NODES, n1, dataclasses.replace(n1, state=NodeState.DOWN))
    )
    assert not orchestrator.wants(_update(new, node_id="id-n1"))
    # web's update starts: its tasks starting to run matter until it is over.
    starting = task(web, node_id="id-n1", state=TaskState.STARTING)
    started = _status(TaskState.RUNNING)
    updating = dataclasses.replace(web, update_status=UPDATING)
    assert orchestrator.wants(Event("update", SERVICES, updating, web))
    assert orchestrator.wants(_update(starting, status=started))
    done = dataclasses.replace(UPDATING, state=UpdateState.COMPLETED)
    finished = dataclasses.replace(web, update_status=done)
    assert orchestrator.wants(Event("update", SERVICES, finished, updating))
    assert not orchestrator.wants(_update(starting, status=started))

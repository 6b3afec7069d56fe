"""The constraint enforcer, as SwarmKit's: a node whose description changed under its tasks
(labels removed, fewer generic resources, less memory or CPU than they reserve) has the tasks
that no longer fit rejected, and the orchestrator replaces them."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from swarmpy import genericresource as gr
from swarmpy.manager.controlloop import ControlLoop
from swarmpy.manager.orchestrator.constraintenforcer import ConstraintEnforcer, noncompliant, reject
from swarmpy.manager.orchestrator.global_service import reconcile_global
from swarmpy.manager.orchestrator.orchestrator import Orchestrator, plan_all
from swarmpy.manager.orchestrator.reconcile import Stop
from swarmpy.manager.state.store import CLUSTERS, NODES, SERVICES, TASKS, LocalLog, Store, Tx
from swarmpy.model import (
    Cluster,
    NodeAvailability,
    ResourceRequirements,
    Resources,
    RestartCondition,
    RestartPolicy,
    Service,
    Task,
    TaskState,
)
from tests.support.builders import node, reserving, service, task
from tests.support.poll import wait_for_async

GIB = 1 << 30


def running_on(svc: Service, node_id: str, slot: int = 1, **changes: Any) -> Task:
    return task(svc, slot, TaskState.RUNNING, node_id, **changes)


def test_a_label_removed_rejects_the_tasks_constrained_to_it() -> None:
    labelled = node("a", labels=(("zone", "east"),))
    svc = service("web", constraints=("node.labels.zone==east",))
    other = service("free")
    tasks = [running_on(svc, labelled.id), running_on(other, labelled.id)]
    services = {s.id: s for s in (svc, other)}

    assert noncompliant(labelled, tasks, services) == []
    unlabelled = dataclasses.replace(labelled, labels=())
    assert noncompliant(unlabelled, tasks, services) == [tasks[0].id]


def test_the_services_current_constraints_count_not_the_tasks_own() -> None:
    # A service updated to add a constraint the node met kept its task (only constraints
    # changed); the label then removed must still reject it.
    bare = node("a")
    old = service("web")
    current = dataclasses.replace(
        old, spec=dataclasses.replace(old.spec, constraints=("node.labels.zone==east",))
    )
    kept = running_on(old, bare.id)
    assert noncompliant(bare, [kept], {current.id: current}) == [kept.id]
    # A task whose service is gone is judged by its own spec.
    assert noncompliant(bare, [kept], {}) == []


def test_less_memory_or_cpu_than_reserved_rejects_the_newest_tasks() -> None:
    small = node("a", resources=Resources(nano_cpus=4 * 10**9, memory_bytes=2 * GIB))
    svc = service("web", **reserving(cpus=1, memory=GIB))
    first, second = (running_on(svc, small.id, slot, created_at=slot) for slot in (1, 2))
    tasks = [second, first]  # the store's order is not the age's
    assert noncompliant(small, tasks, {svc.id: svc}) == []

    less_memory = dataclasses.replace(small, resources=Resources(4 * 10**9, GIB))
    assert noncompliant(less_memory, tasks, {svc.id: svc}) == [second.id]
    one_cpu = dataclasses.replace(small, resources=Resources(10**9, 2 * GIB))
    assert noncompliant(one_cpu, tasks, {svc.id: svc}) == [second.id]


def test_generic_resources_gone_reject_the_tasks_holding_them() -> None:
    svc = service(
        "gpu", resources=ResourceRequirements(reservations=Resources(generic=gr.parse(["gpu=1"])))
    )
    gpus = node("a", resources=Resources(generic=gr.parse(["gpu=UUID1", "gpu=UUID2", "SSD=3"])))
    one = running_on(svc, gpus.id, 1, assigned_generic_resources=gr.parse(["gpu=UUID1"]))
    two = running_on(svc, gpus.id, 2, assigned_generic_resources=gr.parse(["gpu=UUID2"]))
    ssd = running_on(svc, gpus.id, 3, assigned_generic_resources=gr.parse(["SSD=2"]))
    tasks = [one, two, ssd]
    assert noncompliant(gpus, tasks, {svc.id: svc}) == []

    # Restarted with one GPU and a smaller disk count.
    fewer = dataclasses.replace(gpus, resources=Resources(generic=gr.parse(["gpu=UUID2", "SSD=1"])))
    assert noncompliant(fewer, tasks, {svc.id: svc}) == [one.id, ssd.id]
    # The kind changed type: named units became a count.
    counted = dataclasses.replace(gpus, resources=Resources(generic=gr.parse(["gpu=2", "SSD=3"])))
    assert noncompliant(counted, tasks, {svc.id: svc}) == [one.id, two.id]


def test_paused_drained_ended_and_stopping_tasks_are_left_alone() -> None:
    bare = node("a")
    svc = service("web", constraints=("node.labels.zone==east",))
    services = {svc.id: svc}
    ended = running_on(
        svc, bare.id, 1, status=dataclasses.replace(task(svc).status, state=TaskState.FAILED)
    )
    stopping = running_on(svc, bare.id, 2, desired=TaskState.SHUTDOWN)
    unassigned = task(svc, 3, TaskState.PENDING, "", desired=TaskState.RUNNING)
    elsewhere = running_on(svc, "id-b", 4)
    assert noncompliant(bare, [ended, stopping, unassigned, elsewhere], services) == []

    live = running_on(svc, bare.id, 5)
    paused = dataclasses.replace(bare, availability=NodeAvailability.PAUSE)
    drained = dataclasses.replace(bare, availability=NodeAvailability.DRAIN)
    assert noncompliant(paused, [live], services) == []
    assert noncompliant(drained, [live], services) == []  # the orchestrator moves them
    assert noncompliant(bare, [live], services) == [live.id]


def test_the_leader_rejects_a_task_its_node_no_longer_fits_and_replaces_it() -> None:
    async def scenario() -> None:
        store = Store(LocalLog())
        east = node("a", labels=(("zone", "east"),))
        svc = service(
            "web", constraints=("node.labels.zone==east",), restart=RestartPolicy(delay_s=0)
        )
        placed = running_on(svc, east.id)

        def seed(tx: Tx) -> None:
            tx.create(CLUSTERS, Cluster(id="c1"))
            tx.create(NODES, east)
            tx.create(SERVICES, svc)
            tx.create(TASKS, placed)

        await store.update(seed)
        loops: list[ControlLoop] = [Orchestrator(store), ConstraintEnforcer(store)]
        runners = [asyncio.create_task(loop.run()) for loop in loops]
        try:
            await store.update(lambda tx: tx.replace(NODES, east.id, labels=()))

            def replaced() -> bool:
                tasks = store.view().all(TASKS)
                return len(tasks) == 2 and any(t.id != placed.id for t in tasks)

            await wait_for_async("the rejected task replaced", replaced)
            old = store.view().get(TASKS, placed.id)
            assert old is not None
            assert old.status.state == TaskState.REJECTED
            assert old.status.message == "task rejected by constraint enforcer"
            assert old.status.err == "assigned node no longer meets constraints"
            assert old.desired_state == TaskState.SHUTDOWN  # the agent is told to stop it
            (new,) = [t for t in store.view().all(TASKS) if t.id != placed.id]
            # Nowhere to go yet: it waits for the scheduler, on no node.
            assert new.slot == placed.slot
            assert new.node_id == ""
        finally:
            for loop in loops:
                await loop.stop()
            await asyncio.wait_for(asyncio.gather(*runners), 5)

    asyncio.run(scenario())


def test_a_rejected_global_task_off_its_node_is_told_to_stop() -> None:
    """The enforcer may reject a global task before the orchestrator retires it: its container
    still runs, so it is shut down all the same (SwarmKit's shutdownTask goes by the desired
    state, not the status)."""

    async def scenario() -> None:
        store = Store(LocalLog())
        bare = node("a")
        svc = service("agent", mode="global", constraints=("node.labels.zone==east",))
        placed = running_on(svc, bare.id, 0)
        await store.update(lambda tx: tx.create(TASKS, placed))
        await store.update(lambda tx: reject(tx, placed.id, 10.0))
        rejected = store.view().get(TASKS, placed.id)
        assert rejected is not None
        assert rejected.status.state == TaskState.REJECTED
        plan = reconcile_global(svc, [rejected], [bare], 20.0)
        assert plan.stop == (Stop(placed.id, TaskState.SHUTDOWN),)
        assert plan.create == ()

    asyncio.run(scenario())


def test_a_rejected_task_is_told_to_stop_even_when_not_restarted() -> None:
    """With --restart-condition none the orchestrator starts no replacement, yet the rejected
    task's container must stop."""

    async def scenario() -> None:
        store = Store(LocalLog())
        svc = service(
            "web",
            constraints=("node.labels.zone==east",),
            restart=RestartPolicy(condition=RestartCondition.NONE),
        )
        bare = node("a")
        placed = running_on(svc, bare.id)

        def seed(tx: Tx) -> None:
            tx.create(NODES, bare)
            tx.create(SERVICES, svc)
            tx.create(TASKS, placed)
            reject(tx, placed.id, 10.0)

        await store.update(seed)
        plans = plan_all(store.view(), 20.0)
        assert [s for p in plans for s in p.stop] == [Stop(placed.id, TaskState.SHUTDOWN)]
        assert [t for p in plans for t in p.create] == []

    asyncio.run(scenario())

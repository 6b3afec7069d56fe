"""The leader's loops together over a local store, with a fake agent running tasks."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from swarmpy.manager.allocator.allocator import Allocator
from swarmpy.manager.allocator.network import allocate_network
from swarmpy.manager.controlloop import ControlLoop
from swarmpy.manager.orchestrator.orchestrator import Orchestrator
from swarmpy.manager.orchestrator.restart import runnable
from swarmpy.manager.orchestrator.taskreaper import TaskReaper
from swarmpy.manager.scheduler.scheduler import Scheduler
from swarmpy.manager.state.store import (
    CLUSTERS,
    NETWORKS,
    NODES,
    SERVICES,
    TASKS,
    LocalLog,
    Store,
    Tx,
)
from swarmpy.model import (
    Cluster,
    ContainerSpec,
    NodeAvailability,
    NodeState,
    RestartPolicy,
    Service,
    Task,
    TaskState,
    TaskStatus,
    UpdateConfig,
    UpdateState,
    now,
)
from tests.support.builders import node, service
from tests.support.poll import wait_for_async


async def fake_agents(store: Store) -> None:
    """Every READY node runs what it is assigned and stops what it is told to stop."""

    def act(tx: Tx) -> None:
        ready = {n.id for n in tx.snapshot.all(NODES) if n.state == NodeState.READY}
        for t in tx.snapshot.all(TASKS):
            if t.node_id not in ready or t.status.state.terminal:
                continue
            if t.desired_state > TaskState.RUNNING:
                state = TaskState.SHUTDOWN
            elif t.status.state == TaskState.ASSIGNED:
                state = TaskState.RUNNING
            else:
                continue
            tx.put(TASKS, dataclasses.replace(t, status=TaskStatus(state, now(), "agent")))

    # It acts on what the store says, then waits for the next change of a node or task (its
    # own writes included: the next pass finds nothing to do and writes nothing).
    with store.watch(NODES, TASKS) as changes:
        while True:
            await store.update(act)
            await changes.get()
            changes.pending()


@asynccontextmanager
async def swarm(node_count: int) -> AsyncIterator[Store]:
    store = Store(LocalLog())
    await store.update(lambda tx: tx.create(CLUSTERS, Cluster(id="c1")))

    def add_nodes(tx: Tx) -> None:
        for n in range(node_count):
            tx.create(NODES, node(f"node{n}"))

    await store.update(add_nodes)
    loops: list[ControlLoop] = [
        Orchestrator(store),
        Allocator(store),
        Scheduler(store),
        TaskReaper(store),
    ]
    runners = [asyncio.create_task(loop.run()) for loop in loops]
    agents = asyncio.create_task(fake_agents(store))
    try:
        yield store
    finally:
        agents.cancel()
        for loop in loops:
            await loop.stop()
        await asyncio.wait_for(asyncio.gather(*runners), 5)


def tasks_where(store: Store, check: Callable[[list[Task]], bool]) -> Callable[[], bool]:
    """A probe for ``wait_for_async``: ``check`` over the store's tasks now."""
    return lambda: check(store.view().all(TASKS))


def running(tasks: list[Task]) -> list[Task]:
    return [t for t in tasks if runnable(t) and t.status.state == TaskState.RUNNING]


def exactly_running(count: int) -> Callable[[list[Task]], bool]:
    return lambda tasks: len(running(tasks)) == count == len([t for t in tasks if runnable(t)])


def stored_service(store: Store, service_id: str) -> Service:
    svc = store.view().get(SERVICES, service_id)
    assert svc is not None, service_id
    return svc


async def respec(store: Store, service_id: str, **changes: object) -> None:
    def fn(tx: Tx) -> None:
        svc = tx.get(SERVICES, service_id)
        assert svc is not None, service_id
        spec = dataclasses.replace(svc.spec, **changes)  # type: ignore[arg-type]
        tx.put(SERVICES, dataclasses.replace(svc, spec=spec, spec_version=svc.spec_version + 1))

    await store.update(fn)


async def set_node(store: Store, node_id: str, **changes: object) -> None:
    await store.update(lambda tx: tx.replace(NODES, node_id, **changes))


def test_replicas_spread_scale_node_down_and_drain() -> None:
    async def scenario() -> None:
        async with swarm(3) as store:
            network = allocate_network("overnet", "overlay", "", "", [])
            await store.update(lambda tx: tx.create(NETWORKS, network))
            svc = service("web", replicas=3, networks=(network.id,))
            await store.update(lambda tx: tx.create(SERVICES, svc))

            await wait_for_async("3 running", tasks_where(store, exactly_running(3)))
            tasks = running(store.view().all(TASKS))
            assert len({t.node_id for t in tasks}) == 3
            assert sorted(t.networks[0].addresses[0] for t in tasks) == [
                "10.0.0.3/24",
                "10.0.0.4/24",
                "10.0.0.5/24",
            ]
            assert stored_service(store, svc.id).virtual_ips[0].addr == "10.0.0.2/24"

            await respec(store, svc.id, replicas=1)
            await wait_for_async(
                "scaled down to 1",
                tasks_where(store, lambda ts: exactly_running(1)(ts) and len(ts) == 1),
            )

            (survivor,) = running(store.view().all(TASKS))
            await set_node(store, survivor.node_id, state=NodeState.DOWN)
            await wait_for_async(
                "the task off the down node",
                tasks_where(
                    store,
                    lambda ts: (
                        exactly_running(1)(ts) and running(ts)[0].node_id != survivor.node_id
                    ),
                ),
            )

            (moved,) = running(store.view().all(TASKS))
            await set_node(store, moved.node_id, availability=NodeAvailability.DRAIN)
            await wait_for_async(
                "the task off the drained node",
                tasks_where(
                    store,
                    lambda ts: (
                        exactly_running(1)(ts)
                        and running(ts)[0].node_id not in (survivor.node_id, moved.node_id)
                    ),
                ),
            )

    asyncio.run(scenario())


def test_global_service_and_restart_after_failure() -> None:
    async def scenario() -> None:
        async with swarm(2) as store:
            svc = service("agent", mode="global", restart=RestartPolicy(delay_s=0.2))
            await store.update(lambda tx: tx.create(SERVICES, svc))
            await wait_for_async("one task per node", tasks_where(store, exactly_running(2)))

            await store.update(lambda tx: tx.create(NODES, node("late")))
            await wait_for_async("a task on the late node", tasks_where(store, exactly_running(3)))

            victim = running(store.view().all(TASKS))[0]
            failed = TaskStatus(TaskState.FAILED, now(), "boom")
            await store.update(lambda tx: tx.replace(TASKS, victim.id, status=failed))
            await wait_for_async("the restarted task", tasks_where(store, exactly_running(3)))
            (replacement,) = [
                t for t in running(store.view().all(TASKS)) if t.node_id == victim.node_id
            ]
            # Not before the restart delay (0.2 s) from the failure.
            assert replacement.created_at >= failed.timestamp + 0.2

    asyncio.run(scenario())


def test_rolling_update_completes() -> None:
    async def scenario() -> None:
        async with swarm(2) as store:
            fast = UpdateConfig(parallelism=1, delay_s=0.05, monitor_s=0.05)
            svc = service("web", replicas=2, update=fast)
            await store.update(lambda tx: tx.create(SERVICES, svc))
            await wait_for_async("2 running", tasks_where(store, exactly_running(2)))
            new_image = ContainerSpec("busybox:2")
            await respec(store, svc.id, container=new_image)
            await wait_for_async(
                "2 running the new image",
                tasks_where(
                    store,
                    lambda ts: (
                        exactly_running(2)(ts)
                        and all(t.spec.container == new_image for t in running(ts))
                    ),
                ),
            )

            def update_completed() -> bool:
                status = stored_service(store, svc.id).update_status
                return status is not None and status.state == UpdateState.COMPLETED

            await wait_for_async("the update to complete", update_completed)

    asyncio.run(scenario())

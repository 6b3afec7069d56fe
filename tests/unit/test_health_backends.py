"""A task with a healthcheck is a backend of its service (VIPs, DNS, the routing mesh: the
endpoints of every node's NetworkView) only while it runs and has not failed its check."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from swarmpy.manager.dispatcher.netview import ViewBuilder
from swarmpy.manager.state.store import NETWORKS, NODES, SERVICES, TASKS, LocalLog, Store, Tx
from swarmpy.model import (
    HealthState,
    Network,
    NetworkAttachment,
    Task,
    TaskState,
    TaskStatus,
    serves_traffic,
)
from tests.support.builders import node, service, task

S, H = TaskState, HealthState


@pytest.mark.parametrize(
    ("state", "health", "desired", "serves"),
    [
        (S.RUNNING, H.NONE, S.RUNNING, True),
        (S.RUNNING, H.HEALTHY, S.RUNNING, True),
        (S.RUNNING, H.UNHEALTHY, S.RUNNING, False),
        (S.STARTING, H.STARTING, S.RUNNING, False),
        (S.RUNNING, H.HEALTHY, S.SHUTDOWN, False),
        (S.RUNNING, H.NONE, S.COMPLETE, True),  # a job's task, while it runs
        (S.FAILED, H.UNHEALTHY, S.RUNNING, False),
    ],
)
def test_serves_traffic(
    state: TaskState, health: HealthState, desired: TaskState, serves: bool
) -> None:
    t = task(service(), state=state, desired=desired)
    t = dataclasses.replace(t, status=TaskStatus(state, health=health))
    assert serves_traffic(t) is serves


def test_the_view_leaves_out_a_task_failing_its_check() -> None:
    svc = service(networks=("net1",))
    n = node("a", addr="198.51.100.1")

    def attached(ip: str, health: HealthState) -> Task:
        t = task(svc, state=S.RUNNING, node_id=n.id)
        return dataclasses.replace(
            t,
            status=TaskStatus(S.RUNNING, health=health),
            networks=(NetworkAttachment("net1", (f"{ip}/24",), "02:42:0a:00:00:05"),),
        )

    healthy, unhealthy = attached("10.0.0.5", H.HEALTHY), attached("10.0.0.6", H.UNHEALTHY)

    def fill(tx: Tx) -> None:
        tx.create(NETWORKS, Network("net1", "front", subnet="10.0.0.0/24", vni=4097))
        tx.create(NODES, n)
        tx.create(SERVICES, svc)
        for t in (healthy, unhealthy):
            tx.create(TASKS, t)

    async def scenario() -> None:
        store = Store(LocalLog())
        await store.update(fill)
        view = ViewBuilder(store.view()).view_for(n.id)
        assert [e.ip for e in view.endpoints] == ["10.0.0.5"]

    asyncio.run(scenario())

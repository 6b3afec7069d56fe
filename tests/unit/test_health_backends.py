"""A task with a healthcheck is a backend of its service (VIPs, DNS, the routing mesh: the
endpoints of every node's NetworkView) only while it runs and has not failed its check."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from swarmpy.dns.records import TYPE_A, RecordIndex
from swarmpy.manager.dispatcher.netview import ViewBuilder
from swarmpy.manager.state.store import NETWORKS, NODES, SERVICES, TASKS, LocalLog, Store, Tx
from swarmpy.model import (
    HealthState,
    Network,
    NetworkAttachment,
    Task,
    TaskState,
    TaskStatus,
    VirtualIP,
    on_network,
    serves_traffic,
)
from swarmpy.overlay.forwarding import Peer, remote_peers
from swarmpy.overlay.vip import VipRule, vip_rules
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


@pytest.mark.parametrize(
    ("state", "desired", "reachable"),
    [
        (S.PREPARING, S.RUNNING, False),
        (S.STARTING, S.RUNNING, True),  # its healthcheck not passed yet
        (S.RUNNING, S.RUNNING, True),
        (S.RUNNING, S.SHUTDOWN, True),  # stopping, within its grace period
        (S.FAILED, S.RUNNING, False),
        (S.SHUTDOWN, S.SHUTDOWN, False),
    ],
)
def test_on_network(state: TaskState, desired: TaskState, reachable: bool) -> None:
    assert on_network(task(service(), state=state, desired=desired)) is reachable


def test_a_task_failing_its_check_is_no_backend_but_stays_reachable() -> None:
    """As Docker's: the VIP, the routing mesh and DNS leave the unhealthy task, while every
    other node still forwards to its address until its container stops."""
    svc = service(networks=("net1",))
    here, there = node("a", addr="198.51.100.1"), node("b", addr="198.51.100.2")

    def attached(slot: int, ip: str, mac: str, health: HealthState) -> Task:
        t = task(svc, slot, state=S.RUNNING, node_id=there.id)
        return dataclasses.replace(
            t,
            status=TaskStatus(S.RUNNING, health=health),
            networks=(NetworkAttachment("net1", (f"{ip}/24",), mac),),
        )

    healthy = attached(1, "10.0.0.5", "02:42:0a:00:00:05", H.HEALTHY)
    unhealthy = attached(2, "10.0.0.6", "02:42:0a:00:00:06", H.UNHEALTHY)
    client = dataclasses.replace(
        task(svc, 3, state=S.RUNNING, node_id=here.id),
        networks=(NetworkAttachment("net1", ("10.0.0.7/24",), "02:42:0a:00:00:07"),),
    )
    vip = VirtualIP("net1", "10.0.0.2/24")

    def fill(tx: Tx) -> None:
        tx.create(NETWORKS, Network("net1", "front", subnet="10.0.0.0/24", vni=4097))
        tx.create(NODES, here)
        tx.create(NODES, there)
        tx.create(SERVICES, dataclasses.replace(svc, virtual_ips=(vip,)))
        for t in (healthy, unhealthy, client):
            tx.create(TASKS, t)

    async def scenario() -> None:
        store = Store(LocalLog())
        await store.update(fill)
        view = ViewBuilder(store.view()).view_for(here.id)
        assert vip_rules(view, ["net1"]) == (VipRule("10.0.0.2", ("10.0.0.5", "10.0.0.7")),)
        records = RecordIndex.from_view(view)
        found = records.answer("tasks.web", TYPE_A, ["net1"])
        assert found is not None
        assert sorted(found.addresses) == ["10.0.0.5", "10.0.0.7"]
        assert records.answer("web.2", TYPE_A, ["net1"]) is None
        assert records.answer("web.1", TYPE_A, ["net1"]) is not None
        assert remote_peers(view, "net1", here.addr) == {
            Peer("10.0.0.5", "02:42:0a:00:00:05", there.addr),
            Peer("10.0.0.6", "02:42:0a:00:00:06", there.addr),
        }

    asyncio.run(scenario())

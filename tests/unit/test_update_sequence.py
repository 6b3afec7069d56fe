"""Which stale reads an update refuses ("update out of sequence"): one whose spec changed
since, not one the swarm's own loops wrote other fields after (the allocator's VIPs right
after `service create`, a node's status, the autolock keys in the cluster object)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from swarmpy.errors import Conflict
from swarmpy.manager.controlapi.cluster import ClusterUpdate
from swarmpy.manager.controlapi.common import RaftMember, check_sequence
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.state.store import CLUSTERS, NODES, SERVICES, LocalLog, Store, Table, Tx
from swarmpy.model import Cluster, ContainerSpec, NodeState, ServiceSpec, VirtualIP
from tests.support.builders import node

LEADER = [RaftMember("127.0.0.1:2378", leader=True, reachable=True)]
SPEC = ServiceSpec("web", ContainerSpec("busybox"))
OUT_OF_SEQUENCE = "update out of sequence"


@pytest.mark.parametrize(
    ("client", "current", "spec_changed_after", "refused"),
    [
        (None, 9, 5, False),  # from inside the swarm: the transaction's own read
        (9, 9, 5, False),  # the current version
        (6, 9, 5, False),  # other fields written since, not the spec
        (5, 9, 5, True),  # the version the spec was changed from
        (2, 9, 5, True),
        (10, 9, 0, True),  # a version not written yet
    ],
)
def test_check_sequence(
    client: int | None, current: int, spec_changed_after: int, refused: bool
) -> None:
    if refused:
        with pytest.raises(Conflict, match=OUT_OF_SEQUENCE):
            check_sequence(client, current, spec_changed_after)
    else:
        check_sequence(client, current, spec_changed_after)


def _version(store: Store, table: Table[Any], obj_id: str) -> int:
    version = store.view().version(table, obj_id)
    assert version is not None
    return version


def test_service_update_after_the_allocators_write() -> None:
    async def scenario() -> None:
        api = ControlAPI(Store(LocalLog()), lambda: LEADER)
        created = await api.services.create(SPEC)
        read_at = _version(api.store, SERVICES, created.id)

        def allocate(tx: Tx) -> None:
            tx.replace(SERVICES, created.id, virtual_ips=(VirtualIP("net", "10.0.0.2/24"),))

        await api.store.update(allocate)
        scaled = dataclasses.replace(SPEC, replicas=3)
        await api.services.update(created.id, scaled, rollback=False, version=read_at)
        assert api.services.get(created.id).spec.replicas == 3

        # That read's spec is not the current one any more: sending it back is refused.
        with pytest.raises(Conflict, match=OUT_OF_SEQUENCE):
            await api.services.update(created.id, SPEC, rollback=False, version=read_at)
        current = _version(api.store, SERVICES, created.id)
        with pytest.raises(Conflict, match=OUT_OF_SEQUENCE):
            await api.services.update(created.id, SPEC, rollback=False, version=current + 1)
        assert api.services.get(created.id).spec.replicas == 3
        await api.services.update(created.id, SPEC, rollback=False, version=current)
        assert api.services.get(created.id).spec.replicas == 1

    asyncio.run(scenario())


def test_node_update_after_a_status_write() -> None:
    async def scenario() -> None:
        api = ControlAPI(Store(LocalLog()), lambda: LEADER)
        worker = node("w1", state=NodeState.UNKNOWN)
        await api.store.update(lambda tx: tx.create(NODES, worker))
        read_at = _version(api.store, NODES, worker.id)
        await api.store.update(lambda tx: tx.replace(NODES, worker.id, state=NodeState.READY))
        await api.nodes.update(worker.id, label_add={"zone": "a"}, version=read_at)
        with pytest.raises(Conflict, match=OUT_OF_SEQUENCE):
            await api.nodes.update(worker.id, availability="drain", version=read_at)
        # Nothing to change is still checked.
        with pytest.raises(Conflict, match=OUT_OF_SEQUENCE):
            await api.nodes.update(worker.id, version=read_at)
        with pytest.raises(Conflict, match=OUT_OF_SEQUENCE):
            await api.nodes.set_role(worker.id, "manager", version=read_at)
        updated = api.nodes.get(worker.id)
        assert (updated.labels, updated.availability, updated.role) == (
            (("zone", "a"),),
            "active",
            "worker",
        )

    asyncio.run(scenario())


def test_swarm_update_after_the_clusters_own_writes() -> None:
    async def scenario() -> None:
        api = ControlAPI(Store(LocalLog()), lambda: LEADER)
        await api.store.update(lambda tx: tx.create(CLUSTERS, Cluster("c1")))
        read_at = _version(api.store, CLUSTERS, "c1")
        # A service create touches the cluster object (serialise), as autolock's key writes do.
        await api.services.create(SPEC)
        assert _version(api.store, CLUSTERS, "c1") > read_at
        await api.cluster.update(ClusterUpdate(task_history_limit=3), read_at)
        with pytest.raises(Conflict, match=OUT_OF_SEQUENCE):
            await api.cluster.update(ClusterUpdate(task_history_limit=9), read_at)
        assert api.cluster.get().task_history_limit == 3

    asyncio.run(scenario())

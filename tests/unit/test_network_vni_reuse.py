"""A network removed and another created right after: the new one gets a VXLAN id of its own,
never the removed one's (whose devices, named after it, may still be torn down on the nodes
where its tasks are stopping), and a node refuses to let one network's devices pass for
another's."""

from __future__ import annotations

import asyncio

from swarmpy.manager.controlapi.common import RaftMember
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.state.store import CLUSTERS, LocalLog, Store
from swarmpy.model import Cluster, Network
from swarmpy.overlay.overlay import device_holder

LEADER = [RaftMember("127.0.0.1:2378", leader=True, reachable=True)]


def test_a_network_created_after_a_removal_gets_a_new_vni() -> None:
    async def scenario() -> tuple[list[int], int]:
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create(CLUSTERS, Cluster(id="c1", last_vni=4096)))
        api = ControlAPI(store, lambda: LEADER)
        vnis = []
        for name in ("hc", "an", "again"):
            network = await api.networks.create(name, "overlay", "", "", True, {})
            vnis.append(network.vni)
            await api.networks.remove(name)
        cluster = store.view().cluster()
        assert cluster is not None
        return vnis, cluster.last_vni

    vnis, last = asyncio.run(scenario())
    assert vnis == [4097, 4098, 4099]
    assert last == 4099  # kept in the store: a new leader carries on from it


def test_a_node_does_not_take_a_leaving_networks_devices_for_a_new_one() -> None:
    leaving = Network("old", "hc", vni=4097)
    new = Network("new", "an", vni=4097)
    other = Network("other", "web", vni=4098)
    assert device_holder([leaving, other], new) == leaving
    assert device_holder([new, other], new) is None  # its own devices
    assert device_holder([leaving], other) is None

"""`node rm` records the node in the cluster's removed list, in the write that deletes it, and
forgets entries once every certificate they could hold has expired."""

from __future__ import annotations

import asyncio

from swarmpy.ca.certificates import NODE_CERT_VALIDITY
from swarmpy.manager.controlapi.nodes import NodeAPI, removed_list
from swarmpy.manager.state.store import CLUSTERS, NODES, LocalLog, Store, Tx
from swarmpy.model import Cluster, RemovedNode
from tests.support.builders import CLUSTER, node

VALIDITY_S = NODE_CERT_VALIDITY.total_seconds()


def test_a_removal_is_listed_until_its_certificates_expire() -> None:
    old = RemovedNode("gone", expires_at=100.0)
    recent = RemovedNode("recent", expires_at=1_000.0)
    cluster = Cluster(id=CLUSTER, removed_nodes=(old, recent))
    assert removed_list(cluster, "n1", at=500.0) == (
        recent,
        RemovedNode("n1", 500.0 + VALIDITY_S),
    )
    # One entry per node, the latest.
    again = removed_list(Cluster(id=CLUSTER, removed_nodes=(recent,)), "recent", at=500.0)
    assert again == (RemovedNode("recent", 500.0 + VALIDITY_S),)
    # A cluster that signs longer-lived certificates keeps the entry as long.
    year = 365 * 24 * 3600.0
    longer = removed_list(Cluster(id=CLUSTER, node_cert_expiry_s=year), "n1", at=500.0)
    assert longer == (RemovedNode("n1", 500.0 + year),)


def test_node_rm_deletes_the_node_and_lists_it_in_one_write() -> None:
    async def scenario() -> None:
        store = Store(LocalLog())

        def setup(tx: Tx) -> None:
            tx.create(CLUSTERS, Cluster(id=CLUSTER))
            tx.create(NODES, node("w1"))
            tx.create(NODES, node("w2"))

        await store.update(setup)
        before = store.view().index
        await NodeAPI(store, lambda: []).remove("w1", force=True)
        view = store.view()
        assert view.index == before + 1
        assert view.get(NODES, "id-w1") is None
        cluster = view.cluster()
        assert cluster is not None
        assert cluster.is_removed("id-w1")
        assert not cluster.is_removed("id-w2")

    asyncio.run(scenario())

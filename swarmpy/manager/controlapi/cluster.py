"""The control API of the swarm itself: the cluster object, its managers and join tokens."""

from __future__ import annotations

from swarmpy.ca import certificates as ca
from swarmpy.errors import InvalidArgument, NotFound
from swarmpy.manager.state.store import CLUSTERS, NODES, Store, Tx
from swarmpy.model import Cluster, JoinTokens, NodeRole, now


class ClusterAPI:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self) -> Cluster:
        cluster = self.store.view().cluster()
        if cluster is None:
            raise NotFound("the swarm has no cluster object yet")
        return cluster

    def manager_addrs(self) -> list[str]:
        return [
            n.manager.api_addr
            for n in self.store.view().all(NODES)
            if n.manager is not None and n.role == NodeRole.MANAGER
        ]

    async def rotate_join_token(self, role: str) -> Cluster:
        if role not in (NodeRole.WORKER, NodeRole.MANAGER):
            raise InvalidArgument(f"unknown role {role}: expected worker or manager")

        def change(tx: Tx) -> Cluster:
            cluster = tx.snapshot.cluster()
            if cluster is None:
                raise NotFound("the swarm has no cluster object yet")
            fresh = ca.new_join_token(cluster.root_ca_cert)
            tokens = (
                JoinTokens(worker=fresh, manager=cluster.tokens.manager)
                if role == NodeRole.WORKER
                else JoinTokens(worker=cluster.tokens.worker, manager=fresh)
            )
            rotated: Cluster = tx.replace(CLUSTERS, cluster.id, tokens=tokens, updated_at=now())
            return rotated

        return await self.store.update(change)

"""The control API of nodes: list, inspect, update, promote/demote and remove them."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence

from swarmpy.ca.certificates import NODE_CERT_VALIDITY
from swarmpy.errors import Conflict, InvalidArgument, NotFound
from swarmpy.manager.controlapi.common import RaftMember, not_found, resolve, sequenced
from swarmpy.manager.controlapi.validate import check_labels
from swarmpy.manager.state.store import CLUSTERS, NODES, Store, Tx
from swarmpy.model import (
    Cluster,
    ManagerStatus,
    Node,
    NodeAvailability,
    NodeRole,
    NodeState,
    RemovedNode,
    now,
)


def check_demotion(node: Node, members: Sequence[RaftMember]) -> None:
    """Refuse to demote the last manager, or one whose leaving would lose quorum."""
    assert node.manager is not None
    others = [m for m in members if m.addr != node.manager.raft_addr]
    if not others:
        raise Conflict(f"attempting to demote the last manager of the swarm ({node.id})")
    reachable = sum(1 for m in others if m.reachable)
    if reachable <= len(others) / 2:
        raise Conflict(
            f"can't remove {node.id} from the raft: this would result in a loss of quorum"
        )


def removed_list(cluster: Cluster, node_id: str, at: float) -> tuple[RemovedNode, ...]:
    """The cluster's removed nodes with ``node_id`` added: refused until every certificate it
    may hold (issued before ``at``, for the default validity or the cluster's, whichever is
    longer) has expired; entries past that are dropped."""
    validity = max(NODE_CERT_VALIDITY.total_seconds(), cluster.node_cert_expiry_s)
    expires_at = at + validity
    kept = tuple(r for r in cluster.removed_nodes if r.expires_at > at and r.id != node_id)
    return (*kept, RemovedNode(node_id, expires_at))


def _hostname(node: Node) -> str:
    return node.hostname


class NodeAPI:
    def __init__(
        self,
        store: Store,
        raft_members: Callable[[], Sequence[RaftMember]],
        remove_raft_member: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self._raft_members = raft_members
        self._remove_raft_member = remove_raft_member

    def _with_manager_status(self, nodes: Sequence[Node]) -> list[Node]:
        """Leader/Reachable come from Raft as it is now, not from the store. Raft is not
        asked about workers alone: a leader that demoted itself answers with its node a
        worker while its Raft log is being stopped (`node demote` failed with "the raft log
        of this manager is not running" when that stop came first)."""
        if all(node.manager is None for node in nodes):
            return list(nodes)
        members = {m.addr: m for m in self._raft_members()}
        out = []
        for node in nodes:
            if node.manager is not None:
                member = members.get(node.manager.raft_addr)
                status = ManagerStatus(
                    raft_addr=node.manager.raft_addr,
                    api_addr=node.manager.api_addr,
                    leader=bool(member and member.leader),
                    reachable=bool(member and member.reachable),
                )
                node = dataclasses.replace(node, manager=status)
            out.append(node)
        return out

    def _resolve(self, ref: str) -> Node:
        node: Node = resolve(self.store.view(), NODES, ref, _hostname)
        return node

    def list(self) -> list[Node]:
        nodes = sorted(self.store.view().all(NODES), key=lambda n: (n.hostname, n.id))
        return self._with_manager_status(nodes)

    def get(self, ref: str) -> Node:
        return self._with_manager_status([self._resolve(ref)])[0]

    async def update(
        self,
        ref: str,
        availability: str = "",
        label_add: dict[str, str] | None = None,
        label_rm: Sequence[str] = (),
        version: int | None = None,
    ) -> Node:
        """`node update`; ``version`` is the node's version its caller read (check_sequence)."""
        node = self._resolve(ref)
        check_labels((label_add or {}).items(), "node label")
        if availability:
            try:
                NodeAvailability(availability)
            except ValueError:
                raise InvalidArgument(
                    f"invalid availability {availability!r}: expected active, pause or drain"
                ) from None
        for key in label_rm:
            if key not in node.label_dict():
                raise NotFound(f"key {key} doesn't exist in node's labels")

        def change(tx: Tx) -> Node:
            current, read_at = _read_for_change(tx, node.id, ref, version)
            labels = current.label_dict()
            labels.update(label_add or {})
            for key in label_rm:
                labels.pop(key, None)
            wanted = NodeAvailability(availability or current.availability)
            sorted_labels = tuple(sorted(labels.items()))
            if (wanted, sorted_labels) == (current.availability, current.labels):
                return current
            updated: Node = tx.replace(
                NODES,
                node.id,
                availability=wanted,
                labels=sorted_labels,
                updated_at=now(),
                spec_changed_after=read_at,
            )
            return updated

        updated = await self.store.update(change)
        return self._with_manager_status([updated])[0]

    async def set_role(self, ref: str, role: str, version: int | None = None) -> Node:
        """`node promote` / `node demote`. The store records the role; the node renews its
        certificate when its session tells it, and a new manager joins Raft then. ``version``
        is the node's version its caller read (check_sequence)."""
        try:
            wanted = NodeRole(role)
        except ValueError:
            raise InvalidArgument(f"invalid role {role!r}: expected worker or manager") from None
        node = self._resolve(ref)
        if node.role == wanted:
            return self._with_manager_status([node])[0]
        if wanted == NodeRole.WORKER and node.manager is not None:
            check_demotion(node, self._raft_members())

        def change(tx: Tx) -> Node:
            _, read_at = _read_for_change(tx, node.id, ref, version)
            manager = node.manager if wanted == NodeRole.MANAGER else None
            updated: Node = tx.replace(
                NODES,
                node.id,
                role=wanted,
                manager=manager,
                updated_at=now(),
                spec_changed_after=read_at,
            )
            return updated

        updated = await self.store.update(change)
        if wanted == NodeRole.WORKER and node.manager is not None:
            assert self._remove_raft_member is not None
            await self._remove_raft_member(node.manager.raft_addr)
        return self._with_manager_status([updated])[0]

    async def remove(self, ref: str, force: bool) -> None:
        node = self._resolve(ref)
        # As SwarmKit: --force or not, a Raft member is demoted first (which checks quorum);
        # removing it here would leave Raft counting a member nobody can demote any more. A
        # manager that left (and so left Raft) may go.
        members = {m.addr for m in self._raft_members()}
        if (
            node.role == NodeRole.MANAGER
            and node.manager is not None
            and node.manager.raft_addr in members
        ):
            raise Conflict(
                f"node {node.id} is a cluster manager and is a member of the raft cluster. "
                "It must be demoted to worker before removal"
            )
        if node.state == NodeState.READY and not force:
            # SwarmKit's words, which docker's CLI prints as they are.
            raise Conflict(f"node {node.id} is not down and can't be removed")

        def change(tx: Tx) -> None:
            tx.delete(NODES, node.id)
            # In the same write: no manager may see the node gone and its certificate good.
            cluster = tx.snapshot.cluster()
            if cluster is not None:
                stamp = now()
                removed = removed_list(cluster, node.id, stamp)
                tx.replace(CLUSTERS, cluster.id, removed_nodes=removed, updated_at=stamp)

        await self.store.update(change)


def _read_for_change(tx: Tx, node_id: str, ref: str, version: int | None) -> tuple[Node, int]:
    """The node as ``tx`` reads it and its version, once ``version`` (the client's read) is
    checked by check_sequence: what a change of the node's spec records as read_at."""
    current: Node | None = tx.get(NODES, node_id)
    if current is None:
        raise not_found(NODES, ref)
    return current, sequenced(tx, NODES, current, version)

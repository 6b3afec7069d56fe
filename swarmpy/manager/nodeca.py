"""The join endpoint: a node presents a join token and a CSR, and gets its certificate."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import grpc

from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc
from swarmpy.ca import certificates as ca
from swarmpy.ca import rotation
from swarmpy.errors import NotFound
from swarmpy.manager import sealing
from swarmpy.manager.auth import authorize
from swarmpy.manager.controlapi.validate import check_node_address, check_node_description
from swarmpy.manager.raftsecret import record_holder
from swarmpy.manager.state.store import NODES, Store, Tx
from swarmpy.model import Cluster, ManagerStatus, Node, NodeRole, NodeState, new_id, now
from swarmpy.rpc import unary

log = logging.getLogger(__name__)

Ctx = grpc.aio.ServicerContext[Any, Any]


class NodeCAServicer(dispatcher_pb2_grpc.NodeCAServicer):
    def __init__(
        self,
        store: Store,
        add_raft_member: Callable[[str], Coroutine[Any, Any, None]],
        raft_members: Callable[[], list[str]],
        data_key: sealing.KeySource = "",
    ) -> None:
        self.store = store
        # Handed to the managers it certifies, as the Raft secret is (never kept in the store).
        self._data_key = data_key
        self._add_raft_member = add_raft_member
        self._raft_members = raft_members
        self._adding: set[asyncio.Task[None]] = set()

    def _cluster(self) -> Cluster:
        cluster = self.store.view().cluster()
        if cluster is None:
            raise NotFound("this manager has no cluster yet")
        return cluster

    @unary
    async def IssueNodeCertificate(self, request: Any, context: Ctx) -> Any:
        cluster = self._cluster()
        role = ca.role_for_token(request.token, cluster.tokens)
        manager = role == NodeRole.MANAGER
        check_node_description(
            request.hostname,
            request.addr,
            (request.raft_addr, request.api_addr) if manager else None,
        )
        stamp = now()
        node = Node(
            id=new_id(),
            hostname=request.hostname,
            role=role,
            state=NodeState.UNKNOWN,
            addr=request.addr,
            manager=(
                ManagerStatus(raft_addr=request.raft_addr, api_addr=request.api_addr)
                if manager
                else None
            ),
            created_at=stamp,
            updated_at=stamp,
            tls_info=rotation.issued_tls_info(cluster),
        )
        # Signed before the record exists: a bad CSR leaves no node behind that never joined.
        cert_pem = _sign(cluster, node, request.csr_pem)

        def create(tx: Tx) -> str:
            tx.create(NODES, node)
            return record_holder(tx, request.raft_addr) if manager else ""

        raft_secret = await self.store.update(create)
        log.info("issuing a %s certificate to node %s (%s)", role, node.id, request.hostname)
        return self._issue(cluster, node, cert_pem, raft_secret, joining_raft=manager)

    @unary
    async def RenewNodeCertificate(self, request: Any, context: Ctx) -> Any:
        cluster = self._cluster()
        peer = authorize(
            context, rotation.trust_root(cluster), self.store.view(), NodeRole.WORKER,
            NodeRole.MANAGER, action="renew a node certificate",
        )  # fmt: skip

        def renew(tx: Tx) -> tuple[Cluster, Node, str, bool, str]:
            # Signed in the transaction that records what was issued (the root rotation
            # counts nodes by it), under the cluster as this transaction sees it.
            current = tx.snapshot.cluster() or cluster
            node: Node | None = tx.get(NODES, peer.node_id)
            if node is None:
                raise NotFound(f"node {peer.node_id} is not part of this swarm (it was removed)")
            changes: dict[str, Any] = {"tls_info": rotation.issued_tls_info(current)}
            promoted = node.role == NodeRole.MANAGER and node.manager is None
            if promoted:
                # Just promoted: it becomes a Raft member at the addresses it gives.
                for addr in (request.raft_addr, request.api_addr):
                    check_node_address(addr, "manager address", with_port=True)
                changes["manager"] = ManagerStatus(
                    raft_addr=request.raft_addr, api_addr=request.api_addr
                )
            cert_pem = _sign(current, node, request.csr_pem)
            if any(getattr(node, name) != value for name, value in changes.items()):
                node = tx.replace(NODES, node.id, **changes, updated_at=now())
            raft_secret = current.raft_secret
            if promoted:
                raft_secret = record_holder(tx, request.raft_addr)
            return current, node, cert_pem, promoted, raft_secret

        cluster, node, cert_pem, promoted, raft_secret = await self.store.update(renew)
        log.info("renewing node %s's certificate as a %s", node.id, node.role)
        return self._issue(cluster, node, cert_pem, raft_secret, joining_raft=promoted)

    def _issue(
        self, cluster: Cluster, node: Node, cert_pem: str, raft_secret: str, joining_raft: bool
    ) -> Any:
        members = self._raft_members()
        if joining_raft:
            assert node.manager is not None
            # Not awaited: with one or two managers the change needs the newcomer's vote to
            # commit, and the newcomer starts Raft only after this reply reaches it.
            adding = asyncio.create_task(self._add_raft_member(node.manager.raft_addr))
            adding.add_done_callback(_log_failure)
            self._adding.add(adding)
            adding.add_done_callback(self._adding.discard)
            members = [*members, node.manager.raft_addr]
        managers = [
            n.manager.api_addr
            for n in self.store.view().all(NODES)
            if n.manager is not None and n.role == NodeRole.MANAGER
        ]
        manager = node.role == NodeRole.MANAGER
        keys = sealing.ring(self._data_key) if manager else ()
        return dispatcher_pb2.IssueNodeCertificateResponse(
            node_id=node.id,
            cert_pem=cert_pem,
            ca_pem=rotation.trust_root(cluster),
            role=str(node.role),
            cluster_id=cluster.id,
            managers=managers,
            raft_password=raft_secret if manager else "",
            raft_members=members if manager else [],
            data_key=keys[0] if keys else "",
            data_keys=keys,
        )


def _sign(cluster: Cluster, node: Node, csr_pem: str) -> str:
    signer, intermediates = rotation.signer(cluster)
    return ca.sign_node_csr(
        signer,
        csr_pem,
        node.id,
        node.role,
        cluster.id,
        validity=rotation.node_cert_validity(cluster),
        intermediates=intermediates,
    )


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("adding a manager to raft failed: %s", task.exception())
